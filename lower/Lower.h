//===- lower/Lower.h - Graph nodes to kernels ------------------*- C++ -*-===//
//
// Lowers one node of an optimized graph, plain or fused, to a kernel of the
// kernel IR (ir/kernel) for concrete sizes. The region's values are built as
// expressions at logical coordinates: elementwise ops over the kernel's
// domain; a reduction's producers inside its reduced loops, its epilogue
// after them; max pooling as a maximum over taps. Loops follow the output's
// storage order, the innermost marked vector, the outermost parallel; loads
// and stores go through each buffer's physical strides (row-major, channels
// last or blocked).
//
// Contractions (2-D matmul, conv and both its gradients) are one schedule,
// BLIS's: the parallel loop over blocks of the result, slices of the
// contracted dim packed into panels (a matmul's prologues, a conv's padding
// guards and im2col indexing are computed while packing), a register-blocked
// FMA tile (6 rows by two vectors) over every pair of panels, and the
// epilogue from the finished block.
//
// What is not lowered yet (softmax and the loss, data movement, opaque ops,
// grouped convolutions, dtypes other than f32, f64 and bool) gives nullopt,
// not an error: the runtime runs such a node on the reference interpreter.
//
// The kernel builder (lower/Lowerer.h) is one class whose members live in a
// file per kernel family: Elementwise, Reduction, Gemm (the BLIS schedule),
// DirectConv (oneDNN's), Pooling, and Lowerer.cpp for what they share.
//
// Needs: a verified graph whose symbols are bound in `dims`. Keeps: the
// node's meaning, as the reference interpreter defines it.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"
#include "ir/kernel/Kernel.h"

#include <map>
#include <optional>

namespace kiln::lower {

/// What the schedules are shaped for: the width of a vector register, and
/// the number of threads the runtime splits a kernel's parallel loop over
/// (contiguous equal ranges, runtime/Parallel).
struct Machine {
  int vectorBytes = 32;
  int threads = 1;
  /// A GPU's multiprocessors (0 on a CPU), warp size, shared memory per
  /// block and compute capability (90: sm_90). On a GPU every kernel's
  /// parallel loop is one flat loop over its result, which the CUDA backend
  /// runs as a grid-stride loop (lower/Gpu.cpp), and contractions are
  /// register blocks per thread instead of BLIS's packed panels.
  int gpuSms = 0, warpSize = 32, sharedBytes = 0, gpuArch = 0;
  bool gpu() const { return gpuSms > 0; }
};

/// The GPU kiln's CUDA schedules assume when none is at hand (`kiln dump
/// --target cuda` on a machine without one): an H100/H200, sm_90.
Machine defaultGpuMachine();

/// How a contraction C[m, n] += A(m, k) B(k, n) is blocked (BLIS's
/// schedule, lower/Gemm.cpp): a plain value chosen by gemmSchedule from the
/// sizes and the Machine alone, which the kernel builder consumes.
struct GemmSchedule {
  int64_t lanes = 0, mr = 0, nr = 0;               ///< the tile: mr rows by nr = 2 vectors of lanes
  int64_t kc = 0, perSlice = 0, kBlocks = 0;       ///< k slices of kc (perSlice units of kStep), kBlocks of them
  int64_t mc = 0, perGroup = 0, gm = 0, groups = 0; ///< row blocks of mc, perGroup to a task's gm rows
  int64_t nc = 0, nBlocks = 0;                     ///< column blocks of nc
};
/// k holds units of kStep (a conv's channels), n of nStep (a weight
/// gradient's columns): blocks hold whole units.
GemmSchedule gemmSchedule(int64_t m, int64_t n, int64_t k, int64_t kStep, int64_t nStep, ir::DType t,
                          const Machine &machine);

/// Whether kernel k can join a multi-tensor kernel (mergeKernels): one flat
/// parallel loop of at most `maxExtent` elements, no scratch, no finish.
bool mergeable(const kernel::Kernel &k, int64_t maxExtent);
/// Kernels that read nothing the others write, as one kernel named `name`
/// (CUDA's multi-tensor kernel: one launch for the optimizer's many small
/// updates): their buffers in order, one parallel loop over all their
/// elements, each kernel's body where the flat index falls in its range.
kernel::Kernel mergeKernels(const std::vector<const kernel::Kernel *> &kernels, const std::string &name);

/// The kernel of node `n` of `g` named `name`, its buffers the node's operands
/// then its results (then its scratch buffers); nullopt if the node is not
/// lowerable yet.
std::optional<kernel::Kernel> lowerNode(const ir::Graph &g, const ir::Node &n, const std::map<std::string, int64_t> &dims,
                                    const std::string &name, const Machine &machine = {});

} // namespace kiln::lower
