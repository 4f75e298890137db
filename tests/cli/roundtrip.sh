#!/usr/bin/env bash
# A .kir file round-trips: parsing what kiln-opt printed prints the same text.
#   roundtrip.sh KILN_OPT FILE.kir
set -euo pipefail
opt=$1 file=$2
tmp=$(mktemp --suffix=.kir); trap 'rm -f "$tmp"' EXIT
"$opt" "$file" > "$tmp"
if ! "$opt" "$tmp" | diff -u "$tmp" -; then
  echo "FAIL: $file does not round-trip"; exit 1
fi
echo "ok: $file round-trips ($(wc -l < "$tmp") lines)"
