#!/usr/bin/env bash
# Runs the `// RUN:` lines of a golden test, LLVM lit style: %s is the file,
# kiln-opt and kiln are found in BIN_DIR, FileCheck is LLVM 19's.
#   lit.sh FILE.kir BIN_DIR FILECHECK
set -euo pipefail
file=$1 bin=$2 filecheck=$3
export PATH="$bin:$PATH"
runs=$(sed -n 's|^// RUN: *||p' "$file")
[ -n "$runs" ] || { echo "FAIL: $file has no RUN line"; exit 1; }
while IFS= read -r line; do
  cmd=${line//%s/$file}
  cmd=${cmd//FileCheck/$filecheck}
  echo "RUN: $cmd"
  bash -o pipefail -c "$cmd"
done <<< "$runs"
