//===- runtime/reference/Elementwise.cpp - Reference elementwise kernels --===//
#include "runtime/reference/Kernels.h"

#include <cmath>

namespace kiln::ref {

using namespace ir;

Sizes stridesOf(const Sizes &shape) {
  Sizes s(shape.size());
  int64_t acc = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

void unravel(int64_t flat, const Sizes &shape, Sizes &index) {
  index.resize(shape.size());
  for (size_t i = shape.size(); i-- > 0;) {
    index[i] = shape[i] ? flat % shape[i] : 0;
    flat = shape[i] ? flat / shape[i] : 0;
  }
}

Sizes broadcastStrides(const Sizes &shape, const Sizes &out) {
  Sizes own = stridesOf(shape), s(out.size(), 0);
  size_t off = out.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i)
    s[off + i] = shape[i] == 1 ? 0 : own[i];
  return s;
}

namespace {

double unary(OpKind op, double x, const AttrView &a) {
  switch (op) {
  case OpKind::Neg: return -x;
  case OpKind::Abs: return std::fabs(x);
  case OpKind::Exp: return std::exp(x);
  case OpKind::Log: return std::log(x);
  case OpKind::Log1p: return std::log1p(x);
  case OpKind::Sqrt: return std::sqrt(x);
  case OpKind::Rsqrt: return 1.0 / std::sqrt(x);
  case OpKind::Reciprocal: return 1.0 / x;
  case OpKind::Tanh: return std::tanh(x);
  case OpKind::Sigmoid: return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x));
  case OpKind::Relu: return x > 0 ? x : 0.0;
  case OpKind::LeakyRelu: return x >= 0 ? x : a.getFloat("alpha") * x;
  case OpKind::Elu: return x > 0 ? x : a.getFloat("alpha") * std::expm1(x);
  case OpKind::Selu: return a.getFloat("gamma") * (x > 0 ? x : a.getFloat("alpha") * std::expm1(x));
  case OpKind::Softplus: return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x)));
  case OpKind::Softsign: return x / (1.0 + std::fabs(x));
  case OpKind::Sign: return std::isnan(x) ? x : (x > 0) - (x < 0);
  case OpKind::Floor: return std::floor(x);
  case OpKind::Ceil: return std::ceil(x);
  case OpKind::Round: return std::nearbyint(x); // the default rounding mode: half to even
  case OpKind::Erf: return std::erf(x);
  case OpKind::Sin: return std::sin(x);
  case OpKind::Cos: return std::cos(x);
  case OpKind::Cast: return x; // the driver rounds to the target dtype
  case OpKind::Clip: return std::min(std::max(x, a.getFloat("min")), a.getFloat("max"));
  default: return NAN;
  }
}

Expected<double> binary(OpKind op, double x, double y, DType dt) {
  switch (op) {
  case OpKind::Add: return x + y;
  case OpKind::Sub: return x - y;
  case OpKind::Mul: return x * y;
  case OpKind::Div:
    if (isInteger(dt)) {
      if (y == 0)
        return makeError("integer division by zero");
      return std::trunc(x / y);
    }
    return x / y;
  case OpKind::Pow: return std::pow(x, y);
  case OpKind::Max: return std::isnan(x) || std::isnan(y) ? NAN : std::max(x, y);
  case OpKind::Min: return std::isnan(x) || std::isnan(y) ? NAN : std::min(x, y);
  case OpKind::Equal: return x == y;
  case OpKind::Less: return x < y;
  case OpKind::Greater: return x > y;
  case OpKind::And: return x != 0 && y != 0;
  case OpKind::Or: return x != 0 || y != 0;
  default: return NAN;
  }
}

} // namespace

Results evalElementwise(const KernelCtx &ctx, Args args) {
  OpKind op = ctx.node.op;
  if (args.size() == 1) {
    Arr out(ctx.resultTypes[0], args[0]->shape);
    for (int64_t i = 0; i < out.size(); ++i)
      out.v[i] = unary(op, args[0]->v[i], ctx.attrs);
    return std::vector<Arr>{std::move(out)};
  }
  // Broadcasting binary and ternary ops.
  Sizes shape = args[0]->shape;
  for (size_t k = 1; k < args.size(); ++k) {
    auto s = broadcastSizes(shape, args[k]->shape);
    if (!s)
      return s.error();
    shape = s.take();
  }
  std::vector<Sizes> strides;
  for (const Arr *a : args)
    strides.push_back(broadcastStrides(a->shape, shape));
  Arr out(ctx.resultTypes[0], shape);
  Sizes index;
  for (int64_t i = 0; i < out.size(); ++i) {
    unravel(i, shape, index);
    double vals[3] = {0, 0, 0};
    for (size_t k = 0; k < args.size(); ++k) {
      int64_t off = 0;
      for (size_t d = 0; d < index.size(); ++d)
        off += index[d] * strides[k][d];
      vals[k] = args[k]->v[off];
    }
    if (op == OpKind::Select) {
      out.v[i] = vals[0] != 0 ? vals[1] : vals[2];
      continue;
    }
    auto r = binary(op, vals[0], vals[1], args[0]->dtype);
    if (!r)
      return r.error();
    out.v[i] = *r;
  }
  return std::vector<Arr>{std::move(out)};
}

} // namespace kiln::ref
