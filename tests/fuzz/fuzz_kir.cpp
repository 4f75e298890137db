//===- tests/fuzz/fuzz_kir.cpp - libFuzzer target for the .kir parser -----===//
//
// Feeds arbitrary bytes to the parser, and prints and re-parses whatever it
// accepts: no input may crash, abort, leak or trip a sanitizer, and every
// accepted graph must verify and round-trip.
//
//===----------------------------------------------------------------------===//
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"

#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  kiln::ir::ParseOptions options;
  options.maxInitElements = 1 << 20;
  std::string_view text(reinterpret_cast<const char *>(data), size);
  auto g = kiln::ir::parse(text, "fuzz.kir", options);
  if (!g)
    return 0;
  if (!kiln::ir::verify(*g)) {
    std::fputs("a parsed graph does not verify\n", stderr);
    std::abort();
  }
  std::string printed = kiln::ir::print(*g);
  auto again = kiln::ir::parse(printed, "printed.kir", options);
  if (!again || kiln::ir::print(*again) != printed) {
    std::fprintf(stderr, "does not round-trip:\n%s\n", printed.c_str());
    std::abort();
  }
  return 0;
}
