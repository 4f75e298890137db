//===- tests/unit/test_train.cpp - Optimizers, Function, data, checkpoints, training -===//
#include "Helpers.h"

#include "frontend/onnx/Onnx.h"
#include "kiln/train.h"
#include "runtime/Checkpoint.h"
#include "runtime/Data.h"
#include "runtime/Trainer.h"

#include <filesystem>

using namespace kiln;
using namespace kiln::test;

namespace {

/// cost = sum(c * w) + 0.5 sum(w * w), so d cost / d w = c + w.
struct Quadratic {
  Graph g{"quadratic"};
  Tensor w, x;
  std::vector<double> c = {0.5, -1.0, 2.0};
  Quadratic(const optim::Options &o) {
    w = g.param("w", tensor(f64, {3}, {1.0, -2.0, 0.5}));
    x = g.input("x", f64, {});
    Tensor cost = reduce_sum(g.constant(tensor(f64, {3}, c)) * w + w * w * 0.5) * x;
    REQUIRE(optim::minimize(g, cost, {w}, o));
  }
  /// Runs `steps` steps and returns w after each.
  std::vector<std::vector<double>> run(int steps) {
    auto f = Function::compile(g.ir(), {x.id()}, {});
    REQUIRE(f);
    std::vector<std::vector<double>> out;
    for (int i = 0; i < steps; ++i) {
      REQUIRE((*f)({tensor(f64, {}, {1.0})}));
      out.push_back(f->param("w")->toDoubles());
    }
    return out;
  }
};

void checkSequence(const optim::Options &o, const std::function<void(std::vector<double> &w, int step)> &byHand) {
  Quadratic q(o);
  auto got = q.run(4);
  std::vector<double> w = {1.0, -2.0, 0.5};
  for (int s = 0; s < 4; ++s) {
    byHand(w, s);
    for (int i = 0; i < 3; ++i) {
      INFO("step " << s << " element " << i);
      CHECK(got[s][i] == Approx(w[i]).epsilon(1e-12));
    }
  }
}

} // namespace

TEST_CASE("every optimizer matches a hand-computed sequence of updates", "[optim]") {
  std::vector<double> c = {0.5, -1.0, 2.0};
  auto gradAt = [&](const std::vector<double> &w, int i) { return c[i] + w[i]; };
  optim::Options sgd;
  sgd.lr = 0.1;
  checkSequence(sgd, [&](auto &w, int) {
    for (int i = 0; i < 3; ++i)
      w[i] -= 0.1 * gradAt(w, i);
  });
  for (auto method : {optim::Method::Momentum, optim::Method::Nesterov}) {
    optim::Options o;
    o.method = method;
    o.lr = 0.1;
    o.momentum = 0.8;
    o.weightDecay = 0.01;
    std::vector<double> v(3, 0.0);
    checkSequence(o, [&](auto &w, int) {
      for (int i = 0; i < 3; ++i) {
        double g = gradAt(w, i) + 0.01 * w[i];
        v[i] = 0.8 * v[i] + g;
        w[i] -= 0.1 * (method == optim::Method::Nesterov ? g + 0.8 * v[i] : v[i]);
      }
    });
  }
  for (auto method : {optim::Method::Adam, optim::Method::AdamW}) {
    optim::Options o;
    o.method = method;
    o.lr = 0.05;
    o.weightDecay = 0.1;
    std::vector<double> m(3, 0.0), v(3, 0.0);
    checkSequence(o, [&](auto &w, int s) {
      int t = s + 1;
      for (int i = 0; i < 3; ++i) {
        double g = gradAt(w, i) + (method == optim::Method::Adam ? 0.1 * w[i] : 0.0);
        m[i] = 0.9 * m[i] + 0.1 * g;
        v[i] = 0.999 * v[i] + 0.001 * g * g;
        double mh = m[i] / (1 - std::pow(0.9, t)), vh = v[i] / (1 - std::pow(0.999, t));
        double base = method == optim::Method::AdamW ? w[i] - 0.05 * 0.1 * w[i] : w[i];
        w[i] = base - 0.05 * mh / (std::sqrt(vh) + 1e-8);
      }
    });
  }
  optim::Options rms;
  rms.method = optim::Method::RMSprop;
  rms.lr = 0.01;
  std::vector<double> sq(3, 0.0);
  checkSequence(rms, [&](auto &w, int) {
    for (int i = 0; i < 3; ++i) {
      double g = gradAt(w, i);
      sq[i] = 0.99 * sq[i] + 0.01 * g * g;
      w[i] -= 0.01 * g / (std::sqrt(sq[i]) + 1e-8);
    }
  });
  optim::Options stepped = sgd;
  stepped.schedule = {optim::Schedule::Step, 2, 0.5};
  checkSequence(stepped, [&](auto &w, int s) {
    for (int i = 0; i < 3; ++i)
      w[i] -= 0.1 * std::pow(0.5, s / 2) * gradAt(w, i);
  });
  optim::Options cosine = sgd;
  cosine.schedule.kind = optim::Schedule::Cosine;
  cosine.schedule.totalSteps = 3;
  cosine.schedule.minLr = 0.01;
  checkSequence(cosine, [&](auto &w, int s) {
    double lr = 0.01 + 0.5 * (0.1 - 0.01) * (1 + std::cos(3.141592653589793 * std::min(s, 3) / 3.0));
    for (int i = 0; i < 3; ++i)
      w[i] -= lr * gradAt(w, i);
  });
  optim::Options clipped = sgd;
  clipped.clipNorm = 0.5;
  checkSequence(clipped, [&](auto &w, int) {
    double norm = 0;
    for (int i = 0; i < 3; ++i)
      norm += gradAt(w, i) * gradAt(w, i);
    double scale = std::min(1.0, 0.5 / (std::sqrt(norm) + 1e-6));
    std::vector<double> g(3);
    for (int i = 0; i < 3; ++i)
      g[i] = gradAt(w, i) * scale;
    for (int i = 0; i < 3; ++i)
      w[i] -= 0.1 * g[i];
  });
}

TEST_CASE("momentum and Nesterov match ONNX's test_momentum and test_nesterov_momentum", "[optim][onnx]") {
  // ONNX Momentum: g' = norm_coefficient X + G, V' = alpha V + beta g', X' = X - R V'
  // (Nesterov: X' = X - R (g' + alpha V')); beta is (1 - dampening).
  struct Case {
    const char *test;
    optim::Method method;
    double alpha, beta, norm;
  };
  for (Case k : {Case{"test_momentum", optim::Method::Momentum, 0.95, 0.1, 0.001},
                 Case{"test_nesterov_momentum", optim::Method::Nesterov, 0.95, 1.0, 0.01}}) {
    INFO(k.test);
    std::string dir = std::string("/usr/share/libonnx-testdata/data/node/") + k.test + "/test_data_set_0/";
    auto load = [&](const char *f) {
      auto t = loadOnnxTensor(dir + f);
      REQUIRE(t);
      return t.take();
    };
    HostTensor r = load("input_0.pb"), t = load("input_1.pb"), x = load("input_2.pb"), g = load("input_3.pb"),
               v = load("input_4.pb"), xNew = load("output_0.pb"), vNew = load("output_1.pb");
    Graph graph("onnx_momentum");
    Tensor w = graph.param("X", x);
    Tensor gradient = graph.constant(g, "G");
    Tensor one = graph.input("one", f32, {});
    optim::Options o;
    o.method = k.method;
    o.lr = r.get(0);
    o.momentum = k.alpha;
    o.dampening = 1 - k.beta;
    o.weightDecay = k.norm;
    REQUIRE(optim::minimize(graph, reduce_sum(w * gradient) * one, {w}, o));
    auto f = Function::compile(graph.ir(), {one.id()}, {});
    REQUIRE(f);
    REQUIRE(f->setParam("X.velocity", v));
    REQUIRE(f->setParam("optim.step", HostTensor::scalar(f32, t.get(0))));
    REQUIRE((*f)({HostTensor::scalar(f32, 1)}));
    checkClose(*f->param("X"), xNew.sizes(), xNew.toDoubles(), 1e-5, 1e-6);
    checkClose(*f->param("X.velocity"), vNew.sizes(), vNew.toDoubles(), 1e-5, 1e-6);
  }
}

TEST_CASE("a Function keeps parameters between calls and checks its arguments", "[function]") {
  Graph g("counter");
  Tensor total = g.param("total", tensor(f64, {2}, {0, 0}));
  Tensor x = g.input("x", f64, {"N", 2});
  Tensor sum = reduce_sum(x, {0}, false);
  g.update(total, total + sum);
  auto f = Function::compile(g.ir(), {x.id()}, {total.id()});
  REQUIRE(f);
  auto r1 = (*f)({tensor(f64, {1, 2}, {1, 2})});
  REQUIRE(r1);
  checkClose((*r1)[0], {2}, {0, 0}); // outputs see the old values
  REQUIRE((*f)({tensor(f64, {3, 2}, {1, 1, 1, 1, 1, 1})})); // any batch size
  checkClose(*f->param("total"), {2}, {4, 5});
  auto bad = (*f)({tensor(f32, {1, 2}, {1, 2})});
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "input 'x' has dtype f32 but the graph expects f64[N,2]");
  auto shape = (*f)({tensor(f64, {2, 3}, {1, 2, 3, 4, 5, 6})});
  REQUIRE_FALSE(shape);
  CHECK(shape.error().message == "input 'x' has shape [2,3] but [N,2] was expected (dim 1)");
  checkClose(*f->param("total"), {2}, {4, 5}); // a failed call updates nothing
  CHECK(f->setParam("total", tensor(f64, {3}, {1, 2, 3})).error().message ==
        "parameter %total is f64[2], the value given is f64[3]");
}

TEST_CASE("IDX files, the Fashion-MNIST loader and its errors", "[data]") {
  auto labels = data::readIdx(std::string(data::kFashionMnistDir) + "/t10k-labels-idx1-ubyte.gz");
  REQUIRE(labels);
  CHECK(labels->sizes() == ir::Sizes{10000});
  auto d = data::loadFashionMnist(data::kFashionMnistDir, false, 100);
  REQUIRE(d);
  CHECK(d->images.sizes() == ir::Sizes{100, 1, 28, 28});
  CHECK(d->labels.getInt(0) == 9); // the first test image is an ankle boot
  auto missing = data::loadFashionMnist("/nonexistent", true);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message ==
        "the Fashion-MNIST data is missing: /nonexistent/train-images-idx3-ubyte.gz does not exist (apt-get install "
        "dataset-fashion-mnist provides it in /usr/share/datasets/fashion-mnist)");
  auto notIdx = data::readIdx(KILN_SOURCE_DIR "/README.md");
  REQUIRE_FALSE(notIdx);
  CHECK(notIdx.error().message.find("not an IDX file") != std::string::npos);
}

TEST_CASE("the data loader: shapes, seeded shuffling, the partial last batch", "[data]") {
  data::Dataset d{HostTensor(f32, {10, 1, 2, 2}), HostTensor(i64, {10})};
  for (int64_t i = 0; i < 10; ++i) {
    d.labels.setInt(i, i);
    for (int k = 0; k < 4; ++k)
      d.images.set(i * 4 + k, static_cast<double>(i));
  }
  data::DataLoader a(d, 4, true, 7), b(d, 4, true, 7), c(d, 4, true, 8);
  CHECK(a.numBatches() == 3);
  auto order = [](data::DataLoader &l) {
    std::vector<int64_t> o;
    for (int64_t k = 0; k < l.numBatches(); ++k) {
      auto batch = l.batch(k);
      for (int64_t i = 0; i < batch.labels.numElements(); ++i) {
        o.push_back(batch.labels.getInt(i));
        CHECK(batch.images.get(i * 4) == static_cast<double>(batch.labels.getInt(i))); // images follow labels
      }
    }
    return o;
  };
  auto oa = order(a);
  CHECK(oa == order(b));
  CHECK(oa != order(c));
  auto sorted = oa;
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
  CHECK(a.batch(2).images.sizes() == ir::Sizes{2, 1, 2, 2});
  a.startEpoch(1);
  CHECK(order(a) != oa);
  data::DataLoader plain(d, 4, false, 0);
  CHECK(order(plain) == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("checkpoints round-trip and reject damaged files", "[checkpoint]") {
  std::string path = (std::filesystem::temp_directory_path() / "kiln-test.safetensors").string();
  checkpoint::Tensors t = {{"w", randomTensor({3, 4}, 1, f32)}, {"b", randomTensor({4}, 2, f64)},
                           {"step", tensor(i64, {}, {7})}, {"h", randomTensor({2}, 3, f16)}};
  REQUIRE(checkpoint::save(path, t, {{"epochs_done", "3"}}));
  auto back = checkpoint::load(path);
  REQUIRE(back);
  CHECK(back->tensors == t);
  CHECK(back->meta.at("epochs_done") == "3");
  std::filesystem::resize_file(path, 20);
  auto cut = checkpoint::load(path);
  REQUIRE_FALSE(cut);
  CHECK(cut.error().message.find("not a valid safetensors checkpoint") != std::string::npos);
  std::filesystem::remove(path);
}

namespace {
data::Dataset fashionSubset(bool train, int64_t n) {
  auto d = data::loadFashionMnist(data::kFashionMnistDir, train, n);
  REQUIRE(d);
  return d.take();
}
} // namespace

TEST_CASE("resuming from a checkpoint gives the parameters of an uninterrupted run", "[train][checkpoint]") {
  auto train = fashionSubset(true, 96), test = fashionSubset(false, 32);
  optim::Options o;
  o.method = optim::Method::Adam;
  o.lr = 1e-3;
  auto makeNet = [] { return nn::Sequential{nn::flatten(), nn::dense(16, nn::Activation::Relu), nn::dropout(0.2), nn::dense(10)}; };
  std::string ckpt = (std::filesystem::temp_directory_path() / "kiln-resume.safetensors").string();
  auto run = [&](int epochs, const std::string &resume, const std::string &save) {
    auto net = makeNet();
    auto fns = buildClassifier(net, {1, 28, 28}, o, 3);
    REQUIRE(fns);
    TrainConfig cfg;
    cfg.epochs = epochs;
    cfg.batchSize = 32;
    cfg.seed = 5;
    cfg.resume = resume;
    cfg.checkpoint = save;
    cfg.quiet = true;
    Trainer t(fns->train, fns->eval, cfg);
    REQUIRE(t.fit(train, test));
    std::map<std::string, HostTensor> params;
    for (const auto &[name, v] : fns->train.params())
      params.emplace(name, *v);
    return params;
  };
  auto straight = run(2, "", "");
  run(1, "", ckpt);
  auto resumed = run(2, ckpt, "");
  CHECK(resumed == straight);
  std::filesystem::remove(ckpt);
}

TEST_CASE("a short training run: the MLP on 2,000 images learns (test accuracy > 70%)", "[train][slow]") {
  auto train = fashionSubset(true, 2000), test = fashionSubset(false, 1000);
  auto net = nn::zoo::mlp();
  optim::Options o;
  o.method = optim::Method::Adam;
  o.lr = 1e-3;
  auto fns = buildClassifier(net, {1, 28, 28}, o, 1);
  REQUIRE(fns);
  TrainConfig cfg;
  cfg.batchSize = 32;
  cfg.quiet = true;
  Trainer t(fns->train, fns->eval, cfg);
  auto stats = t.fit(train, test);
  REQUIRE(stats);
  INFO("test accuracy " << stats->back().testAccuracy);
  CHECK(stats->back().testAccuracy > 0.70);
}
