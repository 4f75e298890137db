//===- passes/Rebuild.h - Rebuilding a graph node by node ------*- C++ -*-===//
//
// Most passes copy the graph in topological order and, at each node, either
// keep it, replace its results with other values of the same types, or emit
// other nodes. Rebuilder does the copying: values keep their names, operands
// are remapped to their replacements, and outputs and updates follow.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <functional>
#include <optional>
#include <span>

namespace kiln::passes {

using ir::ValueId;

class Rebuilder {
public:
  explicit Rebuilder(const ir::Graph &old);

  /// What a visitor returns for a node: nullopt keeps (copies) it; a vector
  /// replaces its results with those values of the new graph.
  using Replacement = std::optional<std::vector<ValueId>>;
  /// Copies every node through `visit`; `visit` sees the node with its
  /// operands already mapped into the new graph.
  Expected<ir::Graph> run(const std::function<Expected<Replacement>(Rebuilder &, const ir::Node &)> &visit);

  /// The new graph under construction (for visitors that emit nodes).
  ir::Graph &graph() { return new_; }
  const ir::Graph &graph() const { return new_; }
  const ir::Graph &old() const { return old_; }
  /// Emits a node in the new graph with fresh result names.
  Expected<ValueId> emit(ir::OpKind op, std::vector<ValueId> operands, const ir::AttrList &attrs = {});
  /// The node that defines a value of the new graph, or nullptr for inputs,
  /// parameters and constants.
  const ir::Node *producer(ValueId v) const;
  /// The data of a constant of the new graph, or nullptr.
  const ir::HostTensor *constant(ValueId v) const;
  /// A new constant.
  Expected<ValueId> addConstant(ir::HostTensor t, const std::string &base);
  /// Copies the node as it is (operands already mapped).
  Expected<std::vector<ValueId>> copy(const ir::Node &mapped);
  /// Constants of equal dtype, shape and data become one (the first).
  void mergeEqualConstants() { mergeConstants_ = true; }
  /// The node's attributes as an AttrList (for re-emitting it).
  static ir::AttrList attrList(const ir::Node &n);

private:
  const ir::Graph &old_;
  ir::Graph new_;
  std::vector<ValueId> map_; ///< old value -> new value
  bool mergeConstants_ = false;
};

} // namespace kiln::passes

namespace kiln::passes {

/// Appends a copy of `n` (a plain or fused node) to `dst` with the given
/// operands of `dst` and result names.
Expected<std::vector<ValueId>> copyNode(ir::Graph &dst, const ir::Node &n, std::vector<ValueId> operands,
                                        std::vector<std::string> names);

/// A peephole rewrite: fails early (returns nullopt) unless it matches the
/// node, whose operands are already in the new graph.
using Pattern = Expected<Rebuilder::Replacement> (*)(Rebuilder &, const ir::Node &);

/// The fixpoint driver: rebuilds the graph, trying the patterns in order at
/// every node, until no pattern matches anywhere (or `maxRounds`). `changes`
/// counts the rewrites made.
Expected<ir::Graph> applyPatterns(const ir::Graph &g, std::span<const Pattern> patterns, int *changes = nullptr,
                                  int maxRounds = 16);

} // namespace kiln::passes
