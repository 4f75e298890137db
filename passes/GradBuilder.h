//===- passes/GradBuilder.h - Node building for gradient rules -*- C++ -*-===//
//
// Internal to passes/: what a gradient rule uses to append nodes, and the
// shape helpers that undo broadcasting and reshapes.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <optional>

namespace kiln::passes {

using ir::ValueId;

class GradBuilder {
public:
  explicit GradBuilder(ir::Graph &g) : g_(g) {}

  ir::Graph &graph() { return g_; }
  /// A copy: appending nodes may move the graph's storage.
  ir::Type type(ValueId v) const { return g_.type(v); }
  Expected<ValueId> op(ir::OpKind k, std::vector<ValueId> xs, const ir::AttrList &attrs = {});
  Expected<std::vector<ValueId>> ops(ir::OpKind k, std::vector<ValueId> xs, const ir::AttrList &attrs = {});
  Expected<ValueId> scalar(double v, ir::DType dt);
  /// Zeros of v's type.
  Expected<ValueId> zerosLike(ValueId v);
  /// Sums g over the dims that broadcasting added or stretched to reach `target`.
  Expected<ValueId> unbroadcast(ValueId g, const ir::Type &target);
  /// Reshapes g to `target`'s shape (one dim unknown at compile time at most).
  Expected<ValueId> reshapeLike(ValueId g, const ir::Type &target);

private:
  ir::Graph &g_;
};

/// Operand gradients of one node, given the gradients of its results (absent
/// where a result does not reach the cost). An absent operand gradient means
/// none flows there (an integer operand, a non-differentiable path).
using OperandGrads = std::vector<std::optional<ValueId>>;
Expected<OperandGrads> gradientRule(GradBuilder &b, const ir::Node &node, const std::vector<std::optional<ValueId>> &dys);

} // namespace kiln::passes
