#!/usr/bin/env bash
# kiln dump: the optimized LeNet-5 as Graphviz dot has one cluster per fused
# kernel, labelled with its kind and ops, and Graphviz reads it; the text
# dump for either target verifies; bad flags are one clear error.
#   kiln_dump.sh KILN SOURCE_DIR
set -uo pipefail
kiln=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
m="$src/examples/lenet5.kir"

dot_text=$("$kiln" dump "$m" --stage optimized --format dot) || fails=1
clusters=$(grep -c '^  subgraph cluster_' <<< "$dot_text")
# conv1 and conv2 with bias and relu, and the three dense layers with theirs.
# Then the softmax, expanded (passes/Expand): exp with its sum, the division with argmax.
[ "$clusters" -eq 7 ] || { echo "FAIL: $clusters clusters, expected 7"; fails=1; }
grep -q 'label="fused kernel 0: contraction\\nconv, add, relu"' <<< "$dot_text" ||
  { echo "FAIL: the first kernel's label is missing"; fails=1; }
grep -q 'f32\[N,6,28,28\]{nhwc}' <<< "$dot_text" || { echo "FAIL: layouts are not shown"; fails=1; }
if command -v dot >/dev/null; then
  dot -Tsvg <<< "$dot_text" > /dev/null || { echo "FAIL: Graphviz rejects the dot output"; fails=1; }
else
  echo "FAIL: Graphviz (dot) is not installed; scripts/setup.sh installs it"; fails=1
fi

for target in cpu cuda; do
  "$kiln" dump "$m" --stage optimized --target "$target" --verify-each > /dev/null || { echo "FAIL: --target $target"; fails=1; }
done
"$kiln" dump "$m" --stage optimized --image-layout nchw8c --verify-each > /dev/null || { echo "FAIL: nchw8c"; fails=1; }

# The kernels LLVM compiles: a launch list and kernel IR; the LLVM module.
kernels=$("$kiln" dump "$m" --stage kernels --dims N=4) || fails=1
grep -q '^// kernel[0-9]* *node %a1 = fused' <<< "$kernels" || { echo "FAIL: conv1's kernel is not native"; fails=1; }
grep -q '^kernel @kernel' <<< "$kernels" || { echo "FAIL: no kernel IR"; fails=1; }
module=$("$kiln" dump "$m" --stage llvm --dims N=4) || fails=1
grep -qE 'define .*i32 @kernel0\('  <<< "$module" || { echo "FAIL: no LLVM module"; fails=1; }
# The machine code: conv1's tile is vector FMAs (AVX2 here; xmm where there is none).
assembly=$("$kiln" dump "$m" --stage asm --dims N=4) || fails=1
grep -q '^kernel0:' <<< "$assembly" || { echo "FAIL: no assembly of kernel0"; fails=1; }
grep -q 'vfmadd' <<< "$assembly" || grep -q 'mulps' <<< "$assembly" || { echo "FAIL: no vector FMA in the assembly"; fails=1; }

source "$(dirname "$0")/expect.sh"
expect "--target: tpu not in {cpu,cuda}" dump "$m" --target tpu
expect "unknown pass 'fusion'" dump "$m" --stage optimized --passes=fusion
expect "--dims N=abc must be NAME=SIZE with a positive SIZE" dump "$m" --stage kernels --dims N=abc
# Large tensors print elided (shape, dtype, checksum); the text reads back
# with the weights --save-weights wrote, and gives the model's answer.
o="$src/examples/aot/lenet5.onnx"
"$kiln" dump "$o" --save-weights "$tmp/w.safetensors" > "$tmp/lenet.kir" || fails=1
grep -q 'param %conv2.w : f32\[16,6,5,5\] = elided(checksum="fnv1a64:' "$tmp/lenet.kir" ||
  { echo "FAIL: conv2.w is not elided"; fails=1; }
[ "$(wc -c < "$tmp/lenet.kir")" -lt 8000 ] || { echo "FAIL: the elided dump is $(wc -c < "$tmp/lenet.kir") bytes"; fails=1; }
"$kiln" dump "$o" --print-weights > "$tmp/full.kir" || fails=1
grep -q 'param %conv2.w : f32\[16,6,5,5\] = \[' "$tmp/full.kir" || { echo "FAIL: --print-weights"; fails=1; }
"$kiln" run "$tmp/lenet.kir" --load-weights "$tmp/w.safetensors" --input input="$src/examples/fashion4.npy" -o "$tmp/kir" > /dev/null &&
  "$kiln" run "$o" --input input="$src/examples/fashion4.npy" -o "$tmp/onnx" > /dev/null &&
  cmp -s "$tmp/kir/probs.npy" "$tmp/onnx/probs.npy" || { echo "FAIL: the elided .kir with its weights differs from the model"; fails=1; }
expect "%conv1.w: its data was elided when it was printed" run "$tmp/lenet.kir" --input input="$src/examples/fashion4.npy" -o "$tmp/x"

sed 's/checksum="fnv1a64:[0-9a-f]*"/checksum="fnv1a64:0000000000000000"/' "$tmp/lenet.kir" > "$tmp/other.kir"
expect "the weights' data has checksum" run "$tmp/other.kir" --load-weights "$tmp/w.safetensors" --input input="$src/examples/fashion4.npy" -o "$tmp/x"
# The optimized stage reads back too (layouts and fused regions).
"$kiln" dump "$o" --stage optimized --save-weights "$tmp/w2.safetensors" > "$tmp/opt.kir" || fails=1
"$kiln" run "$tmp/opt.kir" --load-weights "$tmp/w2.safetensors" -O0 --input input="$src/examples/fashion4.npy" -o "$tmp/opt" > /dev/null &&
  /usr/bin/python3 -c "import numpy as n,sys; a,b=n.load(sys.argv[1]),n.load(sys.argv[2]); assert abs(a-b).max()<1e-6" \
    "$tmp/opt/probs.npy" "$tmp/onnx/probs.npy" || { echo "FAIL: the optimized dump with its weights"; fails=1; }
[ "$fails" -eq 0 ] && echo "ok: kiln dump"
exit "$fails"
