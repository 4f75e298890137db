#!/usr/bin/env bash
# On a GPU: one epoch of the zoo's VGG-style net with --device cuda reaches
# the accuracy the CPU reaches on the same data, seed and step (within 1.5
# points; the kernels sum in another order). Exit 77 (skipped) without a GPU.
#   train_epoch.sh KILN [LIMIT]
set -uo pipefail
kiln=$1 limit=${2:-12000}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
if ! "$kiln" train --device cuda --model mlp --limit 64 --test-limit 64 --output-dir "$tmp/probe" > "$tmp/probe.log" 2>&1; then
  if grep -q "libcuda.so.1\|no CUDA device\|without the CUDA toolkit" "$tmp/probe.log"; then
    echo "skipped: $(tail -1 "$tmp/probe.log")"; exit 77
  fi
  cat "$tmp/probe.log"; exit 1
fi
accuracy() { sed -n 's/.*test accuracy \([0-9.]*\)%.*/\1/p' "$1" | tail -1; }
"$kiln" train --model vgg --limit "$limit" --test-limit 2000 --output-dir "$tmp/cpu" > "$tmp/cpu.log" || { cat "$tmp/cpu.log"; exit 1; }
"$kiln" train --device cuda --model vgg --limit "$limit" --test-limit 2000 --output-dir "$tmp/gpu" > "$tmp/gpu.log" ||
  { cat "$tmp/gpu.log"; exit 1; }
cpu=$(accuracy "$tmp/cpu.log") gpu=$(accuracy "$tmp/gpu.log")
echo "test accuracy after one epoch: cpu $cpu%, cuda $gpu%"
grep "images/s" "$tmp/gpu.log" | tail -2
awk -v c="$cpu" -v g="$gpu" 'BEGIN { d = c - g; if (d < 0) d = -d; exit !(c != "" && g != "" && d <= 1.5) }' ||
  { echo "FAIL: the GPU's accuracy is not the CPU's"; exit 1; }
