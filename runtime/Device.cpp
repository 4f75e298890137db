//===- runtime/Device.cpp - A compiled graph resident on a GPU -------------===//
#include "runtime/Device.h"

#include "codegen/cuda/CudaDriver.h"
#include "codegen/cuda/CudaSource.h"
#include "runtime/Executable.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string_view>

namespace kiln {

using namespace ir;
using codegen::cuda::CUdeviceptr;

struct DeviceProgram::State {
  const codegen::cuda::DriverApi *api = nullptr;
  codegen::cuda::DeviceInfo info;
  std::vector<codegen::cuda::CUmod_st *> modules; ///< one a group of kernels
  codegen::cuda::CUstream_st *stream = nullptr;
  std::vector<codegen::cuda::CUfunc_st *> functions, finishes; ///< per kernel (finish: null for none)
  std::vector<codegen::cuda::Launch> launches;
  std::vector<std::vector<CUdeviceptr>> shared; ///< per kernel, its shared scratch
  CUdeviceptr arena = 0;
  std::vector<int64_t> offset; ///< per value, its bytes' offset in the arena (-1: none)
  Graph graph{"empty"};
  std::map<std::string, int64_t> dims;
  std::vector<driver::Step> steps;
  std::vector<kernel::Kernel> kernels;

  /// The step captured once as a CUDA graph (when every node runs as a
  /// kernel), replayed by each run after.
  codegen::cuda::CUgraphExec_st *replay = nullptr;
  bool capturable = false;

  CUdeviceptr at(ValueId v) const { return arena + static_cast<CUdeviceptr>(offset[static_cast<size_t>(v)]); }
  Sizes sizes(ValueId v) const { return *driver::sizesOf(graph.type(v).shape, dims); }
  Status check(const char *what, int status) const {
    if (status != 0)
      return codegen::cuda::driverError(*api, what, status);
    return {};
  }
};

namespace {

int64_t aligned(int64_t bytes) { return (bytes + 255) / 256 * 256; }

} // namespace

Expected<std::unique_ptr<DeviceProgram>> DeviceProgram::create(const driver::Compiled &c) {
  auto p = std::unique_ptr<DeviceProgram>(new DeviceProgram);
  p->s_ = std::make_unique<State>();
  State &s = *p->s_;
  KILN_ASSIGN(s.api, codegen::cuda::openDevice(&s.info));
  const auto &api = *s.api;
  s.graph = c.graph;
  s.dims = c.dims;
  s.steps = c.steps;
  s.kernels = c.kernels;
  if (c.cuda.arch != s.info.arch())
    return makeError("the kernels were compiled for sm_{} but the GPU ({}) is sm_{}", c.cuda.arch, s.info.name,
                     s.info.arch());
  KILN_TRY(s.check("cuStreamCreate", api.cuStreamCreate(&s.stream, 0)));
  for (const std::string &cubin : c.cuda.cubins) {
    s.modules.push_back(nullptr);
    KILN_TRY(s.check("cuModuleLoadData", api.cuModuleLoadData(&s.modules.back(), cubin.data())));
  }
  for (size_t i = 0; i < c.kernels.size(); ++i) {
    const kernel::Kernel &k = c.kernels[i];
    codegen::cuda::CUmod_st *module = s.modules.at(c.cuda.groupOf.at(i));
    codegen::cuda::CUfunc_st *f = nullptr, *fin = nullptr;
    KILN_TRY(s.check("cuModuleGetFunction", api.cuModuleGetFunction(&f, module, k.name.c_str())));
    if (!k.finish.empty())
      KILN_TRY(s.check("cuModuleGetFunction", api.cuModuleGetFunction(&fin, module, (k.name + "_finish").c_str())));
    s.functions.push_back(f);
    s.finishes.push_back(fin);
    s.launches.push_back(codegen::cuda::launchOf(k, s.info.sms));
  }
  // The arena: values outside the plan (parameters, constants, inputs)
  // first, then the plan's buffers at their offsets, then shared scratch.
  const Graph &g = s.graph;
  s.offset.assign(g.numValues(), -1);
  int64_t top = 0;
  std::vector<bool> planned(g.numValues(), false);
  for (const passes::MemoryPlan::Buffer &b : c.plan.buffers)
    for (ValueId v : b.values)
      planned[static_cast<size_t>(v)] = true;
  for (size_t v = 0; v < g.numValues(); ++v) {
    auto id = static_cast<ValueId>(v);
    auto sizes = driver::sizesOf(g.type(id).shape, s.dims);
    if (planned[v] || !sizes)
      continue;
    s.offset[v] = top;
    top += aligned(product(*sizes) * static_cast<int64_t>(dtypeSize(g.type(id).dtype)));
  }
  const int64_t planBase = top;
  for (const passes::MemoryPlan::Buffer &b : c.plan.buffers)
    for (ValueId v : b.values)
      s.offset[static_cast<size_t>(v)] = planBase + b.offset;
  top = aligned(planBase + c.plan.peakBytes);
  // A view is its operand's bytes (also where the operand is an input or a
  // parameter, which the plan does not place), in launch order for chains.
  for (const driver::Step &st : s.steps)
    if (st.kind == driver::Step::View) {
      const Node &n = g.nodes()[st.node];
      s.offset[static_cast<size_t>(n.results[0])] = s.offset[static_cast<size_t>(n.operands[0])];
    }
  std::vector<std::vector<int64_t>> sharedAt;
  for (const kernel::Kernel &k : c.kernels) {
    sharedAt.emplace_back();
    for (const kernel::Buffer &b : k.buffers)
      if (b.shared) {
        sharedAt.back().push_back(top);
        top += aligned(b.elements * static_cast<int64_t>(dtypeSize(b.type)));
      }
  }
  KILN_TRY(s.check("cuMemAlloc (the compiled graph's arena)",
                   api.cuMemAlloc_v2(&s.arena, static_cast<size_t>(std::max<int64_t>(top, 256)))));
  for (const auto &offsets : sharedAt) {
    s.shared.emplace_back();
    for (int64_t o : offsets)
      s.shared.back().push_back(s.arena + static_cast<CUdeviceptr>(o));
  }
  // A launch-bound step (the zoo's nets at batch 64 run ~40 small kernels)
  // is captured as a CUDA graph when no node needs the host;
  // KILN_CUDA_GRAPHS=0 launches kernel by kernel instead.
  const char *graphs = std::getenv("KILN_CUDA_GRAPHS");
  s.capturable = !(graphs && std::string_view(graphs) == "0") && !s.steps.empty() &&
                 std::none_of(s.steps.begin(), s.steps.end(),
                              [](const driver::Step &st) { return st.kind == driver::Step::Reference; });
  for (const Param &prm : g.params())
    KILN_TRY(p->upload(prm.value, toPhysical(prm.data, g.type(prm.value).layout)));
  for (const Const &k : g.consts())
    KILN_TRY(p->upload(k.value, k.data));
  return p;
}

DeviceProgram::~DeviceProgram() {
  if (!s_ || !s_->api)
    return;
  if (s_->replay)
    s_->api->cuGraphExecDestroy(s_->replay);
  if (s_->arena)
    s_->api->cuMemFree_v2(s_->arena);
  for (codegen::cuda::CUmod_st *m : s_->modules)
    if (m)
      s_->api->cuModuleUnload(m);
}

Status DeviceProgram::upload(ValueId v, const HostTensor &t) {
  const State &s = *s_;
  if (s.offset[static_cast<size_t>(v)] < 0)
    return makeError("%{} has no place on the device", s.graph.nameOf(v));
  return s.check("cuMemcpyHtoD", s.api->cuMemcpyHtoD_v2(s.at(v), t.data(), t.byteSize()));
}

Expected<HostTensor> DeviceProgram::download(ValueId v) const {
  const State &s = *s_;
  KILN_TRY(s.check("cuStreamSynchronize", s.api->cuStreamSynchronize(s.stream)));
  HostTensor t(s.graph.type(v).dtype, s.sizes(v));
  KILN_TRY(s.check("cuMemcpyDtoH", s.api->cuMemcpyDtoH_v2(t.data(), s.at(v), t.byteSize())));
  return t;
}

Status DeviceProgram::launch(const driver::Step &step) {
  const State &s = *s_;
  auto k = static_cast<size_t>(step.kernel);
  std::vector<CUdeviceptr> ptrs;
  for (size_t node : step.nodes()) { // (more than one for a multi-tensor kernel)
    const Node &n = s.graph.nodes()[node];
    for (ValueId o : n.operands)
      ptrs.push_back(s.at(o));
    for (ValueId r : n.results)
      ptrs.push_back(s.at(r));
  }
  for (CUdeviceptr d : s.shared[k])
    ptrs.push_back(d);
  std::vector<void *> params;
  for (CUdeviceptr &d : ptrs)
    params.push_back(&d);
  params.push_back(nullptr); // read by the tests' fake driver only (tests/cuda/FakeDriver.cpp)
  const codegen::cuda::Launch &l = s.launches[k];
  KILN_TRY(s.check("cuLaunchKernel", s.api->cuLaunchKernel(s.functions[k], static_cast<unsigned>(l.blocks), 1, 1,
                                                            static_cast<unsigned>(l.threads), 1, 1, 0, s.stream,
                                                            params.data(), nullptr)));
  if (s.finishes[k])
    KILN_TRY(s.check("cuLaunchKernel", s.api->cuLaunchKernel(s.finishes[k], 1, 1, 1, 1, 1, 1, 0, s.stream,
                                                              params.data(), nullptr)));
  return {};
}

Status DeviceProgram::runStep(const driver::Step &step) {
  const State &s = *s_;
  const Graph &g = s.graph;
  const Node &n = g.nodes()[step.node];
  switch (step.kind) {
  case driver::Step::View: return {}; // planned at its operand's offset
  case driver::Step::Reference: {
    std::vector<HostTensor> operands;
    for (ValueId o : n.operands) {
      KILN_ASSIGN(HostTensor t, download(o));
      operands.push_back(toLogical(t, g.type(o).layout));
    }
    KILN_ASSIGN(std::vector<HostTensor> results, ref::evaluateNode(g, n, operands, s.dims));
    for (size_t i = 0; i < n.results.size(); ++i)
      KILN_TRY(upload(n.results[i], toPhysical(results[i], g.type(n.results[i]).layout)));
    return {};
  }
  case driver::Step::Kernel: return launch(step);
  }
  return {};
}

Expected<ref::RunResult> DeviceProgram::run(const std::map<ValueId, HostTensor> &physical, bool wantUpdates,
                                            std::vector<double> *stepSeconds) {
  State &s = *s_;
  const Graph &g = s.graph;
  for (const auto &[v, t] : physical)
    KILN_TRY(upload(v, t));
  if (stepSeconds) { // timed step by step, each waited for
    stepSeconds->resize(s.steps.size());
    KILN_TRY(s.check("cuStreamSynchronize", s.api->cuStreamSynchronize(s.stream)));
  }
  if (s.capturable && !s.replay && !stepSeconds) { // every launch recorded once, on the stream
    codegen::cuda::CUgraph_st *graph = nullptr;
    KILN_TRY(s.check("cuStreamBeginCapture", s.api->cuStreamBeginCapture_v2(s.stream, 0)));
    for (const driver::Step &step : s.steps)
      if (step.kind == driver::Step::Kernel)
        KILN_TRY(launch(step));
    KILN_TRY(s.check("cuStreamEndCapture", s.api->cuStreamEndCapture(s.stream, &graph)));
    int status = s.api->cuGraphInstantiateWithFlags(&s.replay, graph, 0);
    s.api->cuGraphDestroy(graph);
    KILN_TRY(s.check("cuGraphInstantiate", status));
  }
  bool replayed = s.replay && !stepSeconds;
  if (replayed)
    KILN_TRY(s.check("cuGraphLaunch", s.api->cuGraphLaunch(s.replay, s.stream)));
  for (size_t si = 0; si < (replayed ? 0 : s.steps.size()); ++si) {
    auto t0 = std::chrono::steady_clock::now();
    KILN_TRY(runStep(s.steps[si]));
    if (stepSeconds) {
      KILN_TRY(s.check("cuStreamSynchronize", s.api->cuStreamSynchronize(s.stream)));
      (*stepSeconds)[si] += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
  }
  ref::RunResult out;
  for (ValueId v : g.outputs()) {
    KILN_ASSIGN(HostTensor t, download(v));
    out.outputs.push_back(toLogical(t, g.type(v).layout));
  }
  if (wantUpdates)
    for (const Update &u : g.updates()) {
      KILN_ASSIGN(HostTensor t, download(u.value));
      out.updates.push_back(toLogical(t, g.type(u.value).layout));
    }
  // Each update into its parameter's slot, device to device (the layout
  // pass gives both one layout; where not, through the host).
  for (const Update &u : g.updates()) {
    if (g.type(u.value).layout == g.type(u.param).layout) {
      HostTensor shape(g.type(u.param).dtype, s.sizes(u.param));
      KILN_TRY(s.check("cuMemcpyDtoD", s.api->cuMemcpyDtoD_v2(s.at(u.param), s.at(u.value), shape.byteSize())));
      continue;
    }
    KILN_ASSIGN(HostTensor t, download(u.value));
    KILN_TRY(upload(u.param, toPhysical(toLogical(t, g.type(u.value).layout), g.type(u.param).layout)));
  }
  KILN_TRY(s.check("cuStreamSynchronize", s.api->cuStreamSynchronize(s.stream)));
  return out;
}

} // namespace kiln
