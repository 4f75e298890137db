//===- tests/unit/test_cuda.cpp - The CUDA backend without a GPU -----------===//
//
// The CUDA backend checked on the CPU: graphs lowered with the GPU's
// schedules, printed as CUDA C++ and run by the host emulation
// (codegen/cuda/Emulator) against the reference interpreter (the zoo's
// training steps, contractions at edge sizes), and every kernel of the
// zoo's training steps and of a VGG16 training step compiled by NVRTC to
// cubins for sm_80 and sm_90 (NVRTC needs no GPU). test_native.cpp runs
// every op family through the emulation too. On a GPU (the `gpu` label,
// scripts/gpu-check.sh), the zoo's steps run on the device against the CPU.
//
//===----------------------------------------------------------------------===//
#include "Helpers.h"

#include <dlfcn.h>

#include "codegen/cuda/CudaDriver.h"
#include "codegen/cuda/CudaSource.h"
#include "codegen/cuda/Emulator.h"
#include "codegen/cuda/Nvrtc.h"
#include "driver/Driver.h"
#include "ir/Parser.h"
#include "ir/kernel/Parser.h"
#include "ir/kernel/Verifier.h"
#include "kiln/train.h"
#include "passes/PassManager.h"
#include "runtime/Executable.h"

using namespace kiln;
using namespace kiln::test;

namespace {

std::map<std::string, ir::Sizes> sizesOf(const ref::TensorMap &feeds) {
  std::map<std::string, ir::Sizes> s;
  for (const auto &[name, t] : feeds)
    s[name] = t.sizes();
  return s;
}

/// `g` at -O2 lowered for the default GPU, every node native.
driver::Compiled lowerForGpu(const ir::Graph &g, const std::map<std::string, ir::Sizes> &inputs) {
  driver::Options o;
  o.passes = passes::pipelineFor(2);
  o.passOptions.target.device = passes::Device::Cuda;
  o.machine = lower::defaultGpuMachine();
  o.inputs = inputs;
  o.nativeOnly = true;
  o.verifyKernels = true;
  o.stopAfter = driver::Stage::Lower;
  auto c = driver::compile(g, o);
  INFO((c ? std::string() : c.error().message));
  REQUIRE(c);
  return c.take();
}

/// Runs `g` on `feeds` as CUDA kernels in the emulation.
ref::RunResult emulate(const ir::Graph &g, const ref::TensorMap &feeds) {
  driver::Compiled c = lowerForGpu(g, sizesOf(feeds));
  auto emu = codegen::cuda::Emulator::compile(c.kernels);
  INFO((emu ? std::string() : emu.error().message));
  REQUIRE(emu);
  auto exe = Executable::create(std::move(c), emu.take());
  REQUIRE(exe);
  auto got = (*exe)->run(feeds);
  INFO((got ? std::string() : got.error().message));
  REQUIRE(got);
  return got.take();
}

void checkRuns(const ref::RunResult &want, const ref::RunResult &got, double rtol, double atol) {
  REQUIRE(got.outputs.size() == want.outputs.size());
  for (size_t i = 0; i < want.outputs.size(); ++i) {
    INFO("output " << i);
    checkClose(got.outputs[i], want.outputs[i].sizes(), want.outputs[i].toDoubles(), rtol, atol);
  }
  REQUIRE(got.updates.size() == want.updates.size());
  for (size_t i = 0; i < want.updates.size(); ++i) {
    INFO("update " << i);
    checkClose(got.updates[i], want.updates[i].sizes(), want.updates[i].toDoubles(), rtol, atol);
  }
}

ir::HostTensor randomLabels(int64_t n, int64_t classes, uint64_t seed) {
  std::vector<double> v;
  for (double x : randomValues(n, seed, 0, static_cast<double>(classes) - 1e-9))
    v.push_back(std::floor(x));
  return tensor(ir::DType::I64, {n}, v);
}

/// A zoo net's training step at -O2 and a batch of `batch` random images.
struct ZooStep {
  ir::Graph optimized;
  ref::TensorMap feeds;
};
ir::Graph zooStep(const std::string &name, const std::vector<int64_t> &image);

/// `steps` training steps on the CPU and on the GPU give the same outputs
/// and updates (the parameters stay where they are between steps).
void sameSteps(Executable &cpu, Executable &gpu, const ref::TensorMap &feeds, int steps) {
  for (int step = 0; step < steps; ++step) {
    INFO("step " << step);
    auto want = cpu.run(feeds);
    auto got = gpu.run(feeds);
    REQUIRE(want);
    INFO((got ? std::string() : got.error().message));
    REQUIRE(got);
    checkRuns(*want, *got, 1e-4, 1e-4);
  }
}

ZooStep optimizedZooStep(const std::string &name, int64_t batch) {
  ir::Graph g = zooStep(name, {1, 28, 28});
  ZooStep z;
  z.feeds = {{"images", randomTensor({batch, 1, 28, 28}, 5, ir::DType::F32)}, {"labels", randomLabels(batch, 10, 6)}};
  auto optimized = passes::runPipeline(g, passes::pipelineFor(2));
  REQUIRE(optimized);
  z.optimized = std::move(optimized->graph);
  return z;
}

ir::Graph zooStep(const std::string &name, const std::vector<int64_t> &image) {
  auto net = nn::zoo::byName(name);
  REQUIRE(net);
  optim::Options o;
  o.method = optim::Method::Momentum;
  auto g = classifierStep(*net, image, o, 1, true);
  REQUIRE(g);
  return g.take();
}

} // namespace

TEST_CASE("the zoo's training steps as CUDA kernels in the emulation match the reference", "[cuda][emulation]") {
  for (const char *name : {"mlp", "lenet", "vgg"}) {
    INFO(name);
    ir::Graph g = zooStep(name, {1, 28, 28});
    ref::TensorMap feeds = {{"images", randomTensor({3, 1, 28, 28}, 5, ir::DType::F32)},
                            {"labels", tensor(ir::DType::I64, {3}, {3, 7, 0})}};
    auto want = ref::evaluate(g, feeds);
    REQUIRE(want);
    checkRuns(*want, emulate(g, feeds), 1e-4, 1e-5);
  }
}

TEST_CASE("contractions with prologues and epilogues, at edge sizes, in the emulation", "[cuda][emulation]") {
  // Sizes that are not multiples of the 4 x 4 register block (small) or of
  // the 64 x 64 x 16 shared-memory tile (from 32 x 32 up), transposed
  // operands, a fused bias and relu, f64.
  for (auto [m, k, n] : {std::tuple{1, 1, 1}, {5, 7, 3}, {8, 16, 8}, {13, 9, 30}, {70, 20, 40}, {64, 64, 64},
                         {100, 33, 130}}) {
    for (const char *dt : {"f32", "f64"}) {
      std::string text = fmt::format(R"(graph @g {{
  input %a : {0}[{2},{1}]
  input %b : {0}[{3},{2}]
  input %c : {0}[{3}]
  %p = matmul(%a, %b) {{transpose_a=true, transpose_b=true}} : {0}[{1},{3}]
  %q = add(%p, %c) : {0}[{1},{3}]
  %y = relu(%q) : {0}[{1},{3}]
  output %y
}}
)",
                                     dt, m, k, n);
      INFO(text);
      auto g = ir::parse(text);
      REQUIRE(g);
      ir::DType t = std::string(dt) == "f32" ? ir::DType::F32 : ir::DType::F64;
      ref::TensorMap feeds = {{"a", randomTensor({k, m}, 1, t)}, {"b", randomTensor({n, k}, 2, t)},
                              {"c", randomTensor({n}, 3, t)}};
      auto want = ref::evaluate(*g, feeds);
      REQUIRE(want);
      checkRuns(*want, emulate(*g, feeds), 1e-5, 1e-6);
    }
  }
}

TEST_CASE("long reductions to few results run as block reductions in the emulation", "[cuda][emulation]") {
  struct Case {
    const char *x, *body;
  };
  for (const Case &c : {Case{"f32[1,5000]", "%y = reduce_sum(%x) {axes=[1], keepdims=false} : f32[1]"},
                        Case{"f32[3,2000]", "%y = reduce_max(%x) {axes=[1], keepdims=true} : f32[3,1]"},
                        Case{"f64[2,3000]", "%y = reduce_min(%x) {axes=[1], keepdims=false} : f64[2]"},
                        Case{"f32[4,8,16,16]", "%y = reduce_mean(%x) {axes=[0,2,3], keepdims=false} : f32[8]"}}) {
    std::string text = fmt::format("graph @g {{\n  input %x : {}\n  {}\n  output %y\n}}\n", c.x, c.body);
    INFO(text);
    auto g = ir::parse(text);
    REQUIRE(g);
    ir::Sizes sizes;
    for (const ir::Dim &d : g->type(g->inputs()[0]).shape)
      sizes.push_back(d.value);
    ref::TensorMap feeds = {{"x", randomTensor(sizes, 4, g->type(g->inputs()[0]).dtype)}};
    driver::Compiled compiled = lowerForGpu(*g, sizesOf(feeds));
    REQUIRE(compiled.kernels.size() == 1);
    CHECK(compiled.kernels[0].gpuBlocks().first > 0); // blocks of threads, not a thread a result
    auto want = ref::evaluate(*g, feeds);
    REQUIRE(want);
    checkRuns(*want, emulate(*g, feeds), 1e-5, 1e-6);
  }
}

TEST_CASE("every kernel of the zoo's training steps and of VGG16's compiles with NVRTC for sm_80 and sm_90",
          "[cuda][nvrtc]") {
  if (!codegen::cuda::haveNvrtc()) {
    WARN("kiln was built without the CUDA toolkit: NVRTC is not checked");
    return;
  }
  bool ptx = true;
  CHECK(codegen::cuda::compiledArch(90, ptx) == 90);
  CHECK(!ptx);
  int newest = codegen::cuda::compiledArch(990, ptx); // a GPU NVRTC does not know yet: PTX
  CHECK(ptx);
  CHECK((newest >= 90 && newest < 990));
  struct Case {
    const char *name;
    std::vector<int64_t> image;
    int64_t batch;
  };
  for (const Case &c : {Case{"mlp", {1, 28, 28}, 64}, Case{"lenet", {1, 28, 28}, 64}, Case{"vgg", {1, 28, 28}, 64},
                        Case{"vgg16", {3, 224, 224}, 32}}) {
    INFO(c.name);
    ir::Graph g = zooStep(c.name, c.image);
    ir::Sizes images = {c.batch};
    images.insert(images.end(), c.image.begin(), c.image.end());
    driver::Compiled compiled = lowerForGpu(g, {{"images", images}, {"labels", {c.batch}}});
    CHECK(compiled.kernels.size() > 5);
    // The optimizer's updates of the biases (the weights' are fused into
    // their gradients) and the step counter: one multi-tensor kernel.
    size_t most = 0;
    for (const driver::Step &s : compiled.steps)
      most = std::max(most, s.nodes().size());
    INFO(driver::describeSteps(compiled.graph, compiled.steps));
    CHECK(most >= 3);
    for (int arch : {80, 90}) { // in parallel groups, as the driver compiles them
      INFO("sm_" << arch);
      auto module = codegen::cuda::compileModule(compiled.kernels, arch, "", 2);
      INFO((module ? std::string() : module.error().message));
      REQUIRE(module);
      for (const std::string &cubin : module->cubins)
        CHECK(cubin.size() > 1000);
    }
  }
}

TEST_CASE("asking for a GPU where there is none is an error naming what is missing", "[cuda]") {
  codegen::cuda::DeviceInfo info;
  auto dev = codegen::cuda::openDevice(&info);
  if (dev) {
    WARN("a GPU is here: " << info.name);
    CHECK(info.sms > 0);
    return;
  }
  std::string m = dev.error().message;
  INFO(m);
  CHECK((m.find("libcuda.so.1") != std::string::npos || m.find("no CUDA device") != std::string::npos));
}

TEST_CASE("on a GPU, the zoo's training steps match the CPU backend to 1e-4", "[gpu]") {
  if (auto s = codegen::cuda::requireGpu(); !s) {
    WARN("skipped: " << s.error().message);
    return;
  }
  for (const char *name : {"mlp", "lenet", "vgg"}) {
    INFO(name);
    auto [graph, feeds] = optimizedZooStep(name, 64);
    CompileOptions cpu, gpu;
    gpu.device = passes::Device::Cuda;
    auto onCpu = Executable::compile(graph, sizesOf(feeds), cpu);
    auto onGpu = Executable::compile(graph, sizesOf(feeds), gpu);
    INFO((onGpu ? std::string() : onGpu.error().message));
    REQUIRE(onCpu);
    REQUIRE(onGpu);
    sameSteps(**onCpu, **onGpu, feeds, 3);
  }
}

TEST_CASE("the kernel IR's GPU statements are checked, and refused by the CPU's code generator", "[cuda][kernel]") {
  using namespace kernel;
  auto parsed = [](const char *text) {
    auto r = parse(text);
    INFO(text);
    REQUIRE(r);
    REQUIRE(r->size() == 1);
    return (*r)[0];
  };
  auto failure = [](const Kernel &k) {
    auto s = verify(k);
    return s ? std::string("verified") : s.error().message;
  };
  Kernel good = parsed("kernel @k(x : f32[512], out y : f32[2], workgroup w : f32[256]) {\n"
                       "  for block i0 in 0..2 {\n"
                       "    for thread i1 in 0..256 {\n"
                       "      acc2 : f32 = x[i0 * 256 + i1]\n"
                       "      w[i1] = acc2\n"
                       "      barrier\n"
                       "      acc2 = block add(acc2)\n"
                       "      for i3 in 0..min(1, 1 - i1) {\n"
                       "        y[i0] = acc2\n"
                       "      }\n"
                       "    }\n"
                       "  }\n"
                       "}\n");
  CHECK(failure(good) == "verified");
  CHECK(print(good).find("acc2 = block add(acc2)") != std::string::npos);
  CHECK(good.gpuBlocks() == std::pair<int64_t, int64_t>{2, 256});
  CHECK(codegen::cuda::launchOf(good, 132).threads == 256);
  Kernel guarded = good;
  guarded.body[0].body[0].body[4].body.push_back(barrier()); // a barrier only thread 0 reaches
  CHECK(failure(guarded) == "kernel k: a barrier under loop i3, whose trip count may differ between threads");
  Kernel outside = parsed("kernel @k(out y : f32[1]) {\n  barrier\n  y[0] = 1.0\n}\n");
  CHECK(failure(outside) == "kernel k: a barrier outside a thread loop");
  Kernel bare = parsed("kernel @k(out y : f32[4]) {\n  for thread i0 in 0..4 {\n    y[i0] = 1.0\n  }\n}\n");
  CHECK(failure(bare) == "kernel k: thread loop i0 must be the body of the block loop, of 1 to 1024 threads");
  auto jit = codegen::Jit::compile({good});
  REQUIRE(!jit);
  CHECK(jit.error().message.find("a GPU kernel") != std::string::npos);
}

namespace {

/// The kernels the fake driver launches (tests/cuda/FakeDriver.cpp): the
/// emulation of the ones being run, found by name.
const codegen::cuda::Emulator *gFakeKernels = nullptr;
std::vector<std::string> gFakeNames;

int fakeLaunch(const char *name, void **buffers, int) {
  std::string n = name;
  bool finish = n.size() > 7 && n.compare(n.size() - 7, 7, "_finish") == 0;
  if (finish)
    n.resize(n.size() - 7);
  for (size_t i = 0; i < gFakeNames.size(); ++i)
    if (gFakeNames[i] == n)
      return (finish ? gFakeKernels->finish(i, buffers) : gFakeKernels->call(i, buffers, 0, 1)) ? 0 : 1;
  return 3;
}

} // namespace

TEST_CASE("the GPU runtime over a fake driver runs the zoo's steps as the CPU does", "[fake-gpu]") {
  // Run by ctest as cuda/fake-driver, with tests/cuda/FakeDriver.cpp's
  // libcuda.so.1 first on LD_LIBRARY_PATH: runtime/Device's arena, views,
  // uploads, updates and CUDA-graph replay, with the emulated kernels.
  codegen::cuda::DeviceInfo info;
  auto dev = codegen::cuda::openDevice(&info);
  bool expected = std::getenv("KILN_EXPECT_FAKE_CUDA") != nullptr;
  if (!dev || info.name != "kiln's fake GPU") {
    REQUIRE(!expected);
    WARN("skipped: the fake driver is not the libcuda.so.1 here");
    return;
  }
  void *self = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
  REQUIRE(self);
  auto setLauncher = reinterpret_cast<void (*)(int (*)(const char *, void **, int))>(
      dlsym(self, "kiln_fake_cuda_set_launcher"));
  auto replays = reinterpret_cast<int (*)()>(dlsym(self, "kiln_fake_cuda_replays"));
  REQUIRE(setLauncher);
  REQUIRE(replays);
  setLauncher(fakeLaunch);
  for (const char *name : {"mlp", "lenet", "vgg"}) {
    INFO(name);
    auto [graph, feeds] = optimizedZooStep(name, 8);
    auto onCpu = Executable::compile(graph, sizesOf(feeds));
    REQUIRE(onCpu);
    driver::Options o;
    o.inputs = sizesOf(feeds);
    o.passOptions.target.device = passes::Device::Cuda;
    o.machine = driver::Options::machineFor(passes::Device::Cuda);
    o.planInPlace = false;
    o.verifyKernels = true;
    // NVRTC is not run: it looks into the libcuda.so.1 it finds loaded, and
    // the fake is not the driver it expects. The fake reads no cubin.
    o.stopAfter = driver::Stage::Lower;
    auto c = driver::compile(graph, o);
    INFO((c ? std::string() : c.error().message));
    REQUIRE(c);
    c->cuda.arch = o.machine.gpuArch;
    c->cuda.cubins = {"not a cubin"};
    c->cuda.groupOf.assign(c->kernels.size(), 0);
    auto emu = codegen::cuda::Emulator::compile(c->kernels, info.sms);
    REQUIRE(emu);
    gFakeKernels = emu->get();
    gFakeNames.clear();
    for (const kernel::Kernel &k : c->kernels)
      gFakeNames.push_back(k.name);
    auto onGpu = Executable::create(c.take());
    INFO((onGpu ? std::string() : onGpu.error().message));
    REQUIRE(onGpu);
    int replaysBefore = replays();
    sameSteps(**onCpu, **onGpu, feeds, 3);
    CHECK(replays() - replaysBefore == 3); // one capture, replayed every step
    // Parameters come back when asked, and go to the device when set.
    const std::string pname = graph.nameOf(graph.updates().back().param);
    INFO(pname);
    const ir::HostTensor *w = (*onGpu)->param(pname);
    REQUIRE(w);
    const ir::HostTensor *wCpu = (*onCpu)->param(pname);
    REQUIRE(wCpu);
    checkClose(*w, wCpu->sizes(), wCpu->toDoubles(), 1e-4, 1e-4);
    ir::HostTensor zero(w->dtype(), w->sizes());
    (*onGpu)->setParam(pname, zero);
    (*onCpu)->setParam(pname, zero);
    // Timed kernel by kernel (--profile): not replayed, each step waited for.
    setenv("KILN_CUDA_PROFILE", "1", 1);
    int replaysTimed = replays();
    sameSteps(**onCpu, **onGpu, feeds, 1);
    unsetenv("KILN_CUDA_PROFILE");
    CHECK(replays() == replaysTimed);
    double kernelSeconds = 0;
    for (size_t i = 0; i < (*onGpu)->stepSeconds().size(); ++i)
      kernelSeconds += (*onGpu)->stepSeconds()[i];
    CHECK(kernelSeconds > 0);
    CHECK((*onGpu)->profile().find("kernel0") != std::string::npos);
    gFakeKernels = nullptr;
  }
}
