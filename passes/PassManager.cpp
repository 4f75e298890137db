//===- passes/PassManager.cpp - Running named pipelines of passes ---------===//
#include "passes/PassManager.h"

#include "ir/File.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"
#include "passes/CSE.h"
#include "passes/Canonicalize.h"
#include "passes/DCE.h"
#include "passes/Fold.h"
#include "passes/Fuse.h"
#include "passes/Layout.h"
#include "passes/Stabilize.h"
#include "passes/Expand.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>

namespace kiln::passes {

using namespace ir;

namespace {

struct PassEntry {
  const char *name;
  Expected<Graph> (*run)(const Graph &, const Target &);
};

// The pipeline order: stable forms first, then simplification and cleanup,
// then the target's layouts, then kernels.
const PassEntry kPasses[] = {
    {"stabilize", [](const Graph &g, const Target &) { return stabilize(g); }},
    {"canonicalize", [](const Graph &g, const Target &) { return canonicalize(g); }},
    {"fold", [](const Graph &g, const Target &) { return fold(g); }},
    {"cse", [](const Graph &g, const Target &) { return cse(g); }},
    {"dce", [](const Graph &g, const Target &) { return dce(g); }},
    {"expand", [](const Graph &g, const Target &) { return expand(g); }},
    {"layout", assignLayouts},
    {"fuse", [](const Graph &g, const Target &) { return fuse(g); }},
};

Status dump(const std::string &dir, size_t index, const std::string &stage, const Graph &g) {
  return dumpStage(dir, index, stage + ".kir", print(g));
}

} // namespace

bool wantsStage(const std::vector<std::string> &list, const std::string &stage) {
  return std::find(list.begin(), list.end(), "all") != list.end() ||
         std::find(list.begin(), list.end(), stage) != list.end();
}

Status dumpStage(const std::string &dir, size_t index, const std::string &file, const std::string &text) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::string path = fmt::format("{}/{:02}.{}", dir, index, file);
  if (ec)
    return makeError("{}: cannot create the dump directory ({})", dir, ec.message());
  return writeFileAtomic(path, text);
}

std::vector<std::string> allPasses() {
  std::vector<std::string> out;
  for (const PassEntry &p : kPasses)
    out.emplace_back(p.name);
  return out;
}

std::vector<std::string> pipelineFor(int level) {
  if (level <= 0)
    return {};
  if (level == 1)
    return {"canonicalize", "fold", "cse", "dce"};
  return allPasses();
}

Expected<std::vector<std::string>> parsePipeline(const std::string &text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string name = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!name.empty()) {
      auto known = allPasses();
      if (std::find(known.begin(), known.end(), name) == known.end())
        return makeError("unknown pass '{}' (kiln has: {})", name, fmt::join(known, ", "));
      out.push_back(name);
    }
    if (comma == std::string::npos)
      break;
    start = comma + 1;
  }
  return out;
}

Expected<PipelineResult> runPipeline(const Graph &g, const std::vector<std::string> &passes,
                                     const PassOptions &options) {
  PipelineResult r{g, {}, {}};
  if (!options.dumpDir.empty())
    KILN_TRY(dump(options.dumpDir, 0, "input", r.graph));
  size_t index = 0;
  for (const std::string &name : passes) {
    const PassEntry *entry = nullptr;
    for (const PassEntry &p : kPasses)
      if (name == p.name)
        entry = &p;
    if (!entry)
      return makeError("unknown pass '{}'", name);
    if (wantsStage(options.printBefore, name))
      r.printed += fmt::format("// ----- before {} -----\n{}", name, print(r.graph));
    PassStat stat{name, 0, r.graph.nodes().size(), 0, countKernels(r.graph), 0};
    auto t0 = std::chrono::steady_clock::now();
    auto next = entry->run(r.graph, options.target);
    stat.milliseconds = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!next)
      return makeError("pass {}: {}", name, next.error().message);
    r.graph = next.take();
    stat.nodesAfter = r.graph.nodes().size();
    stat.kernelsAfter = countKernels(r.graph);
    r.stats.push_back(stat);
    if (options.verifyEach)
      if (auto s = verify(r.graph); !s)
        return makeError("the graph does not verify after pass {}: {}", name, s.error().message);
    if (wantsStage(options.printAfter, name))
      r.printed += fmt::format("// ----- after {} -----\n{}", name, print(r.graph));
    if (!options.dumpDir.empty())
      KILN_TRY(dump(options.dumpDir, ++index, "after_" + name, r.graph));
  }
  return r;
}

std::string formatStats(const std::vector<PassStat> &stats) {
  std::string out = fmt::format("{:<14} {:>10} {:>8} {:>8} {:>8} {:>8}\n", "pass", "time (ms)", "nodes", "after",
                                "kernels", "after");
  double total = 0;
  for (const PassStat &s : stats) {
    out += fmt::format("{:<14} {:>10.3f} {:>8} {:>8} {:>8} {:>8}\n", s.name, s.milliseconds, s.nodesBefore,
                       s.nodesAfter, s.kernelsBefore, s.kernelsAfter);
    total += s.milliseconds;
  }
  return out + fmt::format("{:<14} {:>10.3f}\n", "total", total);
}

} // namespace kiln::passes
