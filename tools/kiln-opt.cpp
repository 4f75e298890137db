//===- tools/kiln-opt.cpp - Run passes on .kir files (for tests) ----------===//
//
//   kiln-opt FILE.kir [--passes=a,b | -O0|-O1|-O2] [--print-after=PASS|all]
//            [--print-before=...] [--verify-each] [--time-passes] [--dump-dir DIR]
//            [--format text|dot]
//
// Parses and verifies a .kir file, runs the passes asked for (none by
// default) and prints the result; the golden tests of passes run through it.
// Errors go to stderr with exit status 1.
//
//===----------------------------------------------------------------------===//
#include "Model.h"
#include "PipelineFlags.h"
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
  return 0;
}
