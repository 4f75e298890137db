//===- frontend/onnx/Export.h - ONNX model export --------------*- C++ -*-===//
//
// Writes a kiln Graph as an ONNX model (opset 17 of the default domain, IR
// version 8): inputs keep their names, dtypes and shapes, a named symbolic
// dim (`N`) becoming a `dim_param`; parameters and constants become
// initializers in their logical layout; every node becomes the ONNX node it
// means, or a few of them where ONNX has no one op for it (expm1, gelu,
// matmul's transposes, the gradient ops). The result passes ONNX's checker
// with its full check (strict shape and type inference), and imports back
// into kiln with the same outputs. Graphs after the passes (layouts other
// than the logical one, fused kernels) are refused: export the graph as
// built or imported.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <string>
#include <string_view>

namespace kiln {

struct OnnxExportOptions {
  /// The opset written; kiln writes 17 and refuses ops that need a later one.
  int64_t opset = 17;
  /// Recorded as the model's doc_string.
  std::string docString;
};

/// The serialized ModelProto of `g`, checked by ONNX's checker (full check);
/// an error names the node that has no ONNX form.
Expected<std::string> exportOnnxBytes(const ir::Graph &g, const OnnxExportOptions &options = {});
/// Writes the model to `path` (atomically); errors name the file.
Status exportOnnx(const ir::Graph &g, const std::string &path, const OnnxExportOptions &options = {});
/// ONNX's checker with the full check (`onnx.checker.check_model(m,
/// full_check=True)`: the model's structure, then strict shape and type
/// inference) on serialized bytes; `name` is used in messages.
Status checkOnnxModel(std::string_view bytes, std::string_view name);

} // namespace kiln
