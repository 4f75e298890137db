//===- codegen/cuda/CudaSource.h - Kernel IR to CUDA C++ --------*- C++ -*-===//
//
// Prints the kernels of one compiled graph as one CUDA C++ translation unit:
// a prelude of kiln's primitives as device functions (their meaning is the
// reference interpreter's, as codegen/llvm's is), then for each kernel an
// `extern "C" __global__` function over its passed-in buffers (inputs,
// outputs, shared scratch, in buffer order) and, when it has a finish
// block, a second one `NAME_finish` run by one thread after it.
//
// The mapping of the kernel IR onto the grid: the parallel loop that ends a
// kernel's body is a grid-stride loop over the global thread index (GPU
// lowering makes it one flat loop over the result); serial and vector loops
// run inside a thread; private scratch buffers are per-thread arrays;
// statements before the parallel loop run in every thread (they fill
// private scratch); a kernel without a parallel loop runs on one thread.
// A tile statement is a register block of mr x nr sums over k.
//
// The same text compiles as host C++ with codegen/cuda/Emulation.h included
// first (the emulation the CPU tests run); it needs no CUDA header.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Error.h"
#include "ir/kernel/Kernel.h"

#include <string>
#include <vector>

namespace kiln::codegen::cuda {

/// The threads of a block every kernel is launched with.
inline constexpr int64_t kBlockThreads = 256;

/// A kernel's launch: `blocks` of kBlockThreads threads (1 x 1 for a kernel
/// without a parallel loop, and for every finish block).
struct Launch {
  int64_t blocks = 1, threads = 1;
};

/// How kernel k is launched on a GPU of `sms` multiprocessors: enough
/// blocks to cover its parallel loop, at most 32 per multiprocessor (the
/// grid-stride loop does the rest).
Launch launchOf(const kernel::Kernel &k, int sms);

/// The translation unit of `kernels`, each under its own name; an error
/// names a kernel holding what CUDA C cannot express (a bug in lowering).
Expected<std::string> printSource(const std::vector<kernel::Kernel> &kernels);

/// The C++ type of a buffer element of dtype t (`float`, `long long`,
/// `unsigned char` for bool).
const char *memoryTypeName(ir::DType t);

} // namespace kiln::codegen::cuda
