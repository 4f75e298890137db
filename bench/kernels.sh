#!/usr/bin/env bash
# Every figure of bench/RESULTS.md in one go: installs the peers (OpenBLAS,
# oneDNN, PyTorch) with the set-up script, builds, then runs the kernel
# benchmark (kiln-bench-kernels: sgemm and the VGG conv layers against
# OpenBLAS and oneDNN, vector math), the pipeline and compile-time benchmark,
# the training comparison with PyTorch (bench/train.sh) and the accuracy
# after 3 full epochs of both (bench/accuracy.sh).
#   bench/kernels.sh [BUILD_DIR]        (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
KILN_EXTRA_PACKAGES="libopenblas-dev libdnnl-dev python3-torch" scripts/setup.sh "$build"
"$build/kiln-bench-kernels" --runs 7 --json bench/kernels.json
"$build/kiln-bench-pipeline" --runs 5
bench/train.sh "$build" 8192
bench/accuracy.sh "$build" vgg
