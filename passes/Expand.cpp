//===- passes/Expand.cpp - Opaque ops over the ops lowering knows ---------===//
#include "passes/Expand.h"
#include "passes/CSE.h"
#include "passes/DCE.h"
#include "passes/PatternUtil.h"

namespace kiln::passes {

using namespace ir;
using R = Expected<Rebuilder::Replacement>;

namespace {

/// The axis attribute of `n` as a non-negative dim of a rank-`rank` value.
int64_t axisOf(const Node &n, int64_t rank) {
  int64_t a = n.attrView().getInt("axis");
  return a < 0 ? a + rank : a;
}

Expected<ValueId> reduce(Rebuilder &b, OpKind op, ValueId x, std::vector<int64_t> axes, bool keep) {
  return b.emit(op, {x}, {{"axes", std::move(axes)}, {"keepdims", keep}});
}

/// z = x - reduce_max(x, axis): the shifted logits.
Expected<ValueId> shifted(Rebuilder &b, ValueId x, int64_t axis) {
  KILN_ASSIGN(ValueId m, reduce(b, OpKind::ReduceMax, x, {axis}, true));
  return b.emit(OpKind::Sub, {x, m});
}

R softmax(Rebuilder &b, const Node &n) {
  if (n.op != OpKind::Softmax && n.op != OpKind::LogSoftmax)
    return Rebuilder::Replacement{};
  ValueId x = n.operands[0];
  int64_t axis = axisOf(n, b.graph().type(x).rank());
  KILN_ASSIGN(ValueId z, shifted(b, x, axis));
  KILN_ASSIGN(ValueId e, b.emit(OpKind::Exp, {z}));
  KILN_ASSIGN(ValueId s, reduce(b, OpKind::ReduceSum, e, {axis}, true));
  if (n.op == OpKind::Softmax) {
    KILN_ASSIGN(ValueId y, b.emit(OpKind::Div, {e, s}));
    return replaceWith(b, n, y);
  }
  KILN_ASSIGN(ValueId lse, b.emit(OpKind::Log, {s}));
  KILN_ASSIGN(ValueId y, b.emit(OpKind::Sub, {z, lse}));
  return replaceWith(b, n, y);
}

R crossEntropy(Rebuilder &b, const Node &n) {
  if (n.op != OpKind::SoftmaxCrossEntropy || n.operands.size() != 2 || n.attrView().has("ignore_index"))
    return Rebuilder::Replacement{};
  ValueId logits = n.operands[0], labels = n.operands[1];
  const Type lt = b.graph().type(logits);
  if (lt.rank() != 2 || !lt.shape[1].isConst())
    return Rebuilder::Replacement{};
  KILN_ASSIGN(ValueId z, shifted(b, logits, 1));
  KILN_ASSIGN(ValueId e, b.emit(OpKind::Exp, {z}));
  KILN_ASSIGN(ValueId s, reduce(b, OpKind::ReduceSum, e, {1}, true));
  KILN_ASSIGN(ValueId lse, b.emit(OpKind::Log, {s}));
  KILN_ASSIGN(ValueId nll, b.emit(OpKind::Sub, {lse, z}));
  KILN_ASSIGN(ValueId oh, b.emit(OpKind::OneHot, {labels},
                                 {{"depth", lt.shape[1].value}, {"axis", int64_t{-1}}, {"dtype", lt.dtype}}));
  KILN_ASSIGN(ValueId picked, b.emit(OpKind::Mul, {oh, nll}));
  KILN_ASSIGN(ValueId loss, reduce(b, OpKind::ReduceSum, picked, {1}, false));
  const std::string &red = n.attrView().getString("reduction");
  if (red == "none")
    return replaceWith(b, n, loss);
  KILN_ASSIGN(ValueId y, reduce(b, red == "sum" ? OpKind::ReduceSum : OpKind::ReduceMean, loss, {}, false));
  return replaceWith(b, n, y);
}

const Pattern kPatterns[] = {softmax, crossEntropy};

} // namespace

Expected<Graph> expand(const Graph &g) {
  // The loss and its gradient's softmax share the max, exp and sum.
  KILN_ASSIGN(Graph expanded, applyPatterns(g, kPatterns));
  KILN_ASSIGN(Graph merged, cse(expanded));
  return dce(merged);
}

} // namespace kiln::passes
