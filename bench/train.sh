#!/usr/bin/env bash
# Training throughput of kiln's backends on the zoo's nets: one epoch on the
# first LIMIT Fashion-MNIST images at batch 64, for each model and backend,
# as a markdown table (images/s of training, test accuracy, peak RSS).
#   bench/train.sh [BUILD_DIR] [LIMIT] [MODELS...]     (defaults: build 1024 mlp lenet vgg)
set -euo pipefail
build=${1:-build} limit=${2:-1024}
shift $(( $# > 2 ? 2 : $# ))
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(mlp lenet vgg)
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
echo "| model | backend | images/s | test accuracy | peak RSS |"
echo "|---|---|---:|---:|---:|"
for m in "${models[@]}"; do
  for b in llvm reference; do
    /usr/bin/time -f "%M" -o "$out/rss" "$build/kiln" train --model "$m" --epochs 1 --limit "$limit" \
      --test-limit 500 --backend "$b" --output-dir "$out" > "$out/log" 2>&1
    line=$(grep '^epoch 1:' "$out/log")
    ips=$(sed -n 's/.* \([0-9]*\) images\/s$/\1/p' <<< "$line")
    acc=$(sed -n 's/.*test accuracy \([0-9.]*%\).*/\1/p' <<< "$line")
    echo "| $m | $b | $ips | $acc | $(( $(cat "$out/rss") / 1024 )) MB |"
  done
done
