//===- frontend/onnx/Onnx.h - ONNX model import ----------------*- C++ -*-===//
//
// Imports an ONNX model (opsets up to 17 of the default domain) into a kiln
// Graph: initializers become parameters (or constants), graph inputs become
// inputs with symbolic dims for `dim_param` and `?` for unknown dims, and
// every node maps onto kiln's op table, compositions included (Gemm, LRN,
// LayerNormalization, ...). Bad files get one error naming the file and the
// node; a model with ops kiln lacks gets one error listing every unsupported
// op type with the nodes that use it.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

struct OnnxImportOptions {
  /// Initializers become constants rather than parameters.
  bool initializersAsConstants = false;
  /// Values of graph inputs that ops need as constants (the shape operand of
  /// Reshape, the pads of Pad, ...): such inputs become constants. ONNX's
  /// node tests feed shapes this way.
  std::map<std::string, ir::HostTensor> knownInputs;
};

/// Imports the model in `path`.
Expected<ir::Graph> importOnnx(const std::string &path, const OnnxImportOptions &options = {});
/// Imports a model from its serialized bytes; `name` is used in messages.
Expected<ir::Graph> importOnnxBytes(std::string_view bytes, std::string_view name,
                                    const OnnxImportOptions &options = {});
/// The names of the model's graph inputs that no initializer gives, in the
/// model's order: the values a caller feeds (ONNX's test data feeds them by
/// position, its tensors often unnamed).
Expected<std::vector<std::string>> onnxInputNames(const std::string &path);
/// Reads a serialized TensorProto (the .pb files of ONNX's test data); its
/// name goes to `name` when given.
Expected<ir::HostTensor> loadOnnxTensor(const std::string &path, std::string *name = nullptr);

} // namespace kiln
