//===- tests/fuzz/fuzz_onnx.cpp - libFuzzer target for ONNX models --------===//
//
// Feeds arbitrary bytes to the ONNX importer and exercises what it accepts
// (tests/fuzz/Exercise.h): verified, then run on the reference interpreter
// and compiled through lowering when small. No input may crash, abort, hang
// or trip a sanitizer.
//
//===----------------------------------------------------------------------===//
#include "Exercise.h"
#include "frontend/onnx/Onnx.h"

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  kiln::fuzz::setUp();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char *>(data), size);
  kiln::fuzz::currentInput() = bytes;
  auto g = kiln::importOnnxBytes(bytes, "fuzz.onnx");
  if (!g) {
    kiln::fuzz::checkNotBug(g.error());
    return 0;
  }
  kiln::fuzz::exercise(*g);
  return 0;
}
