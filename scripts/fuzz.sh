#!/usr/bin/env bash
# Fuzzes kiln's two readers of untrusted files, each for SECONDS (default 60):
# the .kir parser and the ONNX importer, whose targets (tests/fuzz/) also run
# what they import on the reference interpreter and compile it through
# lowering. Needs a build with -DKILN_FUZZ=ON -DKILN_SANITIZE=ON (clang):
#   scripts/fuzz.sh [SECONDS] [BUILD_DIR] [JOBS]    (KILN_FUZZ_TARGETS=onnx: one target)
# Seeds: the repository's .kir files, the bad-input corpus (tests/bad/), past
# findings (tests/fuzz/seeds/, also replayed by ctest in that build), and
# every 8th model of ONNX's node tests; dictionaries of op and attribute
# names are taken from the sources. The corpus grows in BUILD_DIR/fuzz/ and
# is kept between runs; a finding is saved there as crash-* and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
build=${2:-build-san}
jobs=${3:-1}
work="$build/fuzz"
mkdir -p "$work/kir" "$work/onnx" "$work/seeds-kir" "$work/seeds-onnx"

find tests examples -name '*.kir' -exec cp {} "$work/seeds-kir/" \;
cp tests/bad/onnx/*.onnx tests/fuzz/seeds/onnx/* "$work/seeds-onnx/"
i=0
for m in /usr/share/libonnx-testdata/data/node/test_*/model.onnx; do
  i=$((i + 1))
  if [ $((i % 8)) -eq 0 ]; then cp "$m" "$work/seeds-onnx/$i.onnx"; fi
done

# Dictionaries: ONNX op types and attribute names the importer knows, kiln's
# op names and .kir keywords.
{
  grep -o '{"[A-Z][A-Za-z]*", conv' frontend/onnx/OnnxOps.cpp | sed 's/{\("[A-Za-z]*"\).*/\1/'
  grep -oh 'attr[A-Za-z]*("[a-z_]*"' frontend/onnx/*.cpp | sed 's/.*(\("[a-z_]*"\)/\1/'
} | sort -u > "$work/onnx.dict"
{
  "$build/kiln" ops 2>/dev/null | awk '{print "\"" $1 "\""}' | grep -v '""'
  for w in graph input param const output update fused arg yield row_major nhwc nchw8c f32 f64 f16 bf16 i64 i32 \
    i8 u8 bool zeros constant uniform normal glorot_uniform he_normal inf nan '<-' '{' '}' '%' '@'; do
    echo "\"$w\""
  done
} | sort -u > "$work/kir.dict"

status=0
root=$PWD
for target in ${KILN_FUZZ_TARGETS:-kir onnx}; do
  log="$root/$work/$target.log"
  parallel=()
  if [ "$jobs" -gt 1 ]; then parallel=(-jobs="$jobs" -workers="$jobs"); fi
  # In the work directory: with -jobs, libFuzzer writes fuzz-N.log there.
  if ! (cd "$work" && "$root/$build/kiln-fuzz-$target" "$target" "seeds-$target" -dict="$target.dict" \
    -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="crash-$target-" "${parallel[@]}") > "$log" 2>&1; then
    tail -n 40 "$log"
    echo "FAIL: fuzzing $target found a crash, a hang or a leak (saved under $work/crash-$target-*)"
    status=1
    continue
  fi
  runs=$( (cat "$log" "$work"/fuzz-*.log 2>/dev/null || true) | awk '/stat::number_of_executed_units/ {n += $2} END {print n + 0}')
  got=$( (cat "$log" "$work"/fuzz-*.log 2>/dev/null || true) | awk '/^kiln fuzz:/ {i += $3; r += $5; l += $10} END {printf "%d imported, %d run, %d lowered", i, r, l}')
  echo "fuzzing $target for ${seconds}s x $jobs: no finding ($runs inputs: $got; corpus $(ls "$work/$target" | wc -l))"
done
exit $status
