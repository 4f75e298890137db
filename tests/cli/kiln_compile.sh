#!/usr/bin/env bash
# kiln compile: the object needs nothing but libc, libm and OpenMP (none with
# --threads 1); bad input is one clear error with exit status 1.
#   kiln_compile.sh KILN SOURCE_DIR
set -uo pipefail
kiln=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
source "$(dirname "$0")/expect.sh"

# Undefined symbols: each must be defined by libc, libm (libmvec) or libgomp.
libs=""
for l in libc.so.6 libm.so.6 libmvec.so.1 libgomp.so.1; do
  p=$(cc -print-file-name=$l); [ -e "$p" ] || p=$(ldconfig -p | awk -v l=$l '$1 == l { print $NF; exit }')
  libs="$libs $p"
done
nm -D --defined-only $libs 2>/dev/null | awk '{ print $NF }' | sed 's/@.*//' | sort -u > "$tmp/allowed"
for threads in 2 1; do
  "$kiln" compile "$src/examples/lenet5.kir" -o "$tmp/m$threads.o" --threads $threads > /dev/null || { echo "FAIL: compile"; fails=1; }
  nm -u "$tmp/m$threads.o" | awk '{ print $NF }' | sort -u > "$tmp/undef$threads"
  extra=$(comm -23 "$tmp/undef$threads" "$tmp/allowed")
  if [ -n "$extra" ]; then echo "FAIL: --threads $threads: undefined symbols outside libc, libm and OpenMP: $extra"; fails=1;
  else echo "ok: --threads $threads: $(wc -l < "$tmp/undef$threads") undefined symbols, all in libc, libm or OpenMP"; fi
  defined=$(nm --defined-only -g "$tmp/m$threads.o" | awk '{ print $NF }' | tr '\n' ' ')
  [[ "$defined" == *m${threads}_run* && "$defined" != *kernel* ]] ||
    { echo "FAIL: the object's global symbols are not only its entries: $defined"; fails=1; }
done
grep -q -E 'GOMP|omp_' "$tmp/undef1" && { echo "FAIL: --threads 1 still calls OpenMP"; fails=1; }
# Two models link into one program (their kernels and runtimes are internal).
cat > "$tmp/two.c" <<'C'
#include "m1.h"
#include "m2.h"
int main(void) { return m1_max_batch() != 256 || m2_max_batch() != 256; }
C
cc -I"$tmp" "$tmp/two.c" "$tmp/m1.o" "$tmp/m2.o" -fopenmp -lm -o "$tmp/two" && "$tmp/two" ||
  { echo "FAIL: two objects in one program"; fails=1; }
g++ -x c++ -fsyntax-only -Wall -Werror -I"$tmp" - <<< '#include "m2.h"' || { echo "FAIL: the header is not C++"; fails=1; }

cat > "$tmp/unlowered.kir" <<'K'
graph @unlowered {
  input %x : f32[N,3,8,8]
  input %u : u8[N,4]
  %a = avg_pool(%x) {kernel=[2,2], stride=[1,1], dilation=[2,2]} : f32[N,3,6,6]
  %t = add(%u, %u) : u8[N,4]
  output %a, %t
}
K
cat > "$tmp/unbound.kir" <<'K'
graph @unbound {
  input %x : f32[N,S]
  %y = exp(%x) : f32[N,S]
  output %y
}
K
expect "2 nodes of @unlowered cannot be compiled to native kernels yet" compile "$tmp/unlowered.kir" -o "$tmp/u.o"
expect "avg_pool" compile "$tmp/unlowered.kir" -o "$tmp/u.o"
expect "add(%u, %u)" compile "$tmp/unlowered.kir" -o "$tmp/u.o"
expect "symbolic dim 'S' has no bound: give --dims S=SIZE" compile "$tmp/unbound.kir" -o "$tmp/u.o"
"$kiln" compile "$tmp/unbound.kir" -o "$tmp/u.o" --dims S=5 > /dev/null || { echo "FAIL: --dims S=5"; fails=1; }
expect "does not exist" compile "$src/examples/lenet5.kir" -o "$tmp/no/such/dir/m.o"
chmod 555 "$tmp" 2>/dev/null; mkdir -p "$tmp/ro"; chmod 555 "$tmp/ro"
if [ "$(id -u)" -ne 0 ]; then expect "cannot write there" compile "$src/examples/lenet5.kir" -o "$tmp/ro/m.o"; fi
chmod 755 "$tmp" "$tmp/ro"
expect "cannot write" compile "$src/examples/lenet5.kir" -o /proc/m.o
expect "unknown CPU 'pentium9'" compile "$src/examples/lenet5.kir" -o "$tmp/m.o" --cpu pentium9
expect "takes a model file or --model NAME" compile -o "$tmp/m.o"
expect "no such file" compile "$tmp/missing.onnx" -o "$tmp/m.o"
# A named CPU compiles (the x86-64-v3 level: AVX2 and FMA).
"$kiln" compile "$src/examples/lenet5.kir" -o "$tmp/v3.o" --cpu x86-64-v3 > /dev/null || { echo "FAIL: --cpu x86-64-v3"; fails=1; }
exit $fails
