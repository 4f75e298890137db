//===- tests/fuzz/fuzz_kir.cpp - libFuzzer target for .kir files ----------===//
//
// Feeds arbitrary bytes to the .kir parser; whatever it accepts must verify,
// print and re-parse to the same text, and is then exercised as the ONNX
// target's graphs are (tests/fuzz/Exercise.h): run on the reference
// interpreter and compiled through lowering when small.
//
//===----------------------------------------------------------------------===//
#include "Exercise.h"
#include "ir/Parser.h"
#include "ir/Printer.h"

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  kiln::fuzz::setUp();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kiln::ir::ParseOptions options;
  options.maxInitElements = 1 << 20;
  std::string_view text(reinterpret_cast<const char *>(data), size);
  kiln::fuzz::currentInput() = text;
  auto g = kiln::ir::parse(text, "fuzz.kir", options);
  if (!g) {
    kiln::fuzz::checkNotBug(g.error());
    return 0;
  }
  std::string printed = kiln::ir::print(*g);
  auto again = kiln::ir::parse(printed, "printed.kir", options);
  if (!again || kiln::ir::print(*again) != printed)
    kiln::fuzz::finding("does not round-trip:\n" + printed);
  kiln::fuzz::exercise(*g);
  return 0;
}
