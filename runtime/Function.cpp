//===- runtime/Function.cpp - Theano's `function` -------------------------===//
#include "runtime/Function.h"
#include "ir/DimExpr.h"

#include "ir/Verifier.h"
#include "passes/DCE.h"
#include "passes/PassManager.h"
#include "reference/Reference.h"

#include <algorithm>
#include <cmath>

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
                                     const std::vector<ValueId> &outputs, const std::vector<Update> &updates,
                                     const FunctionOptions &options, bool ownUpdates) {
  const Expected<Config> &cfg = config();
  if (!cfg)
    return cfg.error();
  Function f;
  f.backend_ = options.backend.value_or(cfg->device == passes::Device::Cuda ? Backend::Cuda : Backend::Llvm);
  f.optLevel_ = options.optLevel.value_or(cfg->optLevel);
  f.mode_ = options.mode.value_or(cfg->mode);
  f.dumpDir_ = cfg->dumpDir;
  f.shared_ = options.shared ? options.shared : std::make_shared<SharedVariables>();
  // The callable's own graph: the same values, with these outputs and updates.
  f.graph_ = g;
  Graph &own = f.graph_;
  for (ValueId v : inputs) {
    if (own.value(v).kind != ValueKind::Input)
      return makeError("function: %{} is not an input of graph @{}", own.nameOf(v), own.name());
    f.inputNames_.push_back(own.nameOf(v));
  }
  std::vector<std::string> unlisted;
  for (ValueId v : own.inputs())
    if (std::find(inputs.begin(), inputs.end(), v) == inputs.end())
      unlisted.push_back(own.nameOf(v));
  // The function's outputs replace the graph's; its updates replace the
  // graph's own or join them.
  own.clearOutputs();
  if (!ownUpdates)
    own.clearUpdates();
  for (ValueId v : outputs)
    KILN_TRY(own.addOutput(v));
  for (const Update &u : updates)
    KILN_TRY(own.addUpdate(u.param, u.value));
  KILN_TRY(verify(f.graph_));
  // Inputs it was not given must be ones its outputs and updates do not
  // need (a prediction function of a graph that also has the labels).
  if (!unlisted.empty()) {
    KILN_ASSIGN(f.graph_, passes::dce(f.graph_));
    for (const std::string &name : unlisted) {
      ValueId v = f.graph_.lookup(name);
      bool used = std::find(f.graph_.outputs().begin(), f.graph_.outputs().end(), v) != f.graph_.outputs().end();
      for (const Node &n : f.graph_.nodes())
        used = used || std::find(n.operands.begin(), n.operands.end(), v) != n.operands.end();
      if (used)
        return makeError("function: what it computes needs input %{} of graph @{}, which is not among its inputs",
                         name, f.graph_.name());
      f.unused_.push_back(name);
    }
  }
  for (const Param &p : own.params()) {
    const std::string &name = own.nameOf(p.value);
    if (!f.shared_->has(name))
      f.graphVersions_[name] = 1; // the storage starts from this graph's value
    KILN_TRY(f.shared_->add(name, p));
  }
  return f;
}

Expected<std::vector<HostTensor>> Function::operator()(const std::vector<HostTensor> &args) {
  if (args.size() != inputNames_.size())
    return makeError("function @{}: {} arguments given, it takes {}", graph_.name(), args.size(), inputNames_.size());
  ref::TensorMap feeds;
  for (size_t i = 0; i < args.size(); ++i)
    feeds.emplace(inputNames_[i], args[i]);
  std::map<std::string, int64_t> dims; // the symbols the arguments bind (for placeholders only)
  for (size_t i = 0; i < args.size() && !unused_.empty(); ++i) {
    const Shape &shape = graph_.type(graph_.lookup(inputNames_[i])).shape;
    for (size_t d = 0; d < shape.size() && d < args[i].sizes().size(); ++d)
      if (ir::isNamedSymbol(shape[d]))
        dims.emplace(shape[d].sym, args[i].sizes()[d]);
  }
  for (const std::string &name : unused_) { // a placeholder nothing reads
    Sizes sizes;
    for (const Dim &d : graph_.type(graph_.lookup(name)).shape)
      sizes.push_back(ir::dimValue(d, dims).value_or(1));
    feeds.emplace(name, HostTensor(graph_.type(graph_.lookup(name)).dtype, sizes));
  }
  if (backend_ == Backend::Reference) {
    auto out = runReference(feeds);
    if (out && mode_ == Mode::NanGuard)
      KILN_TRY(checkFinite(*out, {}, "output"));
    return out;
  }
  auto run = runNative(feeds, mode_ != Mode::FastRun);
  if (!run)
    return run.error();
  return std::move(run->outputs);
}

void Function::refreshGraph() {
  for (Param &p : graph_.params()) {
    const std::string &name = graph_.nameOf(p.value);
    uint64_t v = shared_->version(name);
    if (graphVersions_[name] == v)
      continue; // unchanged (an initializer still says how it was made)
    p.data = shared_->read(name);
    p.init.reset();
    graphVersions_[name] = v;
  }
}

const Graph &Function::graph() {
  refreshGraph();
  return graph_;
}

Expected<std::vector<HostTensor>> Function::runReference(const ref::TensorMap &feeds) {
  refreshGraph();
  auto run = ref::evaluate(graph_, feeds);
  if (!run)
    return run.error();
  // Every update was computed from the old values; apply them all now.
  for (size_t i = 0; i < graph_.updates().size(); ++i) {
    ValueId pv = graph_.updates()[i].param;
    const std::string &name = graph_.nameOf(pv);
    KILN_TRY(shared_->write(name, run->updates[i]));
    Param &p = graph_.params()[static_cast<size_t>(graph_.value(pv).owner)];
    p.data = std::move(run->updates[i]);
    p.init.reset();
    graphVersions_[name] = shared_->version(name);
  }
  return std::move(run->outputs);
}

Expected<ref::RunResult> Function::runNative(const ref::TensorMap &feeds, bool wantUpdates) {
  std::vector<Sizes> key;
  std::map<std::string, Sizes> sizes;
  for (const auto &[name, t] : feeds) {
    key.push_back(t.sizes());
    sizes[name] = t.sizes();
  }
  Compiled &c = executables_[key];
  if (!c.exe) {
    refreshGraph();
    CompileOptions co;
    co.passes = passes::pipelineFor(optLevel_);
    co.device = backend_ == Backend::Cuda ? passes::Device::Cuda : passes::Device::Cpu;
    // One directory per compile: dump_dir/GRAPH.K for the K-th input shape.
    if (!dumpDir_.empty())
      co.dumpDir = fmt::format("{}/{}.{}", dumpDir_, graph_.name(), executables_.size());
    auto compiled = Executable::compile(graph_, sizes, co);
    if (!compiled) {
      executables_.erase(key);
      return compiled.error();
    }
    c.exe = std::move(*compiled);
    for (const Param &p : graph_.params()) // it starts with graph_'s values
      c.versions[graph_.nameOf(p.value)] = graphVersions_[graph_.nameOf(p.value)];
  }
  // Parameters newer than the executable's move in (unless it holds them).
  for (const Param &p : graph_.params()) {
    const std::string &name = graph_.nameOf(p.value);
    uint64_t v = shared_->version(name);
    if (c.versions[name] == v || shared_->isHeldBy(name, c.exe.get()))
      continue;
    c.exe->setParam(name, shared_->read(name));
    c.versions[name] = v;
  }
  // DebugMode compares against the reference on the values before the step.
  if (mode_ == Mode::Debug)
    refreshGraph();
  last_ = c.exe.get();
  auto run = c.exe->run(feeds, wantUpdates);
  if (!run)
    return run.error();
  for (const Update &u : graph_.updates()) {
    const std::string &name = graph_.nameOf(u.param);
    c.versions[name] = shared_->heldBy(name, c.exe);
  }
  if (mode_ == Mode::Debug)
    KILN_TRY(checkAgainstReference(feeds, *run));
  if (mode_ == Mode::NanGuard) {
    KILN_TRY(checkFinite(run->outputs, {}, "output"));
    std::vector<std::string> names;
    for (const Update &u : graph_.updates())
      names.push_back(graph_.nameOf(u.param));
    KILN_TRY(checkFinite(run->updates, names, "updated parameter"));
  }
  return run;
}

Status Function::checkAgainstReference(const ref::TensorMap &feeds, const ref::RunResult &native) {
  // graph_ holds the parameters the step started from (refreshGraph before it).
  auto expected = ref::evaluate(graph_, feeds);
  if (!expected)
    return makeError("DebugMode: the reference interpreter failed: {}", expected.error().message);
  auto compare = [&](const std::vector<HostTensor> &want, const std::vector<HostTensor> &got, const std::string &what,
                     auto nameOf) -> Status {
    for (size_t i = 0; i < want.size() && i < got.size(); ++i) {
      if (!isFloat(want[i].dtype()))
        continue;
      double tol = want[i].dtype() == DType::F64 ? 1e-9 : 1e-3;
      for (int64_t e = 0; e < want[i].numElements(); ++e) {
        double a = want[i].get(e), b = got[i].get(e);
        if (std::isnan(a) && std::isnan(b))
          continue;
        if (!(std::abs(a - b) <= tol * (1 + std::abs(a))))
          return makeError("DebugMode: {} %{} of function @{} differs from the reference at element {}: {} against {}",
                           what, nameOf(i), graph_.name(), e, b, a);
      }
    }
    return {};
  };
  KILN_TRY(compare(expected->outputs, native.outputs, "output",
                   [&](size_t i) { return graph_.nameOf(graph_.outputs()[i]); }));
  // The reference's updates are what the executable's step made of the same values.
  KILN_TRY(compare(expected->updates, native.updates, "update of",
                   [&](size_t i) { return graph_.nameOf(graph_.updates()[i].param); }));
  return {};
}

Status checkFinite(const std::vector<HostTensor> &values, const std::vector<std::string> &names,
                   const std::string &what) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!isFloat(values[i].dtype()))
      continue;
    for (int64_t e = 0; e < values[i].numElements(); ++e) {
      double v = values[i].get(e);
      if (std::isfinite(v))
        continue;
      std::string name = i < names.size() ? "%" + names[i] : std::to_string(i);
      return makeError("NanGuardMode: {} {} holds {} at element {}", what, name, std::isnan(v) ? "NaN" : "an infinity",
                       e);
    }
  }
  return {};
}

const HostTensor *Function::param(const std::string &name) {
  ValueId v = graph_.lookup(name);
  if (v == kNoValue || graph_.value(v).kind != ValueKind::Param)
    return nullptr;
  return &shared_->read(name);
}

Status Function::setParam(const std::string &name, const HostTensor &value) {
  ValueId v = graph_.lookup(name);
  if (v == kNoValue || graph_.value(v).kind != ValueKind::Param)
    return makeError("function @{} has no parameter %{}", graph_.name(), name);
  const Param &p = graph_.params()[static_cast<size_t>(graph_.value(v).owner)];
  if (!(value.type() == p.data.type()))
    return makeError("parameter %{} is {}, the value given is {}", name, toString(p.data.type()), toString(value.type()));
  return shared_->write(name, value);
}

std::map<std::string, const HostTensor *> Function::params() {
  std::map<std::string, const HostTensor *> out;
  for (const Param &p : graph_.params())
    out[graph_.nameOf(p.value)] = &shared_->read(graph_.nameOf(p.value));
  return out;
}

} // namespace kiln
