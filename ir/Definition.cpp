//===- ir/Definition.cpp - Composite elementwise ops over primitives ------===//
#include "ir/Definition.h"

#include "ir/Op.h"

#include <map>

namespace kiln::ir {
namespace def {

namespace {
Term leaf(DefStep::Kind kind) {
  auto n = std::make_shared<Node>();
  n->kind = kind;
  return Term(std::move(n));
}
} // namespace

Term::Term(double constant) {
  auto n = std::make_shared<Node>();
  n->kind = DefStep::Constant;
  n->value = constant;
  n_ = std::move(n);
}

Term operand(int i) {
  Term t = leaf(DefStep::Operand);
  std::const_pointer_cast<Node>(t.node())->operand = i;
  return t;
}

Term attr(std::string_view name) {
  Term t = leaf(DefStep::Attribute);
  std::const_pointer_cast<Node>(t.node())->attr = name;
  return t;
}

Term apply(OpKind prim, std::vector<Term> args) {
  auto n = std::make_shared<Node>();
  n->kind = DefStep::Apply;
  n->prim = prim;
  n->args = std::move(args);
  return Term(std::move(n));
}

Term operator+(Term a, Term b) { return apply(OpKind::Add, {a, b}); }
Term operator-(Term a, Term b) { return apply(OpKind::Sub, {a, b}); }
Term operator*(Term a, Term b) { return apply(OpKind::Mul, {a, b}); }
Term operator/(Term a, Term b) { return apply(OpKind::Div, {a, b}); }
Term operator-(Term a) { return apply(OpKind::Neg, {a}); }
Term operator>(Term a, Term b) { return apply(OpKind::Greater, {a, b}); }
Term operator<(Term a, Term b) { return apply(OpKind::Less, {a, b}); }
Term select(Term c, Term a, Term b) { return apply(OpKind::Select, {c, a, b}); }
Term max(Term a, Term b) { return apply(OpKind::Max, {a, b}); }
Term min(Term a, Term b) { return apply(OpKind::Min, {a, b}); }
Term abs(Term a) { return apply(OpKind::Abs, {a}); }
Term exp(Term a) { return apply(OpKind::Exp, {a}); }
Term expm1(Term a) { return apply(OpKind::Expm1, {a}); }
Term log1p(Term a) { return apply(OpKind::Log1p, {a}); }
Term sqrt(Term a) { return apply(OpKind::Sqrt, {a}); }
Term reciprocal(Term a) { return apply(OpKind::Reciprocal, {a}); }
Term erf(Term a) { return apply(OpKind::Erf, {a}); }
Term tanh(Term a) { return apply(OpKind::Tanh, {a}); }
Term atan(Term a) { return apply(OpKind::Atan, {a}); }

namespace {
int flattenInto(const Node &n, Definition &d, std::map<const Node *, int> &done) {
  if (auto it = done.find(&n); it != done.end())
    return it->second;
  DefStep s;
  s.kind = n.kind;
  s.operand = n.operand;
  s.value = n.value;
  s.attr = n.attr;
  s.prim = n.prim;
  s.numArgs = static_cast<int>(n.args.size());
  for (size_t i = 0; i < n.args.size() && i < s.args.size(); ++i)
    s.args[i] = flattenInto(*n.args[i].node(), d, done);
  d.steps.push_back(s);
  int at = static_cast<int>(d.steps.size()) - 1;
  done.emplace(&n, at);
  return at;
}
} // namespace

Definition flatten(const Term &t) {
  Definition d;
  std::map<const Node *, int> done;
  flattenInto(*t.node(), d, done);
  return d;
}

} // namespace def

std::vector<double> definitionAttrs(const Definition &d, const AttrView &attrs) {
  std::vector<double> out;
  for (const DefStep &s : d.steps)
    if (s.kind == DefStep::Attribute)
      out.push_back(attrs.getFloat(s.attr));
  return out;
}

double expressionSize(const OpInfo &op, const AttrView &attrs, std::span<const double> operandSizes) {
  auto sum = [](std::span<const double> args) {
    double total = 1;
    for (double x : args)
      total += x;
    return total;
  };
  if (!op.isComposite())
    return sum(operandSizes);
  std::vector<double> scratch;
  return expand<double>(
      op.definition, operandSizes, definitionAttrs(op.definition, attrs), [](double) { return 1.0; },
      [&](OpKind, std::span<const double> args) { return sum(args); }, scratch);
}

} // namespace kiln::ir
