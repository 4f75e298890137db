#!/usr/bin/env bash
# kiln export and kiln train --export: the ONNX files pass ONNX's checker
# with its full check, import back into kiln with the outputs of the model
# they came from, carry a trained model's weights, and bad requests get one
# clear error with exit status 1.   kiln_export.sh KILN SOURCE_DIR
set -uo pipefail
kiln=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
# Debian's python3 with python3-numpy and python3-onnx (scripts/setup.sh), not
# whatever python3 comes first on PATH.
py=/usr/bin/python3
images="$src/examples/fashion4.npy"

# onnx.checker.check_model(full_check=True) on each file.
check() {
  "$py" - "$@" <<'PY' || fails=1
import sys, onnx
for path in sys.argv[1:]:
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    dims = [d.dim_param or d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    assert m.opset_import[0].version == 17 and dims[0] == "N", (path, m.opset_import, dims)
    print(f"ok: {path}: full check, opset 17, input {m.graph.input[0].name} {dims}")
PY
}
# max |a - b| over two .npy files must be at most TOL; `differ` wants more.
same() {
  "$py" - "$@" <<'PY' || fails=1
import sys, numpy as np
a, b, tol = np.load(sys.argv[1]), np.load(sys.argv[2]), float(sys.argv[3])
d = float(np.abs(a.astype(np.float64) - b).max())
print(f"{'ok' if a.shape == b.shape and d <= tol else 'FAIL'}: {sys.argv[1]} vs {sys.argv[2]}: max difference {d:g}")
sys.exit(0 if a.shape == b.shape and d <= tol else 1)
PY
}
differ() {
  "$py" - "$@" <<'PY' || fails=1
import sys, numpy as np
d = float(np.abs(np.load(sys.argv[1]).astype(np.float64) - np.load(sys.argv[2])).max())
print(f"{'ok' if d > 1e-3 else 'FAIL'}: {sys.argv[1]} and {sys.argv[2]} differ by {d:g}")
sys.exit(0 if d > 1e-3 else 1)
PY
}

# A model file: exported, run back, same outputs.
"$kiln" export "$src/examples/lenet5.kir" -o "$tmp/lenet5.onnx" || fails=1
"$kiln" run "$src/examples/lenet5.kir" --input x="$images" --output-dir "$tmp/kir" 2>/dev/null || fails=1
"$kiln" run "$tmp/lenet5.onnx" --input x="$images" --output-dir "$tmp/onnx" 2>/dev/null || fails=1
same "$tmp/kir/probs.npy" "$tmp/onnx/probs.npy" 1e-6

# A trained model: --export after training and kiln export of its checkpoint
# give the same model, with the trained weights (not the initial ones).
"$kiln" train --model lenet --limit 512 --test-limit 128 --batch-size 64 --checkpoint "$tmp/lenet.safetensors" \
  --export "$tmp/trained.onnx" --output-dir "$tmp/train" > "$tmp/log" || { cat "$tmp/log"; fails=1; }
grep -q "wrote the trained model to" "$tmp/log" || { echo "FAIL: kiln train --export said nothing"; fails=1; }
"$kiln" export "$tmp/lenet.safetensors" -o "$tmp/from_checkpoint.onnx" || fails=1
"$kiln" export --model lenet -o "$tmp/initial.onnx" || fails=1
for m in trained from_checkpoint initial; do
  "$kiln" run "$tmp/$m.onnx" --input images="$images" --output-dir "$tmp/$m" 2>/dev/null || fails=1
done
same "$tmp/trained/logits.npy" "$tmp/from_checkpoint/logits.npy" 0
differ "$tmp/trained/logits.npy" "$tmp/initial/logits.npy"
# The batch is symbolic: the exported model runs at another batch size.
"$py" -c "import numpy as np; np.save('$tmp/one.npy', np.load('$images')[:1])"
"$kiln" run "$tmp/trained.onnx" --input images="$tmp/one.npy" --output-dir "$tmp/one" 2>/dev/null || fails=1
"$py" -c "
import numpy as np, sys
a, b = np.load('$tmp/one/logits.npy'), np.load('$tmp/trained/logits.npy')[:1]
ok = a.shape == (1, 10) and np.abs(a - b).max() <= 1e-5
print(('ok' if ok else 'FAIL') + ': batch 1 of the exported model', a.shape)
sys.exit(0 if ok else 1)" || fails=1
check "$tmp/lenet5.onnx" "$tmp/trained.onnx" "$tmp/from_checkpoint.onnx" "$tmp/initial.onnx"

source "$(dirname "$0")/expect.sh"
cat > "$tmp/nhwc.kir" <<'KIR'
graph @g {
  input %x : f32[N,8,2,2]
  %xn = layout_convert(%x) {layout=nhwc} : f32[N,8,2,2]{nhwc}
  output %xn
}
KIR
expect "only a graph in the logical layout exports" export "$tmp/nhwc.kir" -o "$tmp/x.onnx"
expect "give a model file or --model, not both" export "$src/examples/lenet5.kir" --model lenet -o "$tmp/x.onnx"
expect "give a model file, a checkpoint or --model NAME" export -o "$tmp/x.onnx"
expect "cannot open the file" export "$tmp/missing.safetensors" -o "$tmp/x.onnx"
expect "the checkpoint's parameter 'conv1.w' is f32[6,1,5,5], the model's is f32[32,1,3,3]" export --model vgg --checkpoint "$tmp/lenet.safetensors" -o "$tmp/x.onnx"
# A checkpoint whose recorded seed is not a number (the header edited by hand).
"$py" - "$tmp/lenet.safetensors" "$tmp/badseed.safetensors" <<'PY'
import json, struct, sys
b = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', b[:8])[0]
h = json.loads(b[8:8 + n])
h['__metadata__']['seed'] = 'x7'
t = json.dumps(h).encode()
t += b' ' * (-len(t) % 8)
open(sys.argv[2], 'wb').write(struct.pack('<Q', len(t)) + t + b[8 + n:])
PY
expect "the checkpoint's seed 'x7' is not a number" export "$tmp/badseed.safetensors" -o "$tmp/x.onnx"
expect "cannot write in" train --model mlp --limit 64 --export "$tmp/nowhere/x.onnx" --output-dir "$tmp/t"
[ ! -e "$tmp/x.onnx" ] || { echo "FAIL: a refused export wrote a file"; fails=1; }
exit $fails
