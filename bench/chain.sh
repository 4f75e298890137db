#!/usr/bin/env bash
# How the pass pipeline scales with graph size: `kiln dump --stage optimized`
# (-O2: every pass, fusion included) on an elementwise chain of N nodes and on
# a wide graph of N/2 independent two-node branches (each scaled by its own
# constant, so CSE merges none) summed in a tree, N = 10k, 40k and 100k; the median wall time of RUNS runs, and the slowest passes of
# the last run (--time-passes).
#   bench/chain.sh [BUILD_DIR] [RUNS]     (KILN_CHAIN_SIZES="10000 40000": fewer sizes)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
runs=${2:-3}
kiln="$build/kiln"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sizes=${KILN_CHAIN_SIZES:-10000 40000 100000}
python3 - "$tmp" "$sizes" <<'PY'
import sys
out = sys.argv[1]
ops = ["exp", "neg", "tanh", "abs"]
for n in map(int, sys.argv[2].split()):
    lines = ["graph @chain {", "  input %x : f32[N,16]"]
    prev = "x"
    for i in range(n):
        lines.append(f"  %v{i} = {ops[i % 4]}(%{prev}) : f32[N,16]")
        prev = f"v{i}"
    lines += [f"  output %{prev}", "}"]
    open(f"{out}/chain{n}.kir", "w").write("\n".join(lines) + "\n")
    lines = ["graph @wide {", "  input %x : f32[N,16]"]
    level = []
    for i in range(n // 2):  # a distinct constant a branch, so CSE merges none
        lines.append(f"  const %c{i} : f32[] = [{i}.5]")
        lines.append(f"  %a{i} = mul(%x, %c{i}) : f32[N,16]")
        lines.append(f"  %b{i} = {ops[i % 4]}(%a{i}) : f32[N,16]")
        level.append(f"b{i}")
    k = 0
    while len(level) > 1:
        nxt = []
        for j in range(0, len(level) - 1, 2):
            lines.append(f"  %s{k} = add(%{level[j]}, %{level[j + 1]}) : f32[N,16]")
            nxt.append(f"s{k}")
            k += 1
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    lines += [f"  output %{level[0]}", "}"]
    open(f"{out}/wide{n}.kir", "w").write("\n".join(lines) + "\n")
PY
echo "| graph | nodes | kiln dump --stage optimized, median of $runs | runs | kernels | slowest passes (ms) |"
echo "|---|---:|---:|---|---:|---|"
for shape in chain wide; do
  for n in $sizes; do
    f="$tmp/$shape$n.kir"
    times=()
    for _ in $(seq "$runs"); do
      start=$(date +%s.%N)
      "$kiln" dump "$f" --stage optimized --time-passes > /dev/null 2> "$tmp/passes.txt"
      times+=("$(echo "$(date +%s.%N) - $start" | awk '{printf "%.2f", $1 - $3}')")
    done
    median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
    kernels=$(awk '$1 == "fuse" {print $6}' "$tmp/passes.txt")
    slow=$(grep -E '^ *[a-z_]+ +[0-9.]+ ' "$tmp/passes.txt" | grep -v total | sort -k2 -n -r | head -3 |
      awk '{printf "%s%s %.0f", (NR > 1 ? ", " : ""), $1, $2}')
    echo "| $shape | $n | ${median} s | ${times[*]} | $kernels | $slow |"
  done
done
