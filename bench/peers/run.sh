#!/usr/bin/env bash
# kiln run --benchmark against ONNX Runtime and OpenVINO (bench/peers/infer.py,
# from bench/peers/setup.sh's venv) on the CNNs of the model corpus —
# torchvision's resnet18, mobilenet_v2, squeezenet1_1, shufflenet_v2_x1_0 and
# efficientnet_b0, exported by bench/export_torchvision.py (seeded random
# weights, opset 13, a symbolic batch) — at batch 1 and 32, THREADS (2)
# threads each. kiln's outputs are checked against torch's first. Each
# figure: the median of RUNS (3) medians of N (10) timed runs, the three run
# alternately; "kiln / ORT" is ORT's time over kiln's (above 1: kiln faster).
#   bench/peers/run.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build} runs=${RUNS:-3} n=${N:-10} threads=${THREADS:-2}
src=$(cd "$(dirname "$0")/../.." && pwd)
py=$src/bench/.venv/bin/python
[ -x "$py" ] || { echo "bench/peers/run.sh: run bench/peers/setup.sh first (the peers' venv)"; exit 1; }
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
export OMP_NUM_THREADS=$threads
models=${MODELS:-"resnet18 mobilenet_v2 squeezenet1_1 shufflenet_v2_x1_0 efficientnet_b0"}
"$py" "$src/bench/export_torchvision.py" "$out" 1 32 > /dev/null
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
versions=$("$py" -c "import onnxruntime as o, openvino as v; print(o.__version__, v.__version__.split('-')[0])")
echo "| model | batch | kiln ms | ONNX Runtime ${versions% *} ms | kiln / ORT | OpenVINO ${versions#* } ms | kiln / OpenVINO |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for m in $models; do
  for b in 1 32; do
    mkdir -p "$out/o"
    "$build/kiln" run "$out/$m.onnx" --input input="$out/${m}_x$b.npy" -o "$out/o" > /dev/null
    "$py" -c "import numpy as n,sys; a,b=n.load(sys.argv[1]),n.load(sys.argv[2]); \
assert abs(a-b).max() <= 1e-4 * max(1e-30, abs(b).max()) + 1e-6, ('kiln differs from torch', abs(a-b).max())" \
      "$out/o/logits.npy" "$out/${m}_y$b.npy"
    kiln=() ort=() ov=()
    for ((r = 0; r < runs; r++)); do
      line=$("$build/kiln" run "$out/$m.onnx" --input input="$out/${m}_x$b.npy" -o "$out/o" --benchmark "$n" | head -1)
      kiln+=("$(sed -n 's/.*latency median \([0-9.]*\) ms.*/\1/p' <<< "$line")")
      ort+=("$("$py" "$src/bench/peers/infer.py" ort "$out/$m.onnx" "$out/${m}_x$b.npy" "$n" "$threads" | sed -n 's/.*median \([0-9.]*\) ms/\1/p')")
      ov+=("$("$py" "$src/bench/peers/infer.py" openvino "$out/$m.onnx" "$out/${m}_x$b.npy" "$n" "$threads" | sed -n 's/.*median \([0-9.]*\) ms/\1/p')")
    done
    k=$(printf '%s\n' "${kiln[@]}" | median) o=$(printf '%s\n' "${ort[@]}" | median) v=$(printf '%s\n' "${ov[@]}" | median)
    "$py" -c "print(f'| $m | $b | {$k:.1f} | {$o:.1f} | {$o / $k:.2f}x | {$v:.1f} | {$v / $k:.2f}x |')"
  done
done
