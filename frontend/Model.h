//===- frontend/Model.h - Loading model files ------------------*- C++ -*-===//
//
// Opens a model file by its extension: `.kir` (kiln's text IR) or `.onnx`.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <map>
#include <string>

namespace kiln {

/// Loads and verifies a model file; errors name the file. `weights`, a
/// safetensors file (`kiln dump --save-weights`), holds the data of the
/// tensors a .kir file prints elided. `inputValues`, the values a run will
/// feed, specialize an ONNX model where a graph input is a shape operand
/// (Reshape's shape, Slice's starts, Pad's pads, ...): such an input
/// becomes a constant of its value, and the rest stay inputs.
Expected<ir::Graph> loadModel(const std::string &path, const std::string &weights = "",
                              const std::map<std::string, ir::HostTensor> *inputValues = nullptr);

} // namespace kiln
