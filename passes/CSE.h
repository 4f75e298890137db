//===- passes/CSE.h - Common subexpression elimination ---------*- C++ -*-===//
//
// Theano's MergeOptimizer: two nodes of the same op, operands and attributes
// compute the same values, so the second's results are replaced by the
// first's; constants of equal dtype, shape and data merge too.
//
// Needs: a verified graph. Keeps: types and the first node of every class.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

namespace kiln::passes {

Expected<ir::Graph> cse(const ir::Graph &g);

} // namespace kiln::passes
