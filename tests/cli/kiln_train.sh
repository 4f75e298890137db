#!/usr/bin/env bash
# kiln train: a zoo model and a model file train and write their curves and
# checkpoints; bad requests get one clear error and exit status 1.
#   kiln_train.sh KILN SOURCE_DIR
set -uo pipefail
kiln=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0

"$kiln" train --model mlp --limit 256 --test-limit 128 --batch-size 64 --optimizer adam --lr 0.001 \
  --checkpoint "$tmp/mlp.safetensors" --output-dir "$tmp/mlp" > "$tmp/log" || fails=1
grep -q "epoch 1: train loss" "$tmp/log" || { echo "FAIL: no epoch summary"; cat "$tmp/log"; fails=1; }
for f in "$tmp/mlp.safetensors" "$tmp/mlp/curve.csv" "$tmp/mlp/curve.svg"; do
  [ -s "$f" ] || { echo "FAIL: $f not written"; fails=1; }
done
# Resume for a second epoch from the checkpoint.
"$kiln" train --model mlp --limit 256 --test-limit 128 --epochs 2 --optimizer adam --lr 0.001 \
  --resume "$tmp/mlp.safetensors" --output-dir "$tmp/mlp2" > "$tmp/log2" || fails=1
grep -q "epoch 2: train loss" "$tmp/log2" && ! grep -q "epoch 1: train loss" "$tmp/log2" ||
  { echo "FAIL: resuming did not start at epoch 2"; cat "$tmp/log2"; fails=1; }
"$kiln" train "$src/tests/kir/good/linear_classifier.kir" --limit 256 --test-limit 128 --output-dir "$tmp/lin" \
  --schedule cosine --dump-kernels "$tmp/lin/kernels.txt" > "$tmp/log3" ||
  { echo "FAIL: training a .kir model"; cat "$tmp/log3"; fails=1; }
grep -q "lr 0.01 (cosine)" "$tmp/log3" || { echo "FAIL: the cosine schedule is not announced"; cat "$tmp/log3"; fails=1; }
grep -q "^kernel @kernel" "$tmp/lin/kernels.txt" && grep -q "tile 6x" "$tmp/lin/kernels.txt" ||
  { echo "FAIL: --dump-kernels wrote no kernels with a matmul tile"; fails=1; }

source "$(dirname "$0")/expect.sh"
expect "apt-get install dataset-fashion-mnist" train --model mlp --data "$tmp/nowhere"
expect "unknown optimizer 'adagrad'" train --model mlp --optimizer adagrad
expect "--schedule: linear not in {constant,cosine}" train --model mlp --schedule linear
expect "the reference backend compiles no kernels" train --model mlp --limit 64 --test-limit 64 --backend reference \
  --output-dir "$tmp/ref" --dump-kernels "$tmp/ref.txt"
expect "unknown model 'resnet' (the zoo has mlp, lenet, vgg, vgg16)" train --model resnet --limit 10
expect "a classifier takes one input" train "$src/tests/kir/good/sgd_step.kir" --limit 10
expect "not a valid safetensors checkpoint" train --model mlp --limit 10 --resume "$src/README.md"
exit $fails
