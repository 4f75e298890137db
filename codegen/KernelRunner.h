//===- codegen/KernelRunner.h - What runs compiled kernels ------*- C++ -*-===//
//
// The interface an Executable runs its kernels through: the LLVM JIT
// (codegen/llvm/Jit.h) on the CPU, or the emulation of the CUDA backend's
// kernels on the host (codegen/cuda/Emulator.h, the CPU tests of the CUDA
// C source). Kernel i takes the buffers of kernel i of the kernel IR that
// are passed in (inputs, outputs, shared scratch), in order.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstddef>
#include <cstdint>

namespace kiln::codegen {

class KernelRunner {
public:
  virtual ~KernelRunner() = default;
  /// Runs kernel i, its parallel loop over [begin, end) (0 and 1 when it
  /// has none); false when its scratch buffers could not be allocated.
  virtual bool call(size_t i, void **buffers, int64_t begin, int64_t end) const = 0;
  /// Runs kernel i's finish block, if it has one, after every part of its
  /// parallel loop; false as call().
  virtual bool finish(size_t i, void **buffers) const = 0;
};

} // namespace kiln::codegen
