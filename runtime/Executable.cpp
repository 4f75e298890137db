//===- runtime/Executable.cpp - A graph compiled to native kernels --------===//
#include "runtime/Executable.h"

#include "codegen/llvm/Jit.h"
#include "passes/Lower.h"

#include <cstring>

namespace kiln {

using namespace ir;

namespace {

/// Copies every element between logical order and layout `l`.
HostTensor relayout(const HostTensor &t, Layout l, bool toPhys) {
  if (sameStorage([&] {
        Shape s;
        for (int64_t d : t.sizes())
          s.push_back(Dim::of(d));
        return s;
      }(),
                  l, Layout{}))
    return t;
  HostTensor out(t.dtype(), t.sizes());
  size_t width = dtypeSize(t.dtype());
  const Sizes &sizes = t.sizes();
  Sizes coords(sizes.size());
  const std::byte *src = t.data();
  std::byte *dst = out.data();
  for (int64_t i = 0; i < t.numElements(); ++i) {
    int64_t rest = i;
    for (size_t d = sizes.size(); d-- > 0;) {
      coords[d] = rest % sizes[d];
      rest /= sizes[d];
    }
    auto phys = static_cast<size_t>(physicalOffset(sizes, l, coords.data()));
    auto logical = static_cast<size_t>(i);
    std::memcpy(dst + (toPhys ? phys : logical) * width, src + (toPhys ? logical : phys) * width, width);
  }
  return out;
}

/// Concrete sizes of a static shape, symbols bound in `dims`; nullopt for a
/// dim only known at run time.
std::optional<Sizes> sizesOf(const Shape &shape, const std::map<std::string, int64_t> &dims) {
  Sizes out;
  for (const Dim &d : shape) {
    if (d.isConst())
      out.push_back(d.value);
    else if (d.isSymbol() && dims.count(d.sym))
      out.push_back(dims.at(d.sym));
    else
      return std::nullopt;
  }
  return out;
}

} // namespace

HostTensor toPhysical(const HostTensor &t, Layout l) { return relayout(t, l, true); }
HostTensor toLogical(const HostTensor &t, Layout l) { return relayout(t, l, false); }

Executable::~Executable() = default;

const std::string &Executable::llvmIR() const {
  static const std::string none;
  return jit_ ? jit_->llvmIR() : none;
}

Expected<std::unique_ptr<Executable>> Executable::compile(const Graph &g, const std::map<std::string, Sizes> &inputs) {
  std::unique_ptr<Executable> e(new Executable);
  e->graph_ = g;
  e->inputSizes_ = inputs;
  const Graph &graph = e->graph_;
  for (ValueId v : graph.inputs()) {
    auto it = inputs.find(graph.nameOf(v));
    if (it == inputs.end())
      return makeError("input '{}' ({}) has no size to compile for", graph.nameOf(v), toString(graph.type(v)));
    const Shape &shape = graph.type(v).shape;
    if (shape.size() != it->second.size())
      return makeError("input '{}' is {} but sizes {} were given", graph.nameOf(v), toString(graph.type(v)),
                       toString(it->second));
    for (size_t d = 0; d < shape.size(); ++d)
      if (shape[d].isSymbol())
        e->dims_.emplace(shape[d].sym, it->second[d]);
  }
  e->values_.resize(graph.numValues());
  for (const Param &p : graph.params())
    e->values_[p.value] = toPhysical(p.data, graph.type(p.value).layout);
  for (const Const &c : graph.consts())
    e->values_[c.value] = c.data;
  std::vector<kernel::Kernel> kernels;
  for (const Node &n : graph.nodes()) {
    auto k = passes::lower(graph, n, e->dims_, fmt::format("kernel{}", kernels.size()));
    if (!k) {
      e->steps_.push_back(Step{&n, -1});
      continue;
    }
    e->kernelsText_ += kernel::print(*k);
    e->steps_.push_back(Step{&n, static_cast<int>(kernels.size())});
    kernels.push_back(std::move(*k));
  }
  e->native_ = kernels.size();
  if (!kernels.empty()) {
    auto jit = codegen::Jit::compile(kernels);
    if (!jit)
      return jit.error();
    e->jit_ = jit.take();
  }
  return e;
}

Expected<ref::RunResult> Executable::run(const ref::TensorMap &inputs) {
  const Graph &g = graph_;
  for (const auto &[name, t] : inputs) {
    ValueId v = g.lookup(name);
    if (v == kNoValue || g.value(v).kind != ValueKind::Input)
      return makeError("graph @{} has no input named '{}'", g.name(), name);
  }
  for (ValueId v : g.inputs()) {
    auto it = inputs.find(g.nameOf(v));
    if (it == inputs.end())
      return makeError("input '{}' ({}) is not given", g.nameOf(v), toString(g.type(v)));
    if (it->second.dtype() != g.type(v).dtype || it->second.sizes() != inputSizes_.at(g.nameOf(v)))
      return makeError("input '{}' is {}[{}] but the executable was compiled for {}", g.nameOf(v),
                       dtypeName(it->second.dtype()), toString(it->second.sizes()), toString(g.type(v)));
    values_[v] = toPhysical(it->second, g.type(v).layout);
  }
  for (const Step &s : steps_) {
    const Node &n = *s.node;
    if (s.kernel < 0) {
      std::vector<HostTensor> operands;
      for (ValueId o : n.operands)
        operands.push_back(toLogical(values_[o], g.type(o).layout));
      auto results = ref::evaluateNode(g, n, operands, dims_);
      if (!results)
        return results.error();
      for (size_t i = 0; i < n.results.size(); ++i)
        values_[n.results[i]] = toPhysical((*results)[i], g.type(n.results[i]).layout);
      continue;
    }
    std::vector<void *> buffers;
    for (ValueId o : n.operands)
      buffers.push_back(const_cast<std::byte *>(static_cast<const HostTensor &>(values_[o]).data()));
    for (ValueId r : n.results) {
      auto sizes = sizesOf(g.type(r).shape, dims_);
      values_[r] = HostTensor(g.type(r).dtype, *sizes);
      buffers.push_back(values_[r].data());
    }
    jit_->function(static_cast<size_t>(s.kernel))(buffers.data());
  }
  ref::RunResult out;
  for (ValueId v : g.outputs())
    out.outputs.push_back(toLogical(values_[v], g.type(v).layout));
  for (const Update &u : g.updates())
    out.updates.push_back(toLogical(values_[u.value], g.type(u.value).layout));
  // The new values become the parameters of the next run, in their layouts.
  for (size_t i = 0; i < g.updates().size(); ++i) {
    ValueId p = g.updates()[i].param;
    values_[p] = toPhysical(out.updates[i], g.type(p).layout);
    logicalParams_.erase(g.nameOf(p));
  }
  return out;
}

const HostTensor *Executable::param(const std::string &name) {
  ValueId v = graph_.lookup(name);
  if (v == kNoValue || graph_.value(v).kind != ValueKind::Param)
    return nullptr;
  auto [it, inserted] = logicalParams_.try_emplace(name);
  if (inserted)
    it->second = toLogical(values_[v], graph_.type(v).layout);
  return &it->second;
}

} // namespace kiln
