//===- codegen/cuda/Emulator.h - CUDA kernels run on the host ---*- C++ -*-===//
//
// Checks the CUDA backend without a GPU: the translation unit printed by
// codegen/cuda/CudaSource is compiled as host C++ by clang (the one kiln is
// built with) after a small shim — `__global__` and `__device__` are
// nothing, `blockIdx`, `threadIdx`, `blockDim` and `gridDim` are variables
// the launcher sets, CUDA's bit-cast intrinsics are memcpy, its math is
// <math.h> — and loaded with dlopen. Each kernel's launcher runs its grid
// as loops over blocks and threads, with the launch shape the GPU gets
// (launchOf), so every index the generated code computes is exercised.
//
// What it cannot cover: timing, memory coalescing, races between threads
// (they run one after another), and device intrinsics beyond the shim
// (tensor-core instructions; the generated code uses none today).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "codegen/KernelRunner.h"
#include "ir/Error.h"
#include "ir/kernel/Kernel.h"

#include <memory>
#include <string>
#include <vector>

namespace kiln::codegen::cuda {

class Emulator : public KernelRunner {
public:
  /// Prints `kernels` as CUDA C++, compiles the text as host C++ in a
  /// temporary directory and loads it; `sms` shapes the launches as on a GPU
  /// with that many multiprocessors.
  static Expected<std::unique_ptr<Emulator>> compile(const std::vector<kernel::Kernel> &kernels, int sms = 132);
  ~Emulator() override;

  bool call(size_t i, void **buffers, int64_t begin, int64_t end) const override;
  bool finish(size_t i, void **buffers) const override;
  /// The CUDA C++ that was compiled.
  const std::string &source() const { return source_; }

private:
  Emulator() = default;
  using Entry = int (*)(void **);
  void *handle_ = nullptr;
  std::vector<Entry> calls_, finishes_;
  std::string source_;
};

/// The host compiler the emulation uses (clang, found at build time).
std::string emulationCompiler();

} // namespace kiln::codegen::cuda
