//===- passes/GradRules.cpp - The gradient rule of every differentiable op -===//
//
// One switch over the op table, with no default (-Wswitch names an op added
// without a decision here): given the gradients of a node's results, build
// the gradients of its operands out of ordinary ops. Composite elementwise
// ops get theirs through their definitions (definitionRule), their case
// labels generated from ir/Ops.def. Ops whose results
// are integers or booleans (comparisons, argmax, one_hot) have none; rounding
// ops (sign, floor, ceil, round) have a zero gradient, as in Theano.
//
//===----------------------------------------------------------------------===//
#include "passes/GradBuilder.h"

#include "ir/TypeRules.h"
#include "reference/Reference.h"

#include <cmath>
#include <numbers>

namespace kiln::passes {

using namespace ir;
using Ints = std::vector<int64_t>;

namespace {

/// A gradient rule's view of its node.
struct Rule {
  GradBuilder &b;
  const Node &n;
  const std::vector<std::optional<ValueId>> &dys;

  ValueId x(size_t i) const { return n.operands[i]; }
  ValueId y(size_t i = 0) const { return n.results[i]; }
  Type type(ValueId v) const { return b.type(v); }
  DType dt() const { return b.type(n.results[0]).dtype; }
  AttrView attrs() const { return n.attrView(); }
  /// The attributes of the node, by name, for building a related op.
  AttrList attrList(std::initializer_list<std::string_view> names) const {
    AttrList out;
    for (auto name : names)
      if (attrs().has(name))
        out.emplace_back(std::string(name), attrs().get(name));
    return out;
  }
  Expected<ValueId> op(OpKind k, std::vector<ValueId> xs, const AttrList &a = {}) const { return b.op(k, std::move(xs), a); }
  Expected<ValueId> c(double v) const { return b.scalar(v, dt()); }
};

Error notDifferentiable(const Node &n, const std::string &why) {
  return makeError("op '{}' has no gradient rule {}", n.info().name, why);
}

std::vector<int64_t> spatialSizes(const Type &t) {
  Ints s;
  for (int i = 2; i < t.rank(); ++i)
    s.push_back(t.shape[i].value);
  return s;
}


/// Gradient of an elementwise unary op: dy * f'(x), f' built from x and y.
Expected<OperandGrads> unaryRule(const Rule &r, ValueId dy) {
  ValueId x = r.x(0), y = r.y();
  OpKind k = r.n.op;
  auto mul = [&](ValueId a, ValueId b2) { return r.op(OpKind::Mul, {a, b2}); };
  switch (k) {
  case OpKind::Neg: {
    KILN_ASSIGN(ValueId g, r.op(OpKind::Neg, {dy}));
    return OperandGrads{g};
  }
  case OpKind::Identity:
  case OpKind::LayoutConvert: return OperandGrads{dy};
  case OpKind::Abs: {
    KILN_ASSIGN(ValueId s, r.op(OpKind::Sign, {x}));
    KILN_ASSIGN(ValueId g, mul(dy, s));
    return OperandGrads{g};
  }
  case OpKind::Exp: {
    KILN_ASSIGN(ValueId g, mul(dy, y));
    return OperandGrads{g};
  }
  case OpKind::Expm1: { // dy (y + 1)
    KILN_ASSIGN(ValueId one, r.c(1));
    KILN_ASSIGN(ValueId e, r.op(OpKind::Add, {y, one}));
    KILN_ASSIGN(ValueId g, mul(dy, e));
    return OperandGrads{g};
  }
  case OpKind::Log: {
    KILN_ASSIGN(ValueId g, r.op(OpKind::Div, {dy, x}));
    return OperandGrads{g};
  }
  case OpKind::Log1p: {
    KILN_ASSIGN(ValueId one, r.c(1));
    KILN_ASSIGN(ValueId d, r.op(OpKind::Add, {x, one}));
    KILN_ASSIGN(ValueId g, r.op(OpKind::Div, {dy, d}));
    return OperandGrads{g};
  }
  case OpKind::Sqrt: { // dy / (2 y)
    KILN_ASSIGN(ValueId two, r.c(2));
    KILN_ASSIGN(ValueId d, mul(y, two));
    KILN_ASSIGN(ValueId g, r.op(OpKind::Div, {dy, d}));
    return OperandGrads{g};
  }
  case OpKind::Reciprocal: { // -dy y^2
    KILN_ASSIGN(ValueId yy, mul(y, y));
    KILN_ASSIGN(ValueId t, mul(dy, yy));
    KILN_ASSIGN(ValueId g, r.op(OpKind::Neg, {t}));
    return OperandGrads{g};
  }
  case OpKind::Tanh: { // dy (1 - y^2)
    KILN_ASSIGN(ValueId one, r.c(1));
    KILN_ASSIGN(ValueId yy, mul(y, y));
    KILN_ASSIGN(ValueId d, r.op(OpKind::Sub, {one, yy}));
    KILN_ASSIGN(ValueId g, mul(dy, d));
    return OperandGrads{g};
  }
  case OpKind::Sigmoid: { // dy y (1 - y): the one composite with a hand rule (ir/Ops.def says why)
    KILN_ASSIGN(ValueId one, r.c(1));
    KILN_ASSIGN(ValueId om, r.op(OpKind::Sub, {one, y}));
    KILN_ASSIGN(ValueId d, mul(y, om));
    KILN_ASSIGN(ValueId g, mul(dy, d));
    return OperandGrads{g};
  }
  case OpKind::Floor:
  case OpKind::Ceil:
  case OpKind::Round: {
    KILN_ASSIGN(ValueId z, r.b.zerosLike(x));
    return OperandGrads{z};
  }
  case OpKind::Erf: { // dy 2/sqrt(pi) e^(-x^2)
    KILN_ASSIGN(ValueId xx, mul(x, x));
    KILN_ASSIGN(ValueId nxx, r.op(OpKind::Neg, {xx}));
    KILN_ASSIGN(ValueId e, r.op(OpKind::Exp, {nxx}));
    KILN_ASSIGN(ValueId k2, r.c(2 / std::sqrt(std::numbers::pi)));
    KILN_ASSIGN(ValueId d, mul(e, k2));
    KILN_ASSIGN(ValueId g, mul(dy, d));
    return OperandGrads{g};
  }
  case OpKind::Sin: {
    KILN_ASSIGN(ValueId co, r.op(OpKind::Cos, {x}));
    KILN_ASSIGN(ValueId g, mul(dy, co));
    return OperandGrads{g};
  }
  case OpKind::Atan: { // dy / (1 + x^2)
    KILN_ASSIGN(ValueId one, r.c(1));
    KILN_ASSIGN(ValueId xx, mul(x, x));
    KILN_ASSIGN(ValueId d, r.op(OpKind::Add, {one, xx}));
    KILN_ASSIGN(ValueId g, r.op(OpKind::Div, {dy, d}));
    return OperandGrads{g};
  }
  case OpKind::Cos: {
    KILN_ASSIGN(ValueId s, r.op(OpKind::Sin, {x}));
    KILN_ASSIGN(ValueId ns, r.op(OpKind::Neg, {s}));
    KILN_ASSIGN(ValueId g, mul(dy, ns));
    return OperandGrads{g};
  }
  case OpKind::Cast: {
    if (!isFloat(r.type(x).dtype))
      return OperandGrads{std::nullopt};
    KILN_ASSIGN(ValueId g, r.op(OpKind::Cast, {dy}, {{"to", r.type(x).dtype}}));
    return OperandGrads{g};
  }
  default: return notDifferentiable(r.n, "(a bug: it is listed as unary)");
  }
}

/// The gradient of a composite op through its definition: its primitives
/// are appended as nodes on the operands (dead code where the backward pass
/// does not read them) and the chain rule runs back through them, each with
/// its own rule.
Expected<OperandGrads> definitionRule(const Rule &r, ValueId dy) {
  const Definition &d = r.n.info().definition;
  GradBuilder &b = r.b;
  std::vector<double> attrs = definitionAttrs(d, r.attrs());
  size_t nextAttr = 0;
  std::vector<ValueId> vals;
  std::vector<bool> live; // depends on an operand
  for (const DefStep &s : d.steps) {
    switch (s.kind) {
    case DefStep::Operand:
      vals.push_back(r.x(static_cast<size_t>(s.operand)));
      live.push_back(true);
      break;
    case DefStep::Constant:
    case DefStep::Attribute: {
      KILN_ASSIGN(ValueId c, r.c(s.kind == DefStep::Constant ? s.value : attrs[nextAttr++]));
      vals.push_back(c);
      live.push_back(false);
      break;
    }
    case DefStep::Apply: {
      std::vector<ValueId> args;
      bool any = false;
      for (int i = 0; i < s.numArgs; ++i) {
        args.push_back(vals[static_cast<size_t>(s.args[static_cast<size_t>(i)])]);
        any = any || live[static_cast<size_t>(s.args[static_cast<size_t>(i)])];
      }
      KILN_ASSIGN(ValueId v, r.op(s.prim, std::move(args)));
      vals.push_back(v);
      live.push_back(any);
      break;
    }
    }
  }
  std::vector<std::optional<ValueId>> grads(d.steps.size());
  grads.back() = dy;
  auto accumulate = [&](size_t step, ValueId g) -> Status {
    if (!grads[step]) {
      grads[step] = g;
      return {};
    }
    KILN_ASSIGN(ValueId sum, r.op(OpKind::Add, {*grads[step], g}));
    grads[step] = sum;
    return {};
  };
  OperandGrads out(r.n.operands.size());
  for (size_t i = d.steps.size(); i-- > 0;) {
    const DefStep &s = d.steps[i];
    if (!grads[i] || !live[i])
      continue;
    if (s.kind == DefStep::Operand) {
      out[static_cast<size_t>(s.operand)] = grads[i];
      continue;
    }
    const Node node = b.graph().producer(vals[i]); // a copy: the rule appends nodes
    KILN_ASSIGN(OperandGrads g, gradientRule(b, node, {grads[i]}));
    for (int j = 0; j < s.numArgs; ++j) {
      auto arg = static_cast<size_t>(s.args[static_cast<size_t>(j)]);
      if (live[arg] && g[static_cast<size_t>(j)])
        KILN_TRY(accumulate(arg, *g[static_cast<size_t>(j)]));
    }
  }
  return out;
}

/// gather_elements and gather_nd scatter their gradient back (adding where
/// indices repeat); the scatters pass dy through where data was kept and
/// gather it for the updates; a cumsum's gradient is the cumsum of dy the
/// other way.
Expected<OperandGrads> indexingRule(const Rule &r, ValueId dy) {
  AttrList axis = r.attrList({"axis"});
  bool nd = r.n.op == OpKind::GatherND || r.n.op == OpKind::ScatterND;
  OpKind gather = nd ? OpKind::GatherND : OpKind::GatherElements;
  OpKind scatter = nd ? OpKind::ScatterND : OpKind::ScatterElements;
  if (r.n.op == OpKind::GatherElements || r.n.op == OpKind::GatherND) {
    KILN_ASSIGN(ValueId zeros, r.b.zerosLike(r.x(0)));
    AttrList add = nd ? AttrList{} : axis;
    add.emplace_back("reduction", std::string("add"));
    ValueId indices = r.x(1);
    if (int64_t batch = nd ? r.attrs().getInt("batch_dims") : 0; batch > 0) {
      // Each index gains its batch coordinates in front, so the scatter
      // addresses data as a whole: [batch..., k] -> [batch + k].
      const Type it = r.type(indices);
      Sizes lead;
      for (int d = 0; d + 1 < it.rank(); ++d) {
        if (!it.shape[static_cast<size_t>(d)].isConst())
          return notDifferentiable(r.n, "with batch_dims where indices' shape is symbolic");
        lead.push_back(it.shape[static_cast<size_t>(d)].value);
      }
      Sizes prefixSizes = lead;
      prefixSizes.push_back(batch);
      HostTensor prefix(it.dtype, prefixSizes);
      Sizes pos;
      for (int64_t i = 0, n = product(lead); i < n; ++i) {
        pos.assign(lead.size(), 0);
        for (int64_t rem = i, d = static_cast<int64_t>(lead.size()) - 1; d >= 0; --d) {
          pos[static_cast<size_t>(d)] = rem % lead[static_cast<size_t>(d)];
          rem /= lead[static_cast<size_t>(d)];
        }
        for (int64_t b = 0; b < batch; ++b)
          prefix.setInt(i * batch + b, pos[static_cast<size_t>(b)]);
      }
      KILN_ASSIGN(ValueId p, r.b.graph().addConst(r.b.graph().freshName("grad.batch_coords"), prefix));
      KILN_ASSIGN(indices, r.op(OpKind::Concat, {p, indices}, {{"axis", int64_t{-1}}}));
    }
    KILN_ASSIGN(ValueId g, r.op(scatter, {zeros, indices, dy}, add));
    return OperandGrads{g, std::nullopt};
  }
  if (r.n.op == OpKind::ScatterElements || r.n.op == OpKind::ScatterND) {
    const std::string &reduction = r.attrs().getString("reduction");
    if (reduction != "none" && reduction != "add")
      return notDifferentiable(r.n, fmt::format("with reduction {}", reduction));
    ValueId gd = dy;
    if (reduction == "none") { // the overwritten elements of data get nothing
      KILN_ASSIGN(ValueId zeros, r.b.zerosLike(r.x(2)));
      KILN_ASSIGN(gd, r.op(scatter, {dy, r.x(1), zeros}, axis));
    }
    KILN_ASSIGN(ValueId gu, r.op(gather, {dy, r.x(1)}, axis));
    return OperandGrads{gd, std::nullopt, gu};
  }
  AttrList attrs = r.attrList({"axis", "exclusive"});
  attrs.emplace_back("reverse", !r.attrs().getBool("reverse"));
  KILN_ASSIGN(ValueId g, r.op(OpKind::CumSum, {dy}, attrs));
  return OperandGrads{g};
}

/// Resize is linear and separable (ref::resizeWeights): dx is dy contracted
/// along each resized dim with the transpose of its [out, in] matrix, a
/// matmul over that dim moved last. A dim that is symbolic must be one the
/// node leaves alone (the batch at scale 1).
Expected<OperandGrads> resizeRule(const Rule &r, ValueId dy) {
  const Type xt = r.type(r.x(0));
  int rank = xt.rank();
  auto identity = [](const HostTensor &m) {
    if (m.sizes()[0] != m.sizes()[1])
      return false;
    for (int64_t i = 0; i < m.sizes()[0]; ++i)
      for (int64_t j = 0; j < m.sizes()[1]; ++j)
        if (m.get(i * m.sizes()[1] + j) != (i == j ? 1.0 : 0.0))
          return false;
    return true;
  };
  ValueId g = dy;
  for (int d = 0; d < rank; ++d) {
    const Dim &dim = xt.shape[static_cast<size_t>(d)];
    if (!dim.isConst()) {
      for (int64_t probe : {1, 2, 3, 7}) {
        KILN_ASSIGN(HostTensor m, ref::resizeWeights(r.attrs(), d, probe));
        if (!identity(m))
          return notDifferentiable(r.n, fmt::format("where dim {} ({}) is resized: its gradient needs its size", d,
                                                    toString(dim)));
      }
      continue;
    }
    KILN_ASSIGN(HostTensor m, ref::resizeWeights(r.attrs(), d, dim.value));
    if (identity(m))
      continue;
    HostTensor weights = HostTensor::fromDoubles(r.dt(), m.sizes(), m.toDoubles());
    KILN_ASSIGN(ValueId w, r.b.graph().addConst(r.b.graph().freshName("grad.resize_weights"), weights));
    std::vector<int64_t> perm, back(static_cast<size_t>(rank));
    for (int i = 0; i < rank; ++i)
      if (i != d)
        perm.push_back(i);
    perm.push_back(d);
    for (int i = 0; i < rank; ++i)
      back[static_cast<size_t>(perm[static_cast<size_t>(i)])] = i;
    ValueId moved = g;
    if (d != rank - 1) {
      KILN_ASSIGN(moved, r.op(OpKind::Transpose, {g}, {{"perm", perm}}));
    }
    KILN_ASSIGN(ValueId mm, r.op(OpKind::MatMul, {moved, w}));
    g = mm;
    if (d != rank - 1) {
      KILN_ASSIGN(g, r.op(OpKind::Transpose, {mm}, {{"perm", back}}));
    }
  }
  return OperandGrads{g};
}

Expected<OperandGrads> binaryRule(const Rule &r, ValueId dy) {
  ValueId a = r.x(0), bb = r.x(1), y = r.y();
  Type ta = r.type(a), tb = r.type(bb);
  ValueId ga = dy, gb = dy;
  switch (r.n.op) {
  case OpKind::Add: break;
  case OpKind::Sub: {
    KILN_ASSIGN(gb, r.op(OpKind::Neg, {dy}));
    break;
  }
  case OpKind::Mul: {
    KILN_ASSIGN(ga, r.op(OpKind::Mul, {dy, bb}));
    KILN_ASSIGN(gb, r.op(OpKind::Mul, {dy, a}));
    break;
  }
  case OpKind::Div: { // da = dy / b, db = -dy y / b
    KILN_ASSIGN(ga, r.op(OpKind::Div, {dy, bb}));
    KILN_ASSIGN(ValueId t, r.op(OpKind::Mul, {ga, y}));
    KILN_ASSIGN(gb, r.op(OpKind::Neg, {t}));
    break;
  }
  case OpKind::Pow: { // da = dy b a^(b-1), db = dy y log(a)
    KILN_ASSIGN(ValueId one, r.c(1));
    KILN_ASSIGN(ValueId bm1, r.op(OpKind::Sub, {bb, one}));
    KILN_ASSIGN(ValueId p, r.op(OpKind::Pow, {a, bm1}));
    KILN_ASSIGN(ValueId bp, r.op(OpKind::Mul, {bb, p}));
    KILN_ASSIGN(ga, r.op(OpKind::Mul, {dy, bp}));
    KILN_ASSIGN(ValueId la, r.op(OpKind::Log, {a}));
    KILN_ASSIGN(ValueId yl, r.op(OpKind::Mul, {y, la}));
    KILN_ASSIGN(gb, r.op(OpKind::Mul, {dy, yl}));
    break;
  }
  case OpKind::Fmod: { // da = dy, db = -dy trunc(a / b)
    KILN_ASSIGN(ValueId q, r.op(OpKind::Div, {a, bb}));
    KILN_ASSIGN(ValueId zero, r.c(0));
    KILN_ASSIGN(ValueId negative, r.op(OpKind::Less, {q, zero}));
    KILN_ASSIGN(ValueId up, r.op(OpKind::Ceil, {q}));
    KILN_ASSIGN(ValueId down, r.op(OpKind::Floor, {q}));
    KILN_ASSIGN(ValueId t, r.op(OpKind::Select, {negative, up, down}));
    KILN_ASSIGN(ValueId dt, r.op(OpKind::Mul, {dy, t}));
    KILN_ASSIGN(gb, r.op(OpKind::Neg, {dt}));
    break;
  }
  case OpKind::Max:
  case OpKind::Min: { // to a where a wins (ties to a), else to b
    KILN_ASSIGN(ValueId wins, r.op(r.n.op == OpKind::Max ? OpKind::Less : OpKind::Greater, {a, bb}));
    KILN_ASSIGN(ValueId zero, r.c(0));
    KILN_ASSIGN(ga, r.op(OpKind::Select, {wins, zero, dy}));
    KILN_ASSIGN(gb, r.op(OpKind::Select, {wins, dy, zero}));
    break;
  }
  default: return notDifferentiable(r.n, "(a bug: it is listed as binary)");
  }
  KILN_ASSIGN(ga, r.b.unbroadcast(ga, ta));
  KILN_ASSIGN(gb, r.b.unbroadcast(gb, tb));
  return OperandGrads{ga, gb};
}

/// The product of `dims` as a scalar of the rule's dtype: a constant where every
/// dim is known, else the known part times a count the graph makes at run
/// time (a sum of ones over the symbolic dims, folded once sizes are bound).
Expected<ValueId> elementCount(const Rule &r, const std::vector<Dim> &dims) {
  int64_t known = 1;
  Shape symbolic;
  for (const Dim &d : dims) {
    if (d.isConst())
      known *= d.value;
    else
      symbolic.push_back(d);
  }
  if (symbolic.empty())
    return r.c(static_cast<double>(known));
  KILN_ASSIGN(ValueId one, r.c(1));
  KILN_ASSIGN(ValueId ones, r.op(OpKind::BroadcastTo, {one}, {{"shape", symbolic}}));
  KILN_ASSIGN(ValueId n, r.op(OpKind::ReduceSum, {ones}, {{"keepdims", false}}));
  if (known == 1)
    return n;
  KILN_ASSIGN(ValueId count, r.c(static_cast<double>(known)));
  return r.op(OpKind::Mul, {n, count});
}

/// dy broadcast back over the reduced axes of x.
Expected<ValueId> spreadReduced(const Rule &r, ValueId dy, const std::vector<int> &axes) {
  Type tx = r.type(r.x(0));
  Shape kept = tx.shape;
  for (int a : axes)
    kept[a] = Dim::of(1);
  ValueId g = dy;
  if (!r.attrs().getBool("keepdims")) {
    KILN_ASSIGN(g, r.b.reshapeLike(dy, Type{tx.dtype, kept, {}}));
  }
  return r.op(OpKind::BroadcastTo, {g}, {{"shape", tx.shape}});
}

Expected<OperandGrads> reductionRule(const Rule &r, ValueId dy) {
  Type tx = r.type(r.x(0));
  auto axes = normalizeAxes(r.attrs().getInts("axes"), tx.rank());
  if (!axes)
    return axes.error();
  KILN_ASSIGN(ValueId g, spreadReduced(r, dy, *axes));
  switch (r.n.op) {
  case OpKind::ReduceSum: return OperandGrads{g};
  case OpKind::ReduceMean: {
    std::vector<Dim> reduced;
    for (int a : *axes)
      reduced.push_back(tx.shape[a]);
    KILN_ASSIGN(ValueId count, elementCount(r, reduced));
    KILN_ASSIGN(ValueId out, r.op(OpKind::Div, {g, count}));
    return OperandGrads{out};
  }
  case OpKind::ReduceMax:
  case OpKind::ReduceMin:
  case OpKind::ReduceProd: {
    // max/min: dy where x equals the extreme; prod: dy y / x.
    ValueId y = r.y();
    if (!r.attrs().getBool("keepdims")) {
      Shape kept = tx.shape;
      for (int a : *axes)
        kept[a] = Dim::of(1);
      KILN_ASSIGN(y, r.b.reshapeLike(y, Type{tx.dtype, kept, {}}));
    }
    if (r.n.op == OpKind::ReduceProd) {
      KILN_ASSIGN(ValueId yx, r.op(OpKind::Div, {y, r.x(0)}));
      KILN_ASSIGN(ValueId out, r.op(OpKind::Mul, {g, yx}));
      return OperandGrads{out};
    }
    KILN_ASSIGN(ValueId hit, r.op(OpKind::Equal, {r.x(0), y}));
    KILN_ASSIGN(ValueId zero, r.c(0));
    KILN_ASSIGN(ValueId out, r.op(OpKind::Select, {hit, g, zero}));
    return OperandGrads{out};
  }
  default: return notDifferentiable(r.n, "");
  }
}

Expected<OperandGrads> matmulRule(const Rule &r, ValueId dy) {
  ValueId a = r.x(0), b = r.x(1);
  Type ta = r.type(a), tb = r.type(b);
  if (ta.rank() < 2 || tb.rank() < 2)
    return notDifferentiable(r.n, "for 1-D operands yet; reshape them to matrices");
  bool tA = r.attrs().getBool("transpose_a"), tB = r.attrs().getBool("transpose_b");
  auto mm = [&](ValueId p, ValueId q, bool tp, bool tq) {
    return r.op(OpKind::MatMul, {p, q}, {{"transpose_a", tp}, {"transpose_b", tq}});
  };
  ValueId ga, gb;
  if (!tA) {
    KILN_ASSIGN(ga, mm(dy, b, false, !tB));
  } else {
    KILN_ASSIGN(ga, mm(b, dy, tB, true));
  }
  if (!tB) {
    KILN_ASSIGN(gb, mm(a, dy, !tA, false));
  } else {
    KILN_ASSIGN(gb, mm(dy, a, true, tA));
  }
  KILN_ASSIGN(ga, r.b.unbroadcast(ga, ta));
  KILN_ASSIGN(gb, r.b.unbroadcast(gb, tb));
  return OperandGrads{ga, gb};
}

AttrList convWindow(const Rule &r) { return r.attrList({"stride", "pad", "dilation", "groups"}); }

Expected<OperandGrads> convRule(const Rule &r, ValueId dy) {
  ValueId p = r.x(0), q = r.x(1);
  Type tp = r.type(p), tq = r.type(q);
  AttrList win = convWindow(r);
  auto with = [&](const char *name, Ints v) {
    AttrList a = win;
    a.emplace_back(name, std::move(v));
    return a;
  };
  for (int i = 2; i < tp.rank(); ++i)
    if (!tp.shape[i].isConst())
      return notDifferentiable(r.n, "over spatial sizes unknown until run time");
  switch (r.n.op) {
  case OpKind::Conv: { // x, w
    KILN_ASSIGN(ValueId dx, r.op(OpKind::ConvGradInput, {dy, q}, with("input_size", spatialSizes(tp))));
    KILN_ASSIGN(ValueId dw, r.op(OpKind::ConvGradWeight, {p, dy}, with("kernel_size", spatialSizes(tq))));
    return OperandGrads{dx, dw};
  }
  case OpKind::ConvTranspose:  // y = A_w^T x
  case OpKind::ConvGradInput: { // the same operator, dy in place of x
    KILN_ASSIGN(ValueId dx, r.op(OpKind::Conv, {dy, q}, win));
    KILN_ASSIGN(ValueId dw, r.op(OpKind::ConvGradWeight, {dy, p}, with("kernel_size", spatialSizes(tq))));
    return OperandGrads{dx, dw};
  }
  case OpKind::ConvGradWeight: { // <G, gw(x, d)> = <conv(x, G), d> = <x, gi(d, G)>
    KILN_ASSIGN(ValueId dx, r.op(OpKind::ConvGradInput, {q, dy}, with("input_size", spatialSizes(tp))));
    KILN_ASSIGN(ValueId dd, r.op(OpKind::Conv, {p, dy}, win));
    return OperandGrads{dx, dd};
  }
  default: return notDifferentiable(r.n, "");
  }
}

AttrList poolWindow(const Rule &r) {
  return r.attrList({"kernel", "stride", "pad", "dilation", "ceil_mode", "count_include_pad"});
}

Expected<OperandGrads> poolRule(const Rule &r, ValueId dy) {
  Type tx = r.type(r.x(0));
  switch (r.n.op) {
  case OpKind::MaxPool: {
    KILN_ASSIGN(ValueId g, r.op(OpKind::MaxPoolGrad, {dy, r.x(0)}, poolWindow(r)));
    return OperandGrads{g};
  }
  case OpKind::AvgPool: {
    for (int i = 2; i < tx.rank(); ++i)
      if (!tx.shape[i].isConst())
        return notDifferentiable(r.n, "over spatial sizes unknown until run time");
    AttrList a = poolWindow(r);
    a.emplace_back("input_size", spatialSizes(tx));
    KILN_ASSIGN(ValueId g, r.op(OpKind::AvgPoolGrad, {dy}, a));
    return OperandGrads{g};
  }
  case OpKind::AvgPoolGrad: { // linear in dy: its adjoint is the average pool
    KILN_ASSIGN(ValueId g, r.op(OpKind::AvgPool, {dy}, poolWindow(r)));
    return OperandGrads{g};
  }
  case OpKind::GlobalAvgPool:
  case OpKind::GlobalMaxPool: {
    int64_t count = 1;
    for (int i = 2; i < tx.rank(); ++i) {
      if (!tx.shape[i].isConst())
        return notDifferentiable(r.n, "over spatial sizes unknown until run time");
      count *= tx.shape[i].value;
    }
    KILN_ASSIGN(ValueId g, r.op(OpKind::BroadcastTo, {dy}, {{"shape", tx.shape}}));
    if (r.n.op == OpKind::GlobalAvgPool) {
      KILN_ASSIGN(ValueId k, r.c(1.0 / static_cast<double>(count)));
      KILN_ASSIGN(ValueId out, r.op(OpKind::Mul, {g, k}));
      return OperandGrads{out};
    }
    KILN_ASSIGN(ValueId hit, r.op(OpKind::Equal, {r.x(0), r.y()}));
    KILN_ASSIGN(ValueId zero, r.c(0));
    KILN_ASSIGN(ValueId out, r.op(OpKind::Select, {hit, g, zero}));
    return OperandGrads{out};
  }
  default:
    return notDifferentiable(r.n, "(the second derivative of max pooling is not implemented)");
  }
}

Expected<OperandGrads> movementRule(const Rule &r, ValueId dy) {
  ValueId x = r.x(0);
  Type tx = r.type(x);
  switch (r.n.op) {
  case OpKind::Reshape: {
    KILN_ASSIGN(ValueId g, r.b.reshapeLike(dy, tx));
    return OperandGrads{g};
  }
  case OpKind::Transpose: {
    Ints perm = r.attrs().getInts("perm");
    if (perm.empty())
      for (int i = tx.rank() - 1; i >= 0; --i)
        perm.push_back(i);
    Ints inverse(perm.size());
    for (size_t i = 0; i < perm.size(); ++i)
      inverse[perm[i]] = static_cast<int64_t>(i);
    KILN_ASSIGN(ValueId g, r.op(OpKind::Transpose, {dy}, {{"perm", inverse}}));
    return OperandGrads{g};
  }
  case OpKind::BroadcastTo: {
    KILN_ASSIGN(ValueId g, r.b.unbroadcast(dy, tx));
    return OperandGrads{g};
  }
  case OpKind::Concat: {
    auto axis = normalizeAxis(r.attrs().getInt("axis"), tx.rank());
    if (!axis)
      return axis.error();
    OperandGrads out;
    int64_t start = 0;
    for (ValueId o : r.n.operands) {
      const Dim d = r.type(o).shape[*axis];
      if (!d.isConst())
        return notDifferentiable(r.n, "along a dim unknown until run time");
      KILN_ASSIGN(ValueId g, r.op(OpKind::Slice, {dy},
                                  {{"starts", Ints{start}}, {"ends", Ints{start + d.value}}, {"axes", Ints{*axis}}}));
      out.push_back(g);
      start += d.value;
    }
    return out;
  }
  case OpKind::Slice: { // zeros around the slice: a constant pad (unit steps only)
    Ints starts = r.attrs().getInts("starts"), ends = r.attrs().getInts("ends"), axes = r.attrs().getInts("axes"),
         steps = r.attrs().getInts("steps");
    Ints pads(static_cast<size_t>(2 * tx.rank()), 0);
    for (size_t i = 0; i < starts.size(); ++i) {
      int ax = *normalizeAxis(axes.empty() ? static_cast<int64_t>(i) : axes[i], tx.rank());
      if (!steps.empty() && steps[i] != 1)
        return notDifferentiable(r.n, "for steps other than 1 yet");
      if (!tx.shape[ax].isConst())
        return notDifferentiable(r.n, "along a dim unknown until run time");
      SliceBounds sb = sliceBounds(starts[i], ends[i], 1, tx.shape[ax].value);
      pads[ax] = sb.start;
      pads[ax + tx.rank()] = tx.shape[ax].value - sb.start - sb.count;
    }
    KILN_ASSIGN(ValueId g, r.op(OpKind::Pad, {dy}, {{"pads", pads}}));
    return OperandGrads{g};
  }
  case OpKind::Pad: { // the interior of dy (constant padding only)
    if (r.attrs().getString("mode") != "constant")
      return notDifferentiable(r.n, "for edge and reflect padding yet");
    Ints pads = r.attrs().getInts("pads");
    Ints starts, ends, axes;
    for (int i = 0; i < tx.rank(); ++i) {
      if (!tx.shape[i].isConst())
        return notDifferentiable(r.n, "along a dim unknown until run time");
      starts.push_back(pads[i]);
      ends.push_back(pads[i] + tx.shape[i].value);
      axes.push_back(i);
    }
    KILN_ASSIGN(ValueId g, r.op(OpKind::Slice, {dy}, {{"starts", starts}, {"ends", ends}, {"axes", axes}}));
    return OperandGrads{g};
  }
  case OpKind::Gather: { // a scatter-add, written as one_hot(indices)^T @ dy
    auto axis = normalizeAxis(r.attrs().getInt("axis"), tx.rank());
    if (!axis || *axis != 0 || !tx.shape[0].isConst())
      return notDifferentiable(r.n, "except along axis 0 of a constant-size dim yet");
    ValueId idx = r.x(1);
    KILN_ASSIGN(ValueId flatIdx, r.op(OpKind::Reshape, {idx}, {{"shape", Ints{-1}}}));
    Ints rest = {-1};
    for (int i = 1; i < tx.rank(); ++i) {
      if (!tx.shape[i].isConst())
        return notDifferentiable(r.n, "with trailing dims unknown until run time");
      rest.push_back(tx.shape[i].value);
    }
    Ints flatSpec = {-1, 1};
    int64_t inner = 1;
    for (int i = 1; i < tx.rank(); ++i)
      inner *= tx.shape[i].value;
    flatSpec[1] = inner;
    KILN_ASSIGN(ValueId flatDy, r.op(OpKind::Reshape, {dy}, {{"shape", flatSpec}}));
    KILN_ASSIGN(ValueId oh, r.op(OpKind::OneHot, {flatIdx}, {{"depth", tx.shape[0].value}, {"dtype", tx.dtype}}));
    KILN_ASSIGN(ValueId sum, r.op(OpKind::MatMul, {oh, flatDy}, {{"transpose_a", true}}));
    KILN_ASSIGN(ValueId g, r.b.reshapeLike(sum, tx));
    return OperandGrads{g, std::nullopt};
  }
  default: return notDifferentiable(r.n, "");
  }
}

Expected<OperandGrads> nnRule(const Rule &r, const std::vector<std::optional<ValueId>> &dys) {
  ValueId x = r.x(0);
  Type tx = r.type(x);
  switch (r.n.op) {
  case OpKind::Softmax:
  case OpKind::LogSoftmax: {
    ValueId dy = *dys[0], y = r.y();
    AttrList keep = {{"axes", Ints{r.attrs().getInt("axis")}}, {"keepdims", true}};
    if (r.n.op == OpKind::Softmax) { // y (dy - sum(dy y))
      KILN_ASSIGN(ValueId dyy, r.op(OpKind::Mul, {dy, y}));
      KILN_ASSIGN(ValueId s, r.op(OpKind::ReduceSum, {dyy}, keep));
      KILN_ASSIGN(ValueId d, r.op(OpKind::Sub, {dy, s}));
      KILN_ASSIGN(ValueId g, r.op(OpKind::Mul, {y, d}));
      return OperandGrads{g};
    }
    // dy - e^y sum(dy)
    KILN_ASSIGN(ValueId s, r.op(OpKind::ReduceSum, {dy}, keep));
    KILN_ASSIGN(ValueId p, r.op(OpKind::Exp, {y}));
    KILN_ASSIGN(ValueId ps, r.op(OpKind::Mul, {p, s}));
    KILN_ASSIGN(ValueId g, r.op(OpKind::Sub, {dy, ps}));
    return OperandGrads{g};
  }
  case OpKind::SoftmaxCrossEntropy: {
    // d logits = (softmax(logits) - onehot(labels)) * w_item * scale, with
    // w_item the class weight (0 where ignored) and scale dy, or dy / sum(w).
    ValueId dy = *dys[0], labels = r.x(1);
    if (!tx.shape[1].isConst())
      return notDifferentiable(r.n, "over a number of classes unknown until run time");
    DType dt = tx.dtype;
    KILN_ASSIGN(ValueId p, r.op(OpKind::Softmax, {x}, {{"axis", int64_t{1}}}));
    ValueId safe = labels;
    std::optional<ValueId> w;
    if (r.attrs().has("ignore_index")) {
      KILN_ASSIGN(ValueId ii, r.b.scalar(static_cast<double>(r.attrs().getInt("ignore_index")), r.type(labels).dtype));
      KILN_ASSIGN(ValueId ignored, r.op(OpKind::Equal, {labels, ii}));
      KILN_ASSIGN(ValueId zeroLabel, r.b.scalar(0, r.type(labels).dtype));
      KILN_ASSIGN(safe, r.op(OpKind::Select, {ignored, zeroLabel, labels}));
      KILN_ASSIGN(ValueId z, r.c(0));
      KILN_ASSIGN(ValueId o, r.c(1));
      KILN_ASSIGN(w, r.op(OpKind::Select, {ignored, z, o}));
    }
    if (r.n.operands.size() == 3) {
      KILN_ASSIGN(ValueId cw, r.op(OpKind::Gather, {r.x(2), safe}));
      if (w) {
        KILN_ASSIGN(cw, r.op(OpKind::Mul, {cw, *w}));
      }
      w = cw;
    }
    KILN_ASSIGN(ValueId oh, r.op(OpKind::OneHot, {safe}, {{"depth", tx.shape[1].value}, {"axis", int64_t{1}}, {"dtype", dt}}));
    KILN_ASSIGN(ValueId diff, r.op(OpKind::Sub, {p, oh}));
    // The per-item factor, of the labels' shape.
    std::string red = r.attrs().getString("reduction");
    ValueId factor = dy;
    if (red == "mean") {
      ValueId denom;
      if (w) {
        KILN_ASSIGN(denom, r.op(OpKind::ReduceSum, {*w}, {{"keepdims", false}}));
      } else {
        KILN_ASSIGN(denom, elementCount(r, r.type(labels).shape));
      }
      KILN_ASSIGN(factor, r.op(OpKind::Div, {dy, denom}));
    }
    if (w) {
      KILN_ASSIGN(factor, r.op(OpKind::Mul, {*w, factor}));
    }
    // Insert the class axis into the factor: [N, d...] -> [N, 1, d...].
    Type ft = r.type(factor);
    ValueId f = factor;
    if (ft.rank() > 0) {
      Shape s = ft.shape;
      s.insert(s.begin() + 1, Dim::of(1));
      KILN_ASSIGN(f, r.b.reshapeLike(factor, Type{dt, s, {}}));
    }
    KILN_ASSIGN(ValueId g, r.op(OpKind::Mul, {diff, f}));
    return OperandGrads{g, std::nullopt, std::nullopt};
  }
  case OpKind::BatchNormTrain: {
    if (dys[1] || dys[2])
      return notDifferentiable(r.n, "through its batch mean and variance results");
    KILN_ASSIGN(auto gs, r.b.ops(OpKind::BatchNormGrad, {*dys[0], x, r.x(1), r.y(1), r.y(2)}, r.attrList({"epsilon"})));
    return OperandGrads{gs[0], gs[1], gs[2]};
  }
  case OpKind::BatchNormInfer: { // y = (x - m) s / sqrt(v + eps) + b, m and v constant
    ValueId dy = *dys[0];
    Ints other = {0};
    for (int i = 2; i < tx.rank(); ++i)
      other.push_back(i);
    Shape cs = {tx.shape[1]};
    cs.resize(static_cast<size_t>(tx.rank() - 1), Dim::of(1));
    Type chanType{tx.dtype, cs, {}};
    KILN_ASSIGN(ValueId eps, r.c(r.attrs().getFloat("epsilon")));
    KILN_ASSIGN(ValueId ve, r.op(OpKind::Add, {r.x(4), eps}));
    KILN_ASSIGN(ValueId inv, r.op(OpKind::Rsqrt, {ve}));
    KILN_ASSIGN(ValueId k, r.op(OpKind::Mul, {r.x(1), inv}));
    KILN_ASSIGN(ValueId kc, r.b.reshapeLike(k, chanType));
    KILN_ASSIGN(ValueId dx, r.op(OpKind::Mul, {dy, kc}));
    KILN_ASSIGN(ValueId mc, r.b.reshapeLike(r.x(3), chanType));
    KILN_ASSIGN(ValueId ic, r.b.reshapeLike(inv, chanType));
    KILN_ASSIGN(ValueId xm, r.op(OpKind::Sub, {x, mc}));
    KILN_ASSIGN(ValueId xhat, r.op(OpKind::Mul, {xm, ic}));
    KILN_ASSIGN(ValueId dyx, r.op(OpKind::Mul, {dy, xhat}));
    AttrList sum = {{"axes", other}, {"keepdims", false}};
    KILN_ASSIGN(ValueId dscale, r.op(OpKind::ReduceSum, {dyx}, sum));
    KILN_ASSIGN(ValueId dbias, r.op(OpKind::ReduceSum, {dy}, sum));
    return OperandGrads{dx, dscale, dbias, std::nullopt, std::nullopt};
  }
  case OpKind::Dropout: { // dy / (1 - ratio) where kept
    if (dys[1])
      return notDifferentiable(r.n, "through its mask");
    KILN_ASSIGN(ValueId k, r.c(1.0 / (1.0 - r.attrs().getFloat("ratio"))));
    KILN_ASSIGN(ValueId scaled, r.op(OpKind::Mul, {*dys[0], k}));
    KILN_ASSIGN(ValueId zero, r.c(0));
    KILN_ASSIGN(ValueId g, r.op(OpKind::Select, {r.y(1), scaled, zero}));
    return OperandGrads{g, std::nullopt};
  }
  default: return notDifferentiable(r.n, "(the second derivative of batch norm is not implemented)");
  }
}

} // namespace

Expected<OperandGrads> gradientRule(GradBuilder &b, const Node &n, const std::vector<std::optional<ValueId>> &dys) {
  Rule r{b, n, dys};
  // Results that are not floating point carry no gradient.
  if (!isFloat(b.type(n.results[0]).dtype))
    return OperandGrads(n.operands.size());
  switch (n.op) {
  case OpKind::Add:
  case OpKind::Sub:
  case OpKind::Mul:
  case OpKind::Div:
  case OpKind::Pow:
  case OpKind::Fmod:
  case OpKind::Max:
  case OpKind::Min: return binaryRule(r, *dys[0]);
  case OpKind::Select: {
    ValueId dy = *dys[0];
    KILN_ASSIGN(ValueId zero, r.c(0));
    KILN_ASSIGN(ValueId ga, r.op(OpKind::Select, {r.x(0), dy, zero}));
    KILN_ASSIGN(ValueId gb, r.op(OpKind::Select, {r.x(0), zero, dy}));
    KILN_ASSIGN(ga, b.unbroadcast(ga, r.type(r.x(1))));
    KILN_ASSIGN(gb, b.unbroadcast(gb, r.type(r.x(2))));
    return OperandGrads{std::nullopt, ga, gb};
  }
  case OpKind::ReduceSum:
  case OpKind::ReduceMean:
  case OpKind::ReduceMax:
  case OpKind::ReduceMin:
  case OpKind::ReduceProd: return reductionRule(r, *dys[0]);
  case OpKind::MatMul: return matmulRule(r, *dys[0]);
  case OpKind::Conv:
  case OpKind::ConvTranspose:
  case OpKind::ConvGradInput:
  case OpKind::ConvGradWeight: return convRule(r, *dys[0]);
  case OpKind::MaxPool:
  case OpKind::AvgPool:
  case OpKind::AvgPoolGrad:
  case OpKind::GlobalAvgPool:
  case OpKind::GlobalMaxPool:
  case OpKind::MaxPoolGrad: return poolRule(r, *dys[0]);
  case OpKind::Reshape:
  case OpKind::Transpose:
  case OpKind::BroadcastTo:
  case OpKind::Concat:
  case OpKind::Slice:
  case OpKind::Pad:
  case OpKind::Gather: return movementRule(r, *dys[0]);
  case OpKind::Softmax:
  case OpKind::LogSoftmax:
  case OpKind::SoftmaxCrossEntropy:
  case OpKind::BatchNormTrain:
  case OpKind::BatchNormInfer:
  case OpKind::BatchNormGrad:
  case OpKind::Dropout: return nnRule(r, dys);
  case OpKind::GatherElements:
  case OpKind::ScatterElements:
  case OpKind::GatherND:
  case OpKind::ScatterND:
  case OpKind::CumSum: return indexingRule(r, *dys[0]);
  case OpKind::Resize: return resizeRule(r, *dys[0]);
  case OpKind::Neg:
  case OpKind::Abs:
  case OpKind::Exp:
  case OpKind::Expm1:
  case OpKind::Log:
  case OpKind::Log1p:
  case OpKind::Sqrt:
  case OpKind::Reciprocal:
  case OpKind::Tanh:
  case OpKind::Floor:
  case OpKind::Ceil:
  case OpKind::Round:
  case OpKind::Erf:
  case OpKind::Sin:
  case OpKind::Cos:
  case OpKind::Atan:
  case OpKind::Cast:
  case OpKind::Identity:
  case OpKind::LayoutConvert: return unaryRule(r, *dys[0]);
    // Every composite, its case labels generated from the table: the chain
    // rule through its definition (sigmoid's hand rule is in unaryRule).
#define KILN_OP(...)
#define KILN_DEFINE_ATTRS(id, ...) case OpKind::id:
#define KILN_DEFINE(id, api, ...) case OpKind::id:
#include "ir/Ops.def"
#undef KILN_DEFINE
#undef KILN_DEFINE_ATTRS
#undef KILN_OP
    return n.op == OpKind::Sigmoid ? unaryRule(r, *dys[0]) : definitionRule(r, *dys[0]);
  // Integer or boolean results returned above; these have no rule yet.
  case OpKind::Equal:
  case OpKind::Less:
  case OpKind::Greater:
  case OpKind::And:
  case OpKind::Or:
  case OpKind::ArgMax:
  case OpKind::ArgMin:
  case OpKind::TopK:
  case OpKind::OneHot:
  case OpKind::Fused: break;
  }
  return notDifferentiable(n, "");
}

} // namespace kiln::passes
