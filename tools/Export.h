//===- tools/Export.h - kiln export: a model out as ONNX -------*- C++ -*-===//
//
//   kiln export MODEL|CHECKPOINT -o model.onnx [--model ZOO] [--checkpoint FILE]
//               [--load-weights FILE] [--seed S]
//
// Writes a model as an ONNX file (frontend/onnx/Export.h): a .kir or ONNX
// model as loaded, a zoo model at its seeded initial weights, or a trained
// one: a checkpoint of `kiln train` records which model it trained, and the
// export is that model's inference graph (batch norm on its running
// statistics, no dropout) with the checkpoint's weights.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <CLI/CLI.hpp>

#include <map>
#include <string>

namespace kiln::tools {

struct ExportArgs {
  std::string source, zoo, checkpoint, output, loadWeights;
  uint64_t seed = 1;

  void addTo(CLI::App &app);
};

/// The inference graph of a classifier trained by `kiln train`: the zoo
/// model `zoo` (built at `seed`) or the model file `modelFile`, with its
/// parameters set from `params` by name; an error names a missing or
/// mismatched one.
Expected<ir::Graph> trainedInference(const std::string &zoo, const std::string &modelFile, uint64_t seed,
                                     const std::map<std::string, ir::HostTensor> &params);

/// Runs `kiln export`; the exit status (errors printed to stderr).
int exportCommand(const ExportArgs &a);

} // namespace kiln::tools
