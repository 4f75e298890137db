//===- runtime/Executable.h - A graph compiled to native kernels -*- C++ -*-===//
//
// An Executable is a graph compiled for concrete input sizes by the compile
// driver (driver/Driver.h): every node that lowering (lower/) can lower
// becomes a kernel, all of them compiled together by the LLVM backend
// (codegen/llvm); the others run on the reference interpreter, for now. Tensors live in their physical layouts (the layout
// pass's choice); inputs and outputs cross in row-major, and parameters stay
// resident, in their layouts, between runs.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "driver/Driver.h"
#include "ir/Graph.h"
#include "ir/kernel/Kernel.h"
#include "reference/Reference.h"

#include <map>
#include <memory>
#include <string>

namespace kiln {

namespace codegen {
class Jit;
class KernelRunner;
}
class DeviceProgram;


/// `$KILN_CACHE_DIR` if set (empty: no cache), else the config's cache_dir,
/// else `$XDG_CACHE_HOME/kiln` or `~/.cache/kiln`.
std::string defaultCacheDir();

struct CompileOptions {
  /// The passes the driver runs first (passes::pipelineFor); none by
  /// default: the graph given is already optimized.
  std::vector<std::string> passes;
  /// Where compiled kernels are kept between processes; empty: nowhere.
  std::string cacheDir = defaultCacheDir();
  /// Keep the optimized LLVM IR and the assembly for llvmIR() and
  /// assembly() (compiles afresh).
  bool keepIR = false;
  /// Where it runs: the CPU (LLVM), or a GPU (CUDA: an error naming what is
  /// missing when there is none).
  passes::Device device = passes::Device::Cpu;
  /// Every stage of the compile written here (the config's dump_dir); empty: none.
  std::string dumpDir;
};

class Executable {
public:
  /// Compiles `g` for inputs of the given sizes (every input named).
  static Expected<std::unique_ptr<Executable>> compile(const ir::Graph &g, const std::map<std::string, ir::Sizes> &inputs,
                                                       const CompileOptions &options = {});
  /// An Executable over what the driver compiled: its kernels run by the
  /// driver's JIT, or by `runner` when given (the CUDA emulation's tests).
  static Expected<std::unique_ptr<Executable>> create(driver::Compiled compiled,
                                                      std::unique_ptr<codegen::KernelRunner> runner = nullptr);
  ~Executable();

  /// Runs once: outputs, and (if `wantUpdates`) the new values of updated
  /// parameters, which the executable keeps for the next run either way.
  /// Inputs must have the compiled sizes.
  Expected<ref::RunResult> run(const ref::TensorMap &inputs, bool wantUpdates = true);

  /// The number of nodes run as native kernels, and on the reference interpreter.
  size_t nativeNodes() const { return native_; }
  size_t referenceNodes() const {
    size_t n = 0;
    for (const driver::Step &s : steps_)
      n += s.kind == driver::Step::Reference;
    return n;
  }
  /// The launch list: each node and where it runs (a kernel or the reference).
  std::string describeSteps() const;
  /// Where the time of every run so far went: each step's total, longest
  /// first, with its share and the node it runs (`kiln train --profile`).
  std::string profile() const;
  /// The seconds each step of the launch list took, summed over runs, and
  /// whether step i runs a native kernel of node `op`.
  const std::vector<double> &stepSeconds() const { return stepSeconds_; }
  bool stepIsKernel(size_t i, ir::OpKind op) const {
    return steps_[i].kind == driver::Step::Kernel && graph_.nodes()[steps_[i].node].op == op;
  }
  /// Every kernel as kernel IR text, and the optimized LLVM module.
  std::string kernelsText() const;
  const std::string &llvmIR() const;
  /// The kernels' machine code as assembly (with CompileOptions::keepIR).
  const std::string &assembly() const;
  /// The groups of kernels compiled in parallel, and how many came from the
  /// disk cache.
  size_t compiledGroups() const;
  size_t cachedGroups() const;
  /// A parameter's current value (logical, row-major), or nullptr.
  const ir::HostTensor *param(const std::string &name);
  /// Replaces a parameter's value (logical); a name the graph lacks (a
  /// parameter the passes removed) is ignored.
  void setParam(const std::string &name, const ir::HostTensor &value);

private:
  Executable() = default;

  ir::Graph graph_;
  std::map<std::string, int64_t> dims_;
  std::map<std::string, ir::Sizes> inputSizes_;
  std::vector<ir::HostTensor> values_; ///< by value id, in physical layout
  std::vector<driver::Step> steps_; ///< the driver's launch list
  std::vector<double> stepSeconds_; ///< per step, summed over runs
  std::vector<int64_t> parallelExtents_; ///< per kernel; 0: no parallel loop
  std::vector<std::vector<ir::HostTensor>> shared_; ///< per kernel, its shared scratch buffers
  std::unique_ptr<codegen::Jit> jit_;
  std::unique_ptr<codegen::KernelRunner> ownRunner_;
  std::unique_ptr<DeviceProgram> device_; ///< compiled for CUDA: the values live on the GPU
  const codegen::KernelRunner *runner_ = nullptr; ///< jit_, or ownRunner_ when given
  size_t native_ = 0;
  std::vector<kernel::Kernel> kernels_; ///< as lowered, printed on demand
  std::map<std::string, ir::HostTensor> logicalParams_;
};

/// `t` (logical, row-major) stored in layout `l`, and back.
ir::HostTensor toPhysical(const ir::HostTensor &t, ir::Layout l);
ir::HostTensor toLogical(const ir::HostTensor &t, ir::Layout l);

} // namespace kiln
