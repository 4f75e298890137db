//===- ir/File.h - Reading and writing whole files -------------*- C++ -*-===//
//
// Every file kiln reads from a user is read through readFile, bounded by the
// memory limit (a model path pointing at /dev/zero is an error, not an
// endless read), and every file it writes goes through writeFileAtomic: to a
// temporary file beside the target, checked, fsync'ed and renamed into place,
// so a full disk or a crash leaves the old file or the new one, never a torn
// or empty one, and the failure is an error.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Error.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace kiln {

/// The bytes of a file, or an error "PATH: cannot open the file (why)";
/// refused past `maxBytes` (default: the memory limit).
Expected<std::string> readFile(const std::string &path, int64_t maxBytes = -1);

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory, written, fsync'ed, renamed over `path`, the directory
/// fsync'ed. An error "PATH: cannot write the file (why)" on any failure,
/// with the temporary file removed.
Status writeFileAtomic(const std::string &path, std::string_view bytes);

} // namespace kiln
