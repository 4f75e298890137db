#!/usr/bin/env bash
# kiln's main job: set up and build, then train the built-in VGG-style CNN on
# Fashion-MNIST (Debian's dataset-fashion-mnist) on the LLVM backend: 3
# epochs over the 60,000 training images at batch 64, SGD with momentum 0.9,
# the learning rate annealed from 0.02 to 0 by a cosine, tested on the 10,000
# test images after each epoch (about 91% after the third; a few minutes on
# 2 cores). Writes out/curve.csv, out/curve.svg and the checkpoint
# out/vgg.safetensors.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
build/kiln train --model vgg --epochs 3 --lr 0.02 --schedule cosine \
  --checkpoint out/vgg.safetensors --output-dir out
