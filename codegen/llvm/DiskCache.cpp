//===- codegen/llvm/DiskCache.cpp - Compiled objects kept on disk ---------===//
#include "codegen/llvm/DiskCache.h"

#include <llvm/Support/xxhash.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
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

std::optional<std::string> DiskCache::load(const std::string &key) const {
  if (dir_.empty())
    return std::nullopt;
  std::ifstream in(fs::path(dir_) / (key + kSuffix), std::ios::binary);
  if (!in)
    return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string bytes = ss.str();
  if (bytes.size() <= kTrailer)
    return std::nullopt;
  uint64_t want = 0;
  std::memcpy(&want, bytes.data() + bytes.size() - kTrailer, kTrailer);
  bytes.resize(bytes.size() - kTrailer);
  if (checksum(bytes) != want)
    return std::nullopt;
  return bytes;
}

void DiskCache::store(const std::string &key, std::string_view object) const {
  if (dir_.empty())
    return;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec)
    return;
  // A name no other writer uses: pid and a random number.
  std::random_device rd;
  fs::path tmp = fs::path(dir_) / (key + "." + std::to_string(getpid()) + "." + std::to_string(rd()) + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary);
    uint64_t sum = checksum(object);
    out.write(object.data(), static_cast<std::streamsize>(object.size()));
    out.write(reinterpret_cast<const char *>(&sum), kTrailer);
    if (!out) {
      out.close();
      fs::remove(tmp, ec);
      return;
    }
  }
  fs::rename(tmp, fs::path(dir_) / (key + kSuffix), ec);
  if (ec) {
    fs::remove(tmp, ec);
    return;
  }
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

} // namespace kiln::codegen
