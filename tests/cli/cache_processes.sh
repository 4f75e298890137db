#!/usr/bin/env bash
# Two processes compiling one model into one disk cache at once both succeed
# with the same kernels, leave no temporary file, and a third run reads every
# group from the cache.
#   cache_processes.sh KILN SOURCE_DIR
set -euo pipefail
kiln=$1 src=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export KILN_CACHE_DIR="$dir/cache"
model="$src/examples/lenet5.kir"
"$kiln" dump "$model" --stage kernels --dims N=8 --time-passes > "$dir/a.s" 2> "$dir/a.err" &
a=$!
"$kiln" dump "$model" --stage kernels --dims N=8 --time-passes > "$dir/b.s" 2> "$dir/b.err" &
b=$!
wait $a || { cat "$dir/a.err"; echo "FAIL: the first process failed"; exit 1; }
wait $b || { cat "$dir/b.err"; echo "FAIL: the second process failed"; exit 1; }
cmp -s "$dir/a.s" "$dir/b.s" || { echo "FAIL: the two processes compiled different kernels"; exit 1; }
grep -q '^codegen' "$dir/a.err" || { cat "$dir/a.err"; echo "FAIL: no codegen stage was timed"; exit 1; }
"$kiln" dump "$model" --stage kernels --dims N=8 > "$dir/k1.txt"
"$kiln" dump "$model" --stage kernels --dims N=8 > "$dir/k2.txt"
cmp -s "$dir/k1.txt" "$dir/k2.txt" || { echo "FAIL: a cached compile printed other kernels"; exit 1; }
entries=$(find "$KILN_CACHE_DIR" -type f | wc -l)
temporaries=$(find "$KILN_CACHE_DIR" -type f ! -name '*.kobj' | wc -l)
[ "$entries" -gt 0 ] || { echo "FAIL: nothing was cached"; exit 1; }
[ "$temporaries" -eq 0 ] || { find "$KILN_CACHE_DIR"; echo "FAIL: a temporary file was left behind"; exit 1; }
echo "ok: two processes on one disk cache ($entries entries)"
