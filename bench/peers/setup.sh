#!/usr/bin/env bash
# The benchmark peers that Debian does not package, from PyPI into a virtual
# environment under bench/ (bench/.venv; git ignores it): ONNX Runtime and
# OpenVINO. The venv sees the system's packages (Debian's numpy, torch and
# torchvision, which export the models). Never needed by the README's two
# commands; safe to run again.
#   bench/peers/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
if ! /usr/bin/python3 -c "import ensurepip" 2>/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get install -y -qq python3-venv
fi
[ -x .venv/bin/python ] || /usr/bin/python3 -m venv --system-site-packages .venv
.venv/bin/python -c "import onnxruntime, openvino" 2>/dev/null ||
  .venv/bin/pip install -q --disable-pip-version-check onnxruntime openvino
.venv/bin/python -c "import onnxruntime, openvino; print('peers: onnxruntime', onnxruntime.__version__, '| openvino', openvino.__version__)"
