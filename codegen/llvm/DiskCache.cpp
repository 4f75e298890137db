//===- codegen/llvm/DiskCache.cpp - Compiled objects kept on disk ---------===//
#include "codegen/llvm/DiskCache.h"
#include "ir/File.h"

#include <llvm/ADT/StringExtras.h>
#include <llvm/Support/SHA256.h>
#include <llvm/Support/xxhash.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

namespace kiln::codegen {

namespace fs = std::filesystem;

namespace {

constexpr size_t kTrailer = sizeof(uint64_t);
constexpr const char *kSuffix = ".kobj";

uint64_t checksum(std::string_view bytes) {
  return llvm::xxh3_64bits(llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size()));
}

} // namespace

std::string DiskCache::defaultDir() {
  if (const char *d = std::getenv("KILN_CACHE_DIR"))
    return d;
  if (const char *x = std::getenv("XDG_CACHE_HOME"); x && *x)
    return (fs::path(x) / "kiln").string();
  if (const char *h = std::getenv("HOME"); h && *h)
    return (fs::path(h) / ".cache" / "kiln").string();
  return "";
}

// An entry is the object, then the key it was stored under, the key's
// length and a checksum of all of it (little-endian u64s): a file renamed or
// copied under another key, or damaged, reads as a miss.
std::optional<std::string> DiskCache::load(const std::string &key) const {
  if (dir_.empty())
    return std::nullopt;
  auto file = readFile((fs::path(dir_) / (key + kSuffix)).string(), int64_t{1} << 30);
  if (!file)
    return std::nullopt;
  std::string &bytes = *file;
  if (bytes.size() < 2 * kTrailer)
    return std::nullopt;
  uint64_t want = 0, keyLength = 0;
  std::memcpy(&want, bytes.data() + bytes.size() - kTrailer, kTrailer);
  bytes.resize(bytes.size() - kTrailer);
  if (checksum(bytes) != want)
    return std::nullopt;
  std::memcpy(&keyLength, bytes.data() + bytes.size() - kTrailer, kTrailer);
  bytes.resize(bytes.size() - kTrailer);
  if (keyLength != key.size() || bytes.size() < keyLength ||
      std::string_view(bytes).substr(bytes.size() - keyLength) != key)
    return std::nullopt;
  bytes.resize(bytes.size() - keyLength);
  return std::move(bytes);
}

void DiskCache::store(const std::string &key, std::string_view object) const {
  if (dir_.empty())
    return;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec)
    return;
  std::string entry(object);
  entry += key;
  uint64_t keyLength = key.size();
  entry.append(reinterpret_cast<const char *>(&keyLength), kTrailer);
  uint64_t sum = checksum(entry);
  entry.append(reinterpret_cast<const char *>(&sum), kTrailer);
  // Written to a temporary name (pid and a counter) and renamed: a reader
  // sees a whole entry or none. A failure is only a miss next time.
  if (writeFileAtomic((fs::path(dir_) / (key + kSuffix)).string(), entry))
    trim();
}

void DiskCache::trim() const {
  struct Entry {
    fs::path path;
    fs::file_time_type written;
    uint64_t size;
  };
  std::vector<Entry> entries;
  uint64_t total = 0;
  std::error_code ec;
  // Error codes, never exceptions: this runs inside the compile's OpenMP
  // region, where a throw would terminate the process.
  fs::directory_iterator it(dir_, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const fs::directory_entry &e = *it;
    if (e.path().extension() != kSuffix)
      continue;
    std::error_code sec;
    uint64_t size = e.file_size(sec);
    fs::file_time_type t = e.last_write_time(sec);
    if (sec)
      continue;
    entries.push_back({e.path(), t, size});
    total += size;
  }
  if (total <= maxBytes_)
    return;
  std::sort(entries.begin(), entries.end(), [](const Entry &a, const Entry &b) { return a.written < b.written; });
  for (const Entry &e : entries) {
    if (total <= maxBytes_ / 4 * 3)
      break;
    fs::remove(e.path, ec); // another process may have removed it already
    total -= e.size;
  }
}

std::string DiskCache::keyOf(std::string_view text) {
  llvm::SHA256 sha;
  sha.update(llvm::StringRef(text.data(), text.size()));
  return llvm::toHex(sha.final(), true);
}

} // namespace kiln::codegen
