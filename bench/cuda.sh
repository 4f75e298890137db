#!/usr/bin/env bash
# The CUDA backend against PyTorch on one GPU, side by side in one run:
# the zoo's VGG-style net trained one epoch on Fashion-MNIST at batch 64 and
# 256 by `kiln train --device cuda`, PyTorch eager and torch.compile (same
# net, initializers, optimizer; the data on the GPU for all three; TF32 off:
# kiln's kernels are f32), each the median images/s of RUNS epochs; and the
# cold and cached compile of kiln's step, and each kernel's time
# (OUT/profile.txt). Writes OUT/cuda.json and prints a table. Needs a GPU, and PyTorch with CUDA (python3 -c 'import torch').
#   bench/cuda.sh BUILD OUT [RUNS] [LIMIT]
set -euo pipefail
build=${1:?usage: bench/cuda.sh BUILD OUT [RUNS] [LIMIT]} out=${2:?usage: bench/cuda.sh BUILD OUT [RUNS] [LIMIT]}
runs=${3:-3} limit=${4:-60000}
kiln=$build/kiln
src=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
mkdir -p "$out"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
rate() { sed -n 's/^epoch 1: .* \([0-9]*\) images\/s$/\1/p' "$1" | tail -1; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
json="{\"machine\": \"$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)\", \"results\": ["
sep=""
for batch in 64 256; do
  for peer in kiln eager compile; do
    n=$runs
    [ "$peer" = compile ] && n=1 # (torch.compile compiles again in every process)
    for r in $(seq "$n"); do
      case $peer in
        kiln) KILN_CACHE_DIR=$tmp/cache "$kiln" train --device cuda --model vgg --batch-size "$batch" --limit "$limit" \
                --test-limit 1000 --output-dir "$tmp/o" > "$tmp/log" ;;
        eager) "$py" "$src/bench/torch_train.py" vgg --device cuda --no-tf32 --batch-size "$batch" --limit "$limit" \
                 --test-limit 1000 > "$tmp/log" ;;
        compile) "$py" "$src/bench/torch_train.py" vgg --device cuda --no-tf32 --compile --batch-size "$batch" \
                   --limit "$limit" --test-limit 1000 > "$tmp/log" ;;
      esac
      rate "$tmp/log"
    done | median > "$tmp/$peer.$batch"
    json+="$sep{\"peer\": \"$peer\", \"batch\": $batch, \"images_per_s\": $(cat "$tmp/$peer.$batch")}"
    sep=", "
  done
done
# Each kernel's time in the step at batch 64 (--profile: every kernel waited
# for; the step not replayed from its CUDA graph), for the kernel table.
KILN_CACHE_DIR=$tmp/cache "$kiln" train --device cuda --model vgg --batch-size 64 --limit 6400 --test-limit 64 \
  --profile --output-dir "$tmp/o" > "$out/profile.txt"
# Compile time of the VGG-style step: cold (an empty cache) and cached.
cold=$( { /usr/bin/time -f %e env KILN_CACHE_DIR="$tmp/c2" "$kiln" train --device cuda --model vgg --limit 64 \
          --test-limit 64 --epochs 1 --output-dir "$tmp/o2" > /dev/null; } 2>&1 | tail -1)
warm=$( { /usr/bin/time -f %e env KILN_CACHE_DIR="$tmp/c2" "$kiln" train --device cuda --model vgg --limit 64 \
          --test-limit 64 --epochs 1 --output-dir "$tmp/o2" > /dev/null; } 2>&1 | tail -1)
json+="], \"train_64_images_cold_s\": $cold, \"train_64_images_cached_s\": $warm}"
echo "$json" > "$out/cuda.json"
printf '%-8s %10s %10s %10s %12s %12s\n' batch kiln eager compile kiln/eager kiln/compile
for batch in 64 256; do
  k=$(cat "$tmp/kiln.$batch") e=$(cat "$tmp/eager.$batch") c=$(cat "$tmp/compile.$batch")
  awk -v b="$batch" -v k="$k" -v e="$e" -v c="$c" \
    'BEGIN { printf "%-8s %10.0f %10.0f %10.0f %11.2fx %11.2fx\n", b, k, e, c, k / e, k / c }'
done
echo "a 64-image run of kiln train --device cuda: ${cold}s cold, ${warm}s from the cache (process start to end)"
