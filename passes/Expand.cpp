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

/// A scalar constant of dtype `t`.
Expected<ValueId> scalar(Rebuilder &b, double v, DType t, const std::string &name) {
  HostTensor k(t, Sizes{});
  k.set(0, v);
  return b.addConstant(std::move(k), name);
}

/// A per-channel vector [C] viewed as [C, 1, ...] against a rank-`rank`
/// tensor whose dim 1 is its channels (as it is against [N, C]).
Expected<ValueId> perChannel(Rebuilder &b, ValueId v, int rank) {
  if (rank <= 2)
    return v;
  std::vector<int64_t> shape(static_cast<size_t>(rank - 1), 1);
  shape[0] = b.graph().type(v).shape[0].value;
  return b.emit(OpKind::Reshape, {v}, {{"shape", shape}});
}

R crossEntropy(Rebuilder &b, const Node &n) {
  if (n.op != OpKind::SoftmaxCrossEntropy)
    return Rebuilder::Replacement{};
  ValueId logits = n.operands[0], labels = n.operands[1];
  const Type lt = b.graph().type(logits);
  if (lt.rank() < 2 || !lt.shape[1].isConst())
    return Rebuilder::Replacement{};
  int64_t classes = lt.shape[1].value;
  KILN_ASSIGN(ValueId z, shifted(b, logits, 1));
  KILN_ASSIGN(ValueId e, b.emit(OpKind::Exp, {z}));
  KILN_ASSIGN(ValueId s, reduce(b, OpKind::ReduceSum, e, {1}, true));
  KILN_ASSIGN(ValueId lse, b.emit(OpKind::Log, {s}));
  KILN_ASSIGN(ValueId nll, b.emit(OpKind::Sub, {lse, z}));
  // An ignored label becomes `classes`, whose one-hot row is zero.
  if (n.attrView().has("ignore_index")) {
    DType lt2 = b.graph().type(labels).dtype;
    KILN_ASSIGN(ValueId ignore, scalar(b, static_cast<double>(n.attrView().getInt("ignore_index")), lt2, "ignore_index"));
    KILN_ASSIGN(ValueId none, scalar(b, static_cast<double>(classes), lt2, "no_class"));
    KILN_ASSIGN(ValueId ignored, b.emit(OpKind::Equal, {labels, ignore}));
    KILN_ASSIGN(labels, b.emit(OpKind::Select, {ignored, none, labels}));
  }
  KILN_ASSIGN(ValueId oh, b.emit(OpKind::OneHot, {labels}, {{"depth", classes}, {"axis", int64_t{1}}, {"dtype", lt.dtype}}));
  KILN_ASSIGN(ValueId picked, b.emit(OpKind::Mul, {oh, nll}));
  KILN_ASSIGN(ValueId loss, reduce(b, OpKind::ReduceSum, picked, {1}, false));
  // Each item's weight: its class's (0 for an ignored one).
  std::optional<ValueId> weight;
  if (n.operands.size() == 3) {
    KILN_ASSIGN(ValueId w, perChannel(b, n.operands[2], lt.rank()));
    KILN_ASSIGN(ValueId ow, b.emit(OpKind::Mul, {oh, w}));
    KILN_ASSIGN(weight, reduce(b, OpKind::ReduceSum, ow, {1}, false));
    KILN_ASSIGN(loss, b.emit(OpKind::Mul, {loss, *weight}));
  } else if (n.attrView().has("ignore_index")) {
    KILN_ASSIGN(weight, reduce(b, OpKind::ReduceSum, oh, {1}, false));
  }
  const std::string &red = n.attrView().getString("reduction");
  if (red == "none")
    return replaceWith(b, n, loss);
  if (red == "sum" || !weight) {
    KILN_ASSIGN(ValueId y, reduce(b, red == "sum" ? OpKind::ReduceSum : OpKind::ReduceMean, loss, {}, false));
    return replaceWith(b, n, y);
  }
  KILN_ASSIGN(ValueId total, reduce(b, OpKind::ReduceSum, loss, {}, false));
  KILN_ASSIGN(ValueId weights, reduce(b, OpKind::ReduceSum, *weight, {}, false));
  KILN_ASSIGN(ValueId y, b.emit(OpKind::Div, {total, weights}));
  return replaceWith(b, n, y);
}

/// The axes of x but 1 (a batch norm's statistics), or from 2 (a global pool).
std::vector<int64_t> axesFrom(int rank, bool withBatch) {
  std::vector<int64_t> axes;
  for (int d = 0; d < rank; ++d)
    if (d >= 2 || (withBatch && d == 0))
      axes.push_back(d);
  return axes;
}

R globalPool(Rebuilder &b, const Node &n) {
  if (n.op != OpKind::GlobalAvgPool && n.op != OpKind::GlobalMaxPool)
    return Rebuilder::Replacement{};
  ValueId x = n.operands[0];
  KILN_ASSIGN(ValueId y, reduce(b, n.op == OpKind::GlobalAvgPool ? OpKind::ReduceMean : OpKind::ReduceMax, x,
                                axesFrom(b.graph().type(x).rank(), false), true));
  return replaceWith(b, n, y);
}

/// (x - mean) * scale / sqrt(var + eps) + bias, per channel (dim 1).
Expected<ValueId> normalize(Rebuilder &b, const Node &n, ValueId mean, ValueId var, bool statsPerChannel) {
  ValueId x = n.operands[0];
  int rank = b.graph().type(x).rank();
  DType t = b.graph().type(x).dtype;
  KILN_ASSIGN(ValueId scale, perChannel(b, n.operands[1], rank));
  KILN_ASSIGN(ValueId bias, perChannel(b, n.operands[2], rank));
  if (statsPerChannel) {
    KILN_ASSIGN(mean, perChannel(b, mean, rank));
    KILN_ASSIGN(var, perChannel(b, var, rank));
  }
  KILN_ASSIGN(ValueId eps, scalar(b, n.attrView().getFloat("epsilon"), t, "epsilon"));
  KILN_ASSIGN(ValueId shiftedX, b.emit(OpKind::Sub, {x, mean}));
  KILN_ASSIGN(ValueId varEps, b.emit(OpKind::Add, {var, eps}));
  KILN_ASSIGN(ValueId inv, b.emit(OpKind::Rsqrt, {varEps}));
  KILN_ASSIGN(ValueId gain, b.emit(OpKind::Mul, {scale, inv}));
  KILN_ASSIGN(ValueId scaled, b.emit(OpKind::Mul, {shiftedX, gain}));
  return b.emit(OpKind::Add, {scaled, bias});
}

R batchNorm(Rebuilder &b, const Node &n) {
  if (n.op == OpKind::BatchNormInfer) {
    KILN_ASSIGN(ValueId y, normalize(b, n, n.operands[3], n.operands[4], true));
    return replaceWith(b, n, y);
  }
  if (n.op != OpKind::BatchNormTrain)
    return Rebuilder::Replacement{};
  ValueId x = n.operands[0];
  const Type xt = b.graph().type(x);
  if (!xt.shape[1].isConst())
    return Rebuilder::Replacement{};
  std::vector<int64_t> axes = axesFrom(xt.rank(), true);
  KILN_ASSIGN(ValueId mean, reduce(b, OpKind::ReduceMean, x, axes, true));
  KILN_ASSIGN(ValueId d, b.emit(OpKind::Sub, {x, mean}));
  KILN_ASSIGN(ValueId d2, b.emit(OpKind::Mul, {d, d}));
  KILN_ASSIGN(ValueId var, reduce(b, OpKind::ReduceMean, d2, axes, true));
  KILN_ASSIGN(ValueId y, normalize(b, n, mean, var, false));
  std::vector<int64_t> channels = {xt.shape[1].value};
  KILN_ASSIGN(ValueId meanC, b.emit(OpKind::Reshape, {mean}, {{"shape", channels}}));
  KILN_ASSIGN(ValueId varC, b.emit(OpKind::Reshape, {var}, {{"shape", channels}}));
  return Rebuilder::Replacement{std::vector<ValueId>{y, meanC, varC}};
}

/// conv_transpose(x, w) is the input gradient of the conv it transposes:
/// conv_grad_input(x, w) at the result's spatial sizes (output_padding only
/// makes them larger).
R convTranspose(Rebuilder &b, const Node &n) {
  if (n.op != OpKind::ConvTranspose)
    return Rebuilder::Replacement{};
  const Type &rt = resultType(b, n);
  std::vector<int64_t> sizes;
  for (size_t d = 2; d < rt.shape.size(); ++d) {
    if (!rt.shape[d].isConst())
      return Rebuilder::Replacement{};
    sizes.push_back(rt.shape[d].value);
  }
  AttrView a = n.attrView();
  ir::AttrList attrs = {{"stride", a.getInts("stride")}, {"pad", a.getInts("pad")}, {"dilation", a.getInts("dilation")},
                        {"groups", a.getInt("groups")}, {"input_size", sizes}};
  if (a.has("out_layout"))
    attrs.push_back({"out_layout", a.get("out_layout")});
  auto y = b.emit(OpKind::ConvGradInput, {n.operands[0], n.operands[1]}, attrs);
  if (!y || !(b.graph().type(*y) == rt))
    return Rebuilder::Replacement{}; // a form the gradient does not take: it stays
  return replaceWith(b, n, *y);
}

const Pattern kPatterns[] = {softmax, crossEntropy, globalPool, batchNorm, convTranspose};

} // namespace

Expected<Graph> expand(const Graph &g) {
  // The loss and its gradient's softmax share the max, exp and sum.
  KILN_ASSIGN(Graph expanded, applyPatterns(g, kPatterns));
  KILN_ASSIGN(Graph merged, cse(expanded));
  return dce(merged);
}

} // namespace kiln::passes
