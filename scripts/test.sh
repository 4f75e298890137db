#!/usr/bin/env bash
# kiln's whole test suite: set up and build (warnings are errors), run every
# test through ctest; then build again with clang under AddressSanitizer and
# UndefinedBehaviorSanitizer, run the unit tests there, and fuzz the .kir
# parser briefly on a seed corpus of the repository's .kir files.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

scripts/setup.sh build
ctest --test-dir build --output-on-failure -j "$jobs"

CC=clang-19 CXX=clang++-19 scripts/setup.sh build-san -DKILN_SANITIZE=ON -DKILN_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=Debug
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-san --output-on-failure -j "$jobs"

corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
find tests examples -name '*.kir' -exec cp {} "$corpus/" \;
build-san/kiln-fuzz-kir -max_total_time="${KILN_FUZZ_SECONDS:-60}" -rss_limit_mb=2048 -print_final_stats=1 \
  "$corpus" 2>&1 | tail -n 4
echo "fuzzing the .kir parser: no crash"
