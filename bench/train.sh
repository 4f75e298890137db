#!/usr/bin/env bash
# Training throughput of kiln against PyTorch on the zoo's nets: one epoch on
# the first LIMIT Fashion-MNIST images at each batch size, kiln's LLVM
# backend and PyTorch (Debian's python3-torch, 2 threads, bench/torch_train.py:
# same nets, initializers, data and optimizer), each run timing its whole
# epoch loop (kiln's includes compiling the step: "cold" with an empty disk
# cache, "cached" with the cache that run filled), with test accuracy on
# 1,000 test images and peak RSS.
#   bench/train.sh [BUILD_DIR] [LIMIT] [MODELS...]   (defaults: build 8192 mlp lenet vgg)
# BATCHES="64 128" and BACKENDS="cold cached torch" (add "reference" for the
# interpreter) choose the rows; each row is the median of RUNS runs (3) by
# images/s.
set -euo pipefail
build=${1:-build} limit=${2:-8192}
shift $(( $# > 2 ? 2 : $# ))
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(mlp lenet vgg)
batches=${BATCHES:-64 128} backends=${BACKENDS:-cold cached torch} runs=${RUNS:-3}
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
echo "| model | batch | runs on | images/s | test accuracy | peak RSS |"
echo "|---|---:|---|---:|---:|---:|"
for m in "${models[@]}"; do
  for bs in $batches; do
    for b in $backends; do
      results=()
      for ((r = 0; r < runs; r++)); do
        backend=llvm
        case $b in
          torch) cmd=(/usr/bin/python3 "$(dirname "$0")/torch_train.py" "$m" --limit "$limit" --test-limit 1000
                      --batch-size "$bs") ;;
          cold) rm -rf "$out/cache" ;;&
          cold|cached) export KILN_CACHE_DIR="$out/cache" ;;&
          reference) backend=reference ;;&
          *) cmd=("$build/kiln" train --model "$m" --epochs 1 --limit "$limit" --test-limit 1000 --batch-size "$bs"
                  --backend "$backend" --output-dir "$out") ;;
        esac
        /usr/bin/time -f "%M" -o "$out/rss" "${cmd[@]}" > "$out/log" 2>&1
        line=$(grep '^epoch 1:' "$out/log")
        ips=$(sed -n 's/.* \([0-9]*\) images\/s$/\1/p' <<< "$line")
        acc=$(sed -n 's/.*test accuracy \([0-9.]*%\).*/\1/p' <<< "$line")
        results+=("$ips $acc $(( $(cat "$out/rss") / 1024 ))")
      done
      read -r ips acc rss < <(printf '%s\n' "${results[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
      case $b in
        torch) what="PyTorch 1.13 (2 threads)" ;;
        reference) what="kiln, reference interpreter" ;;
        *) what="kiln, LLVM ($b compile)" ;;
      esac
      echo "| $m | $bs | $what | $ips | $acc | $rss MB |"
    done
  done
done
