#!/usr/bin/env bash
# The corpus of real models (tests/onnx/torch_models.py), run when a Python
# with torch and torchvision is present (Debian's python3-torch and
# python3-torchvision: KILN_EXTRA_PACKAGES="python3-torch python3-torchvision"
# scripts/setup.sh); skipped (77) with a message when none is.
#   torch_models.sh KILN SOURCE_DIR
set -uo pipefail
kiln=$1 src=$2
for py in python3 /usr/bin/python3; do
  if "$py" -c "import torch, torchvision, numpy" 2>/dev/null; then
    exec "$py" "$src/tests/onnx/torch_models.py" "$kiln"
  fi
done
echo "skipped: no python3 with torch and torchvision (apt-get install python3-torch python3-torchvision)"
exit 77
