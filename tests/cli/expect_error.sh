#!/usr/bin/env bash
# A bad .kir file makes kiln-opt exit with status 1 (no crash, no abort) and a
# message containing the text of the file's first line `// ERROR: text`.
#   expect_error.sh KILN_OPT FILE.kir
set -uo pipefail
opt=$1 file=$2
want=$(head -n 1 "$file" | sed -n 's|^// ERROR: ||p')
[ -n "$want" ] || { echo "FAIL: $file has no '// ERROR:' first line"; exit 1; }
err=$("$opt" "$file" 2>&1 >/dev/null); rc=$?
echo "exit $rc: $err"
[ "$rc" -eq 1 ] || { echo "FAIL: exit status $rc, expected 1"; exit 1; }
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || { echo "FAIL: expected one line of error"; exit 1; }
case "$err" in
  *"$want"*) echo "ok" ;;
  *) echo "FAIL: expected the message to contain: $want"; exit 1 ;;
esac
