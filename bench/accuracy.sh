#!/usr/bin/env bash
# Test accuracy after each of 3 epochs on the whole of Fashion-MNIST (60,000
# training images, 10,000 test images), kiln against PyTorch with the same
# net, initializers, data and recipe: SGD with momentum 0.9, batch 64, lr
# annealed from LR to 0 by a cosine over the run (bench/torch_train.py is the
# PyTorch side).
#   bench/accuracy.sh [BUILD_DIR] [MODEL]     (defaults: build vgg)
# EPOCHS (3), LR (0.02) and SCHEDULE (cosine) change the recipe.
set -euo pipefail
build=${1:-build} model=${2:-vgg}
epochs=${EPOCHS:-3} lr=${LR:-0.02} schedule=${SCHEDULE:-cosine}
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
"$build/kiln" train --model "$model" --epochs "$epochs" --lr "$lr" --schedule "$schedule" \
  --output-dir "$out" > "$out/kiln.log" 2>&1
/usr/bin/python3 "$(dirname "$0")/torch_train.py" "$model" --epochs "$epochs" --lr "$lr" \
  --schedule "$schedule" > "$out/torch.log" 2>&1
echo "| epoch | kiln test accuracy | PyTorch test accuracy |"
echo "|---:|---:|---:|"
for ((e = 1; e <= epochs; e++)); do
  k=$(tr '\r' '\n' < "$out/kiln.log" | sed -n "s/^epoch $e: .*test accuracy \([0-9.]*%\).*/\1/p")
  t=$(sed -n "s/^epoch $e: .*test accuracy \([0-9.]*%\).*/\1/p" "$out/torch.log")
  echo "| $e | $k | $t |"
done
