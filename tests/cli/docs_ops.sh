#!/usr/bin/env bash
# docs/ops.md shows exactly what `kiln ops` prints, so the doc follows the op table.
#   docs_ops.sh KILN SOURCE_DIR
set -euo pipefail
kiln=$1 src=$2
if ! diff -u <(sed -n '/^```$/,/^```$/p' "$src/docs/ops.md" | sed '1d;$d') <("$kiln" ops); then
  echo "FAIL: docs/ops.md is out of date; regenerate the block with build/kiln ops"; exit 1
fi
echo "ok: docs/ops.md matches the op table"
