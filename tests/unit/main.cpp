//===- tests/unit/main.cpp - Catch2's main for kiln's unit tests ----------===//
//
// Tests compile afresh: the disk cache of compiled kernels is off unless a
// test names a directory for it (test_llvm's cache test does). Every kernel
// lowered in a test goes through the kernel-IR verifier.
//
//===----------------------------------------------------------------------===//
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdlib>

int main(int argc, char **argv) {
  setenv("KILN_CACHE_DIR", "", 1);
  setenv("KILN_VERIFY_KERNELS", "1", 1);
  return Catch::Session().run(argc, argv);
}
