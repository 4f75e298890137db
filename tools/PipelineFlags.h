//===- tools/PipelineFlags.h - The pass-pipeline flags of kiln and kiln-opt -*- C++ -*-===//
//
// -O0/-O1/-O2, --passes, --target, --image-layout, --print-before/--print-after,
// --verify-each, --time-passes and --dump-dir (also the config's dump_dir),
// shared by `kiln dump` and `kiln-opt`.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Limits.h"
#include "ir/DimExpr.h"
#include "passes/PassManager.h"
#include "runtime/Config.h"

#include <CLI/CLI.hpp>

#include <charconv>
#include <cstdlib>
#include <map>
#include <optional>
#include <iostream>

namespace kiln::tools {

/// Sets the memory limit from `--max-memory` if given (the config's
/// max_memory, if set, was applied when it was read); a bad value is an
/// error naming the flag.
inline Status applyMemoryLimit(const std::string &flag) {
  if (flag.empty())
    return {};
  auto bytes = ir::parseByteSize(flag);
  if (!bytes)
    return makeError("error: --max-memory: {}", bytes.error().message);
  ir::setMemoryLimit(*bytes);
  return {};
}

/// `--dims N=64,M=3` as a map; an entry that is not NAME=SIZE with a
/// positive integer size is an error naming it.
inline Expected<std::map<std::string, int64_t>> parseDims(const std::vector<std::string> &dims) {
  std::map<std::string, int64_t> out;
  for (const std::string &d : dims) {
    size_t eq = d.find('=');
    int64_t size = 0;
    const char *begin = d.c_str() + (eq == std::string::npos ? d.size() : eq + 1), *end = d.c_str() + d.size();
    auto [ptr, ec] = std::from_chars(begin, end, size);
    if (eq == std::string::npos || eq == 0 || ec != std::errc() || ptr != end || size <= 0)
      return makeError("--dims {} must be NAME=SIZE with a positive SIZE", d);
    out[d.substr(0, eq)] = size;
  }
  return out;
}

/// The sizes to compile `g` for: each symbolic dim of its inputs as
/// `dims` binds it (1 when not given); a dim only known at run time is an
/// error naming the input.
inline Expected<std::map<std::string, ir::Sizes>> inputSizes(const ir::Graph &g,
                                                              const std::map<std::string, int64_t> &dims) {
  std::map<std::string, ir::Sizes> sizes;
  for (ir::ValueId v : g.inputs()) {
    ir::Sizes s;
    for (const ir::Dim &d : g.type(v).shape) {
      if (d.isUnknown())
        return makeError("input %{} has a dim only known at run time", g.nameOf(v));
      s.push_back(ir::dimValue(d, dims).value_or(1));
    }
    sizes[g.nameOf(v)] = s;
  }
  return sizes;
}

struct PipelineFlags {
  int level = -1; ///< -1: not given
  std::string passes;
  std::vector<std::string> printBefore, printAfter;
  bool verifyEach = false, timePasses = false;
  std::string dumpDir;
  std::string target = "cpu", imageLayout;

  void addTo(CLI::App &app) {
    app.add_option("--target", target, "Device the passes compile for: cpu or cuda")
        ->check(CLI::IsMember({"cpu", "cuda"}));
    app.add_option("--image-layout", imageLayout, "Layout of images around convolutions (default nhwc)")
        ->check(CLI::IsMember({"nhwc", "nchw8c", "nchw16c", "row_major"}));
    app.add_option("-O", level, "Optimization level: 0, 1 or 2")->check(CLI::Range(0, 2));
    app.add_option("--passes", passes, "Passes to run, comma-separated (instead of -O)");
    app.add_option("--print-before", printBefore, "Print the IR before this pass (or all)")->delimiter(',');
    app.add_option("--print-after", printAfter, "Print the IR after this pass (or all)")->delimiter(',');
    app.add_flag("--verify-each", verifyEach, "Verify the graph after every pass");
    app.add_flag("--time-passes", timePasses, "Report each pass's time and node counts");
    app.add_option("--dump-dir", dumpDir, "Write every stage as numbered .kir files here");
  }

  /// The passes asked for (`defaultLevel` when neither -O nor --passes).
  Expected<std::vector<std::string>> pipeline(int defaultLevel) const {
    if (!passes.empty())
      return passes::parsePipeline(passes);
    return passes::pipelineFor(level < 0 ? defaultLevel : level);
  }

  passes::PassOptions options() const {
    passes::PassOptions o;
    o.target.device = *passes::parseDevice(target);
    if (!imageLayout.empty())
      o.target.imageLayout = *ir::parseLayout(imageLayout);
    o.verifyEach = verifyEach;
    o.printBefore = printBefore;
    o.printAfter = printAfter;
    o.dumpDir = dumpDir;
    if (o.dumpDir.empty())
      if (const auto &c = config(); c)
        o.dumpDir = c->dumpDir;
    return o;
  }

  /// Runs the pipeline; prints what was asked to stderr.
  Expected<ir::Graph> run(const ir::Graph &g, int defaultLevel) const {
    auto list = pipeline(defaultLevel);
    if (!list)
      return list.error();
    auto r = passes::runPipeline(g, *list, options());
    if (!r)
      return r.error();
    std::cerr << r->printed;
    if (timePasses)
      std::cerr << passes::formatStats(r->stats);
    return std::move(r->graph);
  }
};

} // namespace kiln::tools
