#!/usr/bin/env bash
# The configuration as the tools see it: `kiln config`, ~/.kilnrc (through
# $KILNRC) and KILN_FLAGS with Theano's precedence, floatX=float64 training
# in f64, bad keys and values, and kiln train's warning about a model that
# already ends in a softmax.
#   kiln_config.sh KILN SOURCE_DIR
set -uo pipefail
kiln=$1 src=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
fails=0
check() { # check DESCRIPTION PATTERN FILE
  grep -q -- "$2" "$3" || { echo "FAIL: $1 (no '$2' in:)"; cat "$3"; fails=1; }
}

KILNRC="$tmp/none" KILN_FLAGS= "$kiln" config > "$tmp/defaults" || fails=1
check "defaults listed" "floatX .*= float32 .*# default" "$tmp/defaults"
check "every key listed" "nn__image_data_format" "$tmp/defaults"
printf '[global]\nfloatX = float64\ndevice = cpu\n\n[nn]\nimage_dim_ordering = tf\n' > "$tmp/kilnrc"
KILNRC="$tmp/kilnrc" KILN_FLAGS= "$kiln" config > "$tmp/file" || fails=1
check "the file's value" "floatX .*= float64 .*# $tmp/kilnrc" "$tmp/file"
check "Keras 1's spelling is the same setting" "nn__image_data_format .*= channels_last" "$tmp/file"
KILNRC="$tmp/kilnrc" KILN_FLAGS=floatX=float32,optimizer=none "$kiln" config > "$tmp/flags" || fails=1
check "KILN_FLAGS wins over the file" "floatX .*= float32 .*# KILN_FLAGS" "$tmp/flags"
check "KILN_FLAGS's other key" "optimizer .*= none .*# KILN_FLAGS" "$tmp/flags"

# floatX=float64: the model's parameters and images are f64 (the dump of
# the compiled step shows the types), and it trains.
KILNRC="$tmp/none" KILN_FLAGS=floatX=float64,dump_dir="$tmp/dumps" "$kiln" train --model mlp --limit 512 \
  --test-limit 256 --epochs 1 --output-dir "$tmp/o64" > "$tmp/f64" || { echo "FAIL: float64 training"; fails=1; }
check "training says float64" "float64, on the llvm backend" "$tmp/f64"
check "an epoch in f64" "epoch 1: train loss" "$tmp/f64"
check "the step's images are f64" "input %images : f64\[N,1,28,28\]" "$tmp/dumps/train_step.1/00.input.kir"
check "the step's weights are f64" "param %dense1.w : f64\[784,512\]" "$tmp/dumps/train_step.1/00.input.kir"

# channels_last: the zoo's images are [N, 28, 28, 1], and the net trains.
KILNRC="$tmp/none" KILN_FLAGS=image_data_format=channels_last,dump_dir="$tmp/nhwc" "$kiln" train --model lenet \
  --limit 256 --test-limit 128 --output-dir "$tmp/onhwc" > "$tmp/nhwc.log" || { echo "FAIL: channels_last training"; fails=1; }
check "a channels_last epoch" "epoch 1: train loss" "$tmp/nhwc.log"
check "the images are channels last" "input %images : f32\[N,28,28,1\]" "$tmp/nhwc/train_step.1/00.input.kir"

# Errors name the key, where it came from and what is allowed; exit 1.
expect_error() { # expect_error PATTERN ENV... -- ARGS...
  local pattern=$1; shift
  env "$@" > "$tmp/out" 2>&1
  local rc=$?
  [ $rc -eq 1 ] && grep -q -- "$pattern" "$tmp/out" ||
    { echo "FAIL: $* -> exit $rc, wanted 1 and '$pattern':"; cat "$tmp/out"; fails=1; }
}
expect_error "KILN_FLAGS: unknown config key 'devise'" KILNRC="$tmp/none" KILN_FLAGS=devise=cpu \
  "$kiln" train --model mlp --limit 64
expect_error "floatX = 'float65' is not allowed (one of: float32, float64)" KILNRC="$tmp/none" \
  KILN_FLAGS=floatX=float65 "$kiln" config
printf '[global]\nmode = Fast\n' > "$tmp/badrc"
expect_error "$tmp/badrc: mode = 'Fast' is not allowed (one of: FAST_RUN, DebugMode, NanGuardMode)" \
  KILNRC="$tmp/badrc" KILN_FLAGS= "$kiln" run "$src/examples/lenet5.kir" -o "$tmp/r"
expect_error "device=cuda (the config)" KILNRC="$tmp/none" KILN_FLAGS=device=cuda LD_LIBRARY_PATH=/nonexistent \
  "$kiln" train --model mlp --limit 64

# A model whose logits are already probabilities: a warning on stderr.
KILNRC="$tmp/none" KILN_FLAGS= "$kiln" train "$src/examples/lenet5.kir" --limit 128 --test-limit 64 \
  --output-dir "$tmp/lenet" > "$tmp/warn.out" 2> "$tmp/warn.err" || { echo "FAIL: lenet5.kir trains"; fails=1; }
check "the softmax warning" "come from a softmax" "$tmp/warn.err"
exit $fails
