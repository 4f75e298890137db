//===- codegen/llvm/Jit.h - Kernel IR to native code ------------*- C++ -*-===//
//
// Compiles the kernels of one executable into one LLVM module: each kernel a
// function `void name(void **buffers, i64 begin, i64 end)` whose loops,
// loads, stores and element ops come from the kernel IR; its outermost
// parallel loop runs [begin, end) (the runtime splits it across threads);
// vector loops carry LLVM's vectorize hint. The kernels are split into
// groups compiled in parallel (one LLVM context and module each), each
// optimized by the new pass manager at O3 for the host CPU (its name and
// features, AVX2 and FMA here) and compiled to an object file, which the disk
// cache keeps; ORC LLJIT links the objects.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "codegen/KernelRunner.h"
#include "ir/Error.h"
#include "ir/kernel/Kernel.h"

#include <memory>
#include <string>
#include <vector>

namespace kiln::codegen {

/// A kernel's entry: 0, or 1 when its scratch buffers could not be allocated.
using KernelFn = int (*)(void **buffers, int64_t begin, int64_t end);

struct JitOptions {
  /// The disk cache's directory (codegen/llvm/DiskCache.h); empty: none.
  std::string cacheDir;
  /// Keep the optimized LLVM IR and the assembly for llvmIR() and
  /// assembly() (compiles, never reads the cache).
  bool keepIR = false;
  /// Kernels compile in this many groups, one thread each.
  int threads = 1;
};

class Jit : public KernelRunner {
public:
  /// Compiles the kernels; an error names the kernel LLVM rejected.
  static Expected<std::unique_ptr<Jit>> compile(const std::vector<kernel::Kernel> &kernels,
                                                const JitOptions &options = {});
  ~Jit() override;

  /// The entry of kernel i.
  KernelFn function(size_t i) const { return functions_[i]; }
  /// Runs kernel i on its buffers (inputs, then outputs), its parallel loop
  /// over [begin, end) (0 and 1 when it has none); false when its scratch
  /// buffers could not be allocated.
  bool call(size_t i, void **buffers, int64_t begin, int64_t end) const override;
  /// Runs kernel i's finish block, if it has one, after every part of its
  /// parallel loop has run; false as call().
  bool finish(size_t i, void **buffers) const override;
  /// The optimized modules as LLVM IR text (`kiln dump --stage llvm`), when
  /// asked for with JitOptions::keepIR.
  const std::string &llvmIR() const { return ir_; }
  /// The machine code as assembly (`kiln dump --stage asm`), likewise.
  const std::string &assembly() const { return assembly_; }
  /// How many groups of kernels were compiled, and how many of them came
  /// from the disk cache.
  size_t groups() const { return groups_; }
  size_t cachedGroups() const { return cachedGroups_; }

  struct State;

private:
  Jit() = default;
  std::unique_ptr<State> state_;
  std::vector<KernelFn> functions_, finishes_;
  std::string ir_, assembly_;
  size_t groups_ = 0, cachedGroups_ = 0;
};

/// The host CPU's name as LLVM knows it (`znver3`, `haswell`, ...).
std::string hostCpuName();
/// The width of the host's vector registers in bytes (64 with AVX-512, 32
/// with AVX, else 16).
int hostVectorBytes();

} // namespace kiln::codegen
