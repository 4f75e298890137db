#!/usr/bin/env bash
# VGG16's full training step (224x224x3, batch 2, every layer trained, SGD
# with momentum) by kiln and by PyTorch in one run: kiln's seconds per step
# are the kernels' time of `kiln train --model vgg16 --synthetic 8 --steps 4
# --profile` divided by 4 (compiles excluded), the median of RUNS runs;
# PyTorch's the median step of bench/torch_vgg16_step.py (same net, no
# dropout), of RUNS runs. Needs python3 with torch for the peer.
#   bench/vgg16.sh BUILD [RUNS]
set -euo pipefail
build=${1:?usage: bench/vgg16.sh BUILD [RUNS]} runs=${2:-3}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
kiln=()
for ((r = 0; r < runs; ++r)); do
  s=$("$build/kiln" train --model vgg16 --synthetic 8 --steps 4 --batch-size 2 --lr 0.0001 --profile \
        --output-dir "$tmp" 2>&1 | sed -n 's|^// \([0-9.]*\) s in .*|\1|p')
  kiln+=("$(python3 -c "print($s / 4)")")
done
torch=()
for ((r = 0; r < runs; ++r)); do
  torch+=("$(python3 "$(dirname "$0")/torch_vgg16_step.py" --steps 5 | sed -n 's|.*median \([0-9.]*\) s.*|\1|p')")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }
k=$(median "${kiln[@]}") t=$(median "${torch[@]}")
echo "VGG16 training step, batch 2, 224x224: kiln ${k} s, PyTorch ${t} s (medians of $runs runs: ${kiln[*]} / ${torch[*]})"
python3 -c "print(f'kiln / PyTorch speed: {$t / $k:.2f}x')"
