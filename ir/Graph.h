//===- ir/Graph.h - The dataflow graph -------------------------*- C++ -*-===//
//
// A Graph is a typed SSA dataflow graph: inputs, parameters (Theano's shared
// variables: named, typed, holding a value), constants, nodes in topological
// order, outputs, and updates (`param <- value`, all computed from the old
// values and applied together after a step). Every value has a unique name,
// which is its name in .kir dumps. Building a node checks its operands and
// attributes against the op table and infers its result types, so a Graph
// built through this API is always well typed.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Error.h"
#include "ir/HostTensor.h"
#include "ir/Initializer.h"
#include "ir/Op.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace kiln::ir {

using ValueId = int32_t;
constexpr ValueId kNoValue = -1;

enum class ValueKind : uint8_t { Input, Param, Const, Result };

struct Value {
  std::string name;
  Type type;
  ValueKind kind;
  int32_t owner = -1;      ///< index into inputs, params, consts or nodes
  int32_t resultIndex = 0; ///< which result of its node
};

class Graph;

struct Node {
  OpKind op;
  std::vector<ValueId> operands;
  std::vector<AttrValue> attrs; ///< one per attribute declared by the op
  std::vector<ValueId> results;
  /// The region of a `fused` node: a graph whose inputs are the node's
  /// operands and whose outputs are its results (shared, never mutated).
  std::shared_ptr<const Graph> body;

  const OpInfo &info() const { return opInfo(op); }
  AttrView attrView() const { return AttrView(info(), attrs); }
};

struct Param {
  ValueId value;
  HostTensor data;
  std::optional<Initializer> init; ///< how `data` was made, while unchanged
};

struct Const {
  ValueId value;
  HostTensor data;
};

struct Update {
  ValueId param;
  ValueId value;
};

class Graph {
public:
  explicit Graph(std::string name = "main") : name_(std::move(name)) {}

  const std::string &name() const { return name_; }
  void setName(std::string name) { name_ = std::move(name); }

  /// Declares an input. Names must be unique in the graph.
  Expected<ValueId> addInput(std::string name, Type type);
  /// Declares a parameter holding `data` (its logical value), made by `init`
  /// if given, kept on the device in `layout`.
  Expected<ValueId> addParam(std::string name, HostTensor data, std::optional<Initializer> init = {},
                             Layout layout = {});
  /// Declares a parameter of a constant-shaped type (and layout) made by `init`.
  Expected<ValueId> addParam(std::string name, const Type &type, const Initializer &init);
  Expected<ValueId> addConst(std::string name, HostTensor data);
  /// Appends a node after checking its operands and attributes and inferring
  /// its result types. Empty result names get fresh numbered names.
  Expected<std::vector<ValueId>> addNode(OpKind op, std::vector<ValueId> operands, const AttrList &attrs,
                                         std::vector<std::string> resultNames = {});
  /// Appends a `fused` node whose region is `body`: the operands' types must
  /// be the body's input types; the results take the body's output types.
  /// `kind` names the kernel pattern (elementwise, reduction, contraction).
  Expected<std::vector<ValueId>> addFused(std::vector<ValueId> operands, std::shared_ptr<const Graph> body,
                                          std::string kind, std::vector<std::string> resultNames = {});
  Status addOutput(ValueId v);
  void clearOutputs() { outputs_.clear(); }
  Status addUpdate(ValueId param, ValueId value);
  void clearUpdates() { updates_.clear(); }
  /// Renames a value; the new name must be free.
  Status rename(ValueId v, std::string name);

  /// References into the graph's storage: adding a value or node may move
  /// it, so hold them only while nothing is added (type() gives a copy).
  const Value &value(ValueId v) const { return values_[static_cast<size_t>(v)]; }
  Type type(ValueId v) const { return value(v).type; }
  const std::string &nameOf(ValueId v) const { return value(v).name; }
  size_t numValues() const { return values_.size(); }
  /// The value named `name`, or kNoValue.
  ValueId lookup(std::string_view name) const;
  /// `base` if free, else base_1, base_2, ...
  std::string freshName(std::string_view base) const;

  const std::vector<ValueId> &inputs() const { return inputs_; }
  const std::vector<Param> &params() const { return params_; }
  std::vector<Param> &params() { return params_; }
  const std::vector<Const> &consts() const { return consts_; }
  const std::vector<Node> &nodes() const { return nodes_; }
  const std::vector<ValueId> &outputs() const { return outputs_; }
  const std::vector<Update> &updates() const { return updates_; }
  /// The node that defines a Result value.
  const Node &producer(ValueId v) const { return nodes_[static_cast<size_t>(value(v).owner)]; }

  /// Checks node `n` again at run-time sizes: its operands' symbols bound
  /// from `dims`, its op's type rule must still accept them. A symbol that
  /// the rule unified with a constant (x's channels `C` with w's 3) may be
  /// bound to anything at run time; without this a kernel would read past
  /// its operands.
  Status checkAtSizes(const Node &n, const std::map<std::string, int64_t> &dims) const;

  /// A node's description for messages: `node %y = conv(%x, %w)`.
  std::string describe(const Node &n) const;

private:
  Expected<ValueId> addValue(std::string name, Type type, ValueKind kind, int32_t owner, int32_t resultIndex);
  /// Names the results of `node` (typed `types`) and appends it.
  Expected<std::vector<ValueId>> appendNode(Node node, const std::vector<Type> &types,
                                            std::vector<std::string> resultNames);

  std::string name_;
  std::vector<Value> values_;
  std::unordered_map<std::string, ValueId> byName_;
  std::vector<ValueId> inputs_;
  std::vector<Param> params_;
  std::vector<Const> consts_;
  std::vector<Node> nodes_;
  std::vector<ValueId> outputs_;
  std::vector<Update> updates_;
  int32_t nextAutoName_ = 0;
  /// Bytes of the parameters' and constants' data, within the memory limit.
  int64_t staticBytes_ = 0;
};

} // namespace kiln::ir
