//===- passes/Canonicalize.cpp - Algebraic identities ---------------------===//
#include "passes/Canonicalize.h"
#include "passes/PatternUtil.h"

namespace kiln::passes {

using namespace ir;
using R = Expected<Rebuilder::Replacement>;

namespace {

/// identity, and ops that change nothing: cast to the same dtype, reshape,
/// broadcast or layout conversion to the same type.
R noOp(Rebuilder &b, const Node &n) {
  switch (n.op) {
  case OpKind::Identity:
  case OpKind::Cast:
  case OpKind::Reshape:
  case OpKind::BroadcastTo:
  case OpKind::LayoutConvert: return replaceWith(b, n, n.operands[0]);
  case OpKind::Transpose: {
    const auto &perm = n.attrView().getInts("perm");
    for (size_t i = 0; i < perm.size(); ++i)
      if (perm[i] != static_cast<int64_t>(i))
        return Rebuilder::Replacement{};
    return perm.empty() && b.graph().type(n.operands[0]).rank() > 1 ? Rebuilder::Replacement{}
                                                                      : replaceWith(b, n, n.operands[0]);
  }
  default: return Rebuilder::Replacement{};
  }
}

/// x + 0, 0 + x, x - 0, x * 1, 1 * x, x / 1, x ^ 1 -> x.
R neutralOperand(Rebuilder &b, const Node &n) {
  auto isNeutral = [&](int i) {
    ValueId v = n.operands[static_cast<size_t>(i)];
    switch (n.op) {
    case OpKind::Add: return isSplat(b, v, 0);
    case OpKind::Sub: return i == 1 && isSplat(b, v, 0);
    case OpKind::Mul: return isSplat(b, v, 1);
    case OpKind::Div:
    case OpKind::Pow: return i == 1 && isSplat(b, v, 1);
    default: return false;
    }
  };
  if (n.operands.size() != 2)
    return Rebuilder::Replacement{};
  if (isNeutral(1))
    return replaceWith(b, n, n.operands[0]);
  if (isNeutral(0))
    return replaceWith(b, n, n.operands[1]);
  return Rebuilder::Replacement{};
}

/// x * 0 -> 0 for integer x (for floats, NaN * 0 and inf * 0 are NaN).
R integerTimesZero(Rebuilder &b, const Node &n) {
  if (n.op != OpKind::Mul || !isInteger(resultType(b, n).dtype))
    return Rebuilder::Replacement{};
  for (ValueId v : n.operands)
    if (isSplat(b, v, 0)) {
      auto count = resultType(b, n).numElements();
      if (!count || *count > (1 << 16))
        return Rebuilder::Replacement{};
      Sizes sizes;
      for (const Dim &d : resultType(b, n).shape)
        sizes.push_back(d.value);
      KILN_ASSIGN(ValueId z, b.addConstant(HostTensor(resultType(b, n).dtype, sizes), "zeros"));
      return replaceWith(b, n, z);
    }
  return Rebuilder::Replacement{};
}

/// -(-x) -> x.
R doubleNegation(Rebuilder &b, const Node &n) {
  if (n.op != OpKind::Neg)
    return Rebuilder::Replacement{};
  const Node *inner = defining(b, n.operands[0], OpKind::Neg);
  return inner ? replaceWith(b, n, inner->operands[0]) : Rebuilder::Replacement{};
}

/// transpose(transpose(x, p), q) -> transpose(x, p o q), or x.
R transposeChain(Rebuilder &b, const Node &n) {
  if (n.op != OpKind::Transpose)
    return Rebuilder::Replacement{};
  const Node *inner = defining(b, n.operands[0], OpKind::Transpose);
  if (!inner)
    return Rebuilder::Replacement{};
  ValueId x = inner->operands[0];
  int rank = b.graph().type(x).rank();
  auto full = [&](std::vector<int64_t> p) {
    if (p.empty())
      for (int i = rank - 1; i >= 0; --i)
        p.push_back(i);
    return p;
  };
  std::vector<int64_t> p = full(inner->attrView().getInts("perm")), q = full(n.attrView().getInts("perm")), composed;
  bool identity = true;
  for (int i = 0; i < rank; ++i) {
    composed.push_back(p[static_cast<size_t>(q[i])]);
    identity &= composed.back() == i;
  }
  if (identity)
    return replaceWith(b, n, x);
  KILN_ASSIGN(ValueId t, b.emit(OpKind::Transpose, {x}, {{"perm", composed}}));
  return replaceWith(b, n, t);
}

/// reshape(reshape(x)) -> reshape(x); broadcast_to(broadcast_to(x)) -> broadcast_to(x).
R chainOfSame(Rebuilder &b, const Node &n) {
  if (n.op != OpKind::Reshape && n.op != OpKind::BroadcastTo)
    return Rebuilder::Replacement{};
  const Node *inner = defining(b, n.operands[0], n.op);
  if (!inner)
    return Rebuilder::Replacement{};
  AttrList attrs = Rebuilder::attrList(n);
  if (n.op == OpKind::Reshape) {
    // The outer spec's 0s copy the inner result's dims: spell them out.
    std::vector<int64_t> spec = n.attrView().getInts("shape");
    const Type &mid = b.graph().type(n.operands[0]);
    const Type &src = b.graph().type(inner->operands[0]);
    for (size_t i = 0; i < spec.size(); ++i)
      if (spec[i] == 0 && !(i < src.shape.size() && src.shape[i] == mid.shape[i])) {
        if (!mid.shape[i].isConst())
          return Rebuilder::Replacement{};
        spec[i] = mid.shape[i].value;
      }
    attrs = {{"shape", spec}};
  }
  auto t = b.graph().addNode(n.op, {inner->operands[0]}, attrs);
  if (!t)
    return Rebuilder::Replacement{}; // the shorter chain does not type: keep the node
  return replaceWith(b, n, (*t)[0]);
}

/// A constant left operand of a commutative op moves to the right.
R constantsRight(Rebuilder &b, const Node &n) {
  if (!n.info().has(trait::Commutative))
    return Rebuilder::Replacement{};
  if (!b.constant(n.operands[0]) || b.constant(n.operands[1]))
    return Rebuilder::Replacement{};
  KILN_ASSIGN(ValueId s, b.emit(n.op, {n.operands[1], n.operands[0]}));
  return replaceWith(b, n, s);
}

const Pattern kPatterns[] = {noOp, neutralOperand, integerTimesZero, doubleNegation, transposeChain, chainOfSame,
                             constantsRight};

} // namespace

Expected<Graph> canonicalize(const Graph &g) { return applyPatterns(g, kPatterns); }

} // namespace kiln::passes
