#!/usr/bin/env bash
# The layers of kiln, lowest first: a file of a folder may include headers of
# its own folder and of the folders below it, never above (docs/architecture.md
# draws them). Runs in every build (the kiln-layers target), so a wrong
# include fails the build.
#   scripts/check-layers.sh [SOURCE_DIR]
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"
# folder: the folders it may include from (besides itself)
declare -A allowed=(
  [ir]=""
  [reference]="ir"
  [passes]="ir reference"
  [lower]="ir passes"
  [codegen]="ir"
  [driver]="ir reference passes lower codegen"
  [runtime]="ir reference passes lower codegen driver"
  [frontend]="ir reference passes lower codegen driver runtime frontend kiln"
  [tools]="ir reference passes lower codegen driver runtime frontend kiln"
)
status=0
for folder in "${!allowed[@]}"; do
  [ -d "$folder" ] || continue
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -n 's/.*#include "\([^"/]*\)\/.*/\1/p' <<< "$line")
    [ -n "$inc" ] || continue
    [ "$inc" = "$folder" ] && continue
    ok=0
    for a in ${allowed[$folder]}; do [ "$inc" = "$a" ] && ok=1; done
    if [ $ok -eq 0 ]; then
      echo "$file: includes \"$inc/...\", a layer above $folder/ (allowed: ${allowed[$folder]:-none})"
      status=1
    fi
  done < <(grep -rn '^#include "' "$folder" --include='*.h' --include='*.cpp' --include='*.def' || true)
done
exit $status
