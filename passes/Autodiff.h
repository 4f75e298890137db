//===- passes/Autodiff.h - Reverse-mode automatic differentiation -*- C++ -*-===//
//
// grad() is Theano's `grad` as a graph transformation: it appends to the graph
// the nodes that compute d cost / d wrt, and returns their values. Gradients
// are ordinary nodes, so the gradient of a gradient works, and every later
// pass optimizes the backward graph as it does the forward one.
//
// Needs: a verified graph; a scalar floating-point cost. Keeps: every node it
// finds; it only appends nodes and constants (the graph stays verified).
// The gradient rule of every differentiable op is in passes/GradRules.cpp,
// one place; broadcasting is undone by reductions; integer and comparison
// paths carry no gradient.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <vector>

namespace kiln::passes {

/// What grad() does for a `wrt` the cost does not depend on (Theano's
/// `disconnected_inputs`).
enum class Disconnected { Raise, Zero };

struct GradOptions {
  Disconnected disconnected = Disconnected::Raise;
};

/// Appends the gradient of `cost` with respect to each of `wrt` to `g`.
Expected<std::vector<ir::ValueId>> grad(ir::Graph &g, ir::ValueId cost, const std::vector<ir::ValueId> &wrt,
                                        const GradOptions &options = {});

} // namespace kiln::passes
