//===- passes/Stabilize.cpp - Numerically stable forms --------------------===//
#include "passes/Stabilize.h"
#include "passes/PatternUtil.h"

namespace kiln::passes {

using namespace ir;
using R = Expected<Rebuilder::Replacement>;

namespace {

/// log(softmax(x)) -> log_softmax(x), log(1 + x) -> log1p(x),
/// log(sigmoid(x)) -> -softplus(-x), log(exp(x)) -> x.
R stableLog(Rebuilder &b, const Node &n) {
  if (n.op != OpKind::Log)
    return Rebuilder::Replacement{};
  ValueId x = n.operands[0];
  if (const Node *s = defining(b, x, OpKind::Softmax)) {
    KILN_ASSIGN(ValueId y, b.emit(OpKind::LogSoftmax, {s->operands[0]}, Rebuilder::attrList(*s)));
    return replaceWith(b, n, y);
  }
  if (const Node *e = defining(b, x, OpKind::Exp))
    return replaceWith(b, n, e->operands[0]);
  if (const Node *s = defining(b, x, OpKind::Sigmoid)) {
    KILN_ASSIGN(ValueId neg, b.emit(OpKind::Neg, {s->operands[0]}));
    KILN_ASSIGN(ValueId sp, b.emit(OpKind::Softplus, {neg}));
    KILN_ASSIGN(ValueId y, b.emit(OpKind::Neg, {sp}));
    return replaceWith(b, n, y);
  }
  if (const Node *a = defining(b, x, OpKind::Add)) {
    for (int i = 0; i < 2; ++i)
      if (isSplat(b, a->operands[i], 1) && b.graph().type(a->operands[1 - i]) == resultType(b, n)) {
        KILN_ASSIGN(ValueId y, b.emit(OpKind::Log1p, {a->operands[1 - i]}));
        return replaceWith(b, n, y);
      }
  }
  return Rebuilder::Replacement{};
}

/// reduce_mean|reduce_sum over the batch of -sum(onehot(labels) * log_softmax(x, 1), axis 1),
/// the negation outside or inside -> softmax_cross_entropy(x, labels).
R softmaxCrossEntropy(Rebuilder &b, const Node &n) {
  if ((n.op != OpKind::ReduceMean && n.op != OpKind::ReduceSum) || n.attrView().getBool("keepdims") ||
      !n.attrView().getInts("axes").empty())
    return Rebuilder::Replacement{};
  // Peel one negation, inside the batch reduction.
  const Node *neg = defining(b, n.operands[0], OpKind::Neg);
  if (!neg)
    return Rebuilder::Replacement{};
  const Node *sum = defining(b, neg->operands[0], OpKind::ReduceSum);
  if (!sum || sum->attrView().getInts("axes") != std::vector<int64_t>{1} || sum->attrView().getBool("keepdims"))
    return Rebuilder::Replacement{};
  const Node *mul = defining(b, sum->operands[0], OpKind::Mul);
  if (!mul)
    return Rebuilder::Replacement{};
  for (int i = 0; i < 2; ++i) {
    const Node *oh = defining(b, mul->operands[i], OpKind::OneHot);
    const Node *ls = defining(b, mul->operands[1 - i], OpKind::LogSoftmax);
    if (!oh || !ls)
      continue;
    ValueId logits = ls->operands[0];
    const Type lt = b.graph().type(logits);
    int64_t axis = oh->attrView().getInt("axis"), lsAxis = ls->attrView().getInt("axis");
    if (lt.rank() != 2 || (axis != 1 && axis != -1) || (lsAxis != 1 && lsAxis != -1) ||
        !(b.graph().type(mul->operands[i]) == lt))
      return Rebuilder::Replacement{};
    std::string red = n.op == OpKind::ReduceMean ? "mean" : "sum";
    KILN_ASSIGN(ValueId y, b.emit(OpKind::SoftmaxCrossEntropy, {logits, oh->operands[0]}, {{"reduction", red}}));
    return replaceWith(b, n, y);
  }
  return Rebuilder::Replacement{};
}

const Pattern kPatterns[] = {stableLog, softmaxCrossEntropy};

} // namespace

Expected<Graph> stabilize(const Graph &g) { return applyPatterns(g, kPatterns); }

} // namespace kiln::passes
