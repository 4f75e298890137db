#!/usr/bin/env bash
# with_full_disk.sh DIR COMMAND...: runs COMMAND with DIR a 64 KiB tmpfs
# (mounted in a user and mount namespace, so no root is needed) filled up
# to its last bytes, so every write to it fails with ENOSPC. Exits 77 (the
# test is skipped) where this machine cannot mount one.
set -u
dir=$1
shift
mkdir -p "$dir"
exec unshare --user --map-root-user --mount bash -c '
  dir=$1; shift
  mount -t tmpfs -o size=64k tmpfs "$dir" 2>/dev/null || { echo "cannot mount a tmpfs here: skipped"; exit 77; }
  mkdir -p "$dir/dumps"
  dd if=/dev/zero of="$dir/filler" bs=1k count=128 2>/dev/null
  "$@"' bash "$dir" "$@" || exit $?
