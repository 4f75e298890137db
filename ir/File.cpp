//===- ir/File.cpp - Reading and writing whole files ----------------------===//
#include "ir/File.h"
#include "ir/Limits.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace kiln {

namespace {
/// Closes a descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0)
      ::close(fd);
  }
};
} // namespace

Expected<std::string> readFile(const std::string &path, int64_t maxBytes) {
  if (maxBytes < 0)
    maxBytes = ir::memoryLimit();
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0)
    return makeError("{}: cannot open the file ({})", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0)
    return makeError("{}: cannot open the file ({})", path, std::strerror(errno));
  if (S_ISDIR(st.st_mode))
    return makeError("{}: cannot open the file (it is a directory)", path);
  if (S_ISREG(st.st_mode) && st.st_size > maxBytes)
    return makeError("{}: the file is {}, past the limit of {} for it (max_memory)", path,
                     ir::formatBytes(st.st_size), ir::formatBytes(maxBytes));
  std::string out;
  if (S_ISREG(st.st_mode))
    out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t got = ::read(f.fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR)
      continue;
    if (got < 0)
      return makeError("{}: cannot read the file ({})", path, std::strerror(errno));
    if (got == 0)
      break;
    if (static_cast<int64_t>(out.size()) + got > maxBytes) // a device or a pipe without end
      return makeError("{}: more than {} can be read from it, past the limit for it (max_memory)", path,
                       ir::formatBytes(maxBytes));
    out.append(buf, static_cast<size_t>(got));
  }
  return out;
}

namespace {
/// Writes all of `bytes` to `fd`: false (errno set) on any failure, a
/// short write counting as a full disk.
bool writeAll(int fd, std::string_view bytes) {
  const char *p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t put = ::write(fd, p, left);
    if (put < 0 && errno == EINTR)
      continue;
    if (put <= 0) {
      if (put == 0)
        errno = ENOSPC;
      return false;
    }
    p += put;
    left -= static_cast<size_t>(put);
  }
  return true;
}
} // namespace

Status writeFileAtomic(const std::string &path, std::string_view bytes) {
  namespace fs = std::filesystem;
  // A device or a pipe (/dev/stdout, a FIFO) is written in place: renaming
  // over it would replace it.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    if (S_ISDIR(st.st_mode))
      return makeError("{}: cannot write the file (it is a directory)", path);
    Fd f{::open(path.c_str(), O_WRONLY | O_CLOEXEC)};
    if (f.fd < 0 || !writeAll(f.fd, bytes))
      return makeError("{}: cannot write the file ({})", path, std::strerror(errno));
    return {};
  }
  static std::atomic<unsigned> counter{0};
  fs::path target(path);
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmp = (dir / fmt::format(".{}.tmp.{}.{}", target.filename().string(), ::getpid(), counter++)).string();
  auto fail = [&](std::string_view what) {
    std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return makeError("{}: cannot write the file ({}: {})", path, what, why);
  };
  {
    Fd f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)};
    if (f.fd < 0)
      return makeError("{}: cannot write the file ({})", path, std::strerror(errno));
    if (!writeAll(f.fd, bytes))
      return fail("write");
    if (::fsync(f.fd) != 0)
      return fail("fsync");
    int fd = f.fd;
    f.fd = -1;
    if (::close(fd) != 0)
      return fail("close");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return fail("rename");
  // The rename itself is made durable by syncing the directory.
  Fd d{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd >= 0)
    ::fsync(d.fd);
  return {};
}

} // namespace kiln
