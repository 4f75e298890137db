#!/usr/bin/env bash
# kiln's whole test suite: set up and build (warnings are errors), run every
# test through ctest; then build again with clang under AddressSanitizer and
# UndefinedBehaviorSanitizer, run every test there but the whole-model ones
# (training runs, the recurrent layers' sequence task, the C training example's,
# NVRTC compiling every zoo and VGG16 kernel, whole-model gradient checks, the
# VGG step's kernels, the examples that train: minutes each under the sanitizers, and the normal build
# runs them; the installed-package test, whose consumer is not a sanitized build; the conformance suite through kiln compile runs a sample); build with
# ThreadSanitizer and run the tests that compile and run from several threads
# (two Functions in two threads, the JIT's parallel groups, OpenMP kernels,
# two threads and two processes on one disk cache); and fuzz the .kir and
# ONNX readers for a minute each (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

scripts/setup.sh build
ctest --test-dir build --output-on-failure -j "$jobs"

CC=clang-19 CXX=clang++-19 scripts/setup.sh build-san -DKILN_SANITIZE=ON -DKILN_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=Debug
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-san --output-on-failure -j "$jobs" \
  -E "short training run|learn to remember|compiles with NVRTC for sm_80|cli/kiln-train|e2e/aot-train|whole models|VGG-style training step|e2e/vgg16|e2e/custom-loop|e2e/consumer|onnx/torch-models"

# ThreadSanitizer: OpenMP's ordering through LLVM's Archer tool, libomp's own
# internals suppressed (tests/tsan.supp).
CC=clang-19 CXX=clang++-19 cmake -S . -B build-tsan -G Ninja -DKILN_SANITIZE_THREAD=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo > build-tsan.configure.log || { cat build-tsan.configure.log; exit 1; }
ninja -C build-tsan kiln-unit kiln-cli
export TSAN_OPTIONS="halt_on_error=1 ignore_noninstrumented_modules=1 suppressions=$PWD/tests/tsan.supp"
OMP_TOOL_LIBRARIES=/usr/lib/llvm-19/lib/libarcher.so \
  build-tsan/kiln-unit "[threads],[cache],[llvm],[function]"
OMP_TOOL_LIBRARIES=/usr/lib/llvm-19/lib/libarcher.so bash tests/cli/cache_processes.sh build-tsan/kiln .
unset TSAN_OPTIONS

# Fuzz both readers of untrusted files (tests/fuzz/: they import, then run
# what they import on the reference interpreter and through lowering), a
# minute each by default.
scripts/fuzz.sh "${KILN_FUZZ_SECONDS:-60}" build-san
