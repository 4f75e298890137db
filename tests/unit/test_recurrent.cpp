//===- tests/unit/test_recurrent.cpp - LSTM and GRU layers: gradients, training ===//
#include "Helpers.h"

#include "kiln/kiln.h"
#include "kiln/nn.h"

#include <cmath>
#include <random>

using namespace kiln;
using namespace kiln::test;

namespace {

nn::LayerPtr layer(const std::string &kind, int64_t units, bool sequences) {
  return kind == "lstm" ? nn::lstm(units, sequences) : nn::gru(units, sequences);
}

} // namespace

TEST_CASE("LSTM and GRU layers have the gradients of central differences", "[recurrent][autodiff]") {
  for (std::string kind : {"lstm", "gru"}) {
    for (bool sequences : {false, true}) {
      INFO(kind << (sequences ? " returning sequences" : " returning the last state"));
      Graph g("rnn");
      Tensor x = g.input("x", f32, {"N", 4, 3});
      nn::Context ctx{g, /*training=*/true, /*seed=*/3};
      Tensor y = layer(kind, 5, sequences)->forward(ctx, x);
      Tensor loss = reduce_mean(y * y);
      std::vector<Tensor> grads = grad(loss, ctx.params);
      REQUIRE(g.status());
      REQUIRE(ctx.params.size() == 3);
      std::vector<Tensor> outs = {loss};
      outs.insert(outs.end(), grads.begin(), grads.end());
      auto f = function({x}, outs, {}, {.backend = Backend::Reference});
      auto native = function({x}, outs, {}, {.backend = Backend::Llvm});
      REQUIRE(f);
      REQUIRE(native);
      HostTensor xs = randomTensor({2, 4, 3}, 11, f32);
      auto r = (*f)({xs});
      REQUIRE(r);
      for (size_t p = 0; p < ctx.params.size(); ++p) {
        auto value = ctx.params[p].get_value();
        REQUIRE(value);
        for (int64_t i = 0; i < value->numElements(); i += 7) {
          auto at = [&](double d) {
            HostTensor v = *value;
            v.set(i, value->get(i) + d);
            REQUIRE(ctx.params[p].set_value(v));
            auto out = (*f)({xs});
            REQUIRE(out);
            return (*out)[0].get(0);
          };
          double numeric = (at(1e-3) - at(-1e-3)) / 2e-3;
          CHECK((*r)[1 + p].get(i) == Approx(numeric).margin(2e-4).epsilon(2e-2));
        }
        REQUIRE(ctx.params[p].set_value(*value));
      }
      // The native kernels give the reference's gradients.
      auto n = (*native)({xs});
      REQUIRE(n);
      for (size_t k = 0; k < outs.size(); ++k)
        for (int64_t i = 0; i < (*r)[k].numElements(); ++i)
          CHECK((*n)[k].get(i) == Approx((*r)[k].get(i)).margin(1e-5));
    }
  }
}

TEST_CASE("an LSTM and a GRU learn to remember a sequence's first element", "[recurrent][train]") {
  // x[N, 8, 1] of random values; the label is 1 when the first one is
  // positive: the layer must carry it through seven more steps.
  const int64_t steps = 8, batch = 32;
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal;
  auto makeBatch = [&rng, &normal](int64_t n) {
    HostTensor xs(f32, {n, steps, 1}), ys(i64, {n});
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t t = 0; t < steps; ++t)
        xs.set(i * steps + t, normal(rng));
      ys.setInt(i, xs.get(i * steps) > 0 ? 1 : 0);
    }
    return std::pair{xs, ys};
  };
  auto [testX, testY] = makeBatch(256);
  for (std::string kind : {"lstm", "gru"}) {
    INFO(kind);
    Graph g("remember");
    Tensor x = g.input("x", f32, {"N", steps, 1});
    Tensor labels = g.input("labels", i64, {"N"});
    nn::Context ctx{g, /*training=*/true, /*seed=*/1};
    nn::Sequential net{layer(kind, 8, false), nn::dense(2)};
    Tensor logits = net.forward(ctx, x);
    Tensor loss = softmax_cross_entropy(logits, labels);
    Tensor correct = reduce_sum(cast(equal(argmax(logits, 1), labels), f32));
    std::vector<Tensor> grads = grad(loss, ctx.params);
    Updates updates;
    for (size_t i = 0; i < ctx.params.size(); ++i) {
      std::vector<int64_t> shape;
      for (const Dim &d : ctx.params[i].type().shape)
        shape.push_back(d.value);
      Tensor v = g.param(ctx.params[i].name() + ".velocity", shape, init::zeros());
      Tensor vNew = 0.9 * v + grads[i];
      updates.push_back({v, vNew});
      updates.push_back({ctx.params[i], ctx.params[i] - 0.3 * vNew});
    }
    auto step = function({x, labels}, {loss}, updates);
    auto evaluate = function({x, labels}, {loss, correct});
    REQUIRE(step);
    REQUIRE(evaluate);
    auto before = (*evaluate)({testX, testY});
    REQUIRE(before);
    for (int i = 0; i < 300; ++i) {
      auto [bx, by] = makeBatch(batch);
      REQUIRE((*step)({bx, by}));
    }
    auto after = (*evaluate)({testX, testY});
    REQUIRE(after);
    INFO("loss " << (*before)[0].get(0) << " -> " << (*after)[0].get(0) << ", accuracy " << (*after)[1].get(0) / 256);
    CHECK((*after)[0].get(0) < 0.5 * (*before)[0].get(0));
    CHECK((*after)[1].get(0) / 256 > 0.9);
  }
}
