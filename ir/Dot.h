//===- ir/Dot.h - Graphviz export ------------------------------*- C++ -*-===//
//
// Draws a Graph in Graphviz dot: inputs, parameters and constants as boxes,
// nodes as ellipses labelled with their op and result types (shapes and
// layouts), edges along the data flow, outputs and updates marked. A fused
// node is a cluster, labelled with its kernel's kind and ops, around its
// region's nodes.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <string>

namespace kiln::ir {

/// The graph as a dot digraph.
std::string toDot(const Graph &g);

} // namespace kiln::ir
