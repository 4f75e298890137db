#!/usr/bin/env bash
# kiln run: evaluates LeNet-5 on four images, and gives one clear error with
# exit status 1 for each kind of bad invocation.   kiln_run.sh KILN SOURCE_DIR
set -uo pipefail
kiln=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0

"$kiln" run "$src/examples/lenet5.kir" --input x="$src/examples/fashion4.npy" --output-dir "$tmp/out" || fails=1
for f in probs class; do [ -s "$tmp/out/$f.npy" ] || { echo "FAIL: $f.npy not written"; fails=1; }; done

# A wrongly shaped input: 3 channels where LeNet takes 1.
python3 - "$tmp/rgb.npy" <<'PY'
import struct, sys
h = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 28, 28), }"
h += ' ' * (63 - (10 + len(h)) % 64) + '\n'
open(sys.argv[1], 'wb').write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h.encode() + bytes(4 * 2 * 3 * 28 * 28))
PY
printf 'not an npy file' > "$tmp/junk.npy"

expect() { # expect "substring" args...
  local want=$1; shift
  local err; err=$("$kiln" "$@" 2>&1 >/dev/null); local rc=$?
  if [ "$rc" -ne 1 ] || [[ "$err" != *"$want"* ]]; then
    echo "FAIL: kiln $* -> exit $rc: $err (wanted exit 1 and: $want)"; fails=1
  else
    echo "ok: kiln $* -> $err"
  fi
}
m="$src/examples/lenet5.kir"
expect "input 'x' has shape [2,3,28,28] but [N,1,28,28] was expected" run "$m" --input x="$tmp/rgb.npy" --output-dir "$tmp/o"
expect "input 'x' (f32[N,1,28,28]) is not given" run "$m" --output-dir "$tmp/o"
expect "has no input named 'y'" run "$m" --input y="$src/examples/fashion4.npy" --output-dir "$tmp/o"
expect "must be NAME=FILE.npy" run "$m" --input x --output-dir "$tmp/o"
expect "not a valid .npy file" run "$m" --input x="$tmp/junk.npy" --output-dir "$tmp/o"
expect "cannot open the file" run "$m" --input x="$tmp/missing.npy" --output-dir "$tmp/o"
expect "no such file" run "$tmp/missing.kir" --input x="$tmp/rgb.npy" --output-dir "$tmp/o"
expect "unknown model format" run "$src/examples/fashion4.npy" --output-dir "$tmp/o"
: > "$tmp/model.onnx"
expect "unsupported" run "$tmp/model.onnx" --output-dir "$tmp/o"
expect "model is required" run
exit $fails
