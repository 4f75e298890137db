#!/usr/bin/env bash
# kiln's main job: set up and build, then evaluate the LeNet-5 example on four
# Fashion-MNIST test images with the reference interpreter. (Training on
# Fashion-MNIST becomes the main job when the training issue lands.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build
build/kiln run examples/lenet5.kir --input x=examples/fashion4.npy --output-dir out
