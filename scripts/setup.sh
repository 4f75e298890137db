#!/usr/bin/env bash
# Installs what kiln needs on Debian 12 (only what is missing), then configures
# and builds kiln in build/ with Ninja. Safe to run again: it installs nothing
# that is present and rebuilds only what changed.
#   scripts/setup.sh [BUILD_DIR] [extra cmake arguments...]
# KILN_EXTRA_PACKAGES adds Debian packages (bench/kernels.sh: the peers).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  cmake ninja-build g++ pkg-config
  llvm-19-dev llvm-19-tools clang-19 libclang-rt-19-dev libomp-19-dev
  libfmt-dev catch2 libcli11-dev nlohmann-json3-dev zlib1g-dev libinih-dev libpng-dev
  libonnx-dev protobuf-compiler libprotobuf-dev
  dataset-fashion-mnist libonnx-testdata graphviz python3 python3-numpy python3-onnx
  ${KILN_EXTRA_PACKAGES:-}
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "kiln setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

build="${1:-build}"
shift || true
# Configuring again is quick and rebuilds nothing unless an option changed.
cmake -S . -B "$build" -G Ninja "$@" > "$build.configure.log" || { cat "$build.configure.log"; exit 1; }
ninja -C "$build"
