#!/usr/bin/env bash
# The C++ example runs the `kiln compile`d ONNX LeNet-5 (examples/aot) at a
# specialized batch (1), a chunked one (4 = 4 x 1) and a batch of 37
# (32 + 4 x 1 + ...), each equal to `kiln run` on the JIT.
#   aot_run.sh KILN RUN_MODEL SOURCE_DIR
set -uo pipefail
kiln=$1 run=$2 src=$3
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
/usr/bin/python3 - "$tmp" <<'PY'
import numpy as np, sys
rng = np.random.default_rng(1)
for n in (1, 37):
    np.save(f"{sys.argv[1]}/x{n}.npy", rng.standard_normal((n, 1, 28, 28)).astype(np.float32))
PY
cp "$src/examples/fashion4.npy" "$tmp/x4.npy"
for n in 1 4 37; do
  mkdir -p "$tmp/aot$n" "$tmp/jit$n"
  "$run" "$tmp/aot$n" "$tmp/x$n.npy" || { echo "FAIL: run_model on batch $n"; fails=1; continue; }
  "$kiln" run "$src/examples/aot/lenet5.onnx" --input input="$tmp/x$n.npy" -o "$tmp/jit$n" --native-only > /dev/null ||
    { echo "FAIL: kiln run on batch $n"; fails=1; continue; }
  /usr/bin/python3 - "$tmp/aot$n/probs.npy" "$tmp/jit$n/probs.npy" "$n" <<'PY' || fails=1
import numpy as np, sys
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
assert a.shape == b.shape == (int(sys.argv[3]), 10), (a.shape, b.shape)
err = np.abs(a - b).max()
assert err <= 1e-6, f"batch {sys.argv[3]}: the object differs from the JIT by {err}"
print(f"ok: batch {sys.argv[3]}: the object's probs equal the JIT's (max difference {err:.2g})")
PY
done
# Weights kept outside the object (--weights): loaded at init, the same answer;
# without them, init says so.
"$kiln" compile "$src/examples/aot/lenet5.onnx" -o "$tmp/model.o" --name model --weights "$tmp/w.safetensors" > /dev/null &&
  c++ -O2 "$src/examples/aot/run_model.cpp" "$tmp/model.o" -fopenmp -lm -o "$tmp/run_model" || { echo "FAIL: --weights"; fails=1; }
mkdir -p "$tmp/ext"
"$tmp/run_model" --weights "$tmp/w.safetensors" "$tmp/ext" "$tmp/x4.npy" && cmp -s "$tmp/ext/probs.npy" "$tmp/aot4/probs.npy" &&
  echo "ok: weights loaded from a file give the embedded weights' answer" || { echo "FAIL: weights from a file"; fails=1; }
err=$("$tmp/run_model" "$tmp/ext" "$tmp/x4.npy" 2>&1) && { echo "FAIL: init without the weights file succeeded"; fails=1; }
[[ "$err" == *"compiled with --weights: init needs the weights file"* ]] || { echo "FAIL: $err"; fails=1; }
err=$("$tmp/run_model" --weights "$tmp/missing.safetensors" "$tmp/ext" "$tmp/x4.npy" 2>&1) && fails=1
[[ "$err" == *"cannot be opened"* ]] || { echo "FAIL: a missing weights file: $err"; fails=1; }
exit $fails
