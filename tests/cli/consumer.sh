#!/usr/bin/env bash
# e2e/consumer: `cmake --install` into a temporary prefix, then
# examples/consumer (a separate CMake project) built against it with
# find_package(kiln) and run; its pkg-config file checked; and a project
# taking kiln with add_subdirectory configured.
#   consumer.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
test -f "$tmp/prefix/include/kiln/kiln.h"
test -x "$tmp/prefix/bin/kiln"
"$tmp/prefix/bin/kiln" ops > /dev/null # the installed tool finds its libraries
ls "$tmp"/prefix/lib*/libkiln.* > /dev/null
cmake -S "$src/examples/consumer" -B "$tmp/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" > "$tmp/configure.log" ||
  { cat "$tmp/configure.log"; exit 1; }
ninja -C "$tmp/consumer" > "$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }
out=$("$tmp/consumer/consumer")
echo "$out"
grep -q "w = 3.00" <<< "$out"
# pkg-config names libkiln and its include paths.
pc=$(PKG_CONFIG_PATH=$(dirname "$(ls "$tmp"/prefix/lib*/pkgconfig/kiln.pc)") pkg-config --cflags --libs kiln)
grep -q -- "-lkiln" <<< "$pc"
found=0
for flag in $pc; do
  [[ $flag == -I* && -f ${flag#-I}/kiln/kiln.h ]] && found=1
done
((found)) || { echo "FAIL: pkg-config's include paths do not lead to kiln/kiln.h: $pc"; exit 1; }
# add_subdirectory: configured only (building kiln twice would take CI minutes).
mkdir -p "$tmp/sub"
cat > "$tmp/sub/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.25)
project(uses_kiln LANGUAGES C CXX)
add_subdirectory($src kiln)
add_executable(consumer $src/examples/consumer/main.cpp)
target_link_libraries(consumer PRIVATE kiln::kiln)
CMAKE
cmake -S "$tmp/sub" -B "$tmp/sub/build" -G Ninja > "$tmp/sub.log" 2>&1 || { cat "$tmp/sub.log"; exit 1; }
grep -q "consumer" "$tmp/sub/build/build.ninja"
! grep -q "kiln-unit" "$tmp/sub/build/build.ninja" # kiln's tests stay out of a project that takes it
echo "consumer: installed package, pkg-config and add_subdirectory all work"
