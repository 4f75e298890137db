#!/usr/bin/env bash
# The CUDA backend's checks, in one run, for a machine with a GPU (the
# project's H200 machine: 16 cores, no network), in under 8 minutes:
#   1. build (Release, -j16), or use BUILD when it holds a build of this tree;
#   2. the CPU part: NVRTC for sm_80/sm_90, the host emulation and the CUDA
#      golden tests (what CI runs without a GPU);
#   3. the gpu-labelled tests: ONNX's node tests on the GPU against the
#      reference, the zoo's training steps against the CPU backend to 1e-4,
#      one epoch of the VGG-style net reaching the CPU's accuracy;
#   4. the benchmark bench/cuda.sh (kiln against PyTorch eager and
#      torch.compile at batch 64 and 256).
# Writes OUT/gpu-check.json, each part's log, and prints a table last.
# Without a GPU parts 3 and 4 are skipped, saying so.
#   scripts/gpu-check.sh OUT [BUILD]
set -uo pipefail
out=${1:?usage: scripts/gpu-check.sh OUT [BUILD]}
build=${2:-build-gpu}
src=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
declare -A status
jobs=$(nproc)
step() { # name seconds command...: runs under a time limit, logs, records pass/fail/skipped/timeout
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  local s=pass
  [ $rc -eq 77 ] && s=skipped
  [ $rc -eq 124 ] && s=timeout
  [ $rc -ne 0 ] && [ $rc -ne 77 ] && [ $rc -ne 124 ] && s=fail
  status[$name]="$s $((SECONDS - t0))s"
  echo "$name: $s ($((SECONDS - t0)) s)"
}
configure_and_build() {
  if [ ! -f "$build/build.ninja" ]; then
    cmake -S "$src" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_WERROR=OFF || return 1
  fi
  ninja -C "$build" -j"$jobs" kiln-cli kiln-unit kiln-opt kiln-onnx-conformance kiln-bench-pipeline
}
have_gpu() {
  command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1 || return 77
}
# The limits add up to under 8 minutes; a part past its limit is "timeout".
export build src jobs
export -f configure_and_build
step build 150 bash -c configure_and_build
# (onnx/conformance-cuda-emulation-*, minutes on two cores, are CI's.)
step cpu-part 90 ctest --test-dir "$build" -j"$jobs" -R 'cuda|kernel' -E 'conformance' --output-on-failure
if have_gpu; then
  nvidia-smi -L > "$out/gpu.txt"
  step gpu-tests 150 ctest --test-dir "$build" -j3 -L gpu --output-on-failure --timeout 140
  step bench 120 bash "$src/bench/cuda.sh" "$build" "$out" 3 20000
else
  echo "no GPU here: the gpu-labelled tests and the benchmark are not run" | tee "$out/gpu.txt"
  status[gpu-tests]="skipped (no GPU)"
  status[bench]="skipped (no GPU)"
fi
{
  echo "{"
  first=1
  for k in build cpu-part gpu-tests bench; do
    [ $first -eq 1 ] || echo ","
    first=0
    printf '  "%s": "%s"' "$k" "${status[$k]:-not run}"
  done
  echo
  echo "}"
} > "$out/gpu-check.json"
echo
printf '%-10s %s\n' part result
for k in build cpu-part gpu-tests bench; do printf '%-10s %s\n' "$k" "${status[$k]:-not run}"; done
[ -f "$out/cuda.json" ] && tail -4 "$out/bench.log"
grep -q '"fail\|"timeout' "$out/gpu-check.json" && exit 1
exit 0
