//===- ir/Dot.h - Graphviz export ------------------------------*- C++ -*-===//
//
// Draws a Graph in Graphviz dot: inputs, parameters and constants as boxes,
// nodes as ellipses labelled with their op and result types, edges along the
// data flow, outputs and updates marked.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <string>

namespace kiln::ir {

/// The graph as a dot digraph.
std::string toDot(const Graph &g);

} // namespace kiln::ir
