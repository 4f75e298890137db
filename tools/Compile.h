//===- tools/Compile.h - kiln compile: a model ahead of time ----*- C++ -*-===//
//
//   kiln compile MODEL|--model ZOO -o NAME.o --header NAME.h [--cpu CPU]
//                [--threads T] [--max-batch B] [--batch-sizes 1,8,32]
//                [--weights FILE.safetensors] [--train ...]
//
// Compiles a model's inference (and, with --train, its training step)
// through the one driver for each batch size it specializes, lays the
// programs out as tables (codegen/aot/AotAbi.h) over a caller-provided
// workspace planned by plan_memory, and writes a relocatable object
// (codegen/llvm/Aot.h) and a C99 header describing its entries.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "PipelineFlags.h"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace kiln::tools {

struct CompileArgs {
  std::string model, zoo, object, header, name, cpu, weights, loadWeights;
  int threads = 0; ///< 0: this machine's
  int64_t maxBatch = 256;
  std::vector<int64_t> batchSizes;
  std::vector<std::string> dims;
  bool train = false;
  std::string loss = "softmax_cross_entropy", optimizer = "momentum";
  double lr = 0.01, momentum = 0.9, weightDecay = 0;
  uint64_t seed = 1;

  void addTo(CLI::App &app);
};

/// Runs `kiln compile`; the exit status (errors printed to stderr).
int compileCommand(const CompileArgs &a, const PipelineFlags &flags);

} // namespace kiln::tools
