#!/usr/bin/env bash
# The CUDA backend from the command line, with or without a GPU: kiln needs
# no libcuda.so.1 to start (the driver is opened at run time); the dumps of
# CUDA C++ and PTX need no GPU; asking to run on a GPU where there is none
# is one error naming what is missing, exit status 1.
#   kiln_cuda.sh KILN SOURCE_DIR
set -uo pipefail
kiln=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
if readelf -d "$kiln" | grep -q 'NEEDED.*libcuda'; then
  echo "FAIL: kiln links libcuda (it must dlopen it)"; fails=1
fi
"$kiln" dump "$src/examples/lenet5.kir" --stage cuda --dims N=2 > "$tmp/lenet.cu" ||
  { echo "FAIL: --stage cuda"; fails=1; }
[ "$(grep -c '^extern "C" __global__ void kernel' "$tmp/lenet.cu")" -ge 8 ] ||
  { echo "FAIL: --stage cuda printed too few kernels"; fails=1; }
if "$kiln" dump "$src/examples/lenet5.kir" --stage ptx --dims N=2 > "$tmp/lenet.ptx" 2> "$tmp/ptx.err"; then
  grep -q '^.target sm_' "$tmp/lenet.ptx" && grep -q '.entry kernel0' "$tmp/lenet.ptx" ||
    { echo "FAIL: --stage ptx is not PTX"; fails=1; }
else
  grep -q "without the CUDA toolkit" "$tmp/ptx.err" || { echo "FAIL: --stage ptx"; cat "$tmp/ptx.err"; fails=1; }
fi
"$kiln" dump "$src/examples/lenet5.kir" --target cuda --stage kernels --dims N=64 > "$tmp/k.txt" &&
  grep -q "for block" "$tmp/k.txt" || { echo "FAIL: --target cuda --stage kernels has no GPU schedule"; fails=1; }

source "$(dirname "$0")/expect.sh"
expect "for --target cuda dump --stage cuda" dump "$src/examples/lenet5.kir" --target cuda --stage asm
if ! "$kiln" train --device cuda --model mlp --limit 64 --test-limit 64 --output-dir "$tmp/o" > /dev/null 2>&1; then
  # No GPU here: the error names what is missing.
  expect "error: --device cuda: no CUDA" train --device cuda --model mlp --limit 64 --output-dir "$tmp/o"
  expect "no CUDA" run "$src/examples/lenet5.kir" --device gpu -i "x=$src/examples/fashion4.npy" -o "$tmp/out"
  expect "--device cuda runs compiled kernels" train --device cuda --backend reference --model mlp --limit 64
fi
exit $fails
