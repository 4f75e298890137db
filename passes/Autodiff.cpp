//===- passes/Autodiff.cpp - Reverse-mode automatic differentiation -------===//
#include "passes/Autodiff.h"
#include "passes/GradBuilder.h"

#include "ir/TypeRules.h"

#include <map>

namespace kiln::passes {

using namespace ir;

Expected<ValueId> GradBuilder::op(OpKind k, std::vector<ValueId> xs, const AttrList &attrs) {
  auto r = ops(k, std::move(xs), attrs);
  if (!r)
    return r.error();
  return (*r)[0];
}

Expected<std::vector<ValueId>> GradBuilder::ops(OpKind k, std::vector<ValueId> xs, const AttrList &attrs) {
  return g_.addNode(k, std::move(xs), attrs);
}

Expected<ValueId> GradBuilder::scalar(double v, DType dt) {
  return g_.addConst(g_.freshName("grad.c"), HostTensor::scalar(dt, v));
}

Expected<ValueId> GradBuilder::zerosLike(ValueId v) {
  Type t = type(v);
  KILN_ASSIGN(ValueId z, scalar(0, t.dtype));
  return op(OpKind::BroadcastTo, {z}, {{"shape", t.shape}});
}

Expected<ValueId> GradBuilder::unbroadcast(ValueId g, const Type &target) {
  // One reduction over the leading dims and the stretched ones, keeping dims
  // (so an image's layout carries through), then a reshape that drops the
  // leading ones.
  Shape gs = type(g).shape;
  const Shape &ts = target.shape;
  size_t extra = gs.size() - ts.size();
  std::vector<int64_t> axes;
  for (size_t i = 0; i < extra; ++i)
    axes.push_back(static_cast<int64_t>(i));
  for (size_t i = 0; i < ts.size(); ++i) {
    const Dim &gd = gs[i + extra];
    if (ts[i].isConst() && ts[i].value == 1 && !(gd.isConst() && gd.value == 1))
      axes.push_back(static_cast<int64_t>(i + extra));
  }
  if (axes.empty())
    return g;
  KILN_ASSIGN(ValueId out, op(OpKind::ReduceSum, {g}, {{"axes", axes}, {"keepdims", true}}));
  if (extra > 0)
    return reshapeLike(out, target);
  return out;
}

Expected<ValueId> GradBuilder::reshapeLike(ValueId g, const Type &target) {
  auto spec = reshapeSpec(type(g).shape, target.shape);
  if (!spec)
    return makeError("cannot undo a reshape: {}", spec.error().message);
  return op(OpKind::Reshape, {g}, {{"shape", *spec}});
}

Expected<std::vector<ValueId>> grad(Graph &g, ValueId cost, const std::vector<ValueId> &wrt, const GradOptions &options) {
  const Type &ct = g.type(cost);
  if (ct.rank() != 0 || !isFloat(ct.dtype))
    return makeError("grad: the cost %{} must be a floating-point scalar, got {}", g.nameOf(cost), toString(ct));
  for (ValueId w : wrt)
    if (!isFloat(g.type(w).dtype))
      return makeError("grad: %{} is {}, and only floating-point values have gradients", g.nameOf(w),
                       toString(g.type(w)));

  // Values that depend on some wrt (forward), nodes that reach the cost (backward).
  size_t numNodes = g.nodes().size();
  std::vector<bool> active(g.numValues());
  for (ValueId w : wrt)
    active[w] = true;
  for (const Node &n : g.nodes()) {
    bool any = false;
    for (ValueId o : n.operands)
      any |= active[o];
    for (ValueId r : n.results)
      active[r] = any;
  }

  std::map<ValueId, ValueId> adjoint;
  GradBuilder b(g);
  KILN_ASSIGN(adjoint[cost], b.scalar(1.0, ct.dtype));
  for (size_t i = numNodes; i-- > 0;) {
    Node n = g.nodes()[i]; // a copy: the rules append nodes
    std::vector<std::optional<ValueId>> dys;
    bool anyResult = false;
    for (ValueId r : n.results) {
      auto it = adjoint.find(r);
      dys.push_back(it == adjoint.end() ? std::nullopt : std::optional<ValueId>(it->second));
      anyResult |= it != adjoint.end();
    }
    bool anyOperand = false;
    for (ValueId o : n.operands)
      anyOperand |= active[o];
    if (!anyResult || !anyOperand)
      continue;
    auto grads = gradientRule(b, n, dys);
    if (!grads)
      return makeError("grad: {}: {}", g.describe(n), grads.error().message);
    for (size_t k = 0; k < n.operands.size(); ++k) {
      ValueId o = n.operands[k];
      if (!active[o] || !(*grads)[k])
        continue;
      auto it = adjoint.find(o);
      if (it == adjoint.end()) {
        adjoint[o] = *(*grads)[k];
      } else {
        KILN_ASSIGN(it->second, b.op(OpKind::Add, {it->second, *(*grads)[k]}));
      }
    }
    active.resize(g.numValues()); // values appended by the rules are not active
  }

  std::vector<ValueId> out;
  for (ValueId w : wrt) {
    auto it = adjoint.find(w);
    if (it != adjoint.end()) {
      out.push_back(it->second);
      continue;
    }
    if (options.disconnected == Disconnected::Raise)
      return makeError("grad: the cost %{} does not depend on %{} (ask for zeros with Disconnected::Zero)",
                       g.nameOf(cost), g.nameOf(w));
    KILN_ASSIGN(ValueId z, b.zerosLike(w));
    out.push_back(z);
  }
  return out;
}

} // namespace kiln::passes
