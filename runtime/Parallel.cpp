//===- runtime/Parallel.cpp - Parallel loops on OpenMP ---------------------===//
#include "runtime/Parallel.h"

#include <omp.h>

namespace kiln {

int parallelThreads() { return omp_get_max_threads(); }

void setParallelThreads(int n) { omp_set_num_threads(n < 1 ? 1 : n); }

void parallelFor(int64_t n, const std::function<void(int64_t, int64_t)> &part) {
  int threads = parallelThreads();
  if (n < 2 || threads < 2) {
    part(0, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    int64_t begin = n * t / nt, end = n * (t + 1) / nt;
    if (begin < end)
      part(begin, end);
  }
}

} // namespace kiln
