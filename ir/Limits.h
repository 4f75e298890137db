//===- ir/Limits.h - Checked size arithmetic and the memory budget -*- C++ -*-===//
//
// Sizes in kiln come from untrusted input (model files, .kir text, .npy
// headers, checkpoints), so every element count and byte size computed from
// them is computed in checked int64 here, and every allocation a model causes
// is sized first and refused past one process-wide memory limit (`max_memory`:
// by default 80% of physical memory). A refused size is an Error naming what
// was being sized; nothing is allocated first and checked after.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Error.h"
#include "ir/Type.h"

#include <cstdint>
#include <optional>
#include <string_view>

namespace kiln::ir {

/// a * b, or nullopt when it overflows int64.
std::optional<int64_t> checkedMul(int64_t a, int64_t b);
/// a + b, or nullopt when it overflows int64.
std::optional<int64_t> checkedAdd(int64_t a, int64_t b);
/// The product of `sizes`, or nullopt when a size is negative or it overflows.
std::optional<int64_t> checkedProduct(const Sizes &sizes);

/// The memory limit in bytes: no one tensor, and no one model's parameters,
/// constants or intermediates together, may be larger.
int64_t memoryLimit();
/// Sets the memory limit (bytes > 0).
void setMemoryLimit(int64_t bytes);
/// Parses a byte size: `1073741824`, `512M`, `8G`, `1.5G`, `2T` (powers of
/// 1024; a `B`/`iB` suffix allowed), as `max_memory` is written.
Expected<int64_t> parseByteSize(std::string_view text);
/// `1.50 GiB`, for messages.
std::string formatBytes(int64_t bytes);

/// The bytes of a tensor of `dtype` and `sizes`, checked: an Error naming
/// `what` when a size is negative, the element count or the bytes overflow,
/// or the bytes pass the memory limit.
Expected<int64_t> checkedTensorBytes(DType dtype, const Sizes &sizes, std::string_view what);
/// The same for a static type: dims that are not constant are skipped (they
/// are checked once bound).
Expected<int64_t> checkedTypeBytes(const Type &type, std::string_view what);
/// Adds `bytes` to `total` for a budget of several allocations (`what` names
/// them all): an Error when the sum passes the memory limit.
Status addToBudget(int64_t &total, int64_t bytes, std::string_view what);

} // namespace kiln::ir
