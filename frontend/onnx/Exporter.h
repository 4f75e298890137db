//===- frontend/onnx/Exporter.h - ONNX export internals --------*- C++ -*-===//
//
// Internal to frontend/onnx: the state of one export and the helpers the op
// exporters (ExportOps.cpp, ExportGrad.cpp) use to name values, write
// constants and append ONNX nodes.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "frontend/onnx/Export.h"

#include <onnx/onnx_pb.h>

#include <map>
#include <set>
#include <variant>
#include <vector>

namespace kiln::onnxexport {

using ir::ValueId;

/// An ONNX attribute: name and value.
struct OAttr {
  std::string name;
  std::variant<int64_t, double, std::string, std::vector<int64_t>, std::vector<double>, ir::HostTensor> value;
};

/// ONNX's element type for a kiln dtype.
int32_t onnxDType(ir::DType dt);

class Emitter {
public:
  Emitter(const ir::Graph &g, ::onnx::GraphProto &out);

  const ir::Graph &graph() const { return g_; }
  ir::Type type(ValueId v) const { return g_.type(v); }
  /// The ONNX name of a kiln value.
  const std::string &name(ValueId v) const { return names_.at(static_cast<size_t>(v)); }
  std::vector<std::string> names(const std::vector<ValueId> &vs) const;
  /// A name no other value has, from `base`.
  std::string fresh(std::string_view base);

  /// Appends a node writing `outputs`; returns them.
  std::vector<std::string> node(std::string_view op, std::vector<std::string> inputs,
                                std::vector<std::string> outputs, const std::vector<OAttr> &attrs = {});
  /// Appends a node of one fresh output; returns its name.
  std::string op(std::string_view op, std::vector<std::string> inputs, const std::vector<OAttr> &attrs = {});
  /// An initializer holding `t`.
  std::string tensor(const ir::HostTensor &t, std::string_view base = "const");
  /// A 1-D int64 initializer.
  std::string ints(const std::vector<int64_t> &v);
  /// A 0-D initializer of dtype.
  std::string scalar(double v, ir::DType dt);
  /// A 1-element int64 tensor holding `d` at run time: a constant, the size
  /// of a graph input's dim for a named symbol, or arithmetic on those for
  /// an expression (`2*N`, `((H+1)/2)`).
  Expected<std::string> dim(const ir::Dim &d);
  /// The shape `s` as a 1-D int64 tensor (Concat of dim() where symbolic).
  Expected<std::string> shape(const ir::Shape &s);
  /// An error naming the node being exported.
  Error error(const ir::Node &n, const std::string &what) const;

private:
  Expected<std::string> symbol(const std::string &sym);
  Expected<std::string> expression(std::string_view text, size_t &pos);
  Expected<std::string> term(std::string_view text, size_t &pos);
  Expected<std::string> factor(std::string_view text, size_t &pos);

  const ir::Graph &g_;
  ::onnx::GraphProto &out_;
  std::vector<std::string> names_;
  std::set<std::string> used_;
  std::map<std::string, std::string> symbolTensors_; ///< symbol -> its [1] tensor
};

/// Appends the ONNX form of node `n` (its results named as `e.name` says).
Status exportNode(Emitter &e, const ir::Node &n);
/// The gradient and training ops (ExportGrad.cpp).
Status exportConvGradInput(Emitter &e, const ir::Node &n);
Status exportConvGradWeight(Emitter &e, const ir::Node &n);
Status exportMaxPoolGrad(Emitter &e, const ir::Node &n);
Status exportAvgPoolGrad(Emitter &e, const ir::Node &n);
Status exportBatchNormTrain(Emitter &e, const ir::Node &n);
Status exportBatchNormGrad(Emitter &e, const ir::Node &n);

} // namespace kiln::onnxexport
