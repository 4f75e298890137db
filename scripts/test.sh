#!/usr/bin/env bash
# kiln's whole test suite: set up and build (warnings are errors), run every
# test through ctest; then build again with clang under AddressSanitizer and
# UndefinedBehaviorSanitizer, run every test there but the whole-model ones
# (training runs, whole-model gradient checks, the VGG step's kernels: minutes
# each under the sanitizers, and the normal build runs them); build with
# ThreadSanitizer and run the tests that compile and run from several threads
# (two Functions in two threads, the JIT's parallel groups, OpenMP kernels,
# two threads and two processes on one disk cache); and fuzz the .kir parser
# and the ONNX importer briefly on seed corpora.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

scripts/setup.sh build
ctest --test-dir build --output-on-failure -j "$jobs"

CC=clang-19 CXX=clang++-19 scripts/setup.sh build-san -DKILN_SANITIZE=ON -DKILN_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=Debug
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-san --output-on-failure -j "$jobs" \
  -E "short training run|cli/kiln-train|whole models|VGG-style training step"

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

# Fuzz both parsers of untrusted input on seed corpora: the repository's .kir
# files and a sample of ONNX's test models.
seconds=${KILN_FUZZ_SECONDS:-45}
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
mkdir -p "$corpus/kir" "$corpus/onnx"
find tests examples -name '*.kir' -exec cp {} "$corpus/kir/" \;
i=0
for m in /usr/share/libonnx-testdata/data/node/test_*/model.onnx; do
  i=$((i + 1))
  if [ $((i % 8)) -eq 0 ]; then cp "$m" "$corpus/onnx/$i.onnx"; fi
done
for target in kir onnx; do
  if ! build-san/kiln-fuzz-$target -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
    "$corpus/$target" > "$corpus/$target.log" 2>&1; then
    tail -n 40 "$corpus/$target.log"
    echo "FAIL: fuzzing the $target importer found a crash"; exit 1
  fi
  echo "fuzzing the $target importer for ${seconds}s: no crash ($(grep -o 'number_of_executed_units: *[0-9]*' "$corpus/$target.log" | grep -o '[0-9]*$') inputs)"
done
