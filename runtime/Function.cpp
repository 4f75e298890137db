//===- runtime/Function.cpp - Theano's `function` -------------------------===//
#include "runtime/Function.h"

#include "ir/Verifier.h"
#include "runtime/reference/Reference.h"

#include <algorithm>

namespace kiln {

using namespace ir;

Expected<Function> Function::compile(const Graph &g, const std::vector<ValueId> &inputs,
                                     const std::vector<ValueId> &outputs, const std::vector<Update> &updates) {
  Function f;
  // The callable's own graph: the same values, with these outputs and updates.
  f.graph_ = g;
  Graph &own = f.graph_;
  for (ValueId v : inputs) {
    if (own.value(v).kind != ValueKind::Input)
      return makeError("function: %{} is not an input of graph @{}", own.nameOf(v), own.name());
    f.inputNames_.push_back(own.nameOf(v));
  }
  for (ValueId v : own.inputs())
    if (std::find(inputs.begin(), inputs.end(), v) == inputs.end())
      return makeError("function: input %{} of graph @{} is not among the function's inputs", own.nameOf(v), own.name());
  // The function's outputs and updates replace the graph's outputs and join its updates.
  own.clearOutputs();
  for (ValueId v : outputs)
    KILN_TRY(own.addOutput(v));
  for (const Update &u : updates)
    KILN_TRY(own.addUpdate(u.param, u.value));
  KILN_TRY(verify(f.graph_));
  return f;
}

Expected<std::vector<HostTensor>> Function::operator()(const std::vector<HostTensor> &args) {
  if (args.size() != inputNames_.size())
    return makeError("function @{}: {} arguments given, it takes {}", graph_.name(), args.size(), inputNames_.size());
  ref::TensorMap feeds;
  for (size_t i = 0; i < args.size(); ++i)
    feeds.emplace(inputNames_[i], args[i]);
  auto run = ref::evaluate(graph_, feeds);
  if (!run)
    return run.error();
  // Every update was computed from the old values; apply them all now.
  for (size_t i = 0; i < graph_.updates().size(); ++i) {
    Param &p = graph_.params()[static_cast<size_t>(graph_.value(graph_.updates()[i].param).owner)];
    p.data = std::move(run->updates[i]);
    p.init.reset();
  }
  return std::move(run->outputs);
}

const HostTensor *Function::param(const std::string &name) const {
  ValueId v = graph_.lookup(name);
  if (v == kNoValue || graph_.value(v).kind != ValueKind::Param)
    return nullptr;
  return &graph_.params()[static_cast<size_t>(graph_.value(v).owner)].data;
}

Status Function::setParam(const std::string &name, const HostTensor &value) {
  ValueId v = graph_.lookup(name);
  if (v == kNoValue || graph_.value(v).kind != ValueKind::Param)
    return makeError("function @{} has no parameter %{}", graph_.name(), name);
  Param &p = graph_.params()[static_cast<size_t>(graph_.value(v).owner)];
  if (!(value.type() == p.data.type()))
    return makeError("parameter %{} is {}, the value given is {}", name, toString(p.data.type()), toString(value.type()));
  p.data = value;
  p.init.reset();
  return {};
}

std::map<std::string, const HostTensor *> Function::params() const {
  std::map<std::string, const HostTensor *> out;
  for (const Param &p : graph_.params())
    out[graph_.nameOf(p.value)] = &p.data;
  return out;
}

} // namespace kiln
