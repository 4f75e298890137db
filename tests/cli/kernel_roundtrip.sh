#!/usr/bin/env bash
# The kernels of a graph, as kiln-opt --lower prints them, parse back
# (kiln-opt --kernels verifies each) and print the same.
#   kernel_roundtrip.sh KILN_OPT FILE.kir
set -euo pipefail
opt=$1 file=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$opt" "$file" -O2 --lower --dims N=8,M=200 --threads 2 | grep -v '^//' > "$dir/a"
"$opt" --kernels "$dir/a" > "$dir/b"
diff -u "$dir/a" "$dir/b" || { echo "FAIL: $file's kernels do not round-trip"; exit 1; }
echo "ok: $(grep -c '^kernel @' "$dir/a") kernels of $file round-trip"
