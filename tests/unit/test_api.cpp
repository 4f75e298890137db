//===- tests/unit/test_api.cpp - The C++ graph-building API ---------------===//
#include "Helpers.h"

#include "ir/Verifier.h"
#include "kiln/kiln.h"

#include <set>

using namespace kiln;
using namespace kiln::test;

TEST_CASE("a small MLP built with the API prints, verifies and evaluates", "[api]") {
  Graph g("mlp");
  auto x = g.input("x", f32, {"N", 4});
  auto w = g.param("w", {4, 3}, init::glorot_uniform(1));
  auto b = g.param("b", {3}, init::constant(0.5));
  auto h = relu(matmul(x, w) + b).named("hidden");
  auto probs = softmax(h * 2.0).named("probs");
  g.output(probs);
  REQUIRE(g.status());
  REQUIRE(ir::verify(g.ir()));
  std::string text = g.str();
  CHECK(text.find("param %w : f32[4,3] = glorot_uniform(seed=1)") != std::string::npos);
  CHECK(text.find("param %b : f32[3] = constant(0.5)") != std::string::npos);
  CHECK(text.find("%hidden = relu(") != std::string::npos);
  CHECK(text.find("%probs = softmax(") != std::string::npos);
  CHECK(text.find("const %c0 : f32[] = [2.0]") != std::string::npos);
  auto again = ir::parse(text);
  REQUIRE(again);
  CHECK(ir::print(*again) == text);

  auto xv = randomTensor({2, 4}, 3, f32);
  auto run = ref::evaluate(g.ir(), {{"x", xv}});
  REQUIRE(run);
  // The same computation by hand.
  const auto &wv = g.ir().params()[0].data;
  for (int n = 0; n < 2; ++n) {
    double logits[3], z = 0;
    for (int j = 0; j < 3; ++j) {
      double s = 0.5;
      for (int k = 0; k < 4; ++k)
        s += static_cast<double>(static_cast<float>(xv.get(n * 4 + k) * wv.get(k * 3 + j)));
      logits[j] = 2 * std::max(s, 0.0);
      z += std::exp(logits[j]);
    }
    for (int j = 0; j < 3; ++j)
      CHECK(run->outputs[0].get(n * 3 + j) == Approx(std::exp(logits[j]) / z).epsilon(1e-5));
  }
}

TEST_CASE("operators map to ops, scalars take the tensor's dtype", "[api]") {
  Graph g;
  auto a = g.input("a", f64, {3});
  auto b = g.input("b", f64, {3});
  auto i = g.input("i", i32, {3});
  std::vector<std::pair<Tensor, ir::OpKind>> cases = {
      {a + b, ir::OpKind::Add}, {a - b, ir::OpKind::Sub},   {a * b, ir::OpKind::Mul},     {a / b, ir::OpKind::Div},
      {-a, ir::OpKind::Neg},    {a < b, ir::OpKind::Less},  {a > b, ir::OpKind::Greater}, {a <= b, ir::OpKind::Or},
      {2.0 - a, ir::OpKind::Sub}, {i * 3.0, ir::OpKind::Mul}};
  for (auto &[t, op] : cases) {
    REQUIRE(t.valid());
    CHECK(g.ir().producer(t.id()).op == op);
  }
  CHECK((i * 3.0).type().dtype == i32);
  CHECK((a < b).type().dtype == boolean);
  auto run = ref::evaluate(g.ir(), {{"a", tensor(f64, {3}, {1, 2, 3})}, {"b", tensor(f64, {3}, {2, 2, 2})},
                                    {"i", tensor(i32, {3}, {1, 2, 3})}});
  REQUIRE(run); // no outputs, but every node ran
  REQUIRE(g.status());
}

TEST_CASE("building errors are recorded once, naming the op and operands", "[api]") {
  Graph g("bad");
  auto x = g.input("x", f32, {"N", 4});
  auto w = g.param("w", {5, 3}, init::he_normal(2));
  auto y = matmul(x, w);
  CHECK_FALSE(y.valid());
  auto z = relu(y) + 1.0; // skipped: y is already invalid
  CHECK_FALSE(z.valid());
  g.output(z);
  auto s = g.status();
  REQUIRE_FALSE(s);
  CHECK(s.error().message ==
        "matmul(%x: f32[N,4], %w: f32[5,3]): contracted dims of f32[N,4] and f32[5,3]: 4 does not match 5");
  CHECK(g.errors().size() == 1);

  Graph other("other");
  auto o = other.input("o", f32, {"N", 4});
  (void)(o + x);
  CHECK(other.errors().size() == 1);
  CHECK(other.errors()[0].message == "add: operand %x belongs to another graph");
  (void)x.named("w");
  CHECK(g.errors().back().message == "cannot rename %x to %w: the name is taken or empty");
  (void)g.input("x", f32, {1});
  CHECK(g.errors().back().message == "the name %x is already defined");
}

TEST_CASE("initializers are seeded, reproducible and scaled by fan-in/out", "[api][init]") {
  Graph g;
  auto a = g.param("a", {256, 128}, init::he_normal(7));
  auto b = g.param("b", {256, 128}, init::he_normal(7));
  auto c = g.param("c", {256, 128}, init::he_normal(8));
  auto u = g.param("u", {64, 32, 3, 3}, init::glorot_uniform(1));
  auto n = g.param("n", {10000}, init::normal(1.0, 0.5, 3));
  auto k = g.param("k", {3}, init::constant(0.25));
  REQUIRE(g.status());
  const auto &ps = g.ir().params();
  CHECK(ps[0].data == ps[1].data);
  CHECK_FALSE(ps[0].data == ps[2].data);
  auto stats = [](const HostTensor &t) {
    double m = 0, v = 0;
    for (int64_t i = 0; i < t.numElements(); ++i)
      m += t.get(i) / t.numElements();
    for (int64_t i = 0; i < t.numElements(); ++i)
      v += (t.get(i) - m) * (t.get(i) - m) / t.numElements();
    return std::pair{m, std::sqrt(v)};
  };
  auto [m0, s0] = stats(ps[0].data);
  CHECK(m0 == Approx(0).margin(0.01));
  CHECK(s0 == Approx(std::sqrt(2.0 / 256)).epsilon(0.03)); // He: fan-in of [in, out] is 256
  double limit = std::sqrt(6.0 / (32 * 9 + 64 * 9));     // Glorot of a conv kernel [out, in, kh, kw]
  for (int64_t i = 0; i < ps[3].data.numElements(); ++i)
    REQUIRE(std::fabs(ps[3].data.get(i)) <= limit);
  auto [m4, s4] = stats(ps[4].data);
  CHECK(m4 == Approx(1.0).margin(0.02));
  CHECK(s4 == Approx(0.5).epsilon(0.03));
  CHECK(ps[5].data.get(2) == 0.25);
  (void)a, (void)b, (void)c, (void)u, (void)n, (void)k;
}

TEST_CASE("every op has a free function", "[api]") {
  Graph g;
  auto x = g.input("x", f32, {2, 4, 6, 6});
  auto v = g.input("v", f32, {2, 4});
  auto lbl = g.input("lbl", i64, {2});
  auto w = g.param("w", {4, 4, 3, 3}, init::he_uniform(1));
  auto s = g.param("s", {4}, init::constant(1));
  std::vector<Tensor> all = {
      neg(v), abs(v), exp(v), expm1(v), log(v), log1p(v), sqrt(v), rsqrt(v), reciprocal(v), tanh(v), sigmoid(v), relu(v),
      leaky_relu(v), elu(v), selu(v), softplus(v), softsign(v), hard_swish(v), gelu(v), sign(v), floor(v), ceil(v), round(v), erf(v), sin(v),
      cos(v), atan(v), asin(v), acos(v), asinh(v), acosh(v), atanh(v), add(v, v), sub(v, v), mul(v, v), div(v, v), fmod(v, v), pow(v, v), maximum(v, v), minimum(v, v), equal(v, v),
      less(v, v), greater(v, v), logical_and(v < v, v > v), logical_or(v < v, v > v), select(v < v, v, v), cast(v, i32),
      clip(v, 0, 1), reduce_sum(v), reduce_mean(v, {1}), reduce_max(v), reduce_min(v), reduce_prod(v), argmax(v, 1),
      argmin(v, 1), matmul(v, v, false, true), conv(x, w, {.pad = {1, 1, 1, 1}}), conv_transpose(x, w),
      conv_grad_input(x, w, {8, 8}), conv_grad_weight(x, x, {1, 1}), max_pool(x, {2, 2}), avg_pool(x, {2, 2}),
      global_avg_pool(x), global_max_pool(x), max_pool_grad(max_pool(x, {2, 2}, {.stride = {2, 2}}), x, {2, 2}, {.stride = {2, 2}}),
      avg_pool_grad(x, {7, 7}, {2, 2}, {.stride = {1, 1}}), identity(x), reshape(x, {0, -1}), transpose(v), broadcast_to(s, {2, 4}), concat({v, v}, 0),
      slice(v, {1}, {3}, {1}), pad(v, {1, 1, 1, 1}, "edge"), gather(v, lbl, 1), gather_elements(v, cast(v, i64), 1), one_hot(lbl, 4),
      top_k(v, 2), scatter_elements(v, cast(v, i64), v, 1, "add"), cumsum(v, 1, true, true), resize(x, {1, 1, 2, 2}, "linear"),
      gather_nd(v, one_hot(lbl, 2, -1, i64)), scatter_nd(v, one_hot(lbl, 1, -1, i64), v, "add"),
      layout_convert(x, {ir::Layout::NHWC, 0}), softmax(v), log_softmax(v), softmax_cross_entropy(v, lbl),
      batch_norm_train(x, s, s).y, batch_norm_infer(x, s, s, s, s), batch_norm_grad(x, x, s, s, s).dx,
      dropout(v, 0.5, 1).y};
  INFO((g.status() ? std::string() : g.status().error().message));
  REQUIRE(g.status());
  std::set<ir::OpKind> used;
  for (const auto &n : g.ir().nodes())
    used.insert(n.op);
  // `fused` is made by the fuse pass from other nodes, not by users.
  CHECK(used.size() == ir::allOps().size() - 1);
  CHECK(!used.count(ir::OpKind::Fused));
}
