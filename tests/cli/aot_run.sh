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
exit $fails
