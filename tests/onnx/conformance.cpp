//===- tests/onnx/conformance.cpp - ONNX's node tests as kiln's conformance suite -===//
//
//   kiln-onnx-conformance DATA_DIR [KNOWN_FAILURES] [--filter TEXT] [--quiet]
//                         [--backend reference|llvm]
//
// Walks ONNX's backend node tests (Debian's libonnx-testdata), imports each
// model, runs every test_data_set_* on the reference interpreter and compares
// every output (rtol 1e-3, atol 1e-5, NaN equal to NaN, dtype and shape
// exact). With `--backend llvm` the model is also optimized (-O2 for the
// CPU), compiled to an Executable (native kernels, the interpreter for what
// is not lowered) and run, and its outputs must pass the same comparison. A test whose model kiln refuses with "unsupported" is reported as
// such. Prints one line per test and the summary `N passed, N failed, N
// unsupported`; exits 1 on any failure not listed, with its reason, in the
// known-failures file (and on a listed one that passes, so the list shrinks).
//
//===----------------------------------------------------------------------===//
#include "frontend/onnx/Onnx.h"
#include "passes/PassManager.h"
#include "runtime/Executable.h"
#include "reference/Reference.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace fs = std::filesystem;
using namespace kiln;

namespace {

enum class Outcome { Pass, Fail, Unsupported };

struct Result {
  Outcome outcome;
  std::string detail;
};

std::vector<fs::path> sortedEntries(const fs::path &dir, const std::string &prefix) {
  std::vector<fs::path> out;
  for (const auto &e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind(prefix, 0) == 0)
      out.push_back(e.path());
  // input_10 sorts after input_9.
  std::sort(out.begin(), out.end(), [](const fs::path &a, const fs::path &b) {
    auto num = [](const fs::path &p) {
      std::string s = p.stem().string();
      size_t u = s.rfind('_');
      return u == std::string::npos ? 0L : std::strtol(s.c_str() + u + 1, nullptr, 10);
    };
    return num(a) < num(b);
  });
  return out;
}

std::string firstLine(const std::string &s) {
  std::string line = s.substr(0, s.find('\n'));
  if (s.find('\n') != std::string::npos) // the unsupported-op list: keep its entries on one line
    for (size_t p = s.find('\n'); p != std::string::npos; p = s.find('\n', p + 1))
      line += ";" + s.substr(p + 1, s.find('\n', p + 1) - p - 1);
  return line;
}

std::string compare(const ir::HostTensor &got, const ir::HostTensor &want) {
  if (got.dtype() != want.dtype())
    return fmt::format("dtype {} where {} was expected", ir::dtypeName(got.dtype()), ir::dtypeName(want.dtype()));
  if (got.sizes() != want.sizes())
    return fmt::format("shape {} where {} was expected", ir::toString(got.sizes()), ir::toString(want.sizes()));
  for (int64_t i = 0; i < got.numElements(); ++i) {
    double g = got.get(i), w = want.get(i);
    if (std::isnan(w) && std::isnan(g))
      continue;
    if (std::isinf(w) && g == w)
      continue;
    if (!(std::fabs(g - w) <= 1e-5 + 1e-3 * std::fabs(w)))
      return fmt::format("element {} is {} where {} was expected", i, g, w);
  }
  return "";
}

/// The model run on the LLVM backend: -O2 for the CPU, then an Executable.
Expected<ref::RunResult> runLlvm(const ir::Graph &g, const ref::TensorMap &feeds) {
  auto optimized = passes::runPipeline(g, passes::pipelineFor(2));
  if (!optimized)
    return optimized.error();
  std::map<std::string, ir::Sizes> sizes;
  for (const auto &[name, t] : feeds)
    sizes[name] = t.sizes();
  auto exe = Executable::compile(optimized->graph, sizes);
  if (!exe)
    return exe.error();
  return (*exe)->run(feeds);
}

bool gLlvm = false; ///< --backend llvm

Result runTest(const fs::path &dir) {
  std::string model = (dir / "model.onnx").string();
  std::vector<fs::path> sets = sortedEntries(dir, "test_data_set_");
  if (sets.empty())
    return {Outcome::Unsupported, "no test data"};
  for (const fs::path &set : sets) {
    OnnxImportOptions options;
    std::vector<std::pair<std::string, ir::HostTensor>> inputs;
    for (const fs::path &p : sortedEntries(set, "input_")) {
      std::string name;
      auto t = loadOnnxTensor(p.string(), &name);
      if (!t) {
        // Sequence and optional inputs are not TensorProtos: let the model say why.
        auto g = importOnnx(model);
        std::string msg = firstLine(g ? t.error().message : g.error().message);
        return {msg.find("unsupported") != std::string::npos ? Outcome::Unsupported : Outcome::Fail, msg};
      }
      inputs.emplace_back(name, *t);
      options.knownInputs.emplace(name, t.take());
    }
    auto g = importOnnx(model, options);
    if (!g) {
      std::string msg = firstLine(g.error().message);
      return {msg.find("unsupported") != std::string::npos ? Outcome::Unsupported : Outcome::Fail, msg};
    }
    ref::TensorMap feeds;
    for (const auto &[name, t] : inputs) {
      ir::ValueId v = g->lookup(name);
      if (v != ir::kNoValue && g->value(v).kind == ir::ValueKind::Input)
        feeds.emplace(name, t);
    }
    auto run = ref::evaluate(*g, feeds);
    if (!run)
      return {Outcome::Fail, firstLine(run.error().message)};
    if (gLlvm) {
      run = runLlvm(*g, feeds);
      if (!run)
        return {Outcome::Fail, "on the LLVM backend: " + firstLine(run.error().message)};
    }
    std::vector<fs::path> outputs = sortedEntries(set, "output_");
    if (outputs.size() != run->outputs.size())
      return {Outcome::Fail, fmt::format("{} outputs where {} were expected", run->outputs.size(), outputs.size())};
    for (size_t i = 0; i < outputs.size(); ++i) {
      auto want = loadOnnxTensor(outputs[i].string());
      if (!want)
        return {Outcome::Unsupported, "expected output: " + firstLine(want.error().message)};
      if (std::string diff = compare(run->outputs[i], *want); !diff.empty())
        return {Outcome::Fail, fmt::format("{}, output {}: {}", set.filename().string(), i, diff)};
    }
  }
  return {Outcome::Pass, ""};
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: kiln-onnx-conformance DATA_DIR [KNOWN_FAILURES] [--filter TEXT] [--quiet] "
                       "[--backend reference|llvm]\n");
    return 1;
  }
  fs::path root = argv[1];
  std::map<std::string, std::string> known;
  std::string filter;
  bool quiet = false;
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--filter" && i + 1 < argc) {
      filter = argv[++i];
    } else if (arg == "--quiet") {
      quiet = true;
    } else if (arg == "--backend" && i + 1 < argc) {
      std::string b = argv[++i];
      if (b != "reference" && b != "llvm") {
        fmt::print(stderr, "kiln-onnx-conformance: unknown backend '{}' (reference or llvm)\n", b);
        return 1;
      }
      gLlvm = b == "llvm";
    } else {
      std::ifstream in(arg);
      for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#')
          continue;
        size_t sp = line.find(' ');
        known[line.substr(0, sp)] = sp == std::string::npos ? "" : line.substr(sp + 1);
      }
    }
  }
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    fmt::print(stderr, "kiln-onnx-conformance: {}: no such directory (apt-get install libonnx-testdata)\n", root.string());
    return 1;
  }
  std::vector<fs::path> tests;
  for (const auto &e : fs::directory_iterator(root))
    if (e.is_directory() && e.path().filename().string().find(filter) != std::string::npos)
      tests.push_back(e.path());
  std::sort(tests.begin(), tests.end());
  int passed = 0, failed = 0, unsupported = 0, knownFailed = 0;
  std::vector<std::string> unexpected;
  std::map<std::string, int> unsupportedReasons;
  for (const fs::path &dir : tests) {
    std::string name = dir.filename().string();
    Result r = runTest(dir);
    bool isKnown = known.count(name) != 0;
    const char *tag = "PASS";
    if (r.outcome == Outcome::Pass) {
      ++passed;
      if (isKnown) {
        tag = "XPASS";
        unexpected.push_back(name + " passes: remove it from the known failures");
      }
    } else if (r.outcome == Outcome::Unsupported) {
      ++unsupported;
      tag = "UNSUPPORTED";
      ++unsupportedReasons[r.detail.substr(r.detail.find(": error: ") == std::string::npos ? 0 : r.detail.find(": error: ") + 9)];
    } else {
      ++failed;
      tag = isKnown ? "KNOWN-FAIL" : "FAIL";
      if (isKnown)
        ++knownFailed;
      else
        unexpected.push_back(name + ": " + r.detail);
    }
    if (!quiet || (r.outcome == Outcome::Fail && !isKnown))
      fmt::print("{:<12} {:<60} {}\n", tag, name, r.detail.substr(0, 160));
  }
  if (!unexpected.empty()) {
    fmt::print("\nunexpected results:\n");
    for (const auto &u : unexpected)
      fmt::print("  {}\n", u);
  }
  if (knownFailed)
    fmt::print("\n{} of the failures are listed as known failures\n", knownFailed);
  fmt::print("\n{} passed, {} failed, {} unsupported\n", passed, failed, unsupported);
  return unexpected.empty() ? 0 : 1;
}
