//===- codegen/llvm/DiskCache.h - Compiled objects kept on disk -*- C++ -*-===//
//
// The LLVM backend's cache of object files: a directory (`~/.cache/kiln`,
// `$XDG_CACHE_HOME/kiln`, or `$KILN_CACHE_DIR`) of files named by a key the
// JIT computes (a hash of the kernels' LLVM IR, the target CPU, and the kiln
// and LLVM versions). Safe when several processes compile at once: a file is
// written under a temporary name in the same directory and renamed into
// place, so a reader sees a whole object or none; each file records the key
// it was stored under and ends with a checksum, so a damaged entry, or one
// renamed or copied under another key, reads as a miss (and the JIT checks
// that a hit defines the symbols it needs before using it). The directory is kept under a
// size bound by deleting the least recently written files. Every failure
// (no home directory, a read-only disk) only means a miss: the cache never
// fails a compile.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kiln::codegen {

class DiskCache {
public:
  /// A cache in `dir` (created when first written) of at most `maxBytes`.
  explicit DiskCache(std::string dir, uint64_t maxBytes = 256ull << 20)
      : dir_(std::move(dir)), maxBytes_(maxBytes) {}

  /// The object stored under `key`, if there is an intact one.
  std::optional<std::string> load(const std::string &key) const;
  /// Stores `object` under `key` (temporary file, then rename), then trims
  /// the directory to its bound.
  void store(const std::string &key, std::string_view object) const;

  const std::string &dir() const { return dir_; }

  /// `$KILN_CACHE_DIR` if set (empty: no cache), else `$XDG_CACHE_HOME/kiln`,
  /// else `$HOME/.cache/kiln`; empty when there is none.
  static std::string defaultDir();
  /// A key for `text`: its SHA-256 in hex.
  static std::string keyOf(std::string_view text);

private:
  void trim() const;
  std::string dir_;
  uint64_t maxBytes_;
};

} // namespace kiln::codegen
