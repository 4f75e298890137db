//===- tests/fuzz/fuzz_onnx.cpp - libFuzzer target for the ONNX importer --===//
//
// Feeds arbitrary bytes to the ONNX importer: no input may crash, abort or
// trip a sanitizer; whatever it accepts must verify.
//
//===----------------------------------------------------------------------===//
#include "frontend/onnx/Onnx.h"
#include "ir/Verifier.h"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char *>(data), size);
  auto g = kiln::importOnnxBytes(bytes, "fuzz.onnx");
  if (g && !kiln::ir::verify(*g))
    std::abort();
  return 0;
}
