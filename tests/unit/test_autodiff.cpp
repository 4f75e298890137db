//===- tests/unit/test_autodiff.cpp - Gradients against finite differences --===//
//
// Every differentiable op, and MLP, LeNet and VGG-style graphs, checked in f64
// against central differences (relative error < 1e-6); Hessian-vector products
// (grad of grad) of an MLP and a conv layer against differences of gradients.
//
//===----------------------------------------------------------------------===//
#include "Helpers.h"

#include "ir/Verifier.h"
#include "kiln/kiln.h"
#include "passes/Autodiff.h"

using namespace kiln;
using namespace kiln::test;
using Ints = std::vector<int64_t>;

namespace {

struct Input {
  std::string name;
  ir::Sizes sizes;
  double lo = -1, hi = 1;
};

using Builder = std::function<Tensor(Graph &, std::vector<Tensor> &)>;

/// Evaluates the graph's first output (a scalar) for the given inputs.
double evalCost(const ir::Graph &g, const ref::TensorMap &feeds) {
  auto r = ref::evaluate(g, feeds);
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r);
  return r->outputs[0].get(0);
}

/// cost = sum(f(inputs) * R) for a fixed random R; checks d cost / d input
/// for every element of every input against central differences.
void checkGradient(const std::string &what, const std::vector<Input> &inputs, const Builder &f,
                   std::vector<bool> differentiable = {}) {
  INFO("gradient of " << what);
  Graph g("check");
  std::vector<Tensor> xs;
  ref::TensorMap feeds;
  uint64_t seed = 1;
  for (const Input &in : inputs) {
    ir::Shape shape;
    for (int64_t s : in.sizes)
      shape.push_back(ir::Dim::of(s));
    xs.push_back(g.input(in.name, f64, shape));
    feeds[in.name] = HostTensor::fromDoubles(f64, in.sizes, randomValues(ir::product(in.sizes), seed++, in.lo, in.hi));
  }
  Tensor out = f(g, xs);
  REQUIRE(g.status());
  Tensor weights = g.constant(randomTensor(out.type().numElements() ? ir::Sizes() : ir::Sizes(), 99));
  ir::Sizes outSizes;
  for (const auto &d : out.type().shape)
    outSizes.push_back(d.value);
  Tensor r = g.constant(randomTensor(outSizes, 77), "R");
  (void)weights;
  Tensor cost = reduce_sum(cast(out, f64) * r);
  g.output(cost);
  REQUIRE(g.status());
  std::vector<ir::ValueId> wrt;
  std::vector<size_t> index;
  for (size_t i = 0; i < xs.size(); ++i)
    if (differentiable.empty() || differentiable[i]) {
      wrt.push_back(xs[i].id());
      index.push_back(i);
    }
  auto grads = passes::grad(g.ir(), cost.id(), wrt);
  if (!grads)
    FAIL(grads.error().message);
  for (ir::ValueId v : *grads)
    REQUIRE(g.ir().addOutput(v));
  INFO(g.str());
  REQUIRE(ir::verify(g.ir()));
  auto run = ref::evaluate(g.ir(), feeds);
  if (!run)
    FAIL(run.error().message);
  const double h = 1e-6;
  for (size_t k = 0; k < wrt.size(); ++k) {
    const Input &in = inputs[index[k]];
    const HostTensor &analytic = run->outputs[1 + k];
    REQUIRE(analytic.sizes() == in.sizes);
    for (int64_t e = 0; e < analytic.numElements(); ++e) {
      ref::TensorMap plus = feeds, minus = feeds;
      plus[in.name].set(e, feeds[in.name].get(e) + h);
      minus[in.name].set(e, feeds[in.name].get(e) - h);
      double numeric = (evalCost(g.ir(), plus) - evalCost(g.ir(), minus)) / (2 * h);
      double a = analytic.get(e);
      double err = std::fabs(a - numeric) / std::max({1.0, std::fabs(a), std::fabs(numeric)});
      INFO("input " << in.name << " element " << e << ": analytic " << a << ", numeric " << numeric);
      CHECK(err < 1e-6);
    }
  }
}

Tensor unary(std::vector<Tensor> &x, Tensor (*f)(Tensor)) { return f(x[0]); }

} // namespace

TEST_CASE("gradients of elementwise ops match finite differences", "[autodiff]") {
  std::vector<Input> any = {{"x", {2, 3}}}, pos = {{"x", {2, 3}, 0.2, 2.0}};
  checkGradient("neg", any, [](Graph &, auto &x) { return unary(x, neg); });
  checkGradient("abs", any, [](Graph &, auto &x) { return unary(x, abs); });
  checkGradient("exp", any, [](Graph &, auto &x) { return unary(x, exp); });
  checkGradient("log", pos, [](Graph &, auto &x) { return unary(x, log); });
  checkGradient("log1p", pos, [](Graph &, auto &x) { return unary(x, log1p); });
  checkGradient("sqrt", pos, [](Graph &, auto &x) { return unary(x, sqrt); });
  checkGradient("rsqrt", pos, [](Graph &, auto &x) { return unary(x, rsqrt); });
  checkGradient("reciprocal", pos, [](Graph &, auto &x) { return unary(x, reciprocal); });
  checkGradient("tanh", any, [](Graph &, auto &x) { return unary(x, tanh); });
  checkGradient("sigmoid", any, [](Graph &, auto &x) { return unary(x, sigmoid); });
  checkGradient("relu", any, [](Graph &, auto &x) { return unary(x, relu); });
  checkGradient("leaky_relu", any, [](Graph &, auto &x) { return leaky_relu(x[0], 0.2); });
  checkGradient("elu", any, [](Graph &, auto &x) { return elu(x[0], 0.7); });
  checkGradient("selu", any, [](Graph &, auto &x) { return unary(x, selu); });
  checkGradient("softplus", any, [](Graph &, auto &x) { return unary(x, softplus); });
  checkGradient("softsign", any, [](Graph &, auto &x) { return unary(x, softsign); });
  checkGradient("erf", any, [](Graph &, auto &x) { return unary(x, erf); });
  checkGradient("sin", any, [](Graph &, auto &x) { return unary(x, sin); });
  checkGradient("cos", any, [](Graph &, auto &x) { return unary(x, cos); });
  checkGradient("sign, floor, ceil, round (zero)", any,
                [](Graph &, auto &x) { return sign(x[0]) + floor(x[0] * 3.0) + ceil(x[0]) + round(x[0] * 2.0); });
  checkGradient("clip", any, [](Graph &, auto &x) { return clip(x[0], -0.5, 0.5); });
  checkGradient("expm1", any, [](Graph &, auto &x) { return x[0].graph()->apply(ir::OpKind::Expm1, {x[0]})[0]; });
  checkGradient("identity and layout_convert", {{"x", {1, 8, 2, 2}}},
                [](Graph &, auto &x) {
                  return layout_convert(layout_convert(identity(x[0]), {ir::Layout::Blocked, 8}), {});
                });
  checkGradient("cast f64 to f64", any, [](Graph &, auto &x) { return cast(x[0], f64); });
  std::vector<Input> two = {{"a", {2, 1, 3}}, {"b", {4, 1}}};
  checkGradient("add (broadcast)", two, [](Graph &, auto &x) { return x[0] + x[1]; });
  checkGradient("sub (broadcast)", two, [](Graph &, auto &x) { return x[0] - x[1]; });
  checkGradient("mul (broadcast)", two, [](Graph &, auto &x) { return x[0] * x[1]; });
  checkGradient("div (broadcast)", {{"a", {2, 3}}, {"b", {3}, 0.5, 2}}, [](Graph &, auto &x) { return x[0] / x[1]; });
  checkGradient("pow", {{"a", {2, 3}, 0.5, 2}, {"b", {2, 3}}}, [](Graph &, auto &x) { return pow(x[0], x[1]); });
  // a / b in (2, 2.3): away from fmod's jumps, trunc(a / b) = 2.
  checkGradient("fmod", {{"a", {2, 3}, 2.1, 2.3}, {"b", {3}, 1.0, 1.05}}, [](Graph &, auto &x) { return fmod(x[0], x[1]); });
  checkGradient("max", {{"a", {2, 3}}, {"b", {2, 3}}}, [](Graph &, auto &x) { return maximum(x[0], x[1]); });
  checkGradient("min (broadcast)", {{"a", {2, 3}}, {"b", {1, 3}}}, [](Graph &, auto &x) { return minimum(x[0], x[1]); });
  checkGradient("select", {{"a", {2, 3}}, {"b", {3}}, {"c", {2, 3}}},
                [](Graph &, auto &x) { return select(x[2] > 0.0, x[0], x[1]); }, {true, true, false});
}

TEST_CASE("every composite op's gradient, derived from its definition, matches finite differences", "[autodiff]") {
  // An op added to ir/Ops.def is checked here without a line of its own:
  // over negative and positive values (positive only where negative ones
  // leave its domain).
  for (const ir::OpInfo &op : ir::allOps()) {
    if (!op.isComposite() || op.minOperands != 1)
      continue;
    ir::Graph probe("probe");
    auto px = probe.addInput("x", ir::Type{ir::DType::F64, {ir::Dim::of(1)}, {}});
    REQUIRE(px);
    auto py = probe.addNode(op.kind, {*px}, {});
    REQUIRE(py);
    REQUIRE(probe.addOutput((*py)[0]));
    // The first of these ranges over which the op is finite at both ends
    // and in the middle (asin, acos and atanh live in (-1, 1), acosh past 1).
    auto finiteAt = [&](double v) {
      auto at = ref::evaluate(probe, {{"x", HostTensor::fromDoubles(f64, {1}, {v})}});
      REQUIRE(at);
      return std::isfinite(at->outputs[0].get(0));
    };
    std::pair<double, double> chosen{0.2, 2.0};
    for (auto [lo, hi] : {std::pair{-2.0, 2.0}, std::pair{0.2, 2.0}, std::pair{-0.9, 0.9}, std::pair{1.2, 3.0}})
      if (finiteAt(lo) && finiteAt(hi) && finiteAt((lo + hi) / 2)) {
        chosen = {lo, hi};
        break;
      }
    std::vector<Input> range = {{"x", {2, 3}, chosen.first, chosen.second}};
    checkGradient(std::string(op.name), range, [&](Graph &, auto &x) { return x[0].graph()->apply(op.kind, {x[0]})[0]; });
  }
}

TEST_CASE("gradients of reductions match finite differences", "[autodiff]") {
  std::vector<Input> x = {{"x", {2, 3, 4}}};
  checkGradient("reduce_sum", x, [](Graph &, auto &v) { return reduce_sum(v[0], {1}, false); });
  checkGradient("reduce_sum all", x, [](Graph &, auto &v) { return reduce_sum(v[0]); });
  checkGradient("reduce_mean", x, [](Graph &, auto &v) { return reduce_mean(v[0], {0, -1}, true); });
  checkGradient("reduce_max", x, [](Graph &, auto &v) { return reduce_max(v[0], {2}, false); });
  checkGradient("reduce_min", x, [](Graph &, auto &v) { return reduce_min(v[0], {0}, true); });
  checkGradient("reduce_prod", {{"x", {2, 3}, 0.5, 1.5}}, [](Graph &, auto &v) { return reduce_prod(v[0], {1}, false); });
}

TEST_CASE("gradients of contractions and pooling match finite differences", "[autodiff]") {
  checkGradient("matmul", {{"a", {3, 4}}, {"b", {4, 2}}}, [](Graph &, auto &v) { return matmul(v[0], v[1]); });
  checkGradient("matmul transposed", {{"a", {4, 3}}, {"b", {2, 4}}},
                [](Graph &, auto &v) { return matmul(v[0], v[1], true, true); });
  checkGradient("matmul batched, broadcast", {{"a", {2, 1, 3, 4}}, {"b", {3, 4, 2}}},
                [](Graph &, auto &v) { return matmul(v[0], v[1]); });
  ConvOptions o{.stride = {2, 1}, .pad = {1, 0, 1, 1}, .dilation = {1, 2}, .groups = 2};
  std::vector<Input> cx = {{"x", {2, 4, 5, 5}}, {"w", {6, 2, 3, 2}}};
  checkGradient("conv", cx, [&](Graph &, auto &v) { return conv(v[0], v[1], o); });
  checkGradient("conv 1-D", {{"x", {1, 2, 7}}, {"w", {3, 2, 3}}},
                [](Graph &, auto &v) { return conv(v[0], v[1], {.stride = {2}, .pad = {1, 1}}); });
  checkGradient("conv_transpose", {{"x", {1, 4, 3, 3}}, {"w", {4, 3, 3, 3}}},
                [](Graph &, auto &v) { return conv_transpose(v[0], v[1], {.stride = {2, 2}, .pad = {1, 1, 1, 1}, .groups = 2}, {1, 1}); });
  checkGradient("conv_grad_input", {{"dy", {2, 6, 3, 4}}, {"w", {6, 2, 3, 2}}},
                [&](Graph &, auto &v) { return conv_grad_input(v[0], v[1], {5, 5}, o); });
  checkGradient("conv_grad_weight", {{"x", {2, 4, 5, 5}}, {"dy", {2, 6, 3, 4}}},
                [&](Graph &, auto &v) { return conv_grad_weight(v[0], v[1], {3, 2}, o); });
  PoolOptions p{.stride = {2, 2}, .pad = {1, 1, 1, 1}, .ceil_mode = true};
  checkGradient("max_pool", {{"x", {1, 2, 5, 5}}}, [&](Graph &, auto &v) { return max_pool(v[0], {3, 3}, p); });
  checkGradient("avg_pool", {{"x", {1, 2, 5, 5}}}, [&](Graph &, auto &v) { return avg_pool(v[0], {3, 3}, p); });
  PoolOptions pi = p;
  pi.count_include_pad = true;
  checkGradient("avg_pool count_include_pad", {{"x", {1, 2, 5, 5}}},
                [&](Graph &, auto &v) { return avg_pool(v[0], {3, 3}, pi); });
  checkGradient("avg_pool_grad", {{"dy", {1, 2, 3, 3}}}, [&](Graph &, auto &v) { return avg_pool_grad(v[0], {5, 5}, {3, 3}, p); });
  checkGradient("global_avg_pool", {{"x", {2, 3, 2, 2}}}, [](Graph &, auto &v) { return global_avg_pool(v[0]); });
  checkGradient("global_max_pool", {{"x", {2, 3, 2, 2}}}, [](Graph &, auto &v) { return global_max_pool(v[0]); });
}

TEST_CASE("gradients of data movement match finite differences", "[autodiff]") {
  std::vector<Input> x = {{"x", {2, 3, 4}}};
  checkGradient("reshape", x, [](Graph &, auto &v) { return reshape(v[0], {0, -1}); });
  checkGradient("transpose", x, [](Graph &, auto &v) { return transpose(v[0], {2, 0, 1}); });
  checkGradient("broadcast_to", {{"x", {3, 1}}}, [](Graph &, auto &v) { return broadcast_to(v[0], {2, 3, 4}); });
  checkGradient("concat", {{"a", {2, 3}}, {"b", {2, 2}}}, [](Graph &, auto &v) { return concat({v[0], v[1], v[0]}, 1); });
  checkGradient("slice", x, [](Graph &, auto &v) { return slice(v[0], {1, -3}, {3, 100}, {1, 2}); });
  checkGradient("pad", x, [](Graph &, auto &v) { return pad(v[0], {0, 1, 2, 1, 0, 1}, "constant", 3.0); });
  checkGradient("gather", {{"x", {5, 3}}}, [](Graph &g, auto &v) {
    return gather(v[0], g.constant(tensor(i64, {2, 2}, {4, 0, 4, 2})));
  });
  // Repeated indices: gather_elements's gradient adds where they meet.
  checkGradient("gather_elements", {{"x", {3, 4}}}, [](Graph &g, auto &v) {
    return gather_elements(v[0], g.constant(tensor(i64, {2, 4}, {2, 0, 2, 1, 2, 2, -1, 0})), 0);
  });
  checkGradient("top_k values", {{"x", {2, 5}}}, [](Graph &, auto &v) { return gather_elements(v[0], top_k(v[0], 3), -1); });
  for (std::string reduction : {"none", "add"})
    checkGradient("scatter_elements " + reduction, {{"d", {3, 4}}, {"u", {2, 4}}}, [reduction](Graph &g, auto &v) {
      return scatter_elements(v[0], g.constant(tensor(i64, {2, 4}, {2, 0, 1, 1, 0, 2, -1, 0})), v[1], 0, reduction);
    });
  checkGradient("gather_nd", {{"x", {3, 4, 2}}}, [](Graph &g, auto &v) {
    return gather_nd(v[0], g.constant(tensor(i64, {3, 2}, {2, 1, 0, -1, 2, 1})));
  });
  for (std::string reduction : {"none", "add"})
    checkGradient("scatter_nd " + reduction, {{"d", {3, 4}}, {"u", {2, 4}}}, [reduction](Graph &g, auto &v) {
      return scatter_nd(v[0], g.constant(tensor(i64, {2, 1}, {2, 0})), v[1], reduction);
    });
  // Resize is linear: its gradient contracts dy with each dim's weights.
  for (std::string mode : {"nearest", "linear", "cubic"})
    for (std::string ct : {"half_pixel", "align_corners", "asymmetric"})
      checkGradient("resize " + mode + " " + ct, {{"x", {2, 3, 4, 5}}}, [mode, ct](Graph &, auto &v) {
        return resize(v[0], {1, 1, 2, 0.6}, mode, ct);
      });
  checkGradient("resize, exclude_outside and a crop", {{"x", {1, 2, 5, 4}}}, [](Graph &g, auto &v) {
    return g.apply(ir::OpKind::Resize, {v[0]},
                   {{"sizes", std::vector<int64_t>{1, 2, 7, 3}},
                    {"mode", std::string("cubic")},
                    {"coordinate_transformation_mode", std::string("tf_crop_and_resize")},
                    {"roi", std::vector<double>{0, 0, 0.1, 0.2, 1, 1, 0.8, 1.2}},
                    {"exclude_outside", true},
                    {"extrapolation_value", 5.0}})[0];
  });
  // batch_dims: each batch's indices address its own slice.
  checkGradient("gather_nd batch_dims=1", {{"x", {2, 3, 4}}}, [](Graph &g, auto &v) {
    return gather_nd(v[0], g.constant(tensor(i64, {2, 3, 1}, {2, 0, 2, 1, -1, 1})), 1);
  });
  checkGradient("gather_nd batch_dims=2", {{"x", {2, 3, 4, 2}}}, [](Graph &g, auto &v) {
    return gather_nd(v[0], g.constant(tensor(i64, {2, 3, 2, 1}, {3, 0, 1, 1, 2, 3, 0, 0, 1, 2, 3, 3})), 2);
  });
  for (bool exclusive : {false, true})
    for (bool reverse : {false, true})
      checkGradient(fmt::format("cumsum exclusive={} reverse={}", exclusive, reverse), {{"x", {2, 3, 4}}},
                    [exclusive, reverse](Graph &, auto &v) { return cumsum(v[0], 1, exclusive, reverse); });
}

TEST_CASE("gradients of nn ops match finite differences", "[autodiff]") {
  checkGradient("softmax", {{"x", {2, 5}}}, [](Graph &, auto &v) { return softmax(v[0], 1); });
  checkGradient("log_softmax", {{"x", {2, 3, 2}}}, [](Graph &, auto &v) { return log_softmax(v[0], 1); });
  for (std::string red : {"mean", "sum", "none"})
    checkGradient("softmax_cross_entropy " + red, {{"x", {4, 5}}}, [&](Graph &g, auto &v) {
      return softmax_cross_entropy(v[0], g.constant(tensor(i64, {4}, {1, 0, 4, 4})), red);
    });
  checkGradient("softmax_cross_entropy weighted, ignored, spatial", {{"x", {2, 3, 2}}}, [](Graph &g, auto &v) {
    auto labels = g.constant(tensor(i32, {2, 2}, {2, -1, 0, 1}));
    auto w = g.constant(tensor(f64, {3}, {0.5, 1, 2}));
    return g.apply(ir::OpKind::SoftmaxCrossEntropy, {v[0], labels, w}, {{"ignore_index", int64_t{-1}}})[0];
  });
  checkGradient("batch_norm_train", {{"x", {3, 2, 2}}, {"s", {2}}, {"b", {2}}},
                [](Graph &, auto &v) { return batch_norm_train(v[0], v[1], v[2], 1e-3).y; });
  checkGradient("batch_norm_infer", {{"x", {3, 2, 2}}, {"s", {2}}, {"b", {2}}, {"m", {2}}, {"var", {2}, 0.5, 2}},
                [](Graph &, auto &v) { return batch_norm_infer(v[0], v[1], v[2], v[3], v[4], 1e-3); },
                {true, true, true, false, false});
  checkGradient("dropout", {{"x", {4, 5}}}, [](Graph &, auto &v) { return dropout(v[0], 0.3, 5).y; });
}

namespace {
Tensor mlpCost(Graph &g, Tensor x, Tensor w1, Tensor w2) {
  auto labels = g.constant(tensor(i64, {3}, {0, 2, 1}));
  return softmax_cross_entropy(matmul(tanh(matmul(x, w1)), w2), labels);
}
} // namespace

TEST_CASE("whole models: MLP, LeNet and VGG-style gradients match finite differences", "[autodiff][models]") {
  checkGradient("MLP", {{"x", {3, 6}}, {"w1", {6, 5}}, {"b1", {5}}, {"w2", {5, 3}}},
                [](Graph &g, auto &v) {
                  auto labels = g.constant(tensor(i64, {3}, {0, 2, 1}));
                  auto h = relu(matmul(v[0], v[1]) + v[2]);
                  return softmax_cross_entropy(matmul(h, v[3]), labels);
                },
                {false, true, true, true});
  checkGradient("LeNet-style", {{"x", {2, 1, 12, 12}}, {"c1", {3, 1, 5, 5}}, {"c2", {4, 3, 3, 3}}, {"fc", {16, 3}}},
                [](Graph &g, auto &v) {
                  auto labels = g.constant(tensor(i64, {2}, {2, 0}));
                  auto a = max_pool(relu(conv(v[0], v[1], {.pad = {2, 2, 2, 2}})), {2, 2}, {.stride = {2, 2}});
                  auto b = max_pool(relu(conv(a, v[2])), {2, 2}, {.stride = {2, 2}});
                  return softmax_cross_entropy(matmul(reshape(b, {0, -1}), v[3]), labels);
                },
                {false, true, true, true});
  checkGradient("VGG-style block", {{"x", {2, 2, 8, 8}}, {"k1", {3, 2, 3, 3}}, {"k2", {3, 3, 3, 3}}, {"fc", {48, 4}}},
                [](Graph &g, auto &v) {
                  auto labels = g.constant(tensor(i64, {2}, {3, 1}));
                  ConvOptions same{.pad = {1, 1, 1, 1}};
                  auto a = relu(conv(relu(conv(v[0], v[1], same)), v[2], same));
                  auto p = max_pool(a, {2, 2}, {.stride = {2, 2}});
                  return softmax_cross_entropy(matmul(reshape(p, {0, -1}), v[3]), labels);
                },
                {false, true, true, true});
}

TEST_CASE("Hessian-vector products (grad of grad) of an MLP and a conv layer", "[autodiff][second-order]") {
  // H v = d/dw <grad(w), v>, checked against (grad(w + h v) - grad(w - h v)) / 2h.
  auto check = [](const std::vector<Input> &inputs, size_t wIndex, const Builder &f) {
    Graph g("hvp");
    std::vector<Tensor> xs;
    ref::TensorMap feeds;
    uint64_t seed = 11;
    for (const Input &in : inputs) {
      ir::Shape shape;
      for (int64_t s : in.sizes)
        shape.push_back(ir::Dim::of(s));
      xs.push_back(g.input(in.name, f64, shape));
      feeds[in.name] = HostTensor::fromDoubles(f64, in.sizes, randomValues(ir::product(in.sizes), seed++));
    }
    Tensor cost = f(g, xs);
    const Input &w = inputs[wIndex];
    auto gw = passes::grad(g.ir(), cost.id(), {xs[wIndex].id()});
    REQUIRE(gw);
    Tensor gradW(&g, (*gw)[0]);
    Tensor v = g.input("v", f64, xs[wIndex].type().shape);
    feeds["v"] = HostTensor::fromDoubles(f64, w.sizes, randomValues(ir::product(w.sizes), 123));
    Tensor gv = reduce_sum(gradW * v);
    auto hv = passes::grad(g.ir(), gv.id(), {xs[wIndex].id()});
    if (!hv)
      FAIL(hv.error().message);
    REQUIRE(g.ir().addOutput(gradW.id()));
    REQUIRE(g.ir().addOutput((*hv)[0]));
    auto run = ref::evaluate(g.ir(), feeds);
    REQUIRE(run);
    const double h = 1e-5;
    ref::TensorMap plus = feeds, minus = feeds;
    for (int64_t e = 0; e < feeds[w.name].numElements(); ++e) {
      plus[w.name].set(e, feeds[w.name].get(e) + h * feeds["v"].get(e));
      minus[w.name].set(e, feeds[w.name].get(e) - h * feeds["v"].get(e));
    }
    auto gp = ref::evaluate(g.ir(), plus), gm = ref::evaluate(g.ir(), minus);
    REQUIRE(gp);
    REQUIRE(gm);
    for (int64_t e = 0; e < run->outputs[1].numElements(); ++e) {
      double numeric = (gp->outputs[0].get(e) - gm->outputs[0].get(e)) / (2 * h);
      double a = run->outputs[1].get(e);
      INFO("element " << e << ": analytic " << a << ", numeric " << numeric);
      CHECK(std::fabs(a - numeric) / std::max({1.0, std::fabs(a), std::fabs(numeric)}) < 1e-6);
    }
  };
  check({{"x", {3, 6}}, {"w1", {6, 5}}, {"w2", {5, 3}}}, 1,
        [](Graph &g, auto &v) { return mlpCost(g, v[0], v[1], v[2]); });
  check({{"x", {2, 2, 5, 5}}, {"k", {3, 2, 3, 3}}}, 1, [](Graph &, auto &v) {
    auto y = softplus(conv(v[0], v[1], {.stride = {2, 2}, .pad = {1, 1, 1, 1}}));
    return reduce_sum(y * y);
  });
}

TEST_CASE("grad: disconnected inputs and non-scalar costs are clear errors", "[autodiff]") {
  Graph g("d");
  auto x = g.input("x", f64, {3});
  auto w = g.input("w", f64, {3});
  auto cost = reduce_sum(x * x);
  auto r = passes::grad(g.ir(), cost.id(), {w.id()});
  REQUIRE_FALSE(r);
  CHECK(r.error().message == "grad: the cost %" + cost.name() + " does not depend on %w (ask for zeros with Disconnected::Zero)");
  auto z = passes::grad(g.ir(), cost.id(), {w.id(), x.id()}, {passes::Disconnected::Zero});
  REQUIRE(z);
  REQUIRE(g.ir().addOutput((*z)[0]));
  auto run = ref::evaluate(g.ir(), {{"x", tensor(f64, {3}, {1, 2, 3})}, {"w", tensor(f64, {3}, {4, 5, 6})}});
  REQUIRE(run);
  checkClose(run->outputs[0], {3}, {0, 0, 0});
  auto notScalar = passes::grad(g.ir(), (x * x).named("sq").id(), {x.id()});
  REQUIRE_FALSE(notScalar);
  CHECK(notScalar.error().message == "grad: the cost %sq must be a floating-point scalar, got f64[3]");
  auto labels = g.input("labels", i64, {3});
  auto intWrt = passes::grad(g.ir(), cost.id(), {labels.id()});
  REQUIRE_FALSE(intWrt);
  CHECK(intWrt.error().message == "grad: %labels is i64[3], and only floating-point values have gradients");
}
