//===- reference/Elementwise.cpp - Reference elementwise kernels --===//
#include "reference/Kernels.h"

#include <cmath>
#include <optional>

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

/// The scalar meaning of every primitive elementwise op (composites expand
/// to these through their definitions); integer division by zero is the
/// one error.
Expected<double> primitive(OpKind op, std::span<const double> v, DType dt) {
  double x = v[0], y = v.size() > 1 ? v[1] : 0.0;
  switch (op) {
  case OpKind::Neg: return -x;
  case OpKind::Abs: return std::fabs(x);
  case OpKind::Exp: return std::exp(x);
  case OpKind::Expm1: return std::expm1(x);
  case OpKind::Log: return std::log(x);
  case OpKind::Log1p: return std::log1p(x);
  case OpKind::Sqrt: return std::sqrt(x);
  case OpKind::Reciprocal: return 1.0 / x;
  case OpKind::Tanh: return std::tanh(x);
  case OpKind::Floor: return std::floor(x);
  case OpKind::Ceil: return std::ceil(x);
  case OpKind::Round: return std::nearbyint(x); // the default rounding mode: half to even
  case OpKind::Erf: return std::erf(x);
  case OpKind::Sin: return std::sin(x);
  case OpKind::Cos: return std::cos(x);
  case OpKind::Atan: return std::atan(x);
  case OpKind::Cast: return x; // the driver rounds to the target dtype
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
  case OpKind::Fmod:
    if (isInteger(dt) && y == 0)
      return makeError("integer fmod by zero");
    return std::fmod(x, y);
  case OpKind::Max: return std::isnan(x) || std::isnan(y) ? NAN : std::max(x, y);
  case OpKind::Min: return std::isnan(x) || std::isnan(y) ? NAN : std::min(x, y);
  case OpKind::Equal: return x == y;
  case OpKind::Less: return x < y;
  case OpKind::Greater: return x > y;
  case OpKind::And: return x != 0 && y != 0;
  case OpKind::Or: return x != 0 || y != 0;
  case OpKind::Select: return x != 0 ? y : v[2];
  default: break; // not a primitive: the table's Primitive trait says which are
  }
  return makeError("op '{}' is not a primitive elementwise op", opInfo(op).name);
}

/// Evaluates op on one element's operand values: a primitive directly, a
/// composite through its definition (over doubles, as every primitive).
struct Scalar {
  const OpInfo &info;
  DType dtype;
  std::vector<double> attrs, scratch;
  std::optional<Error> error;

  Scalar(const OpInfo &op, const AttrView &a, DType dt)
      : info(op), dtype(dt), attrs(op.isComposite() ? definitionAttrs(op.definition, a) : std::vector<double>{}) {}

  double operator()(std::span<const double> v) {
    if (!info.isComposite())
      return take(primitive(info.kind, v, dtype));
    return expand<double>(
        info.definition, v, attrs, [](double c) { return c; },
        [this](OpKind k, std::span<const double> a) { return take(primitive(k, a, dtype)); }, scratch);
  }

  double take(Expected<double> r) {
    if (r)
      return *r;
    if (!error)
      error = r.error();
    return NAN;
  }
};

} // namespace

Results evalElementwise(const KernelCtx &ctx, Args args) {
  Scalar scalar(ctx.node.info(), ctx.attrs, args[0]->dtype);
  if (args.size() == 1) {
    Arr out(ctx.resultTypes[0], args[0]->shape);
    for (int64_t i = 0; i < out.size(); ++i)
      out.v[i] = scalar(std::span<const double>(&args[0]->v[i], 1));
    if (scalar.error)
      return *scalar.error;
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
    out.v[i] = scalar(std::span<const double>(vals, args.size()));
    if (scalar.error)
      return *scalar.error;
  }
  return std::vector<Arr>{std::move(out)};
}

} // namespace kiln::ref
