//===- tests/unit/test_user_api.cpp - grad, function, shared variables, config ===//
#include "Helpers.h"

#include "kiln/kiln.h"
#include "kiln/nn.h"
#include "kiln/train.h"
#include "runtime/Config.h"

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace kiln;
using namespace kiln::test;

namespace {

/// y = x w + b over a symbolic batch, and a squared-error loss of it.
struct Linear {
  Graph g{"linear"};
  Tensor x = g.input("x", f32, {"N", 2});
  Tensor t = g.input("t", f32, {"N", 1});
  Tensor w = g.param("w", {2, 1}, init::constant(0.5), f32);
  Tensor b = g.param("b", {1}, init::zeros(), f32);
  Tensor y = (matmul(x, w) + b).named("y");
  Tensor loss = reduce_mean((y - t) * (y - t)).named("loss");
};

double first(const Expected<std::vector<HostTensor>> &r) {
  REQUIRE(r);
  return (*r)[0].get(0);
}

} // namespace

TEST_CASE("functions compiled from one graph share its parameters", "[user-api]") {
  for (Backend backend : {Backend::Llvm, Backend::Reference}) {
    Linear m;
    auto grads = grad(m.loss, {m.w, m.b});
    REQUIRE(m.g.status());
    FunctionOptions o;
    o.backend = backend;
    auto step = function({m.x, m.t}, {m.loss}, {{m.w, m.w - 0.1 * grads[0]}, {m.b, m.b - 0.1 * grads[1]}}, o);
    auto predict = function({m.x}, {m.y}, {}, o);
    REQUIRE(step);
    REQUIRE(predict);
    HostTensor xs = tensor(f32, {3, 2}, {1, 0, 0, 1, 1, 1});
    HostTensor ts = tensor(f32, {3, 1}, {1, 2, 3});
    HostTensor one = tensor(f32, {1, 2}, {1, 1});
    CHECK(first((*predict)({one})) == Approx(1.0)); // 0.5 + 0.5 + 0
    double before = first((*step)({xs, ts}));
    // predict sees the step's new weights without any copying by the caller.
    auto w = m.w.get_value();
    REQUIRE(w);
    double expected = w->get(0) + w->get(1) + m.b.get_value()->get(0);
    CHECK(first((*predict)({one})) == Approx(expected));
    CHECK(w->get(0) != 0.5);
    for (int i = 0; i < 50; ++i)
      REQUIRE((*step)({xs, ts}));
    CHECK(first((*step)({xs, ts})) < before);
    // set_value reaches every function, on any batch size.
    REQUIRE(m.w.set_value(tensor(f32, {2, 1}, {2, 3})));
    REQUIRE(m.b.set_value(tensor(f32, {1}, {1})));
    CHECK(first((*predict)({one})) == Approx(6.0));
    CHECK(first((*predict)({xs})) == Approx(3.0));
    // The storage and the functions' own views agree.
    CHECK(predict->param("w")->get(1) == Approx(3.0));
    CHECK(step->graph().params()[0].data.get(0) == Approx(2.0));
    // A wrong type is an error naming the variable.
    auto bad = m.w.set_value(tensor(f32, {2}, {1, 2}));
    REQUIRE(!bad);
    CHECK(bad.error().message.find("%w") != std::string::npos);
    CHECK(!m.loss.get_value());
  }
}

TEST_CASE("a function applies only the updates it is given", "[user-api]") {
  Graph g("counter");
  auto x = g.input("x", f32, {1});
  auto count = g.param("count", {1}, init::zeros(), f32);
  g.update(count, count + 1.0); // registered, as a layer's running statistics are
  auto peek = function({x}, {x + count});
  auto tick = function({x}, {x + count}, g.updates());
  REQUIRE(peek);
  REQUIRE(tick);
  HostTensor zero = tensor(f32, {1}, {0});
  CHECK(first((*peek)({zero})) == 0);
  CHECK(first((*peek)({zero})) == 0); // no updates: count stays
  CHECK(first((*tick)({zero})) == 0);
  CHECK(first((*tick)({zero})) == 1);
  CHECK(first((*peek)({zero})) == 2);
  CHECK(count.get_value()->get(0) == 2);
}

TEST_CASE("reduce_mean over a symbolic batch has a gradient", "[user-api][autodiff]") {
  Linear m;
  auto gw = grad(m.loss, m.w);
  REQUIRE(m.g.status());
  auto f = function({m.x, m.t}, {m.loss, gw}, {}, {.backend = Backend::Reference});
  REQUIRE(f);
  for (int64_t n : {1, 3, 7}) {
    HostTensor xs = randomTensor({n, 2}, 1 + static_cast<uint64_t>(n), f32);
    HostTensor ts = randomTensor({n, 1}, 2 + static_cast<uint64_t>(n), f32);
    auto r = (*f)({xs, ts});
    REQUIRE(r);
    // Central differences of the loss in each weight.
    for (int64_t i = 0; i < 2; ++i) {
      auto at = [&](double dw) {
        HostTensor w = tensor(f32, {2, 1}, {0.5, 0.5});
        w.set(i, 0.5 + dw);
        REQUIRE(m.w.set_value(w));
        return first((*f)({xs, ts}));
      };
      double numeric = (at(1e-2) - at(-1e-2)) / 2e-2;
      CHECK((*r)[1].get(i) == Approx(numeric).margin(1e-3));
    }
    REQUIRE(m.w.set_value(tensor(f32, {2, 1}, {0.5, 0.5})));
  }
  // The same graph compiled natively gives the same gradient.
  auto native = function({m.x, m.t}, {m.loss, gw}, {}, {.backend = Backend::Llvm});
  REQUIRE(native);
  HostTensor xs = randomTensor({5, 2}, 9, f32), ts = randomTensor({5, 1}, 10, f32);
  auto a = (*f)({xs, ts}), b = (*native)({xs, ts});
  REQUIRE(a);
  REQUIRE(b);
  for (int64_t i = 0; i < 2; ++i)
    CHECK((*b)[1].get(i) == Approx((*a)[1].get(i)).margin(1e-5));
}

TEST_CASE("grad records its errors in the graph", "[user-api]") {
  Linear m;
  Graph other("other");
  auto p = other.param("p", {1}, init::zeros(), f32);
  auto bad = grad(m.loss, std::vector<Tensor>{p});
  CHECK(!bad[0].valid());
  REQUIRE(!m.g.status());
  CHECK(m.g.status().error().message.find("another graph") != std::string::npos);
  CHECK(!function({m.x, m.t}, {m.loss}));
}

TEST_CASE("the defaults of the API, the IR and nn agree", "[user-api]") {
  Graph g("defaults");
  auto x = g.input("x", f32, {1, 1, 4, 4});
  CHECK(reduce_sum(x, {1}).type().rank() == 3);            // keepdims false
  CHECK(max_pool(x, {2, 2}).type().shape[2].value == 2);   // stride = the kernel
  CHECK(avg_pool(x, {2, 2}).type().shape[3].value == 2);
  auto parsed = ir::parse("graph @g {\n  input %x : f32[1,1,4,4]\n"
                          "  %y = reduce_sum(%x) {axes=[1]} : f32[1,4,4]\n"
                          "  %p = max_pool(%x) {kernel=[2,2]} : f32[1,1,2,2]\n  output %y, %p\n}\n");
  INFO((parsed ? "" : parsed.error().message));
  CHECK(parsed);
}

TEST_CASE("the configuration: file, KILN_FLAGS, and their errors", "[user-api][config]") {
  auto dir = std::filesystem::temp_directory_path() / ("kiln-config-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string rc = (dir / "kilnrc").string();
  std::ofstream(rc) << "[global]\ndevice = cpu\nfloatX = float64\noptimizer = fast_compile\n"
                       "mode = NanGuardMode\nprofile = True\n\n[nn]\nimage_dim_ordering = tf\n";
  auto c = loadConfig(rc + ":" + (dir / "missing").string(), "");
  REQUIRE(c);
  CHECK(c->floatX == ir::DType::F64);
  CHECK(c->optLevel == 1);
  CHECK(c->mode == Mode::NanGuard);
  CHECK(c->profile);
  CHECK(c->channelsLast);
  auto source = [&](const Config &cfg, const std::string &key) {
    for (const ConfigEntry &e : cfg.entries)
      if (e.key == key)
        return e.value + " from " + e.source;
    return std::string("none");
  };
  CHECK(source(*c, "floatX") == "float64 from " + rc);
  CHECK(source(*c, "nn__image_data_format") == "channels_last from " + rc);
  CHECK(source(*c, "dump_dir") == " from default");
  // KILN_FLAGS wins over the file.
  auto f = loadConfig(rc, "floatX=float32,image_data_format=channels_first,optimizer=none");
  REQUIRE(f);
  CHECK(f->floatX == ir::DType::F32);
  CHECK(!f->channelsLast);
  CHECK(f->optLevel == 0);
  CHECK(source(*f, "floatX") == "float32 from KILN_FLAGS");
  CHECK(source(*f, "mode") == "NanGuardMode from " + rc);
  // Errors name the key, where it came from and what is allowed.
  auto typo = loadConfig("", "devise=cpu");
  REQUIRE(!typo);
  CHECK(typo.error().message.find("KILN_FLAGS: unknown config key 'devise'") != std::string::npos);
  CHECK(typo.error().message.find("device") != std::string::npos);
  auto value = loadConfig("", "floatX=float16");
  REQUIRE(!value);
  CHECK(value.error().message.find("floatX = 'float16' is not allowed (one of: float32, float64)") != std::string::npos);
  std::ofstream(rc) << "[global]\nmode = debug\n";
  auto fileValue = loadConfig(rc, "");
  REQUIRE(!fileValue);
  CHECK(fileValue.error().message.find(rc + ": mode = 'debug'") != std::string::npos);
  std::ofstream(rc) << "[gpu]\ndevice = cpu\n";
  auto section = loadConfig(rc, "");
  REQUIRE(!section);
  CHECK(section.error().message.find("unknown section [gpu]") != std::string::npos);
  std::ofstream(rc) << "this is not ini\n";
  auto syntax = loadConfig(rc, "");
  REQUIRE(!syntax);
  CHECK(syntax.error().message.find(rc + ":1") != std::string::npos);
  CHECK(!loadConfig("", "device"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("DebugMode and NanGuardMode check every call", "[user-api][config]") {
  Graph g("modes");
  auto x = g.input("x", f32, {"N"});
  auto w = g.param("w", {1}, init::constant(2), f32);
  auto y = (log(x) * w).named("y");
  auto guarded = function({x}, {y}, {{w, w * 1.0}}, {.mode = Mode::NanGuard});
  auto debug = function({x}, {y}, {{w, w * 1.0}}, {.mode = Mode::Debug});
  REQUIRE(guarded);
  REQUIRE(debug);
  HostTensor good = tensor(f32, {3}, {1, 2, 3}), bad = tensor(f32, {3}, {1, -1, 3});
  CHECK((*guarded)({good}));
  CHECK((*debug)({good}));
  auto caught = (*guarded)({bad});
  REQUIRE(!caught);
  CHECK(caught.error().message.find("NanGuardMode: output 0 holds NaN at element 1") != std::string::npos);
}

TEST_CASE("a classifier whose logits are already probabilities is warned about", "[user-api][train]") {
  nn::Sequential probs{nn::flatten(), nn::dense(10, nn::Activation::Softmax)};
  auto warned = buildClassifier(probs, {1, 28, 28}, {}, 1);
  REQUIRE(warned);
  CHECK(warned->warning.find("from a softmax") != std::string::npos);
  nn::Sequential logits{nn::flatten(), nn::dense(10)};
  auto fine = buildClassifier(logits, {1, 28, 28}, {}, 1);
  REQUIRE(fine);
  CHECK(fine->warning.empty());
  CHECK(fine->train.shared() == fine->eval.shared()); // one storage for both
}

TEST_CASE("channels_last layers compute what channels_first ones do", "[user-api][nn]") {
  // conv, pool, batch norm and the global pool, then a dense layer: with the
  // same weights, images [N, H, W, C] give the logits [N, C, H, W] give.
  auto logitsOf = [](bool last, const HostTensor &images) {
    nn::Sequential net{nn::conv(4, {3, 3}, nn::Activation::Relu), nn::maxPool({2, 2}), nn::batchNorm(),
                       nn::conv(3, {3, 3}), nn::globalAvgPool(), nn::dense(5)};
    Graph g(last ? "last" : "first");
    nn::Context ctx{g, false, 3};
    ctx.channelsLast = last;
    Tensor x = g.input("images", f32, nn::imageShape(ctx, {2, 6, 6}));
    Tensor y = net.forward(ctx, x);
    REQUIRE(g.status());
    auto f = function({x}, {y});
    REQUIRE(f);
    auto out = (*f)({images});
    REQUIRE(out);
    return (*out)[0];
  };
  HostTensor first = randomTensor({2, 2, 6, 6}, 5, f32), last(f32, {2, 6, 6, 2});
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t c = 0; c < 2; ++c)
      for (int64_t p = 0; p < 36; ++p)
        last.set((n * 36 + p) * 2 + c, first.get((n * 2 + c) * 36 + p));
  HostTensor a = logitsOf(false, first), b = logitsOf(true, last);
  REQUIRE(a.sizes() == b.sizes());
  for (int64_t i = 0; i < a.numElements(); ++i)
    CHECK(b.get(i) == Approx(a.get(i)).margin(1e-5));
}
