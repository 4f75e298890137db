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

source "$(dirname "$0")/expect.sh"
m="$src/examples/lenet5.kir"
expect "input 'x' has shape [2,3,28,28] but [N,1,28,28] was expected" run "$m" --input x="$tmp/rgb.npy" --output-dir "$tmp/o"
expect "input 'x' (f32[N,1,28,28]) is not given" run "$m" --output-dir "$tmp/o"
expect "has no input named 'y'" run "$m" --input y="$src/examples/fashion4.npy" --output-dir "$tmp/o"
expect "must be NAME=FILE.npy" run "$m" --input x --output-dir "$tmp/o"
expect "not a valid .npy file" run "$m" --input x="$tmp/junk.npy" --output-dir "$tmp/o"
expect "cannot open the file" run "$m" --input x="$tmp/missing.npy" --output-dir "$tmp/o"
expect "no such file" run "$tmp/missing.kir" --input x="$tmp/rgb.npy" --output-dir "$tmp/o"
expect "unknown model format" run "$src/examples/fashion4.npy" --output-dir "$tmp/o"
onnx=/usr/share/libonnx-testdata/data/node
expect "the model uses 1 unsupported op type:" run "$onnx/test_unique_not_sorted_without_axis/model.onnx" --output-dir "$tmp/o"
head -c 40 "$onnx/test_conv_with_strides_padding/model.onnx" > "$tmp/truncated.onnx"
expect "not a valid ONNX model" run "$tmp/truncated.onnx" --output-dir "$tmp/o"
# An ONNX model runs as a .kir one does; its outputs keep the model's names.
python3 - "$tmp/x345.npy" <<'PY'
import struct, sys
h = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4, 5), }"
h += ' ' * (63 - (10 + len(h)) % 64) + '\n'
vals = [(i % 7) - 3.0 for i in range(60)]
open(sys.argv[1], 'wb').write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h.encode() + struct.pack('<60f', *vals))
PY
"$kiln" run "$onnx/test_relu/model.onnx" --input x="$tmp/x345.npy" --output-dir "$tmp/relu" || fails=1
python3 - "$tmp/relu/y.npy" <<'PY' || fails=1
import struct, sys
b = open(sys.argv[1], 'rb').read()
got = struct.unpack('<60f', b[-240:])
want = [max((i % 7) - 3.0, 0.0) for i in range(60)]
assert b"'shape': (3, 4, 5)" in b, b[:100]
assert list(got) == want, got
print("ok: kiln run on test_relu/model.onnx matches relu")
PY
# A shape operand that is a graph input (ONNX's Reshape node tests): kiln
# run specializes the model on its value, read from ONNX's .pb test data or
# an .npy; each value gives its own shape, and leaving it out says how to give it.
d="$onnx/test_reshape_reordered_all_dims"
python3 - "$tmp/shape.npy" <<'PY'
import struct, sys
h = "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }"
h += ' ' * (63 - (10 + len(h)) % 64) + '\n'
open(sys.argv[1], 'wb').write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(h)) + h.encode() + struct.pack('<2q', 6, -1))
PY
out=$("$kiln" run "$d/model.onnx" --input data="$d/test_data_set_0/input_0.pb" --input shape="$d/test_data_set_0/input_1.pb" --output-dir "$tmp/r1") || fails=1
[[ "$out" == *"reshaped.npy f32[4,2,3]"* ]] || { echo "FAIL: the shape input's value was not used: $out"; fails=1; }
out=$("$kiln" run "$d/model.onnx" --input data="$d/test_data_set_0/input_0.pb" --input shape="$tmp/shape.npy" --output-dir "$tmp/r2") || fails=1
[[ "$out" == *"reshaped.npy f32[6,4]"* ]] || { echo "FAIL: a second shape value was not used: $out"; fails=1; }
expect "'shape' is a graph input whose value the model needs at import" run "$d/model.onnx" --input data="$d/test_data_set_0/input_0.pb" --output-dir "$tmp/o"
expect "model is required" run
exit $fails
