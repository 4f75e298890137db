//===- ir/Verifier.h - Checks that a Graph is well formed ------*- C++ -*-===//
//
// verify() checks what every pass must keep true: operands defined before
// use (topological order), unique names, attributes that match the op table,
// result types equal to what the op's type rule infers, parameter data that
// matches its type, outputs defined, and updates that target parameters with
// values of their type. Graphs built through Graph's API are valid by
// construction; the verifier guards graphs that passes rewrite.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

namespace kiln::ir {

/// Returns the first problem found, naming the node, or success.
Status verify(const Graph &g);

} // namespace kiln::ir
