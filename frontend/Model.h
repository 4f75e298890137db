//===- frontend/Model.h - Loading model files ------------------*- C++ -*-===//
//
// Opens a model file by its extension: `.kir` (kiln's text IR) or `.onnx`.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <string>

namespace kiln {

/// Loads and verifies a model file; errors name the file.
Expected<ir::Graph> loadModel(const std::string &path);

} // namespace kiln
