//===- ir/HostTensor.cpp - Host tensors and element conversions -----------===//
#include "ir/HostTensor.h"

#include <algorithm>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace kiln::ir {

uint16_t floatToHalf(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) // inf or nan
    return static_cast<uint16_t>(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u : 0u));
  if (absx >= 0x477ff000u) // rounds to >= 65520: overflow to inf
    return static_cast<uint16_t>(sign | 0x7c00u);
  if (absx < 0x38800000u) { // subnormal half or zero
    float a = std::bit_cast<float>(absx);
    // Scale so the half subnormal unit (2^-24) becomes 1, then round to even.
    float scaled = a * 16777216.0f;
    uint32_t m = static_cast<uint32_t>(std::nearbyint(scaled));
    return static_cast<uint16_t>(sign | m);
  }
  uint32_t exp = ((absx >> 23) - 127 + 15);
  uint32_t mant = absx & 0x7fffffu;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
    ++h; // carries into the exponent correctly
  return static_cast<uint16_t>(sign | h);
}

float halfToFloat(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 31)
    return std::bit_cast<float>(sign | 0x7f800000u | (mant << 13));
  return std::bit_cast<float>(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

uint16_t floatToBF16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((x >> 16) | 0x40u); // quiet nan
  uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return static_cast<uint16_t>(x >> 16);
}

float bf16ToFloat(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

namespace {
template <typename Int> Int wrapToInt(double v) {
  if (std::isnan(v))
    return 0;
  double t = std::trunc(v);
  if (t >= -9.2e18 && t <= 9.2e18)
    return static_cast<Int>(static_cast<int64_t>(t));
  return t > 0 ? std::numeric_limits<Int>::max() : std::numeric_limits<Int>::min();
}
} // namespace

double roundToDType(DType dtype, double v) {
  switch (dtype) {
  case DType::F64:
    return v;
  case DType::F32:
    return static_cast<float>(v);
  case DType::F16:
    return halfToFloat(floatToHalf(static_cast<float>(v)));
  case DType::BF16:
    return bf16ToFloat(floatToBF16(static_cast<float>(v)));
  case DType::I64:
    return static_cast<double>(wrapToInt<int64_t>(v));
  case DType::I32:
    return wrapToInt<int32_t>(v);
  case DType::I8:
    return wrapToInt<int8_t>(v);
  case DType::U8:
    return wrapToInt<uint8_t>(v);
  case DType::Bool:
    return v != 0 ? 1.0 : 0.0;
  }
  return v;
}

HostTensor::HostTensor(DType dtype, Sizes sizes)
    : dtype_(dtype), sizes_(std::move(sizes)),
      bytes_(static_cast<size_t>(product(sizes_)) * dtypeSize(dtype)) {}

std::byte *HostTensor::data() {
  if (!bytes_)
    return nullptr;
  if (!bytes_.unique()) {
    SharedBytes own(bytes_->size());
    std::copy(bytes_->begin(), bytes_->end(), own->begin());
    bytes_ = std::move(own);
  }
  return bytes_->data();
}

bool HostTensor::operator==(const HostTensor &o) const {
  if (dtype_ != o.dtype_ || sizes_ != o.sizes_)
    return false;
  if (bytes_ == o.bytes_)
    return true;
  return byteSize() == o.byteSize() && std::equal(data(), data() + byteSize(), o.data());
}

HostTensor HostTensor::fromDoubles(DType dtype, Sizes sizes, const std::vector<double> &values) {
  HostTensor t(dtype, std::move(sizes));
  for (int64_t i = 0; i < t.numElements(); ++i)
    t.set(i, values[static_cast<size_t>(i)]);
  return t;
}

namespace {
template <typename T> T load(const std::byte *p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}
template <typename T> void store(std::byte *p, T v) { std::memcpy(p, &v, sizeof(T)); }
} // namespace

double HostTensor::get(int64_t i) const {
  const std::byte *p = data() + static_cast<size_t>(i) * dtypeSize(dtype_);
  switch (dtype_) {
  case DType::F32:
    return load<float>(p);
  case DType::F64:
    return load<double>(p);
  case DType::F16:
    return halfToFloat(load<uint16_t>(p));
  case DType::BF16:
    return bf16ToFloat(load<uint16_t>(p));
  case DType::I64:
    return static_cast<double>(load<int64_t>(p));
  case DType::I32:
    return load<int32_t>(p);
  case DType::I8:
    return load<int8_t>(p);
  case DType::U8:
    return load<uint8_t>(p);
  case DType::Bool:
    return load<uint8_t>(p) ? 1.0 : 0.0;
  }
  return 0;
}

void HostTensor::set(int64_t i, double v) {
  std::byte *p = data() + static_cast<size_t>(i) * dtypeSize(dtype_);
  switch (dtype_) {
  case DType::F32:
    return store<float>(p, static_cast<float>(v));
  case DType::F64:
    return store<double>(p, v);
  case DType::F16:
    return store<uint16_t>(p, floatToHalf(static_cast<float>(v)));
  case DType::BF16:
    return store<uint16_t>(p, floatToBF16(static_cast<float>(v)));
  case DType::I64:
    return store<int64_t>(p, wrapToInt<int64_t>(v));
  case DType::I32:
    return store<int32_t>(p, wrapToInt<int32_t>(v));
  case DType::I8:
    return store<int8_t>(p, wrapToInt<int8_t>(v));
  case DType::U8:
    return store<uint8_t>(p, wrapToInt<uint8_t>(v));
  case DType::Bool:
    return store<uint8_t>(p, v != 0 ? 1 : 0);
  }
}

int64_t HostTensor::getInt(int64_t i) const {
  const std::byte *p = data() + static_cast<size_t>(i) * dtypeSize(dtype_);
  switch (dtype_) {
  case DType::I64: return load<int64_t>(p);
  case DType::I32: return load<int32_t>(p);
  case DType::I8: return load<int8_t>(p);
  case DType::U8:
  case DType::Bool: return load<uint8_t>(p);
  default: return static_cast<int64_t>(get(i));
  }
}

void HostTensor::setInt(int64_t i, int64_t v) {
  std::byte *p = data() + static_cast<size_t>(i) * dtypeSize(dtype_);
  switch (dtype_) {
  case DType::I64: return store<int64_t>(p, v);
  case DType::I32: return store<int32_t>(p, static_cast<int32_t>(v));
  case DType::I8: return store<int8_t>(p, static_cast<int8_t>(v));
  case DType::U8: return store<uint8_t>(p, static_cast<uint8_t>(v));
  default: return set(i, static_cast<double>(v));
  }
}

std::vector<double> HostTensor::toDoubles() const {
  std::vector<double> out(static_cast<size_t>(numElements()));
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = get(static_cast<int64_t>(i));
  return out;
}

Type HostTensor::type() const {
  Type t;
  t.dtype = dtype_;
  for (int64_t s : sizes_)
    t.shape.push_back(Dim::of(s));
  return t;
}

} // namespace kiln::ir
