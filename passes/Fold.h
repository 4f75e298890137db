//===- passes/Fold.h - Constant folding ------------------------*- C++ -*-===//
//
// Evaluates every node whose operands are all constants through the reference
// interpreter and replaces its results with constants, up to `maxElements`
// elements a result (larger ones stay computed at run time).
//
// Needs: a verified graph. Keeps: types; folded nodes become dead (for dce).
// Uses the reference interpreter (reference/), which depends on ir/ alone.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

namespace kiln::passes {

Expected<ir::Graph> fold(const ir::Graph &g, int64_t maxElements = int64_t{1} << 16);

} // namespace kiln::passes
