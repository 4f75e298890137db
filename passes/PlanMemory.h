//===- passes/PlanMemory.h - Static memory planning ------------*- C++ -*-===//
//
// Plans one arena for the intermediate values of a graph at given sizes of
// its symbolic dims: each node result gets a buffer live from its node to its
// last use (to the end for outputs and update values); an elementwise node
// whose operand dies there and has its size and dtype reuses that operand's
// buffer in place (unless asked not to: kernels take their buffers as
// noalias pointers, so the ahead-of-time compiler gives every result its
// own); a reshape is a view of its operand's buffer, which lives as long as
// the view does; buffers get static offsets, 64-byte aligned, placed
// greedily by decreasing size at the lowest offset free over their lifetime.
// Inputs, parameters and constants live outside the arena.
//
// Needs: a verified graph whose dims are constant or bound in `dims`.
// Keeps: the graph (it is an analysis; the plan goes to the runtime).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <map>
#include <string>
#include <vector>

namespace kiln::passes {

struct MemoryPlan {
  struct Buffer {
    std::vector<ir::ValueId> values; ///< the values stored here (more than one when reused in place)
    int64_t bytes = 0, offset = 0;
    int first = 0, last = 0; ///< node indices of its live range, inclusive
  };
  std::vector<Buffer> buffers;
  int64_t peakBytes = 0;  ///< the arena's size
  int64_t totalBytes = 0; ///< the sum of every intermediate's size, unplanned
  int inPlace = 0;        ///< results that reuse a dying operand's buffer
};

inline constexpr int64_t kArenaAlignment = 64;

Expected<MemoryPlan> planMemory(const ir::Graph &g, const std::map<std::string, int64_t> &dims, bool inPlace = true);
/// Proves that no two buffers live at the same time overlap in the arena.
Status checkPlan(const MemoryPlan &plan);
/// A readable table of the plan.
std::string formatPlan(const ir::Graph &g, const MemoryPlan &plan);

} // namespace kiln::passes
