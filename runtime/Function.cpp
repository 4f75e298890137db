//===- runtime/Function.cpp - Theano's `function` -------------------------===//
#include "runtime/Function.h"

#include "ir/Verifier.h"
#include "passes/PassManager.h"
#include "reference/Reference.h"

#include <algorithm>

namespace kiln {

using namespace ir;

std::optional<Backend> parseBackend(std::string_view name) {
  if (name == "llvm")
    return Backend::Llvm;
  if (name == "reference")
    return Backend::Reference;
  if (name == "cuda" || name == "gpu")
    return Backend::Cuda;
  return std::nullopt;
}

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
  return backend_ == Backend::Reference ? runReference(args) : runLlvm(args);
}

void Function::setBackend(Backend b) {
  syncParams();
  current_ = nullptr;
  backend_ = b;
}

void Function::syncParams() {
  if (!current_ || !paramsStale_)
    return;
  for (Param &p : graph_.params())
    if (const HostTensor *t = current_->param(graph_.nameOf(p.value))) {
      p.data = *t;
      p.init.reset();
    }
  paramsStale_ = false;
}

Expected<std::vector<HostTensor>> Function::runReference(const std::vector<HostTensor> &args) {
  syncParams();
  current_ = nullptr; // graph_ holds the newest parameters from now on
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

Expected<std::vector<HostTensor>> Function::runLlvm(const std::vector<HostTensor> &args) {
  std::vector<Sizes> key;
  std::map<std::string, Sizes> sizes;
  ref::TensorMap feeds;
  for (size_t i = 0; i < args.size(); ++i) {
    key.push_back(args[i].sizes());
    sizes[inputNames_[i]] = args[i].sizes();
    feeds.emplace(inputNames_[i], args[i]);
  }
  auto &exe = executables_[key];
  if (!exe) {
    syncParams();
    CompileOptions co;
    co.passes = passes::pipelineFor(2);
    co.device = backend_ == Backend::Cuda ? passes::Device::Cuda : passes::Device::Cpu;
    auto compiled = Executable::compile(graph_, sizes, co);
    if (!compiled) {
      executables_.erase(key);
      return compiled.error();
    }
    exe = std::move(*compiled);
  }
  if (exe.get() != current_) { // the newest parameters move into this executable
    syncParams();
    for (const Param &p : graph_.params())
      exe->setParam(graph_.nameOf(p.value), p.data);
    current_ = exe.get();
  }
  auto run = exe->run(feeds, false); // the parameters stay in the executable
  if (!run)
    return run.error();
  paramsStale_ = paramsStale_ || !graph_.updates().empty();
  return std::move(run->outputs);
}

const HostTensor *Function::param(const std::string &name) {
  syncParams();
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
  syncParams();
  current_ = nullptr; // the executables get it before their next run
  p.data = value;
  p.init.reset();
  return {};
}

std::map<std::string, const HostTensor *> Function::params() {
  syncParams();
  std::map<std::string, const HostTensor *> out;
  for (const Param &p : graph_.params())
    out[graph_.nameOf(p.value)] = &p.data;
  return out;
}

} // namespace kiln
