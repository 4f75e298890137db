//===- tools/kiln-opt.cpp - Run passes on .kir files (for tests) ----------===//
//
//   kiln-opt FILE.kir [--passes=a,b | -O0|-O1|-O2] [--print-after=PASS|all]
//            [--print-before=...] [--verify-each] [--time-passes] [--dump-dir DIR]
//            [--plan-memory --dims N=64] [--format text|dot]
//
// Parses and verifies a .kir file, runs the passes asked for (none by
// default) and prints the result; the golden tests of passes run through it.
// Errors go to stderr with exit status 1.
//
//===----------------------------------------------------------------------===//
#include "Model.h"
#include "PipelineFlags.h"
#include "passes/PlanMemory.h"
#include "ir/Dot.h"
#include "ir/Printer.h"

#include <iostream>

int main(int argc, char **argv) {
  CLI::App app{"kiln-opt: parse, verify, transform and print a .kir file"};
  std::string file, format = "text";
  kiln::tools::PipelineFlags flags;
  app.add_option("file", file, "The .kir file")->required();
  app.add_option("--format", format, "text or dot")->check(CLI::IsMember({"text", "dot"}));
  flags.addTo(app);
  bool plan = false;
  std::vector<std::string> dims;
  app.add_flag("--plan-memory", plan, "Print the static memory plan of the result (after the passes)");
  app.add_option("--dims", dims, "Sizes of symbolic dims for --plan-memory, as N=64")->delimiter(',');
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 1;
  }
  auto g = kiln::loadModel(file);
  if (!g) {
    std::cerr << "kiln-opt: " << g.error().message << "\n";
    return 1;
  }
  auto out = flags.run(*g, 0);
  if (!out) {
    std::cerr << "kiln-opt: " << file << ": error: " << out.error().message << "\n";
    return 1;
  }
  std::cout << (format == "dot" ? kiln::ir::toDot(*out) : kiln::ir::print(*out));
  if (plan) {
    auto sizes = kiln::tools::parseDims(dims);
    if (!sizes) {
      std::cerr << "kiln-opt: error: " << sizes.error().message << "\n";
      return 1;
    }
    auto p = kiln::passes::planMemory(*out, *sizes);
    if (!p) {
      std::cerr << "kiln-opt: " << file << ": error: " << p.error().message << "\n";
      return 1;
    }
    std::cout << kiln::passes::formatPlan(*out, *p);
  }
  return 0;
}
