#!/usr/bin/env bash
# Inference on exported models: `kiln run --benchmark` (the JIT) against
# PyTorch eager (bench/torch_infer.py: eval mode, no_grad, the same threads)
# and against the model's `kiln compile`d object (examples/aot/run_model
# --benchmark), on torchvision's resnet18, mobilenet_v2 and squeezenet1_1
# exported by bench/export_torchvision.py (random seeded weights, opset 13,
# a symbolic batch), at batch 1 and 32. Checks kiln's outputs against
# torch's first. Each row: the median of RUNS (3) medians of N (20) timed
# runs, the three run alternately. Needs python3-torch and
# python3-torchvision (Debian's: KILN_EXTRA_PACKAGES="python3-torch
# python3-torchvision" scripts/setup.sh) and a C++ compiler.
#   bench/models.sh [BUILD_DIR]
set -euo pipefail
build=${1:-build} runs=${RUNS:-3} n=${N:-20} threads=${THREADS:-2}
src=$(cd "$(dirname "$0")/.." && pwd)
kiln=$build/kiln
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
export OMP_NUM_THREADS=$threads
/usr/bin/python3 "$src/bench/export_torchvision.py" "$out" 1 32 > /dev/null
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
echo "| model | batch | kiln run (JIT) ms | PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') ms | vs PyTorch | kiln compile object ms | object / JIT | compile s | object MB |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for m in resnet18 mobilenet_v2 squeezenet1_1; do
  "$kiln" compile "$out/$m.onnx" -o "$out/$m.o" --name model --batch-sizes 1,32 > /dev/null
  c++ -O2 "$src/examples/aot/run_model.cpp" "$out/$m.o" -fopenmp -lm -o "$out/run_$m"
  for b in 1 32; do
    mkdir -p "$out/o"
    "$kiln" run "$out/$m.onnx" --input input="$out/${m}_x$b.npy" -o "$out/o" --native-only > /dev/null
    /usr/bin/python3 -c "import numpy as n,sys; a,b=n.load(sys.argv[1]),n.load(sys.argv[2]); \
assert abs(a-b).max() <= 1e-4 * max(1e-30, abs(b).max()) + 1e-6, ('kiln differs from torch', abs(a-b).max())" \
      "$out/o/logits.npy" "$out/${m}_y$b.npy"
    jit=() torch=() aot=() compile=()
    for ((r = 0; r < runs; r++)); do
      line=$(KILN_CACHE_DIR= "$kiln" run "$out/$m.onnx" --input input="$out/${m}_x$b.npy" -o "$out/o" --benchmark "$n" | head -1)
      jit+=("$(sed -n 's/.*latency median \([0-9.]*\) ms.*/\1/p' <<< "$line")")
      compile+=("$(sed -n 's/^compile \([0-9.]*\) s.*/\1/p' <<< "$line")")
      line=$(/usr/bin/python3 "$src/bench/torch_infer.py" "$m" "$b" "$n" "$threads")
      torch+=("$(sed -n 's/.*latency median \([0-9.]*\) ms.*/\1/p' <<< "$line")")
      line=$("$out/run_$m" --benchmark "$n" "$out/o" "$out/${m}_x$b.npy")
      aot+=("$(sed -n 's/.*latency median \([0-9.]*\) ms.*/\1/p' <<< "$line")")
    done
    j=$(printf '%s\n' "${jit[@]}" | median) t=$(printf '%s\n' "${torch[@]}" | median)
    a=$(printf '%s\n' "${aot[@]}" | median) c=$(printf '%s\n' "${compile[@]}" | median)
    size=$(stat -c %s "$out/$m.o")
    awk -v m=$m -v b=$b -v j=$j -v t=$t -v a=$a -v c=$c -v s=$size 'BEGIN {
      printf "| %s | %d | %.1f | %.1f | %.2fx | %.1f | %.2fx | %.2f | %.1f |\n", m, b, j, t, t / j, a, j / a, c, s / 1e6 }'
  done
done
