//===- frontend/Model.h - Loading model files ------------------*- C++ -*-===//
//
// Opens a model file by its extension: `.kir` (kiln's text IR) or `.onnx`.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <string>

namespace kiln {

/// Loads and verifies a model file; errors name the file. `weights`, a
/// safetensors file (`kiln dump --save-weights`), holds the data of the
/// tensors a .kir file prints elided.
Expected<ir::Graph> loadModel(const std::string &path, const std::string &weights = "");

} // namespace kiln
