//===- ir/Op.cpp - The op table, instantiated from ir/Ops.def -------------===//
#include "ir/Op.h"
#include "ir/TypeRules.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace kiln::ir {

namespace {

#define ATTR(n, k, d) AttrSpec{#n, AttrKind::k, AttrValue(d), false}
#define REQ(n, k) AttrSpec{#n, AttrKind::k, AttrValue(), true}
#define OPT(n, k) AttrSpec{#n, AttrKind::k, AttrValue(), false}

std::vector<OpInfo> makeTable() {
  using namespace trait;
  std::vector<OpInfo> ops = {
#define KILN_OP(id, name, cat, traits, operands, mn, mx, nres, rule, doc, ...)                              \
  OpInfo{OpKind::id, name, OpCategory::cat, (traits), operands, mn, mx, nres, rule, doc, {__VA_ARGS__}, {}},
#include "ir/Ops.def"
#undef KILN_OP
  };
  // The definitions of composite ops, over the operand `x`.
  using namespace def;
  const Term x = operand(0);
#define KILN_OP(...)
#define KILN_DEFINE_ATTRS(id, ...) ops[static_cast<size_t>(OpKind::id)].definition = flatten(__VA_ARGS__);
#define KILN_DEFINE(id, api, ...) KILN_DEFINE_ATTRS(id, __VA_ARGS__)
#include "ir/Ops.def"
#undef KILN_DEFINE
#undef KILN_DEFINE_ATTRS
#undef KILN_OP
  return ops;
}

const std::vector<OpInfo> &table() {
  static const std::vector<OpInfo> ops = makeTable();
  return ops;
}

#undef ATTR
#undef REQ
#undef OPT

} // namespace

std::string_view categoryName(OpCategory c) {
  switch (c) {
  case OpCategory::Elementwise: return "elementwise";
  case OpCategory::Reduction: return "reduction";
  case OpCategory::Contraction: return "contraction";
  case OpCategory::DataMovement: return "data movement";
  case OpCategory::Opaque: return "opaque";
  }
  return "?";
}

const OpInfo &opInfo(OpKind kind) { return table()[static_cast<size_t>(kind)]; }

std::span<const OpInfo> allOps() { return table(); }

const OpInfo *findOp(std::string_view name) {
  static const auto byName = [] {
    std::unordered_map<std::string_view, const OpInfo *> m;
    for (const OpInfo &op : table())
      m.emplace(op.name, &op);
    return m;
  }();
  auto it = byName.find(name);
  return it == byName.end() ? nullptr : it->second;
}

bool OpInfo::cheap() const {
  if (has(trait::Cheap))
    return true;
  if (!isComposite())
    return false;
  return std::all_of(definition.steps.begin(), definition.steps.end(),
                     [](const DefStep &s) { return s.kind != DefStep::Apply || opInfo(s.prim).has(trait::Cheap); });
}

int OpInfo::attrIndex(std::string_view n) const {
  for (size_t i = 0; i < attrs.size(); ++i)
    if (attrs[i].name == n)
      return static_cast<int>(i);
  return -1;
}

const AttrValue &AttrView::get(std::string_view name) const {
  int i = op_.attrIndex(name);
  assert(i >= 0 && "attribute not declared by the op; a bug in kiln, not in the model");
  return values_[static_cast<size_t>(i)];
}

bool AttrView::has(std::string_view name) const {
  int i = op_.attrIndex(name);
  return i >= 0 && !std::holds_alternative<std::monostate>(values_[static_cast<size_t>(i)]);
}

bool AttrView::declares(std::string_view name) const { return op_.attrIndex(name) >= 0; }

Expected<std::vector<AttrValue>> resolveAttrs(const OpInfo &op, const AttrList &given) {
  std::vector<AttrValue> values(op.attrs.size());
  std::vector<bool> seen(op.attrs.size());
  for (const auto &[name, value] : given) {
    int i = op.attrIndex(name);
    if (i < 0) {
      std::string known;
      for (const AttrSpec &s : op.attrs)
        known += (known.empty() ? "" : ", ") + std::string(s.name);
      return makeError("op '{}' has no attribute '{}' (it takes: {})", op.name, name,
                       known.empty() ? "none" : known);
    }
    if (seen[i])
      return makeError("attribute '{}' of op '{}' is given twice", name, op.name);
    seen[i] = true;
    const AttrSpec &spec = op.attrs[i];
    AttrValue v = coerceAttr(value, spec.kind);
    if (std::holds_alternative<std::monostate>(v))
      return makeError("attribute '{}' of op '{}' must be a {}, got {}", name, op.name, attrKindName(spec.kind),
                       printAttr(value));
    values[i] = std::move(v);
  }
  for (size_t i = 0; i < op.attrs.size(); ++i) {
    if (seen[i])
      continue;
    if (op.attrs[i].required)
      return makeError("op '{}' needs attribute '{}' ({})", op.name, op.attrs[i].name, attrKindName(op.attrs[i].kind));
    values[i] = op.attrs[i].def;
  }
  return values;
}

} // namespace kiln::ir
