//===- runtime/Npy.h - NumPy .npy files ------------------------*- C++ -*-===//
//
// Reads and writes NumPy's .npy format (versions 1.0, 2.0 and 3.0), C order,
// for every kiln dtype: <f4 <f8 <f2 <i8 <i4 |i1 |u1 |b1, and bf16 as `<V2`
// raw 2-byte elements (NumPy has no bfloat16); a `<u2` file, bf16 bits saved
// as uint16, reads as bf16 too (kiln has no uint16). Big-endian data is swapped on
// reading. Anything else (Fortran order, object arrays, other dtypes, a
// truncated file) is a clear error naming the file.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Error.h"
#include "ir/HostTensor.h"

#include <string>
#include <string_view>

namespace kiln::npy {

/// Parses the bytes of an .npy file; `name` is used in messages.
Expected<ir::HostTensor> decode(std::string_view bytes, std::string_view name);
/// The bytes of an .npy file (version 1.0 where the header fits, else 2.0).
std::string encode(const ir::HostTensor &t);
Expected<ir::HostTensor> load(const std::string &path);
/// Writes atomically: a temporary file renamed into place.
Status save(const std::string &path, const ir::HostTensor &t);

} // namespace kiln::npy
