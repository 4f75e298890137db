//===- passes/Canonicalize.h - Algebraic identities ------------*- C++ -*-===//
//
// Rewrites each node to a simpler or canonical equivalent, with small
// peephole patterns run by the fixpoint driver (passes/Rebuild.h): x+0, x-0,
// x*1, x/1, x^1 -> x; x*0 -> 0 for integers only (for floats NaN*0 is NaN);
// -(-x) -> x; transpose of a transpose, reshape of a reshape and broadcast of
// a broadcast -> one op; ops that change nothing (identity, a cast to the same
// dtype, a reshape or broadcast to the same shape) -> their operand; constant
// operands of commutative ops moved to the right.
//
// Needs: a verified graph. Keeps: the types of every value that stays; values
// that become unused are left for dce.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

namespace kiln::passes {

Expected<ir::Graph> canonicalize(const ir::Graph &g);

} // namespace kiln::passes
