//===- frontend/onnx/Importer.h - ONNX import internals --------*- C++ -*-===//
//
// Internal to frontend/onnx: the state of one import and the helpers the op
// converters (OnnxOps.cpp) use to read a node's inputs and attributes and to
// emit kiln nodes.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "frontend/onnx/Onnx.h"

#include <onnx/onnx_pb.h>

#include <set>
#include <span>
#include <unordered_map>

namespace kiln::onnximport {

using ir::ValueId;

/// Converts an ONNX TensorProto into a host tensor; errors say what is wrong.
Expected<ir::HostTensor> tensorFromProto(const ::onnx::TensorProto &t);
/// kiln's dtype for an ONNX element type, or an error with "unsupported".
Expected<ir::DType> dtypeFromOnnx(int32_t elemType);

class Importer;

/// An element of an integer tensor that describes a shape: a constant (of
/// any sign: Reshape's -1) or a symbolic dim (`N`, `64*N`).
struct ShapeElem {
  int64_t value = 0;
  ir::Dim dim; ///< used when symbolic
  bool symbolic() const { return dim.isSymbol(); }
  /// The element as a dim; a negative constant is unknown.
  ir::Dim asDim() const;
};
using ShapeElems = std::vector<ShapeElem>;
std::string shapeText(const ShapeElems &e);

/// A converter's view of the node it converts.
class NodeCtx {
public:
  NodeCtx(Importer &im, const ::onnx::NodeProto &node) : im_(im), node_(node) {}

  const ::onnx::NodeProto &node() const { return node_; }
  int64_t opset() const;
  /// Whether kiln wrote the model (kiln export): a training-mode Dropout
  /// then means kiln's dropout, its mask kiln's hash of the seed.
  bool madeByKiln() const;
  /// Number of inputs, trailing empty ones dropped.
  int numInputs() const;
  bool hasInput(int i) const { return i < node_.input_size() && !node_.input(i).empty(); }
  /// The kiln value of input i.
  Expected<ValueId> in(int i) const;
  /// The graph being built (for builders that append nodes themselves).
  ir::Graph &graph();
  /// A copy: emitting nodes may move the graph's storage.
  ir::Type typeOf(ValueId v) const;
  /// Inputs 0 and 1 of a binary op. Before opset 7 a `broadcast=1` node
  /// broadcasts input 1 onto input 0 from `axis` (default: its trailing
  /// dims); that input is reshaped so numpy broadcasting means the same.
  Expected<std::pair<ValueId, ValueId>> binaryIn();
  /// The value of input i, which must be known at import time.
  Expected<ir::HostTensor> constIn(int i) const;
  Expected<std::vector<int64_t>> constInts(int i) const;
  /// Input i as a shape: known at import, or computed from symbolic shapes
  /// (Shape, Gather, Concat, arithmetic; frontend/onnx/ShapeValues.cpp).
  Expected<ShapeElems> shapeIn(int i) const;
  /// Records that v, computed at run time, holds the shape `e`.
  void setShapeElems(ValueId v, ShapeElems e);

  bool hasAttr(std::string_view name) const;
  int64_t attrInt(std::string_view name, int64_t def) const;
  double attrFloat(std::string_view name, double def) const;
  std::string attrString(std::string_view name, std::string def) const;
  std::vector<int64_t> attrInts(std::string_view name) const;
  const ::onnx::AttributeProto *attr(std::string_view name) const;

  /// Emits a kiln node; a result becomes the ONNX output `output` when given.
  Expected<ValueId> emit(ir::OpKind op, std::vector<ValueId> operands, const ir::AttrList &attrs = {});
  Expected<std::vector<ValueId>> emitMulti(ir::OpKind op, std::vector<ValueId> operands, const ir::AttrList &attrs = {});
  /// A scalar constant of dtype.
  Expected<ValueId> scalar(double v, ir::DType dt);
  Expected<ValueId> constant(ir::HostTensor t);
  /// Reshapes x to `shape` (symbolic dims allowed where they stay in place
  /// or where only one dim is not constant).
  Expected<ValueId> reshapeTo(ValueId x, const ir::Shape &shape);
  /// Binds ONNX output i to a value; empty output names are skipped.
  Status bind(int i, ValueId v);
  /// Refuses to make a constant of more than 2^28 elements at import.
  Status checkConstantSize(int64_t elements) const;
  /// An error naming the node, with "unsupported" in it.
  Error unsupported(const std::string &what) const;
  Error error(const std::string &what) const;

private:
  Importer &im_;
  const ::onnx::NodeProto &node_;
};

using Converter = Status (*)(NodeCtx &ctx);

/// Converters of their own files.
Status convEinsum(NodeCtx &c); // Einsum.cpp

struct OnnxOp {
  std::string_view name;
  Converter convert;
  /// Input indices whose values must be known at import (shape operands).
  std::vector<int> constInputs;
};

/// The converter of an op type of the default domain, or nullptr.
const OnnxOp *findOnnxOp(std::string_view opType);

class Importer {
public:
  Importer(const ::onnx::ModelProto &model, std::string file, const OnnxImportOptions &options)
      : model_(model), file_(std::move(file)), options_(options) {}
  Expected<ir::Graph> run();

  // Used by NodeCtx.
  ir::Graph &graph() { return g_; }
  int64_t opset() const { return opset_; }
  /// Whether kiln wrote the model (its random ops then mean kiln's).
  bool madeByKiln() const { return model_.producer_name() == "kiln"; }
  const std::string &file() const { return file_; }
  Expected<ValueId> value(const std::string &onnxName) const;
  Expected<ir::HostTensor> constantValue(ValueId v);
  /// The value of an integer tensor that describes a shape, followed
  /// through the ops that compute shapes (ShapeValues.cpp).
  Expected<ShapeElems> shapeElems(ValueId v);
  /// Records what a value computed at run time holds (the Shape of x).
  void setShapeElems(ValueId v, ShapeElems e);
  std::string tempName(const std::string &base);
  Status bindName(const std::string &onnxName, ValueId v);

private:
  Status checkOpset();
  Status checkSupported();
  /// Every node of the default domain against ONNX's schema of its op.
  Status checkSchemas();
  Expected<std::vector<const ::onnx::NodeProto *>> sortNodes();
  Status declareValues();
  std::string nodeLabel(const ::onnx::NodeProto &n) const;

  const ::onnx::ModelProto &model_;
  std::string file_;
  const OnnxImportOptions &options_;
  ir::Graph g_;
  int64_t opset_ = 0;
  std::unordered_map<std::string, ValueId> values_;
  std::set<std::string> onnxNames_; ///< every name in the ONNX graph, kept free for it
  std::set<std::string> constInputNames_;
  std::unordered_map<ValueId, ir::HostTensor> folded_;
  std::unordered_map<ValueId, ShapeElems> shapeValues_;
  friend class NodeCtx;
};

} // namespace kiln::onnximport
