#!/usr/bin/env bash
# The C example (examples/aot/main.c) trains the `kiln compile --train`d
# VGG-style net with its own loop: after 10 steps its state equals the
# parameters `kiln train` reaches with the same recipe (within 1e-6
# relative), and a short run learns (test accuracy above 60% after 2,048
# images).
#   aot_train.sh KILN AOT_TRAIN
set -uo pipefail
kiln=$1 train=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
"$train" --limit 640 --test-limit 64 --save "$tmp/aot.safetensors" || fails=1
"$kiln" train --limit 640 --test-limit 64 --checkpoint "$tmp/jit.safetensors" --output-dir "$tmp/out" > /dev/null || fails=1
/usr/bin/python3 - "$tmp/aot.safetensors" "$tmp/jit.safetensors" <<'PY' || fails=1
import json, struct, sys
import numpy as np
def load(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    header, data = json.loads(b[8:8 + n]), b[8 + n:]
    types = {'F32': np.float32, 'I64': np.int64, 'F64': np.float64}
    return {k: np.frombuffer(data[v['data_offsets'][0]:v['data_offsets'][1]], dtype=types[v['dtype']]).reshape(v['shape'])
            for k, v in header.items() if k != '__metadata__'}
aot, jit = load(sys.argv[1]), load(sys.argv[2])
assert set(aot) == set(jit), set(aot) ^ set(jit)
worst = max(float(np.abs(aot[k] - jit[k]).max() / (np.abs(jit[k]).max() + 1e-30)) for k in jit)
assert worst <= 1e-6, f"the state after 10 steps differs from kiln train's by {worst} (relative)"
print(f"ok: {len(jit)} tensors after 10 steps equal kiln train's (worst relative difference {worst:.2g})")
PY
# kiln train resumes from the object's checkpoint (the same safetensors format).
"$kiln" train --limit 640 --test-limit 64 --epochs 2 --resume "$tmp/aot.safetensors" --output-dir "$tmp/out" > "$tmp/resume.txt" 2>&1 ||
  { echo "FAIL: kiln train --resume the object's state"; cat "$tmp/resume.txt"; fails=1; }
out=$("$train" --limit 2048 --test-limit 512) || fails=1
echo "$out"
acc=$(sed -n 's/.*test accuracy \([0-9.]*\)%.*/\1/p' <<< "$out")
awk -v a="${acc:-0}" 'BEGIN { exit !(a > 60) }' || { echo "FAIL: test accuracy ${acc:-none} after 2,048 images"; fails=1; }
exit $fails
