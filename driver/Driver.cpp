//===- driver/Driver.cpp - The one compile driver -------------------------===//
#include "driver/Driver.h"
#include "ir/DimExpr.h"

#include "codegen/cuda/CudaDriver.h"
#include "ir/Limits.h"

#include "ir/kernel/Verifier.h"
#include "passes/Fuse.h"

#include <algorithm>
#include <set>
#include <chrono>
#include <cstdlib>

namespace kiln::driver {

using namespace ir;

namespace {

using Clock = std::chrono::steady_clock;

double millisecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

using passes::dumpStage;
using passes::wantsStage;

/// Binds the symbolic dims of `g`'s inputs from the sizes given; the
/// reference interpreter's messages, word for word.
Status bindInputs(const Graph &g, const std::map<std::string, Sizes> &inputs, std::map<std::string, int64_t> &dims) {
  for (ValueId v : g.inputs()) {
    auto it = inputs.find(g.nameOf(v));
    if (it == inputs.end())
      return makeError("input '{}' ({}) has no size to compile for", g.nameOf(v), toString(g.type(v)));
    const Shape shape = g.type(v).shape;
    const Sizes &given = it->second;
    if (shape.size() != given.size())
      return makeError("input '{}' has shape {} but rank {} was expected ({})", g.nameOf(v), toString(given),
                       shape.size(), toString(shape));
    for (size_t d = 0; d < shape.size(); ++d)
      if (shape[d].isConst() && shape[d].value != given[d])
        return makeError("input '{}' has shape {} but {} was expected (dim {})", g.nameOf(v), toString(given),
                         toString(shape), d);
    for (size_t d = 0; d < shape.size(); ++d)
      if (isNamedSymbol(shape[d])) {
        auto [bound, inserted] = dims.emplace(shape[d].sym, given[d]);
        if (!inserted && bound->second != given[d])
          return makeError("input '{}' has shape {}: dim {} is {} but {} is already bound to {}", g.nameOf(v),
                           toString(given), d, given[d], shape[d].sym, bound->second);
      }
  }
  return {};
}

/// Every node lowered to a kernel where lowering can, a reshape of known
/// sizes a view, the rest left to the reference interpreter.
void lowerAll(Compiled &c, const lower::Machine &machine) {
  const std::vector<Node> &nodes = c.graph.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node &n = nodes[i];
    if (n.op == OpKind::Reshape && sizesOf(c.graph.type(n.results[0]).shape, c.dims)) {
      c.steps.push_back(Step{i, Step::View, -1});
      continue;
    }
    auto k = lower::lowerNode(c.graph, n, c.dims, fmt::format("kernel{}", c.kernels.size()), machine);
    if (!k) {
      c.steps.push_back(Step{i, Step::Reference, -1});
      continue;
    }
    c.steps.push_back(Step{i, Step::Kernel, static_cast<int>(c.kernels.size())});
    c.kernels.push_back(std::move(*k));
  }
}

/// On a GPU: runs of consecutive small elementwise kernels that read
/// nothing the run writes (the optimizer's updates of biases, the step
/// counter) as one multi-tensor kernel each, one launch for all of them.
void mergeSmallKernels(Compiled &c) {
  constexpr int64_t kSmall = 1 << 16;
  std::vector<Step> steps;
  std::vector<kernel::Kernel> kernels;
  auto keep = [&](Step s, kernel::Kernel k) {
    k.name = fmt::format("kernel{}", kernels.size());
    s.kernel = static_cast<int>(kernels.size());
    kernels.push_back(std::move(k));
    steps.push_back(std::move(s));
  };
  auto small = [&](const Step &s) {
    return s.kind == Step::Kernel && lower::mergeable(c.kernels[static_cast<size_t>(s.kernel)], kSmall);
  };
  for (size_t i = 0; i < c.steps.size();) {
    const Step &s = c.steps[i];
    if (s.kind != Step::Kernel) {
      steps.push_back(s);
      ++i;
      continue;
    }
    std::vector<size_t> run{i};
    std::set<ValueId> written;
    for (ValueId r : c.graph.nodes()[s.node].results)
      written.insert(r);
    for (size_t j = i + 1; small(s) && j < c.steps.size() && small(c.steps[j]); ++j) {
      const Node &n = c.graph.nodes()[c.steps[j].node];
      if (std::any_of(n.operands.begin(), n.operands.end(), [&](ValueId o) { return written.count(o) > 0; }))
        break;
      run.push_back(j);
      written.insert(n.results.begin(), n.results.end());
    }
    if (run.size() == 1) {
      keep(s, std::move(c.kernels[static_cast<size_t>(s.kernel)]));
      ++i;
      continue;
    }
    std::vector<const kernel::Kernel *> members;
    Step merged{s.node, Step::Kernel, -1};
    for (size_t j : run) {
      members.push_back(&c.kernels[static_cast<size_t>(c.steps[j].kernel)]);
      if (j != i)
        merged.alsoNodes.push_back(c.steps[j].node);
    }
    keep(merged, lower::mergeKernels(members, ""));
    i = run.back() + 1;
  }
  c.steps = std::move(steps);
  c.kernels = std::move(kernels);
}

} // namespace

std::optional<Sizes> sizesOf(const Shape &shape, const std::map<std::string, int64_t> &dims) {
  Sizes out;
  for (const Dim &d : shape) {
    std::optional<int64_t> v = dimValue(d, dims);
    if (!v)
      return std::nullopt;
    out.push_back(*v);
  }
  return out;
}

lower::Machine Options::hostMachine() { return lower::Machine{codegen::hostVectorBytes(), 1}; }

lower::Machine Options::machineFor(passes::Device device) {
  if (device == passes::Device::Cpu)
    return hostMachine();
  lower::Machine m = lower::defaultGpuMachine();
  codegen::cuda::DeviceInfo info;
  if (codegen::cuda::openDevice(&info)) {
    m.gpuSms = info.sms;
    m.warpSize = info.warpSize;
    m.sharedBytes = info.sharedBytes;
    m.gpuArch = info.arch();
  }
  return m;
}

bool Options::defaultVerifyKernels() {
#ifndef NDEBUG
  return true;
#else
  const char *v = std::getenv("KILN_VERIFY_KERNELS");
  return v && std::string_view(v) == "1";
#endif
}

Expected<Compiled> compile(const Graph &g, const Options &o) {
  Compiled c;
  KILN_TRY(bindInputs(g, o.inputs, c.dims));
  c.inputs = o.inputs;
  const std::string &dumpDir = o.passOptions.dumpDir;
  const std::vector<std::string> &printAfter = o.passOptions.printAfter;

  // Passes (each timed, verified, printed and dumped by the pass manager).
  {
    auto r = passes::runPipeline(g, o.passes, o.passOptions);
    if (!r)
      return r.error();
    c.graph = std::move(r->graph);
    c.stats = std::move(r->stats);
    c.printed = std::move(r->printed);
  }
  size_t dumpIndex = o.passes.size() + 1;
  size_t nodes = c.graph.nodes().size(), graphKernels = passes::countKernels(c.graph);
  if (o.stopAfter == Stage::Passes)
    return c;

  // Every node's type rule at these sizes (a symbol bound against a
  // constant it was unified with is an error, not a kernel reading past its
  // operands), then every value, sized before anything is allocated: the
  // Executable holds all of them at once.
  for (const Node &n : c.graph.nodes())
    KILN_TRY(c.graph.checkAtSizes(n, c.dims));
  {
    int64_t total = 0;
    for (size_t v = 0; v < c.graph.numValues(); ++v) {
      auto id = static_cast<ValueId>(v);
      auto sizes = sizesOf(c.graph.type(id).shape, c.dims);
      if (!sizes)
        continue;
      KILN_ASSIGN(int64_t bytes, checkedTensorBytes(c.graph.type(id).dtype, *sizes,
                                                    fmt::format("%{} at these input sizes", c.graph.nameOf(id))));
      KILN_TRY(addToBudget(total, bytes, fmt::format("the values of @{} at these input sizes", c.graph.name())));
    }
  }

  // The static memory plan of the intermediates at these sizes.
  auto t0 = Clock::now();
  {
    auto plan = passes::planMemory(c.graph, c.dims, o.planInPlace);
    if (!plan)
      return makeError("plan_memory: {}", plan.error().message);
    c.plan = plan.take();
  }
  c.stats.push_back(passes::PassStat{"plan_memory", millisecondsSince(t0), nodes, nodes, graphKernels, graphKernels});
  if (wantsStage(printAfter, "plan_memory"))
    c.printed += "// ----- after plan_memory -----\n" + passes::formatPlan(c.graph, c.plan);
  if (o.stopAfter == Stage::PlanMemory)
    return c;

  // Lowering to the kernel IR, checked by its verifier.
  t0 = Clock::now();
  lowerAll(c, o.machine);
  if (o.machine.gpu())
    mergeSmallKernels(c);
  if (o.nativeOnly) {
    std::string left;
    size_t count = 0;
    for (const Step &s : c.steps)
      if (s.kind == Step::Reference && count++ < 20)
        left += "\n  " + c.graph.describe(c.graph.nodes()[s.node]);
    if (count)
      return makeError("lower: {} node{} of @{} cannot be compiled to native kernels yet (every one of them below{}):{}",
                       count, count == 1 ? "" : "s", c.graph.name(), count > 20 ? ", the first 20" : "", left);
  }
  if (o.verifyKernels)
    for (const kernel::Kernel &k : c.kernels)
      if (auto s = kernel::verify(k); !s)
        return makeError("lower: the kernel IR does not verify: {}", s.error().message);
  c.stats.push_back(passes::PassStat{"lower", millisecondsSince(t0), nodes, nodes, graphKernels, c.kernels.size()});
  if (wantsStage(printAfter, "lower"))
    c.printed += "// ----- after lower -----\n" + describe(c);
  if (!dumpDir.empty())
    KILN_TRY(dumpStage(dumpDir, dumpIndex++, "lower.kernels", describe(c)));
  if (o.stopAfter == Stage::Lower || c.kernels.empty())
    return c;

  // For CUDA: the kernels as CUDA C++, compiled by NVRTC (or the cache).
  t0 = Clock::now();
  if (o.passOptions.target.device == passes::Device::Cuda) {
    int arch = o.machine.gpuArch ? o.machine.gpuArch : 90;
    auto m = codegen::cuda::compileModule(c.kernels, arch, o.jit.cacheDir, o.jit.threads);
    if (!m)
      return makeError("codegen: {}", m.error().message);
    c.cuda = m.take();
    c.stats.push_back(passes::PassStat{"codegen", millisecondsSince(t0), nodes, nodes, c.kernels.size(), c.kernels.size()});
    if (wantsStage(printAfter, "codegen"))
      c.printed += "// ----- after codegen -----\n" + c.cuda.source;
    if (!dumpDir.empty())
      KILN_TRY(dumpStage(dumpDir, dumpIndex++, "codegen.cu", c.cuda.source));
    return c;
  }

  // Machine code for every kernel (the disk cache, parallel groups).
  codegen::JitOptions jo = o.jit;
  jo.keepIR = jo.keepIR || wantsStage(printAfter, "codegen") || !dumpDir.empty();
  {
    auto jit = codegen::Jit::compile(c.kernels, jo);
    if (!jit)
      return makeError("codegen: {}", jit.error().message);
    c.jit = jit.take();
  }
  c.stats.push_back(passes::PassStat{"codegen", millisecondsSince(t0), nodes, nodes, c.kernels.size(), c.kernels.size()});
  if (wantsStage(printAfter, "codegen"))
    c.printed += "// ----- after codegen -----\n" + c.jit->llvmIR();
  if (!dumpDir.empty())
    KILN_TRY(dumpStage(dumpDir, dumpIndex++, "codegen.ll", c.jit->llvmIR()));
  return c;
}

std::string stepName(const Step &s) {
  switch (s.kind) {
  case Step::Kernel: return fmt::format("kernel{}", s.kernel);
  case Step::View: return "view";
  case Step::Reference: return "reference";
  }
  return "?";
}

std::string describeSteps(const Graph &g, const std::vector<Step> &steps) {
  std::string out;
  for (const Step &s : steps)
    for (size_t n : s.nodes())
      out += fmt::format("// {:<10} {}\n", n == s.node ? stepName(s) : "  and", g.describe(g.nodes()[n]));
  return out;
}

std::string describe(const Compiled &c) {
  std::string out = describeSteps(c.graph, c.steps);
  for (const kernel::Kernel &k : c.kernels)
    out += kernel::print(k);
  return out;
}

} // namespace kiln::driver
