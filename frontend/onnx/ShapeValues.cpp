//===- frontend/onnx/ShapeValues.cpp - ONNX import: shapes computed in the graph ===//
//
// Exporters compute shapes in the graph: `x.view(x.size(0), -1)` becomes
// Shape -> Gather -> Unsqueeze -> Concat -> Reshape. Where a shape is
// symbolic (a `dim_param` batch), the integer tensors of such a chain are
// followed at import as lists of dims (ShapeElems): the Shape of x gives x's
// dims, Gather, Slice, Concat, Reshape, Cast and integer arithmetic act on
// them as dim expressions (ir/DimExpr.h), and the op that takes the shape
// (Reshape, Expand, ConstantOfShape) gets `N`, `64*N`, ... as its dims.
// Chains of constants fold through the reference interpreter as before.
//
//===----------------------------------------------------------------------===//
#include "frontend/onnx/Importer.h"
#include "ir/DimExpr.h"
#include "ir/TypeRules.h"

namespace kiln::onnximport {

using namespace ir;

Dim ShapeElem::asDim() const { return symbolic() ? dim : Dim::of(value); }

std::string shapeText(const ShapeElems &e) {
  std::string out;
  for (const ShapeElem &x : e)
    out += (out.empty() ? "" : ",") + (x.symbolic() ? ir::toString(x.dim) : std::to_string(x.value));
  return "[" + out + "]";
}

namespace {

Expected<ShapeElems> elemsOf(const HostTensor &t) {
  if (!isInteger(t.dtype()) || t.rank() > 1)
    return makeError("a shape is an integer tensor of rank 0 or 1, got {}", toString(t.type()));
  ShapeElems out;
  for (int64_t i = 0; i < t.numElements(); ++i)
    out.push_back(ShapeElem{t.getInt(i), {}});
  return out;
}

/// a op b for one element, as integers where both are constant (ONNX's
/// integer division truncates), else as a dim expression.
Expected<ShapeElem> arith(OpKind op, const ShapeElem &a, const ShapeElem &b) {
  if (!a.symbolic() && !b.symbolic()) {
    int64_t r = 0;
    bool overflow = false;
    if (op == OpKind::Add)
      overflow = __builtin_add_overflow(a.value, b.value, &r);
    else if (op == OpKind::Sub)
      overflow = __builtin_sub_overflow(a.value, b.value, &r);
    else if (op == OpKind::Mul)
      overflow = __builtin_mul_overflow(a.value, b.value, &r);
    else if (b.value == 0)
      return makeError("a shape computation divides by zero");
    else
      r = a.value / b.value;
    if (overflow)
      return makeError("a shape computation overflows 64 bits");
    return ShapeElem{r, {}};
  }
  // A negative constant added is a subtraction (a Dim holds no negatives).
  auto plus = [](const Dim &x, const ShapeElem &k, bool negate) {
    int64_t v = negate ? -k.value : k.value;
    return k.symbolic() ? (negate ? dimSub(x, k.dim) : dimAdd(x, k.dim))
                        : (v >= 0 ? dimAdd(x, Dim::of(v)) : dimSub(x, Dim::of(-v)));
  };
  Dim d;
  if (op == OpKind::Add)
    d = a.symbolic() ? plus(a.dim, b, false) : plus(b.dim, a, false);
  else if (op == OpKind::Sub)
    d = a.symbolic() ? plus(a.dim, b, true) : dimSub(a.asDim(), b.dim);
  else if (op == OpKind::Mul)
    d = dimMul(a.asDim(), b.asDim());
  else
    d = dimFloorDiv(a.asDim(), b.asDim());
  if (!d.isSymbol() && !d.isConst())
    return makeError("{} {} {} is not a size", a.asDim().isUnknown() ? std::to_string(a.value) : ir::toString(a.asDim()),
                     opInfo(op).name, b.asDim().isUnknown() ? std::to_string(b.value) : ir::toString(b.asDim()));
  return d.isConst() ? ShapeElem{d.value, {}} : ShapeElem{0, d};
}

} // namespace

Expected<ShapeElems> Importer::shapeElems(ValueId v) {
  if (auto it = shapeValues_.find(v); it != shapeValues_.end())
    return it->second;
  const Value &val = g_.value(v);
  if (val.kind != ValueKind::Result) {
    KILN_ASSIGN(HostTensor t, constantValue(v));
    return elemsOf(t);
  }
  const Node &n = g_.producer(v);
  // The operands as shapes; all constant: the node folds as a constant.
  std::vector<ShapeElems> ops;
  bool anySymbolic = false;
  for (ValueId o : n.operands) {
    auto e = shapeElems(o);
    if (!e) { // not a shape (a float tensor, say): the node may still fold as a constant
      KILN_ASSIGN(HostTensor t, constantValue(v));
      return elemsOf(t);
    }
    for (const ShapeElem &x : *e)
      anySymbolic |= x.symbolic();
    ops.push_back(e.take());
  }
  ShapeElems out;
  AttrView attrs = n.attrView();
  OpKind op = n.op;
  if (op == OpKind::Reshape || op == OpKind::Identity || (op == OpKind::Cast && isInteger(g_.type(v).dtype))) {
    out = ops[0];
  } else if (op == OpKind::Concat) {
    for (const ShapeElems &e : ops)
      out.insert(out.end(), e.begin(), e.end());
  } else if (op == OpKind::Gather && g_.type(n.operands[0]).rank() == 1) {
    auto n0 = static_cast<int64_t>(ops[0].size());
    for (const ShapeElem &i : ops[1]) {
      int64_t k = i.value < 0 ? i.value + n0 : i.value;
      if (i.symbolic() || k < 0 || k >= n0)
        return makeError("a Gather of the shape {} at an index out of range", shapeText(ops[0]));
      out.push_back(ops[0][static_cast<size_t>(k)]);
    }
  } else if (op == OpKind::Slice && g_.type(n.operands[0]).rank() == 1) {
    const auto &starts = attrs.getInts("starts"), &ends = attrs.getInts("ends");
    const auto &steps = attrs.getInts("steps");
    auto b = sliceBounds(starts.at(0), ends.at(0), steps.empty() ? 1 : steps[0], static_cast<int64_t>(ops[0].size()));
    for (int64_t k = 0; k < b.count; ++k)
      out.push_back(ops[0][static_cast<size_t>(b.start + k * b.step)]);
  } else if (op == OpKind::Add || op == OpKind::Sub || op == OpKind::Mul || op == OpKind::Div) {
    size_t count = std::max(ops[0].size(), ops[1].size());
    for (size_t k = 0; k < count; ++k) {
      const ShapeElem &a = ops[0][ops[0].size() == 1 ? 0 : k], &b = ops[1][ops[1].size() == 1 ? 0 : k];
      KILN_ASSIGN(ShapeElem r, arith(op, a, b));
      out.push_back(r);
    }
  } else if (!anySymbolic) { // other ops of constants (which may come from a symbolic shape) fold
    KILN_ASSIGN(HostTensor t, constantValue(v));
    return elemsOf(t);
  } else {
    return makeError("'{}' ({} of a symbolic shape) is not a shape computation kiln follows at import", g_.nameOf(v),
                     opInfo(op).name);
  }
  shapeValues_[v] = out;
  return out;
}

void Importer::setShapeElems(ValueId v, ShapeElems e) { shapeValues_[v] = std::move(e); }

} // namespace kiln::onnximport
