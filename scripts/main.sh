#!/usr/bin/env bash
# kiln's main job: set up and build, then train the built-in VGG-style CNN on
# Fashion-MNIST (Debian's dataset-fashion-mnist) — a short run: one epoch over
# the first 1,024 training images, tested on 1,000 test images, on the
# reference interpreter (the LLVM backend will make full runs fast). Writes
# out/curve.csv, out/curve.svg and the checkpoint out/vgg.safetensors.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
build/kiln train --model vgg --epochs 1 --limit 1024 --test-limit 1000 \
  --checkpoint out/vgg.safetensors --output-dir out
