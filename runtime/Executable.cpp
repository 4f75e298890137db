//===- runtime/Executable.cpp - A graph compiled to native kernels --------===//
#include "runtime/Executable.h"

#include "codegen/cuda/CudaDriver.h"
#include "runtime/Config.h"
#include "runtime/Device.h"

#include <cstdlib>
#include <string_view>

#include "codegen/llvm/DiskCache.h"
#include "codegen/llvm/Jit.h"
#include "driver/Driver.h"
#include "runtime/Parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>

namespace kiln {

using namespace ir;

namespace {

/// Adds the time from `started` to its end to `total`.
struct Timed {
  double &total;
  std::chrono::steady_clock::time_point started;
  ~Timed() { total += std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(); }
};

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
  // Strided layouts (NHWC) use their strides; blocked and flat ones compute
  // each offset. Coordinates advance as an odometer.
  std::optional<std::vector<int64_t>> strides;
  if (l.kind != Layout::Blocked && !l.isFlat())
    strides = physicalStrides(sizes, l);
  Sizes coords(sizes.size(), 0);
  const std::byte *src = t.data();
  std::byte *dst = out.data();
  for (int64_t i = 0, n = t.numElements(); i < n; ++i) {
    int64_t phys = 0;
    if (strides)
      for (size_t d = 0; d < sizes.size(); ++d)
        phys += coords[d] * (*strides)[d];
    else
      phys = physicalOffset(sizes, l, coords.data());
    auto p = static_cast<size_t>(phys), logical = static_cast<size_t>(i);
    std::memcpy(dst + (toPhys ? p : logical) * width, src + (toPhys ? logical : p) * width, width);
    for (size_t d = sizes.size(); d-- > 0;) {
      if (++coords[d] < sizes[d])
        break;
      coords[d] = 0;
    }
  }
  return out;
}

} // namespace

HostTensor toPhysical(const HostTensor &t, Layout l) { return relayout(t, l, true); }
HostTensor toLogical(const HostTensor &t, Layout l) { return relayout(t, l, false); }

Executable::~Executable() = default;

std::string defaultCacheDir() {
  if (std::getenv("KILN_CACHE_DIR") == nullptr)
    if (const auto &c = config(); c && !c->cacheDir.empty())
      return c->cacheDir;
  return codegen::DiskCache::defaultDir();
}

size_t Executable::compiledGroups() const { return jit_ ? jit_->groups() : 0; }
size_t Executable::cachedGroups() const { return jit_ ? jit_->cachedGroups() : 0; }

const std::string &Executable::assembly() const {
  static const std::string none;
  return jit_ ? jit_->assembly() : none;
}

const std::string &Executable::llvmIR() const {
  static const std::string none;
  return jit_ ? jit_->llvmIR() : none;
}

Expected<std::unique_ptr<Executable>> Executable::compile(const Graph &g, const std::map<std::string, Sizes> &inputs,
                                                          const CompileOptions &options) {
  driver::Options o;
  o.passes = options.passes;
  o.inputs = inputs;
  o.machine.threads = parallelThreads();
  if (options.device == passes::Device::Cuda) {
    KILN_TRY(codegen::cuda::requireGpu());
    o.passOptions.target.device = passes::Device::Cuda;
    o.machine = driver::Options::machineFor(passes::Device::Cuda);
    o.planInPlace = false; // the kernels' buffers are __restrict__
  }
  o.passOptions.dumpDir = options.dumpDir;
  o.jit.cacheDir = options.cacheDir;
  o.jit.keepIR = options.keepIR;
  o.jit.threads = parallelThreads();
  auto compiled = driver::compile(g, o);
  if (!compiled)
    return compiled.error();
  return create(compiled.take());
}

Expected<std::unique_ptr<Executable>> Executable::create(driver::Compiled c,
                                                         std::unique_ptr<codegen::KernelRunner> runner) {
  std::unique_ptr<Executable> e(new Executable);
  if (!c.cuda.cubins.empty()) {
    KILN_ASSIGN(e->device_, DeviceProgram::create(c));
  }
  e->graph_ = std::move(c.graph);
  e->dims_ = std::move(c.dims);
  e->inputSizes_ = std::move(c.inputs);
  e->jit_ = std::move(c.jit);
  e->kernels_ = std::move(c.kernels);
  e->ownRunner_ = std::move(runner);
  e->runner_ = e->ownRunner_ ? e->ownRunner_.get() : e->jit_.get();
  if (!e->kernels_.empty() && !e->runner_ && !e->device_)
    return makeError("graph @{}: its kernels were lowered but not compiled", e->graph_.name());
  const Graph &graph = e->graph_;
  e->values_.resize(graph.numValues());
  for (const Param &p : graph.params())
    e->values_[p.value] = toPhysical(p.data, graph.type(p.value).layout);
  for (const Const &k : graph.consts())
    e->values_[k.value] = k.data;
  e->steps_ = std::move(c.steps);
  for (const kernel::Kernel &k : e->kernels_) {
    e->parallelExtents_.push_back(k.parallelExtent());
    std::vector<HostTensor> shared;
    for (const kernel::Buffer &b : k.buffers)
      if (b.shared)
        shared.emplace_back(b.type, Sizes{b.elements});
    e->shared_.push_back(std::move(shared));
  }
  e->native_ = e->kernels_.size();
  return e;
}

Expected<ref::RunResult> Executable::run(const ref::TensorMap &inputs, bool wantUpdates) {
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
    if (it->second.dtype() != g.type(v).dtype)
      return makeError("input '{}' has dtype {} but the graph expects {}", g.nameOf(v), dtypeName(it->second.dtype()),
                       toString(g.type(v)));
    if (it->second.sizes() != inputSizes_.at(g.nameOf(v)))
      return makeError("input '{}' has shape {} but the executable was compiled for {}", g.nameOf(v),
                       toString(it->second.sizes()), toString(inputSizes_.at(g.nameOf(v))));
    values_[v] = toPhysical(it->second, g.type(v).layout);
  }
  if (device_) {
    std::map<ValueId, HostTensor> physical;
    for (ValueId v : g.inputs())
      physical.emplace(v, values_[v]);
    logicalParams_.clear();
    const char *profile = std::getenv("KILN_CUDA_PROFILE");
    bool timed = profile && std::string_view(profile) == "1";
    return device_->run(physical, wantUpdates, timed ? &stepSeconds_ : nullptr);
  }
  stepSeconds_.resize(steps_.size());
  // Types by reference: the graph does not change while it runs.
  auto typeOf = [&g](ValueId v) -> const Type & { return g.value(v).type; };
  for (size_t si = 0; si < steps_.size(); ++si) {
    const driver::Step &s = steps_[si];
    const Node &n = g.nodes()[s.node];
    auto started = std::chrono::steady_clock::now();
    Timed timed{stepSeconds_[si], started};
    if (s.kind == driver::Step::View) { // the layout pass kept the bytes' order
      values_[n.results[0]] = values_[n.operands[0]].reshaped(*driver::sizesOf(typeOf(n.results[0]).shape, dims_));
      continue;
    }
    if (s.kind == driver::Step::Reference) {
      std::vector<HostTensor> operands;
      for (ValueId o : n.operands)
        operands.push_back(toLogical(values_[o], typeOf(o).layout));
      auto results = ref::evaluateNode(g, n, operands, dims_);
      if (!results)
        return results.error();
      for (size_t i = 0; i < n.results.size(); ++i)
        values_[n.results[i]] = toPhysical((*results)[i], typeOf(n.results[i]).layout);
      continue;
    }
    std::vector<void *> buffers;
    for (size_t node : s.nodes()) { // (more than one for a multi-tensor kernel)
      const Node &m = g.nodes()[node];
      for (ValueId o : m.operands)
        buffers.push_back(const_cast<std::byte *>(static_cast<const HostTensor &>(values_[o]).data()));
      for (ValueId r : m.results) {
        // A kernel writes every element of its results: the last run's buffer
        // is reused unless something else (an output handed out, a view, a
        // parameter) still holds it.
        const Type &rt = typeOf(r);
        auto sizes = driver::sizesOf(rt.shape, dims_);
        HostTensor &v = values_[r];
        if (!(v.unshared() && v.dtype() == rt.dtype && v.sizes() == *sizes))
          v = HostTensor(rt.dtype, *sizes);
        buffers.push_back(v.data());
      }
    }
    auto kernel = static_cast<size_t>(s.kernel);
    for (HostTensor &t : shared_[kernel])
      buffers.push_back(t.data());
    int64_t extent = parallelExtents_[kernel];
    std::atomic<bool> ok = true;
    if (extent == 0)
      ok = runner_->call(kernel, buffers.data(), 0, 1);
    else
      parallelFor(extent, [&](int64_t begin, int64_t end) {
        if (!runner_->call(kernel, buffers.data(), begin, end))
          ok = false;
      });
    if (!ok || !runner_->finish(kernel, buffers.data()))
      return makeError("kernel{} ({}): out of memory for its scratch buffers", kernel, g.describe(n));
  }
  ref::RunResult out;
  for (ValueId v : g.outputs())
    out.outputs.push_back(toLogical(values_[v], g.type(v).layout));
  if (wantUpdates)
    for (const Update &u : g.updates())
      out.updates.push_back(toLogical(values_[u.value], g.type(u.value).layout));
  // The new values become the parameters of the next run, in their layouts:
  // shared bytes when the layouts agree (the layout pass sees to that), so a
  // training step moves no parameter data. All are read before any is set.
  std::vector<HostTensor> next;
  for (const Update &u : g.updates()) {
    Layout from = g.type(u.value).layout, to = g.type(u.param).layout;
    next.push_back(from == to ? values_[u.value] : toPhysical(toLogical(values_[u.value], from), to));
  }
  for (size_t i = 0; i < g.updates().size(); ++i) {
    ValueId p = g.updates()[i].param;
    values_[p] = std::move(next[i]);
    logicalParams_.erase(g.nameOf(p));
  }
  return out;
}

std::string Executable::profile() const {
  std::vector<size_t> order(stepSeconds_.size());
  double total = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    order[i] = i;
    total += stepSeconds_[i];
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return stepSeconds_[a] > stepSeconds_[b]; });
  std::string out = fmt::format("// {:.3f} s in {} steps\n", total, order.size());
  for (size_t i : order)
    out += fmt::format("// {:8.3f} s {:5.1f}%  {:<10} {}\n", stepSeconds_[i], total > 0 ? 100 * stepSeconds_[i] / total : 0.0,
                       driver::stepName(steps_[i]), graph_.describe(graph_.nodes()[steps_[i].node]));
  return out;
}

std::string Executable::kernelsText() const {
  std::string out;
  for (const kernel::Kernel &k : kernels_)
    out += kernel::print(k);
  return out;
}

std::string Executable::describeSteps() const { return driver::describeSteps(graph_, steps_); }

void Executable::setParam(const std::string &name, const HostTensor &value) {
  ValueId v = graph_.lookup(name);
  if (v == kNoValue || graph_.value(v).kind != ValueKind::Param)
    return;
  values_[v] = toPhysical(value, graph_.type(v).layout);
  logicalParams_.erase(name);
  if (device_)
    (void)device_->upload(v, values_[v]); // (a device that fails here fails the next run too)
}

const HostTensor *Executable::param(const std::string &name) {
  ValueId v = graph_.lookup(name);
  if (v == kNoValue || graph_.value(v).kind != ValueKind::Param)
    return nullptr;
  auto [it, inserted] = logicalParams_.try_emplace(name);
  if (inserted && device_) { // copied back from the GPU only when asked
    auto t = device_->download(v);
    if (!t) {
      logicalParams_.erase(it);
      return nullptr;
    }
    it->second = toLogical(*t, graph_.type(v).layout);
  } else if (inserted) {
    it->second = toLogical(values_[v], graph_.type(v).layout);
  }
  return &it->second;
}

} // namespace kiln
