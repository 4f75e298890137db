#!/usr/bin/env bash
# Every figure of bench/RESULTS.md in one go: installs the peers (OpenBLAS,
# oneDNN, PyTorch) with the set-up script, builds, then runs the kernel
# benchmark (kiln-bench-kernels: sgemm and the VGG conv layers against
# OpenBLAS and oneDNN), the pipeline and compile-time benchmark, and the
# training comparison with PyTorch (bench/train.sh).
#   bench/kernels.sh [BUILD_DIR]        (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
KILN_EXTRA_PACKAGES="libopenblas-dev libdnnl-dev python3-torch" scripts/setup.sh "$build"
"$build/kiln-bench-kernels" --runs 5 --json bench/kernels.json
"$build/kiln-bench-pipeline" --runs 5
bench/train.sh "$build" 8192
