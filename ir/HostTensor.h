//===- ir/HostTensor.h - A tensor of concrete data in host memory -*- C++ -*-===//
//
// HostTensor holds the values of parameters and constants in a Graph, the
// inputs and outputs of a run, and the contents of .npy files: a dtype,
// concrete sizes and C-ordered bytes. Element access converts through double,
// which is what the reference interpreter computes in.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Type.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace kiln::ir {

/// Bytes shared by copies of a HostTensor until one is written (copy on
/// write). The owner count is atomic with acquire/release order, so an owner
/// that finds itself alone (unique()) also sees everything the owners that
/// left did with the bytes before leaving: writing them in place is then
/// race-free across threads. (std::shared_ptr::use_count() loads relaxed and
/// gives no such order.)
class SharedBytes {
public:
  SharedBytes() = default;
  explicit SharedBytes(size_t n) : b_(new Block) { b_->bytes.resize(n); }
  SharedBytes(const SharedBytes &o) : b_(o.b_) {
    if (b_)
      b_->owners.fetch_add(1, std::memory_order_relaxed);
  }
  SharedBytes(SharedBytes &&o) noexcept : b_(std::exchange(o.b_, nullptr)) {}
  SharedBytes &operator=(SharedBytes o) noexcept {
    std::swap(b_, o.b_);
    return *this;
  }
  ~SharedBytes() {
    if (b_ && b_->owners.fetch_sub(1, std::memory_order_acq_rel) == 1)
      delete b_;
  }
  explicit operator bool() const { return b_ != nullptr; }
  bool unique() const { return b_ && b_->owners.load(std::memory_order_acquire) == 1; }
  std::vector<std::byte> &operator*() const { return b_->bytes; }
  std::vector<std::byte> *operator->() const { return &b_->bytes; }
  bool operator==(const SharedBytes &o) const { return b_ == o.b_; }

private:
  struct Block {
    std::atomic<long> owners{1};
    std::vector<std::byte> bytes;
  };
  Block *b_ = nullptr;
};

class HostTensor {
public:
  HostTensor() = default;
  /// A zero-filled tensor.
  HostTensor(DType dtype, Sizes sizes);
  /// A tensor holding `values`, converted (rounded) to `dtype`.
  static HostTensor fromDoubles(DType dtype, Sizes sizes, const std::vector<double> &values);
  static HostTensor scalar(DType dtype, double value) { return fromDoubles(dtype, {}, {value}); }

  DType dtype() const { return dtype_; }
  const Sizes &sizes() const { return sizes_; }
  int rank() const { return static_cast<int>(sizes_.size()); }
  int64_t numElements() const { return product(sizes_); }
  size_t byteSize() const { return bytes_ ? bytes_->size() : 0; }
  /// The bytes, for writing: copies them first if another tensor shares them
  /// (copies of a HostTensor share their bytes until one is written).
  std::byte *data();
  const std::byte *data() const { return bytes_ ? bytes_->data() : nullptr; }
  /// Whether this tensor alone holds its bytes (writing them copies nothing).
  bool unshared() const { return bytes_.unique(); }

  /// Element i (flat, C order) converted to double.
  double get(int64_t i) const;
  /// Stores v at element i, rounded to the dtype (integers truncate toward
  /// zero and wrap, bool is v != 0, f16/bf16 round to nearest even).
  void set(int64_t i, double v);
  std::vector<double> toDoubles() const;
  /// Element i of an integer or bool tensor, exactly (i64 beyond 2^53 too).
  int64_t getInt(int64_t i) const;
  /// Stores an integer exactly in an integer tensor (wrapping to its width);
  /// other dtypes convert it as set() does.
  void setInt(int64_t i, int64_t v);

  /// The same bytes (shared) under other sizes of the same element count.
  HostTensor reshaped(Sizes sizes) const {
    HostTensor t = *this;
    t.sizes_ = std::move(sizes);
    return t;
  }

  /// The static type of this tensor (all dims constant, row-major).
  Type type() const;
  /// Same dtype, sizes and bytes.
  bool operator==(const HostTensor &o) const;

private:
  DType dtype_ = DType::F32;
  Sizes sizes_;
  SharedBytes bytes_;
};

/// IEEE half and bfloat16 conversions (round to nearest even).
uint16_t floatToHalf(float f);
float halfToFloat(uint16_t h);
uint16_t floatToBF16(float f);
float bf16ToFloat(uint16_t b);
/// Rounds v to the nearest value representable in dtype (what set() stores).
double roundToDType(DType dtype, double v);

} // namespace kiln::ir
