//===- ir/Verifier.cpp - Checks that a Graph is well formed ---------------===//
#include "ir/Verifier.h"

#include "ir/Printer.h"
#include "ir/TypeRules.h"

#include <unordered_set>

namespace kiln::ir {

namespace {

/// Checks a fused node against its body: the body is itself well formed,
/// takes the node's operand types and yields its result types.
Status verifyFused(const Graph &g, const Node &n) {
  if (!n.body)
    return makeError("{}: a fused node has no body", g.describe(n));
  const Graph &body = *n.body;
  if (auto s = verify(body); !s)
    return makeError("{}: in its body: {}", g.describe(n), s.error().message);
  if (!body.params().empty() || !body.updates().empty())
    return makeError("{}: the body of a fused node has no parameters or updates", g.describe(n));
  if (body.inputs().size() != n.operands.size() || body.outputs().size() != n.results.size())
    return makeError("{}: the body takes {} arguments and yields {} values, the node has {} operands and {} results",
                     g.describe(n), body.inputs().size(), body.outputs().size(), n.operands.size(), n.results.size());
  for (size_t i = 0; i < n.operands.size(); ++i)
    if (!(g.type(n.operands[i]) == body.type(body.inputs()[i])))
      return makeError("{}: operand %{} is {} but the body's argument is {}", g.describe(n),
                       g.nameOf(n.operands[i]), toString(g.type(n.operands[i])),
                       toString(body.type(body.inputs()[i])));
  for (size_t i = 0; i < n.results.size(); ++i)
    if (!(g.type(n.results[i]) == body.type(body.outputs()[i])))
      return makeError("{}: result %{} is {} but the body yields {}", g.describe(n), g.nameOf(n.results[i]),
                       toString(g.type(n.results[i])), toString(body.type(body.outputs()[i])));
  return {};
}

/// Parameters hold their logical value; their type may name another layout
/// (the compute layout the layout pass chose), so layouts are not compared.
bool holds(const HostTensor &data, Type declared) {
  declared.layout = {};
  return data.type() == declared;
}

} // namespace

Status verify(const Graph &g) {
  std::vector<bool> defined(g.numValues());
  std::unordered_set<std::string> names;
  auto define = [&](ValueId v) -> Status {
    if (v < 0 || static_cast<size_t>(v) >= g.numValues())
      return makeError("a value id {} is out of range", v);
    if (defined[v])
      return makeError("%{} is defined twice", g.nameOf(v));
    if (!names.insert(g.nameOf(v)).second)
      return makeError("the name %{} is used by two values", g.nameOf(v));
    defined[v] = true;
    return {};
  };
  for (ValueId v : g.inputs())
    KILN_TRY(define(v));
  for (const Param &p : g.params()) {
    KILN_TRY(define(p.value));
    if (!holds(p.data, g.type(p.value)))
      return makeError("parameter %{} holds {} but is declared {}", g.nameOf(p.value), toString(p.data.type()),
                       toString(g.type(p.value)));
  }
  for (const Const &c : g.consts()) {
    KILN_TRY(define(c.value));
    if (!(c.data.type() == g.type(c.value)))
      return makeError("constant %{} holds {} but is declared {}", g.nameOf(c.value), toString(c.data.type()),
                       toString(g.type(c.value)));
  }
  for (const Node &n : g.nodes()) {
    const OpInfo &info = n.info();
    int count = static_cast<int>(n.operands.size());
    if (count < info.minOperands || (info.maxOperands >= 0 && count > info.maxOperands))
      return makeError("{}: op '{}' takes {} operands, got {}", g.describe(n), info.name, info.operands, count);
    std::vector<Type> types;
    for (ValueId v : n.operands) {
      if (v < 0 || static_cast<size_t>(v) >= g.numValues() || !defined[v])
        return makeError("{}: an operand is used before it is defined", g.describe(n));
      types.push_back(g.type(v));
    }
    if (n.attrs.size() != info.attrs.size())
      return makeError("{}: has {} attributes, op '{}' declares {}", g.describe(n), n.attrs.size(), info.name,
                       info.attrs.size());
    for (size_t i = 0; i < n.attrs.size(); ++i) {
      const AttrSpec &spec = info.attrs[i];
      bool absent = std::holds_alternative<std::monostate>(n.attrs[i]);
      if ((absent && spec.required) || (!absent && !attrHasKind(n.attrs[i], spec.kind)))
        return makeError("{}: attribute '{}' must be a {}", g.describe(n), spec.name, attrKindName(spec.kind));
    }
    if (n.op == OpKind::Fused) {
      KILN_TRY(verifyFused(g, n));
      for (ValueId r : n.results)
        KILN_TRY(define(r));
      continue;
    }
    if (auto s = checkRowMajorOperands(info, types); !s)
      return makeError("{}: {}", g.describe(n), s.error().message);
    auto inferred = info.infer(types, n.attrView());
    if (!inferred)
      return makeError("{}: {}", g.describe(n), inferred.error().message);
    if (inferred->size() != n.results.size())
      return makeError("{}: has {} results, op '{}' gives {}", g.describe(n), n.results.size(), info.name,
                       inferred->size());
    for (size_t i = 0; i < n.results.size(); ++i) {
      KILN_TRY(define(n.results[i]));
      if (!(g.type(n.results[i]) == (*inferred)[i]))
        return makeError("{}: result %{} is declared {} but op '{}' gives {}", g.describe(n),
                         g.nameOf(n.results[i]), toString(g.type(n.results[i])), info.name,
                         toString((*inferred)[i]));
    }
  }
  for (ValueId v : g.outputs())
    if (v < 0 || static_cast<size_t>(v) >= g.numValues() || !defined[v])
      return makeError("an output is not defined");
  std::unordered_set<ValueId> updated;
  for (const Update &u : g.updates()) {
    if (g.value(u.param).kind != ValueKind::Param)
      return makeError("update target %{} is not a parameter", g.nameOf(u.param));
    if (!updated.insert(u.param).second)
      return makeError("parameter %{} is updated twice", g.nameOf(u.param));
    if (!defined[u.value] || g.type(u.value).dtype != g.type(u.param).dtype ||
        g.type(u.value).rank() != g.type(u.param).rank())
      return makeError("update of %{} by %{}: the value must be defined and of the parameter's type",
                       g.nameOf(u.param), g.nameOf(u.value));
  }
  return {};
}

} // namespace kiln::ir
