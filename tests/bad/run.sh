#!/usr/bin/env bash
# run.sh KILN NAME: runs case NAME of tests/bad/cases.txt with a 120 s limit
# and checks its exit status (1: a clear error; 0: a valid edge case, its
# answer checked), that its output holds the case's message part, and that
# nothing crashed, aborted or tripped a sanitizer. Exit 77: skipped.
set -u
KILN=$1
name=$2
BAD=$(cd "$(dirname "$0")" && pwd)
line=$(awk -F'\t' -v n="$name" '$1 == n' "$BAD/cases.txt")
[ -n "$line" ] || { echo "no case '$name' in $BAD/cases.txt"; exit 1; }
# Fields by awk: read would merge the empty message field's two tabs.
want=$(awk -F'\t' '{print $2}' <<< "$line")
message=$(awk -F'\t' '{print $3}' <<< "$line")
command=$(awk -F'\t' '{print $4}' <<< "$line")
TMP=$(mktemp -d)
trap 'chmod -R u+w "$TMP" 2>/dev/null; rm -rf "$TMP"' EXIT
# Debian's python3 (with python3-numpy), not one a version manager puts first.
PYTHON=$( [ -x /usr/bin/python3 ] && echo /usr/bin/python3 || echo python3 )
export KILN BAD TMP PYTHON
out=$(timeout 120 bash -c "$command" 2>&1)
got=$?
echo "$ $command"
echo "$out" | tail -n 20
[ $got -eq 77 ] && exit 77
if [ $got -eq 124 ]; then echo "FAIL: $name hangs (over 120 s)"; exit 1; fi
if [ $got -ne "$want" ]; then echo "FAIL: $name exits $got, want $want"; exit 1; fi
if grep -qE "AddressSanitizer|LeakSanitizer|runtime error:|Segmentation fault|Aborted|terminate called" <<< "$out"; then
  echo "FAIL: $name crashed or tripped a sanitizer"; exit 1
fi
if [ -n "$message" ] && ! grep -qF -- "$message" <<< "$out"; then
  echo "FAIL: $name: the output does not say '$message'"; exit 1
fi
echo "ok: $name"
