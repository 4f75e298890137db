//===- passes/PassManager.h - Running named pipelines of passes -*- C++ -*-===//
//
// Runs a pipeline of passes by name (`-O0`, `-O1`, `-O2`, or an explicit
// `cse,dce,...`) as one straight line, with a timer after each pass, the
// graph verified after each pass when asked (always in tests), and the IR
// printed before or after any or all passes and dumped as numbered files
// (`00.input.kir`, `01.after_stabilize.kir`, ...) as XLA's --xla_dump_to does.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"
#include "passes/Target.h"

#include <string>
#include <vector>

namespace kiln::passes {

struct PassOptions {
  Target target;
  bool verifyEach = false;
  std::vector<std::string> printBefore; ///< pass names, or "all"
  std::vector<std::string> printAfter;
  std::string dumpDir; ///< when set, every stage is written there
};

struct PassStat {
  std::string name;
  double milliseconds = 0;
  size_t nodesBefore = 0, nodesAfter = 0;
  size_t kernelsBefore = 0, kernelsAfter = 0;
};

struct PipelineResult {
  ir::Graph graph;
  std::vector<PassStat> stats;
  std::string printed; ///< what print-before/after asked for
};

/// Every pass, in pipeline order.
std::vector<std::string> allPasses();
/// The passes of an optimization level (0, 1 or 2).
std::vector<std::string> pipelineFor(int level);
/// Parses "a,b,c", checking every name.
Expected<std::vector<std::string>> parsePipeline(const std::string &text);
Expected<PipelineResult> runPipeline(const ir::Graph &g, const std::vector<std::string> &passes,
                                     const PassOptions &options = {});
/// Whether --print-before/--print-after's list names `stage` (or `all`);
/// the compile driver asks it of its later stages too.
bool wantsStage(const std::vector<std::string> &list, const std::string &stage);
/// Writes a stage's text to DIR/NN.FILE (`NN.after_fuse.kir`,
/// `NN.lower.kernels`); an error names the file.
Status dumpStage(const std::string &dir, size_t index, const std::string &file, const std::string &text);
/// The table of --time-passes.
std::string formatStats(const std::vector<PassStat> &stats);

} // namespace kiln::passes
