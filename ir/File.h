//===- ir/File.h - Reading whole files -------------------------*- C++ -*-===//
#pragma once

#include "ir/Error.h"

#include <string>

namespace kiln {

/// The bytes of a file, or the error "PATH: cannot open the file".
Expected<std::string> readFile(const std::string &path);

} // namespace kiln
