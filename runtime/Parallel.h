//===- runtime/Parallel.h - Parallel loops on OpenMP ------------*- C++ -*-===//
//
// The runtime's one way to run work on several cores: a loop of n
// iterations split into one contiguous part per OpenMP thread. Kernels whose
// outermost loop is parallel run through it.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <functional>

namespace kiln {

/// Calls `part(begin, end)` for disjoint parts covering [0, n), in parallel
/// when n and the work are large enough.
void parallelFor(int64_t n, const std::function<void(int64_t, int64_t)> &part);

/// The number of threads parallelFor uses.
int parallelThreads();

/// Makes parallelFor use `n` threads (at least 1) from now on. Kernels are
/// scheduled for the count at their compile time: compile after setting it.
void setParallelThreads(int n);

} // namespace kiln
