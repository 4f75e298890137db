//===- driver/Driver.h - The one compile driver ----------------*- C++ -*-===//
//
// Compiling a graph is one straight line (Halide's Lower.cpp, MLIR's toyc):
//
//   bind sizes -> passes -> plan_memory -> lower -> verify kernels -> codegen
//
// codegen is LLVM's for the CPU, or for a CUDA target (passOptions.target)
// the kernels printed as CUDA C++ and compiled by NVRTC to a cubin
// (codegen/cuda), which the runtime loads onto the GPU.
//
// each stage timed, printed when asked (`--print-after=lower`, `codegen`,
// a pass's name, or `all`) and dumped to numbered files in a dump directory
// (`NN.after_PASS.kir`, `NN.lower.kernels`, `NN.codegen.ll`). Function,
// Executable, `kiln dump` and `kiln-opt --lower` compile through it, and so
// will the ahead-of-time compiler and the CUDA backend.
//
// Needs: a verified graph and the sizes of all its inputs. Gives: the
// optimized graph, its memory plan, its kernels and the launch list (which
// node runs as which kernel, as a view, or on the reference interpreter),
// and the compiled code unless asked to stop after lowering.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "codegen/cuda/Nvrtc.h"
#include "codegen/llvm/Jit.h"
#include "lower/Lower.h"
#include "passes/PassManager.h"
#include "passes/PlanMemory.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace kiln::driver {

/// The stages after the passes, in order.
enum class Stage { Passes, PlanMemory, Lower, Codegen };

struct Options {
  /// The pass pipeline (passes::pipelineFor, parsePipeline); empty when the
  /// graph is already optimized.
  std::vector<std::string> passes;
  /// Target, verify-each, print-before/after (a pass's name, "lower",
  /// "codegen" or "all") and the dump directory.
  passes::PassOptions passOptions;
  /// The sizes to compile for, every input named.
  std::map<std::string, ir::Sizes> inputs;
  /// What the schedules are shaped for; the host's by default.
  lower::Machine machine = hostMachine();
  codegen::JitOptions jit;
  /// Run the kernel-IR verifier after lowering (always in tests and debug
  /// builds; `KILN_VERIFY_KERNELS=1` turns it on anywhere).
  bool verifyKernels = defaultVerifyKernels();
  /// The last stage to run (kiln-opt --lower stops after lowering).
  Stage stopAfter = Stage::Codegen;
  /// Refuse to leave a node to the reference interpreter: lowering fails
  /// naming every such node at once (`kiln compile`, which has no
  /// interpreter to fall back to; `kiln run --native-only` in tests).
  bool nativeOnly = false;
  /// Let the memory plan write an elementwise result over a dying operand
  /// (the ahead-of-time compiler, which runs from the plan, says no).
  bool planInPlace = true;

  static lower::Machine hostMachine();
  /// The Machine for `target`: the host's, or for CUDA the GPU's when one
  /// is there (defaultGpuMachine otherwise).
  static lower::Machine machineFor(passes::Device device);
  static bool defaultVerifyKernels();
};

/// One entry of the launch list: node `node` of the graph, run as kernel
/// `kernel`, as a view of its operand's bytes (a reshape), or on the
/// reference interpreter.
struct Step {
  enum Kind : uint8_t { Kernel, View, Reference };
  size_t node = 0;
  Kind kind = Reference;
  int kernel = -1;
  /// A multi-tensor kernel (CUDA: small independent elementwise kernels,
  /// the optimizer's updates, merged into one launch): the nodes after
  /// `node` it also computes, their operands and results following node's
  /// in the kernel's buffers.
  std::vector<size_t> alsoNodes = {};
  /// `node`, then `alsoNodes`.
  std::vector<size_t> nodes() const {
    std::vector<size_t> all{node};
    all.insert(all.end(), alsoNodes.begin(), alsoNodes.end());
    return all;
  }
};

struct Compiled {
  ir::Graph graph{"empty"};           ///< after the passes
  std::map<std::string, int64_t> dims; ///< symbolic dims bound by the inputs' sizes
  std::map<std::string, ir::Sizes> inputs;
  passes::MemoryPlan plan;
  std::vector<kernel::Kernel> kernels;
  std::vector<Step> steps;
  std::unique_ptr<codegen::Jit> jit;  ///< null without kernels, before codegen, or for CUDA
  /// For a CUDA target: the kernels' CUDA C++ (after lowering) and cubin
  /// (after codegen), for the runtime to load onto the device.
  codegen::cuda::Module cuda;
  std::vector<passes::PassStat> stats; ///< every pass, then plan_memory, lower, codegen
  std::string printed;                 ///< what print-before/after asked for
};

/// Compiles `g` through every stage up to `options.stopAfter`; the first
/// stage that fails gives its error, prefixed with the stage.
Expected<Compiled> compile(const ir::Graph &g, const Options &options);

/// The sizes of `shape` with its symbols bound by `dims`; nullopt for a
/// dim only known at run time.
std::optional<ir::Sizes> sizesOf(const ir::Shape &shape, const std::map<std::string, int64_t> &dims);

/// Where a step runs: `kernelN`, `view` or `reference`.
std::string stepName(const Step &s);
/// The launch list, a line per step (as `--profile` names them).
std::string describeSteps(const ir::Graph &g, const std::vector<Step> &steps);
/// The launch list and every kernel as text (`kiln dump --stage kernels`).
std::string describe(const Compiled &c);

} // namespace kiln::driver
