//===- ir/Graph.cpp - The dataflow graph ----------------------------------===//
#include "ir/Graph.h"
#include "ir/DimExpr.h"
#include "ir/Limits.h"
#include "ir/TypeRules.h"

namespace kiln::ir {

Expected<ValueId> Graph::addValue(std::string name, Type type, ValueKind kind, int32_t owner, int32_t resultIndex) {
  if (name.empty())
    return makeError("a value needs a name");
  if (byName_.count(name))
    return makeError("the name %{} is already defined", name);
  KILN_TRY(checkedTypeBytes(type, fmt::format("%{}", name)));
  auto id = static_cast<ValueId>(values_.size());
  byName_.emplace(name, id);
  values_.push_back(Value{std::move(name), std::move(type), kind, owner, resultIndex});
  return id;
}

Expected<ValueId> Graph::addInput(std::string name, Type type) {
  auto v = addValue(std::move(name), std::move(type), ValueKind::Input, static_cast<int32_t>(inputs_.size()), 0);
  if (v)
    inputs_.push_back(*v);
  return v;
}

Expected<ValueId> Graph::addParam(std::string name, HostTensor data, std::optional<Initializer> init, Layout layout) {
  Type type = data.type();
  type.layout = layout;
  if (layout.isFlat() ? type.rank() != 2 : (layout.kind != Layout::RowMajor && type.rank() < 3))
    return makeError("parameter %{}: layout {} does not apply to {}", name, layoutName(layout), toString(type));
  int64_t total = staticBytes_;
  KILN_TRY(addToBudget(total, static_cast<int64_t>(data.byteSize()),
                       fmt::format("the parameters and constants of @{} (at %{})", name_, name)));
  auto v = addValue(std::move(name), type, ValueKind::Param, static_cast<int32_t>(params_.size()), 0);
  if (v) {
    staticBytes_ = total;
    params_.push_back(Param{*v, std::move(data), init});
  }
  return v;
}

Expected<ValueId> Graph::addParam(std::string name, const Type &type, const Initializer &init) {
  Sizes sizes;
  for (const Dim &d : type.shape) {
    if (!d.isConst())
      return makeError("parameter %{} must have a constant shape, got {}", name, toString(type));
    sizes.push_back(d.value);
  }
  // Sized before it is made: a declared 100 GB parameter is refused, not allocated.
  KILN_ASSIGN(int64_t bytes, checkedTypeBytes(type, fmt::format("parameter %{}", name)));
  int64_t total = staticBytes_;
  KILN_TRY(addToBudget(total, bytes, fmt::format("the parameters and constants of @{} (at %{})", name_, name)));
  return addParam(std::move(name), materialize(init, type.dtype, sizes), init, type.layout);
}

Expected<ValueId> Graph::addConst(std::string name, HostTensor data) {
  int64_t total = staticBytes_;
  KILN_TRY(addToBudget(total, static_cast<int64_t>(data.byteSize()),
                       fmt::format("the parameters and constants of @{} (at %{})", name_, name)));
  auto v = addValue(std::move(name), data.type(), ValueKind::Const, static_cast<int32_t>(consts_.size()), 0);
  if (v) {
    staticBytes_ = total;
    consts_.push_back(Const{*v, std::move(data)});
  }
  return v;
}

Expected<std::vector<ValueId>> Graph::addNode(OpKind op, std::vector<ValueId> operands, const AttrList &attrs,
                                              std::vector<std::string> resultNames) {
  const OpInfo &info = opInfo(op);
  int n = static_cast<int>(operands.size());
  if (n < info.minOperands || (info.maxOperands >= 0 && n > info.maxOperands)) {
    std::string expected = info.maxOperands < 0 ? fmt::format("at least {}", info.minOperands)
                           : info.minOperands == info.maxOperands
                               ? fmt::format("{}", info.minOperands)
                               : fmt::format("{} to {}", info.minOperands, info.maxOperands);
    return makeError("op '{}' takes {} operands ({}), got {}", info.name, expected, info.operands, n);
  }
  std::vector<Type> types;
  for (ValueId v : operands) {
    if (v < 0 || static_cast<size_t>(v) >= values_.size())
      return makeError("op '{}' has an operand that is not a value of this graph", info.name);
    types.push_back(type(v));
  }
  auto resolved = resolveAttrs(info, attrs);
  if (!resolved)
    return resolved.error();
  Status layoutOk = checkRowMajorOperands(info, types);
  auto results = layoutOk ? info.infer(types, AttrView(info, *resolved)) : Expected<std::vector<Type>>(layoutOk.error());
  if (results)
    for (const Type &t : *results)
      if (auto bytes = checkedTypeBytes(t, "its result"); !bytes) {
        results = bytes.error();
        break;
      }
  if (!results) {
    std::string operandText;
    for (size_t i = 0; i < operands.size(); ++i)
      operandText += fmt::format("{}%{}: {}", i ? ", " : "", nameOf(operands[i]), toString(types[i]));
    return makeError("{}({}): {}", info.name, operandText, results.error().message);
  }
  return appendNode(Node{op, std::move(operands), resolved.take(), {}, nullptr}, *results, std::move(resultNames));
}

Expected<std::vector<ValueId>> Graph::addFused(std::vector<ValueId> operands, std::shared_ptr<const Graph> body,
                                               std::string kind, std::vector<std::string> resultNames) {
  if (!body)
    return makeError("op 'fused' needs a body");
  if (!body->params().empty() || !body->updates().empty())
    return makeError("the body of a fused node has no parameters or updates");
  if (body->inputs().size() != operands.size())
    return makeError("op 'fused' has {} operands but its body takes {} arguments", operands.size(),
                     body->inputs().size());
  for (size_t i = 0; i < operands.size(); ++i) {
    if (operands[i] < 0 || static_cast<size_t>(operands[i]) >= values_.size())
      return makeError("op 'fused' has an operand that is not a value of this graph");
    const Type &want = body->type(body->inputs()[i]);
    if (!(type(operands[i]) == want))
      return makeError("op 'fused': operand %{} is {} but the body's argument %{} is {}", nameOf(operands[i]),
                       toString(type(operands[i])), body->nameOf(body->inputs()[i]), toString(want));
  }
  if (body->outputs().empty())
    return makeError("the body of a fused node yields nothing");
  auto attrs = resolveAttrs(opInfo(OpKind::Fused), {{"kind", std::move(kind)}});
  if (!attrs)
    return attrs.error();
  std::vector<Type> types;
  for (ValueId v : body->outputs())
    types.push_back(body->type(v));
  return appendNode(Node{OpKind::Fused, std::move(operands), attrs.take(), {}, std::move(body)}, types,
                    std::move(resultNames));
}

Expected<std::vector<ValueId>> Graph::appendNode(Node node, const std::vector<Type> &types,
                                                 std::vector<std::string> resultNames) {
  const OpInfo &info = node.info();
  if (!resultNames.empty() && resultNames.size() != types.size())
    return makeError("op '{}' has {} results, {} names given", info.name, types.size(), resultNames.size());
  resultNames.resize(types.size());
  auto nodeIndex = static_cast<int32_t>(nodes_.size());
  for (size_t i = 0; i < types.size(); ++i) {
    std::string name = std::move(resultNames[i]);
    if (name.empty()) {
      do
        name = std::to_string(nextAutoName_++);
      while (byName_.count(name));
    }
    auto v = addValue(std::move(name), types[i], ValueKind::Result, nodeIndex, static_cast<int32_t>(i));
    if (!v) {
      // Undo the values added for earlier results so the graph stays consistent.
      for (ValueId r : node.results)
        byName_.erase(values_[static_cast<size_t>(r)].name);
      values_.resize(values_.size() - node.results.size());
      return v.error();
    }
    node.results.push_back(*v);
  }
  nodes_.push_back(std::move(node));
  return nodes_.back().results;
}

Status Graph::addOutput(ValueId v) {
  if (v < 0 || static_cast<size_t>(v) >= values_.size())
    return makeError("an output is not a value of this graph");
  outputs_.push_back(v);
  return {};
}

Status Graph::addUpdate(ValueId param, ValueId v) {
  if (value(param).kind != ValueKind::Param)
    return makeError("update target %{} is not a parameter", nameOf(param));
  for (const Update &u : updates_)
    if (u.param == param)
      return makeError("parameter %{} is updated twice", nameOf(param));
  const Type &pt = type(param), &vt = type(v);
  if (pt.dtype != vt.dtype || pt.shape.size() != vt.shape.size())
    return makeError("update of %{}: {} does not match the parameter's type {}", nameOf(param), toString(vt),
                     toString(pt));
  for (size_t i = 0; i < pt.shape.size(); ++i)
    if (vt.shape[i].isConst() && vt.shape[i].value != pt.shape[i].value)
      return makeError("update of %{}: {} does not match the parameter's type {}", nameOf(param), toString(vt),
                       toString(pt));
  updates_.push_back(Update{param, v});
  return {};
}

Status Graph::rename(ValueId v, std::string name) {
  if (nameOf(v) == name)
    return {};
  if (name.empty() || byName_.count(name))
    return makeError("cannot rename %{} to %{}: the name is taken or empty", nameOf(v), name);
  byName_.erase(values_[static_cast<size_t>(v)].name);
  byName_.emplace(name, v);
  values_[static_cast<size_t>(v)].name = std::move(name);
  return {};
}

ValueId Graph::lookup(std::string_view name) const {
  auto it = byName_.find(std::string(name));
  return it == byName_.end() ? kNoValue : it->second;
}

std::string Graph::freshName(std::string_view base) const {
  std::string name(base);
  for (int i = 1; byName_.count(name); ++i)
    name = fmt::format("{}_{}", base, i);
  return name;
}

Status Graph::checkAtSizes(const Node &n, const std::map<std::string, int64_t> &dims) const {
  if (n.body) { // a region: its nodes, in its own values
    for (const Node &inner : n.body->nodes())
      KILN_TRY(n.body->checkAtSizes(inner, dims));
    return {};
  }
  std::vector<Type> types;
  bool bound = false;
  for (ValueId o : n.operands) {
    Type t = type(o);
    for (Dim &d : t.shape)
      if (std::optional<int64_t> size = d.isSymbol() ? dimValue(d, dims) : std::nullopt) {
        d = Dim::of(*size);
        bound = true;
      }
    types.push_back(std::move(t));
  }
  if (!bound)
    return {};
  const OpInfo &info = n.info();
  auto results = info.infer(types, n.attrView());
  if (!results) {
    std::string operandText;
    for (size_t i = 0; i < n.operands.size(); ++i)
      operandText += fmt::format("{}%{}: {}", i ? ", " : "", nameOf(n.operands[i]), toString(types[i]));
    return makeError("{}: at these sizes ({}): {}", describe(n), operandText, results.error().message);
  }
  return {};
}

std::string Graph::describe(const Node &n) const {
  std::string out = "node ";
  for (size_t i = 0; i < n.results.size(); ++i)
    out += (i ? ", %" : "%") + nameOf(n.results[i]);
  out += fmt::format(" = {}(", n.info().name);
  for (size_t i = 0; i < n.operands.size(); ++i)
    out += (i ? ", %" : "%") + nameOf(n.operands[i]);
  return out + ")";
}

} // namespace kiln::ir
