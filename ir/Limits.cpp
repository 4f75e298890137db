//===- ir/Limits.cpp - Checked size arithmetic and the memory budget ------===//
#include "ir/Limits.h"

#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cmath>

namespace kiln::ir {

std::optional<int64_t> checkedMul(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &r))
    return std::nullopt;
  return r;
}

std::optional<int64_t> checkedAdd(int64_t a, int64_t b) {
  int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r))
    return std::nullopt;
  return r;
}

std::optional<int64_t> checkedProduct(const Sizes &sizes) {
  int64_t n = 1;
  for (int64_t s : sizes) {
    if (s < 0)
      return std::nullopt;
    auto next = checkedMul(n, s);
    if (!next)
      return std::nullopt;
    n = *next;
  }
  return n;
}

namespace {
int64_t physicalMemory() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0)
    return int64_t{8} << 30;
  return static_cast<int64_t>(pages) * page;
}

std::atomic<int64_t> &limitCell() {
  static std::atomic<int64_t> limit{physicalMemory() / 10 * 8};
  return limit;
}
} // namespace

int64_t memoryLimit() { return limitCell().load(std::memory_order_relaxed); }
void setMemoryLimit(int64_t bytes) { limitCell().store(bytes > 0 ? bytes : 1, std::memory_order_relaxed); }

Expected<int64_t> parseByteSize(std::string_view text) {
  std::string_view s = text;
  double number = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), number);
  if (ec != std::errc() || ptr == s.data() || !std::isfinite(number) || number <= 0)
    return makeError("'{}' is not a byte size (a positive number, optionally with K, M, G or T)", text);
  std::string_view unit = s.substr(static_cast<size_t>(ptr - s.data()));
  if (unit.ends_with("iB"))
    unit.remove_suffix(2);
  else if (unit.ends_with("B") && unit.size() > 1)
    unit.remove_suffix(1);
  double scale = 1;
  if (unit == "K" || unit == "k")
    scale = 1024.0;
  else if (unit == "M")
    scale = 1024.0 * 1024;
  else if (unit == "G")
    scale = 1024.0 * 1024 * 1024;
  else if (unit == "T")
    scale = 1024.0 * 1024 * 1024 * 1024;
  else if (!unit.empty() && unit != "B")
    return makeError("'{}' is not a byte size: unknown unit '{}' (K, M, G or T)", text, unit);
  double bytes = number * scale;
  if (bytes >= 9.2e18 || bytes < 1)
    return makeError("'{}' is not a byte size kiln can hold (1 byte to 8 EiB)", text);
  return static_cast<int64_t>(bytes);
}

std::string formatBytes(int64_t bytes) {
  const char *units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 6) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} bytes", bytes) : fmt::format("{:.2f} {}", v, units[u]);
}

namespace {
/// The checked bytes of `count` elements of `dtype`; `shown` is the tensor
/// as the message shows it.
Expected<int64_t> checkedBytes(DType dtype, std::optional<int64_t> count, std::string_view what,
                               const std::string &shown) {
  auto bytes = count ? checkedMul(*count, static_cast<int64_t>(dtypeSize(dtype))) : std::nullopt;
  if (!bytes)
    return makeError("{}: {} has more elements than kiln can address (its size overflows 64 bits)", what, shown);
  if (*bytes > memoryLimit())
    return makeError("{}: {} needs {}, past the memory limit of {} (max_memory)", what, shown, formatBytes(*bytes),
                     formatBytes(memoryLimit()));
  return *bytes;
}

/// The product of the non-zero sizes: a zero-size tensor of shape
/// [0, 2^62] holds no bytes, but its 2^62 still overflows whatever computes
/// with it (a window, a padding, a stride), so it is sized as if the zeros
/// were ones. Every dim of an accepted shape is then below 2^63 / dtype size
/// and within the memory limit, so sums of a few dims cannot overflow.
std::optional<int64_t> sizingCount(const Sizes &sizes) {
  Sizes nonZero;
  for (int64_t s : sizes)
    nonZero.push_back(s == 0 ? 1 : s);
  return checkedProduct(nonZero);
}
} // namespace

Expected<int64_t> checkedTensorBytes(DType dtype, const Sizes &sizes, std::string_view what) {
  for (int64_t s : sizes)
    if (s < 0)
      return makeError("{}: shape {} has a negative size", what, toString(sizes));
  KILN_TRY(checkedBytes(dtype, sizingCount(sizes), what,
                        fmt::format("a {} tensor of shape {}", dtypeName(dtype), toString(sizes))));
  return static_cast<int64_t>(*checkedProduct(sizes) * static_cast<int64_t>(dtypeSize(dtype)));
}

Expected<int64_t> checkedTypeBytes(const Type &type, std::string_view what) {
  Sizes known;
  for (const Dim &d : type.shape)
    if (d.isConst())
      known.push_back(d.value);
  KILN_TRY(checkedBytes(type.dtype, sizingCount(known), what, toString(type)));
  return static_cast<int64_t>(*checkedProduct(known) * static_cast<int64_t>(dtypeSize(type.dtype)));
}

Status addToBudget(int64_t &total, int64_t bytes, std::string_view what) {
  auto sum = checkedAdd(total, bytes);
  if (!sum || *sum > memoryLimit())
    return makeError("{} need more than the memory limit of {} (max_memory)", what, formatBytes(memoryLimit()));
  total = *sum;
  return {};
}

} // namespace kiln::ir
