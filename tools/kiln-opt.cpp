//===- tools/kiln-opt.cpp - Parse, verify and print .kir (for tests) ------===//
//
//   kiln-opt FILE.kir [--format text|dot]
//
// Parses and verifies a .kir file and prints it back; the golden tests of
// passes run through it. Errors go to stderr with exit status 1.
//
//===----------------------------------------------------------------------===//
#include "Model.h"
#include "ir/Dot.h"
#include "ir/Printer.h"

#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char **argv) {
  CLI::App app{"kiln-opt: parse, verify and print a .kir file"};
  std::string file, format = "text";
  app.add_option("file", file, "The .kir file")->required();
  app.add_option("--format", format, "text or dot")->check(CLI::IsMember({"text", "dot"}));
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
  std::cout << (format == "dot" ? kiln::ir::toDot(*g) : kiln::ir::print(*g));
  return 0;
}
