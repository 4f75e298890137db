//===- codegen/Balance.h - Kernels split into groups of equal work -*- C++ -*-===//
//
// Both backends compile a graph's kernels in parallel groups (LLVM modules,
// NVRTC programs): the largest kernel first into the lightest group, each
// group's kernels then in their original order.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

namespace kiln::codegen {

/// Items of the given sizes in at most n groups (at least one), by index.
inline std::vector<std::vector<size_t>> balance(const std::vector<size_t> &sizes, size_t n) {
  std::vector<std::pair<size_t, size_t>> bySize;
  for (size_t i = 0; i < sizes.size(); ++i)
    bySize.emplace_back(sizes[i], i);
  std::sort(bySize.rbegin(), bySize.rend());
  std::vector<std::vector<size_t>> groups(std::max<size_t>(1, std::min(n, sizes.size())));
  std::vector<size_t> load(groups.size());
  for (const auto &[size, i] : bySize) {
    size_t g = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    groups[g].push_back(i);
    load[g] += size;
  }
  for (std::vector<size_t> &g : groups)
    std::sort(g.begin(), g.end());
  return groups;
}

} // namespace kiln::codegen
