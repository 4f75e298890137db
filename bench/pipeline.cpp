//===- bench/pipeline.cpp - Figures of the pass pipeline on training graphs -===//
//
//   build/kiln-bench-pipeline [--runs R] [--cuda]
//
// Builds the training step (forward, backward, optimizer update) of the zoo's
// MLP, LeNet-5 and VGG-style nets at batch 64, runs the -O2 pipeline R times
// and prints, per net: nodes before and after, kernels after fusion, layout
// conversions left, the pipeline's median time, the planned arena peak
// against the sum of every tensor the unfused step would materialize, and
// the compile of the optimized step to native code (lowering, LLVM at O3 in
// parallel groups, JIT linking; median of R), cold and from a disk cache
// that one compile filled. With --cuda, the compile is the CUDA backend's
// instead: lowering with the GPU's schedules, the CUDA C++ and NVRTC's
// cubin for sm_90 (no GPU needed; loading the cubin onto one is not in it).
//
//===----------------------------------------------------------------------===//
#include "driver/Driver.h"
#include "kiln/train.h"
#include "passes/Fuse.h"
#include "passes/Layout.h"
#include "passes/PassManager.h"
#include "passes/PlanMemory.h"
#include "runtime/Executable.h"
#include "runtime/Parallel.h"

#include <fmt/format.h>

#include <algorithm>
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstring>
#include <filesystem>

#include <unistd.h>

using namespace kiln;

int main(int argc, char **argv) {
  int runs = 5;
  bool cuda = false;
  CLI::App app{"the pass pipeline and compile times on the zoo's training steps"};
  app.add_option("--runs", runs, "runs per figure (the median is kept)")->check(CLI::Range(1, 1000));
  app.add_flag("--cuda", cuda, "time the CUDA backend's compile (NVRTC, sm_90) instead of LLVM's");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    return app.exit(e) == 0 ? 0 : 1; // --help is 0, a bad option 1
  }
  fmt::print("| net (training step, batch 64) | nodes | after -O2 | kernels after fusion | layout conversions | "
             "-O2 time (median of {}) | arena peak | sum of all tensors | compile, cold | compile, from the disk cache |\n",
             runs);
  fmt::print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const char *name : {"mlp", "lenet", "vgg"}) {
    auto net = nn::zoo::byName(name);
    optim::Options o;
    o.method = optim::Method::Momentum;
    auto g = classifierStep(*net, {1, 28, 28}, o, 1, true);
    if (!g) {
      fmt::print(stderr, "{}\n", g.error().message);
      return 1;
    }
    std::vector<double> times;
    ir::Graph optimized;
    for (int r = 0; r < runs; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      auto res = passes::runPipeline(*g, passes::pipelineFor(2));
      times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (!res) {
        fmt::print(stderr, "{}\n", res.error().message);
        return 1;
      }
      optimized = res->graph;
    }
    std::sort(times.begin(), times.end());
    // The sum of every tensor the unfused step would materialize, against the
    // arena of the fused one (kernels keep their intermediates in registers).
    auto unfused = passes::planMemory(*g, {{"N", 64}});
    auto plan = passes::planMemory(optimized, {{"N", 64}});
    if (!unfused || !plan || !passes::checkPlan(*plan)) {
      fmt::print(stderr, "memory planning failed\n");
      return 1;
    }
    std::map<std::string, ir::Sizes> inputs;
    for (ir::ValueId v : optimized.inputs()) {
      ir::Sizes sizes;
      for (const ir::Dim &d : optimized.type(v).shape)
        sizes.push_back(d.isConst() ? d.value : 64);
      inputs[optimized.nameOf(v)] = sizes;
    }
    // Cold: no cache. Cached: a fresh cache directory filled by one compile.
    auto compileMs = [&](const std::string &cacheDir) -> std::optional<double> {
      std::vector<double> ms;
      for (int r = 0; r < runs; ++r) {
        auto t0 = std::chrono::steady_clock::now();
        Status ok;
        if (cuda) {
          driver::Options o;
          o.inputs = inputs;
          o.passOptions.target.device = passes::Device::Cuda;
          o.machine = lower::defaultGpuMachine();
          o.planInPlace = false;
          o.jit.cacheDir = cacheDir;
          o.jit.threads = parallelThreads();
          auto c = driver::compile(optimized, o);
          ok = c ? Status{} : Status{c.error()};
        } else {
          CompileOptions co;
          co.cacheDir = cacheDir;
          auto exe = Executable::compile(optimized, inputs, co);
          ok = exe ? Status{} : Status{exe.error()};
        }
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        if (!ok) {
          fmt::print(stderr, "{}\n", ok.error().message);
          return std::nullopt;
        }
      }
      std::sort(ms.begin(), ms.end());
      return ms[ms.size() / 2];
    };
    std::string cacheDir = (std::filesystem::temp_directory_path() / fmt::format("kiln-bench-cache-{}", getpid())).string();
    auto cold = compileMs("");
    runs = std::max(runs, 1);
    auto fillRuns = runs;
    runs = 1;
    bool fillOk = compileMs(cacheDir).has_value(); // fills the cache
    runs = fillRuns;
    auto filled = fillOk ? compileMs(cacheDir) : std::nullopt;
    std::filesystem::remove_all(cacheDir);
    if (!cold || !filled)
      return 1;
    fmt::print("| {} | {} | {} | {} | {} | {:.2f} ms | {:.1f} MB | {:.1f} MB | {:.0f} ms | {:.0f} ms |\n", name,
               g->nodes().size(), optimized.nodes().size(), passes::countKernels(optimized),
               passes::countLayoutConverts(optimized), times[times.size() / 2],
               static_cast<double>(plan->peakBytes) / 1e6, static_cast<double>(unfused->totalBytes) / 1e6, *cold, *filled);
  }
  return 0;
}
