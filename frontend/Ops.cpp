//===- frontend/Ops.cpp - The graph-building API: one function per op -----===//
#include "kiln/kiln.h"

namespace kiln {

using ir::OpKind;
using Ints = std::vector<int64_t>;

namespace {

/// Builds a one-result node in the graph of the first valid operand.
Tensor build(OpKind op, const std::vector<Tensor> &xs, const ir::AttrList &attrs = {}) {
  for (const Tensor &x : xs)
    if (x.valid())
      return x.graph()->apply(op, xs, attrs)[0];
  return {};
}

std::vector<Tensor> buildMulti(OpKind op, const std::vector<Tensor> &xs, const ir::AttrList &attrs = {}) {
  for (const Tensor &x : xs)
    if (x.valid())
      return x.graph()->apply(op, xs, attrs);
  return std::vector<Tensor>(static_cast<size_t>(ir::opInfo(op).numResults));
}

/// A scalar constant of x's dtype, in x's graph.
Tensor scalarLike(Tensor x, double v) { return x.valid() ? x.graph()->scalar(v, x.type().dtype) : Tensor{}; }

ir::AttrList convAttrs(const ConvOptions &o) {
  return {{"stride", o.stride}, {"pad", o.pad}, {"dilation", o.dilation}, {"groups", o.groups}};
}
ir::AttrList poolAttrs(Ints kernel, const PoolOptions &o, bool isAvg) {
  ir::AttrList a = {{"kernel", std::move(kernel)}, {"stride", o.stride}, {"pad", o.pad},
                    {"dilation", o.dilation},    {"ceil_mode", o.ceil_mode}};
  if (isAvg)
    a.emplace_back("count_include_pad", o.count_include_pad);
  return a;
}

} // namespace

#define KILN_UNARY(fn, kind)                                                   \
  Tensor fn(Tensor x) { return build(OpKind::kind, {x}); }
KILN_UNARY(neg, Neg)
KILN_UNARY(abs, Abs)
KILN_UNARY(exp, Exp)
KILN_UNARY(expm1, Expm1)
KILN_UNARY(log, Log)
KILN_UNARY(log1p, Log1p)
KILN_UNARY(sqrt, Sqrt)
KILN_UNARY(reciprocal, Reciprocal)
KILN_UNARY(tanh, Tanh)
KILN_UNARY(floor, Floor)
KILN_UNARY(ceil, Ceil)
KILN_UNARY(round, Round)
KILN_UNARY(erf, Erf)
KILN_UNARY(sin, Sin)
KILN_UNARY(cos, Cos)
KILN_UNARY(atan, Atan)
KILN_UNARY(global_avg_pool, GlobalAvgPool)
KILN_UNARY(global_max_pool, GlobalMaxPool)
KILN_UNARY(identity, Identity)
#undef KILN_UNARY

#define KILN_OP(...)
#define KILN_DEFINE(id, api, ...)                                              \
  Tensor api(Tensor x) { return build(OpKind::id, {x}); }
#include "ir/Ops.def"
#undef KILN_DEFINE
#undef KILN_OP

#define KILN_BINARY(fn, kind)                                                  \
  Tensor fn(Tensor a, Tensor b) { return build(OpKind::kind, {a, b}); }
KILN_BINARY(add, Add)
KILN_BINARY(sub, Sub)
KILN_BINARY(mul, Mul)
KILN_BINARY(div, Div)
KILN_BINARY(fmod, Fmod)
KILN_BINARY(pow, Pow)
KILN_BINARY(maximum, Max)
KILN_BINARY(minimum, Min)
KILN_BINARY(equal, Equal)
KILN_BINARY(less, Less)
KILN_BINARY(greater, Greater)
KILN_BINARY(logical_and, And)
KILN_BINARY(logical_or, Or)
#undef KILN_BINARY

Tensor leaky_relu(Tensor x, double alpha) { return build(OpKind::LeakyRelu, {x}, {{"alpha", alpha}}); }
Tensor elu(Tensor x, double alpha) { return build(OpKind::Elu, {x}, {{"alpha", alpha}}); }
Tensor select(Tensor cond, Tensor a, Tensor b) { return build(OpKind::Select, {cond, a, b}); }
Tensor cast(Tensor x, DType to) { return build(OpKind::Cast, {x}, {{"to", to}}); }
Tensor clip(Tensor x, double min, double max) { return build(OpKind::Clip, {x}, {{"min", min}, {"max", max}}); }

Tensor operator+(Tensor a, Tensor b) { return add(a, b); }
Tensor operator-(Tensor a, Tensor b) { return sub(a, b); }
Tensor operator*(Tensor a, Tensor b) { return mul(a, b); }
Tensor operator/(Tensor a, Tensor b) { return div(a, b); }
Tensor operator-(Tensor a) { return neg(a); }
Tensor operator<(Tensor a, Tensor b) { return less(a, b); }
Tensor operator>(Tensor a, Tensor b) { return greater(a, b); }
Tensor operator<=(Tensor a, Tensor b) { return logical_or(less(a, b), equal(a, b)); }
Tensor operator>=(Tensor a, Tensor b) { return logical_or(greater(a, b), equal(a, b)); }
Tensor operator+(Tensor a, double b) { return add(a, scalarLike(a, b)); }
Tensor operator-(Tensor a, double b) { return sub(a, scalarLike(a, b)); }
Tensor operator*(Tensor a, double b) { return mul(a, scalarLike(a, b)); }
Tensor operator/(Tensor a, double b) { return div(a, scalarLike(a, b)); }
Tensor operator+(double a, Tensor b) { return add(scalarLike(b, a), b); }
Tensor operator-(double a, Tensor b) { return sub(scalarLike(b, a), b); }
Tensor operator*(double a, Tensor b) { return mul(scalarLike(b, a), b); }
Tensor operator/(double a, Tensor b) { return div(scalarLike(b, a), b); }
Tensor operator<(Tensor a, double b) { return less(a, scalarLike(a, b)); }
Tensor operator>(Tensor a, double b) { return greater(a, scalarLike(a, b)); }

#define KILN_REDUCE(fn, kind)                                                  \
  Tensor fn(Tensor x, Ints axes, bool keepdims) {                              \
    return build(OpKind::kind, {x}, {{"axes", std::move(axes)}, {"keepdims", keepdims}}); \
  }
KILN_REDUCE(reduce_sum, ReduceSum)
KILN_REDUCE(reduce_mean, ReduceMean)
KILN_REDUCE(reduce_max, ReduceMax)
KILN_REDUCE(reduce_min, ReduceMin)
KILN_REDUCE(reduce_prod, ReduceProd)
#undef KILN_REDUCE
Tensor argmax(Tensor x, int64_t axis, bool keepdims) {
  return build(OpKind::ArgMax, {x}, {{"axis", axis}, {"keepdims", keepdims}});
}
Tensor argmin(Tensor x, int64_t axis, bool keepdims) {
  return build(OpKind::ArgMin, {x}, {{"axis", axis}, {"keepdims", keepdims}});
}

Tensor matmul(Tensor a, Tensor b, bool ta, bool tb) {
  return build(OpKind::MatMul, {a, b}, {{"transpose_a", ta}, {"transpose_b", tb}});
}
Tensor conv(Tensor x, Tensor w, const ConvOptions &o) { return build(OpKind::Conv, {x, w}, convAttrs(o)); }
Tensor conv_transpose(Tensor x, Tensor w, const ConvOptions &o, Ints outputPadding) {
  auto a = convAttrs(o);
  a.emplace_back("output_padding", std::move(outputPadding));
  return build(OpKind::ConvTranspose, {x, w}, a);
}
Tensor conv_grad_input(Tensor dy, Tensor w, Ints inputSize, const ConvOptions &o) {
  auto a = convAttrs(o);
  a.emplace_back("input_size", std::move(inputSize));
  return build(OpKind::ConvGradInput, {dy, w}, a);
}
Tensor conv_grad_weight(Tensor x, Tensor dy, Ints kernelSize, const ConvOptions &o) {
  auto a = convAttrs(o);
  a.emplace_back("kernel_size", std::move(kernelSize));
  return build(OpKind::ConvGradWeight, {x, dy}, a);
}
Tensor max_pool(Tensor x, Ints kernel, const PoolOptions &o) {
  return build(OpKind::MaxPool, {x}, poolAttrs(std::move(kernel), o, false));
}
Tensor avg_pool(Tensor x, Ints kernel, const PoolOptions &o) {
  return build(OpKind::AvgPool, {x}, poolAttrs(std::move(kernel), o, true));
}
Tensor max_pool_grad(Tensor dy, Tensor x, Ints kernel, const PoolOptions &o) {
  return build(OpKind::MaxPoolGrad, {dy, x}, poolAttrs(std::move(kernel), o, false));
}
Tensor avg_pool_grad(Tensor dy, Ints inputSize, Ints kernel, const PoolOptions &o) {
  auto a = poolAttrs(std::move(kernel), o, true);
  a.emplace_back("input_size", std::move(inputSize));
  return build(OpKind::AvgPoolGrad, {dy}, a);
}

Tensor reshape(Tensor x, Ints shape) { return build(OpKind::Reshape, {x}, {{"shape", std::move(shape)}}); }
Tensor transpose(Tensor x, Ints perm) { return build(OpKind::Transpose, {x}, {{"perm", std::move(perm)}}); }
Tensor broadcast_to(Tensor x, const Shape &shape) { return build(OpKind::BroadcastTo, {x}, {{"shape", shape}}); }
Tensor concat(const std::vector<Tensor> &xs, int64_t axis) { return build(OpKind::Concat, xs, {{"axis", axis}}); }
Tensor slice(Tensor x, Ints starts, Ints ends, Ints axes, Ints steps) {
  return build(OpKind::Slice, {x},
               {{"starts", std::move(starts)}, {"ends", std::move(ends)}, {"axes", std::move(axes)}, {"steps", std::move(steps)}});
}
Tensor pad(Tensor x, Ints pads, const std::string &mode, double value) {
  return build(OpKind::Pad, {x}, {{"pads", std::move(pads)}, {"mode", mode}, {"value", value}});
}
Tensor gather(Tensor data, Tensor indices, int64_t axis) { return build(OpKind::Gather, {data, indices}, {{"axis", axis}}); }
Tensor gather_elements(Tensor data, Tensor indices, int64_t axis) {
  return build(OpKind::GatherElements, {data, indices}, {{"axis", axis}});
}
Tensor top_k(Tensor x, int64_t k, int64_t axis, bool largest) {
  return build(OpKind::TopK, {x}, {{"k", k}, {"axis", axis}, {"largest", largest}});
}
Tensor scatter_elements(Tensor data, Tensor indices, Tensor updates, int64_t axis, const std::string &reduction) {
  return build(OpKind::ScatterElements, {data, indices, updates}, {{"axis", axis}, {"reduction", reduction}});
}
Tensor gather_nd(Tensor data, Tensor indices, int64_t batch_dims) {
  return build(OpKind::GatherND, {data, indices}, {{"batch_dims", batch_dims}});
}
Tensor scatter_nd(Tensor data, Tensor indices, Tensor updates, const std::string &reduction) {
  return build(OpKind::ScatterND, {data, indices, updates}, {{"reduction", reduction}});
}
Tensor resize(Tensor x, std::vector<double> scales, const std::string &mode, const std::string &coordinates) {
  return build(OpKind::Resize, {x},
               {{"scales", std::move(scales)}, {"mode", mode}, {"coordinate_transformation_mode", coordinates}});
}
Tensor cumsum(Tensor x, int64_t axis, bool exclusive, bool reverse) {
  return build(OpKind::CumSum, {x}, {{"axis", axis}, {"exclusive", exclusive}, {"reverse", reverse}});
}
Tensor one_hot(Tensor indices, int64_t depth, int64_t axis, DType dtype) {
  return build(OpKind::OneHot, {indices}, {{"depth", depth}, {"axis", axis}, {"dtype", dtype}});
}
Tensor layout_convert(Tensor x, ir::Layout layout) { return build(OpKind::LayoutConvert, {x}, {{"layout", layout}}); }

Tensor softmax(Tensor x, int64_t axis) { return build(OpKind::Softmax, {x}, {{"axis", axis}}); }
Tensor log_softmax(Tensor x, int64_t axis) { return build(OpKind::LogSoftmax, {x}, {{"axis", axis}}); }
Tensor softmax_cross_entropy(Tensor logits, Tensor labels, const std::string &reduction) {
  return build(OpKind::SoftmaxCrossEntropy, {logits, labels}, {{"reduction", reduction}});
}
BatchNormResult batch_norm_train(Tensor x, Tensor scale, Tensor bias, double epsilon) {
  auto r = buildMulti(OpKind::BatchNormTrain, {x, scale, bias}, {{"epsilon", epsilon}});
  return {r[0], r[1], r[2]};
}
Tensor batch_norm_infer(Tensor x, Tensor scale, Tensor bias, Tensor mean, Tensor var, double epsilon) {
  return build(OpKind::BatchNormInfer, {x, scale, bias, mean, var}, {{"epsilon", epsilon}});
}
BatchNormGrads batch_norm_grad(Tensor dy, Tensor x, Tensor scale, Tensor mean, Tensor var, double epsilon) {
  auto r = buildMulti(OpKind::BatchNormGrad, {dy, x, scale, mean, var}, {{"epsilon", epsilon}});
  return {r[0], r[1], r[2]};
}
DropoutResult dropout(Tensor x, double ratio, int64_t seed) {
  auto r = buildMulti(OpKind::Dropout, {x}, {{"ratio", ratio}, {"seed", seed}});
  return {r[0], r[1]};
}

} // namespace kiln
