//===- ir/Type.cpp - Element types, shapes, layouts -----------------------===//
#include "ir/Type.h"

#include <fmt/format.h>

#include <array>
#include <charconv>

namespace kiln::ir {

namespace {
struct DTypeRow {
  DType dt;
  std::string_view name;
  size_t size;
};
constexpr std::array<DTypeRow, 9> kDTypes = {{
    {DType::F32, "f32", 4},
    {DType::F64, "f64", 8},
    {DType::F16, "f16", 2},
    {DType::BF16, "bf16", 2},
    {DType::I64, "i64", 8},
    {DType::I32, "i32", 4},
    {DType::I8, "i8", 1},
    {DType::U8, "u8", 1},
    {DType::Bool, "bool", 1},
}};
} // namespace

std::string_view dtypeName(DType dt) { return kDTypes[static_cast<int>(dt)].name; }
size_t dtypeSize(DType dt) { return kDTypes[static_cast<int>(dt)].size; }

std::optional<DType> parseDType(std::string_view name) {
  for (const auto &row : kDTypes)
    if (row.name == name)
      return row.dt;
  return std::nullopt;
}

bool isFloat(DType dt) {
  return dt == DType::F32 || dt == DType::F64 || dt == DType::F16 || dt == DType::BF16;
}
bool isInteger(DType dt) {
  return dt == DType::I64 || dt == DType::I32 || dt == DType::I8 || dt == DType::U8;
}

std::string layoutName(Layout l) {
  switch (l.kind) {
  case Layout::RowMajor:
    return "row_major";
  case Layout::NHWC:
    return "nhwc";
  case Layout::Blocked:
    return fmt::format("nchw{}c", l.block);
  case Layout::FlatRows:
    return fmt::format("nhwc_rows{}", l.block);
  case Layout::FlatCols:
    return fmt::format("nhwc_cols{}", l.block);
  }
  return "?";
}

std::vector<int> storageOrder(Layout l, int rank) {
  std::vector<int> order;
  if (l.kind == Layout::Blocked || l.isFlat())
    return order;
  order.push_back(0);
  if (l.kind == Layout::NHWC && rank >= 3) {
    for (int i = 2; i < rank; ++i)
      order.push_back(i);
    order.push_back(1);
    return order;
  }
  for (int i = 1; i < rank; ++i)
    order.push_back(i);
  if (rank == 0)
    order.clear();
  return order;
}

bool sameStorage(const Shape &shape, Layout a, Layout b) {
  if (a == b)
    return true;
  // Channels that fill exactly one block are stored channels last.
  for (Layout *l : {&a, &b})
    if (l->kind == Layout::Blocked && shape.size() >= 3 && shape[1] == Dim::of(l->block))
      *l = Layout{Layout::NHWC, 0};
  if (a.kind == Layout::Blocked || b.kind == Layout::Blocked || a.isFlat() || b.isFlat())
    return false;
  auto rank = static_cast<int>(shape.size());
  auto nonUnit = [&](Layout l) {
    std::vector<int> out;
    for (int d : storageOrder(l, rank))
      if (!(shape[static_cast<size_t>(d)].isConst() && shape[static_cast<size_t>(d)].value == 1))
        out.push_back(d);
    return out;
  };
  return nonUnit(a) == nonUnit(b);
}

std::optional<Layout> parseLayout(std::string_view name) {
  if (name == "row_major")
    return Layout{};
  if (name == "nhwc")
    return Layout{Layout::NHWC, 0};
  for (auto [prefix, kind] : {std::pair{std::string_view("nhwc_rows"), Layout::FlatRows},
                              std::pair{std::string_view("nhwc_cols"), Layout::FlatCols}}) {
    if (name.substr(0, prefix.size()) != prefix)
      continue;
    std::string_view digits = name.substr(prefix.size());
    int channels = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), channels);
    if (ec == std::errc() && ptr == digits.data() + digits.size() && channels > 0)
      return Layout{kind, channels};
    return std::nullopt;
  }
  if (name.size() > 5 && name.substr(0, 4) == "nchw" && name.back() == 'c') {
    std::string_view digits = name.substr(4, name.size() - 5);
    int block = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), block);
    if (ec == std::errc() && ptr == digits.data() + digits.size() && block > 0)
      return Layout{Layout::Blocked, block};
  }
  return std::nullopt;
}

std::optional<int64_t> Type::numElements() const {
  int64_t n = 1;
  for (const Dim &d : shape) {
    if (!d.isConst())
      return std::nullopt;
    n *= d.value;
  }
  return n;
}

std::string toString(const Dim &d) {
  if (d.isSymbol())
    return d.sym;
  if (d.isUnknown())
    return "?";
  return std::to_string(d.value);
}

std::string toString(const Shape &s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i)
      out += ',';
    out += toString(s[i]);
  }
  return out + "]";
}

std::string toString(const Type &t) {
  std::string out = std::string(dtypeName(t.dtype)) + toString(t.shape);
  if (t.layout.kind != Layout::RowMajor)
    out += "{" + layoutName(t.layout) + "}";
  return out;
}

std::string toString(const Sizes &s) { return fmt::format("[{}]", fmt::join(s, ",")); }

int64_t product(const Sizes &s) {
  int64_t n = 1;
  for (int64_t d : s)
    n *= d;
  return n;
}

} // namespace kiln::ir

namespace kiln::ir {

std::optional<std::vector<int64_t>> physicalStrides(const Sizes &sizes, Layout l) {
  auto rank = static_cast<int>(sizes.size());
  std::vector<int> order = storageOrder(l, rank);
  if (order.empty() && rank > 0)
    return std::nullopt;
  std::vector<int64_t> strides(sizes.size());
  int64_t step = 1;
  for (size_t i = order.size(); i-- > 0;) {
    strides[static_cast<size_t>(order[i])] = step;
    step *= sizes[static_cast<size_t>(order[i])];
  }
  return strides;
}

int64_t physicalOffset(const Sizes &sizes, Layout l, const int64_t *coords) {
  if (l.kind == Layout::Blocked) { // N, C/b, spatial..., b
    int64_t b = l.block, off = coords[0] * (sizes[1] / b) + coords[1] / b;
    for (size_t d = 2; d < sizes.size(); ++d)
      off = off * sizes[d] + coords[d];
    return off * b + coords[1] % b;
  }
  if (l.isFlat()) { // the flat dim k = c * S + s is stored at s * C + c
    int flat = l.kind == Layout::FlatRows ? 0 : 1;
    int64_t c = l.block, k = coords[flat], s = sizes[static_cast<size_t>(flat)] / c;
    int64_t stored = (k % s) * c + k / s;
    return flat == 0 ? stored * sizes[1] + coords[1] : coords[0] * sizes[1] + stored;
  }
  auto strides = physicalStrides(sizes, l);
  int64_t off = 0;
  for (size_t d = 0; d < sizes.size(); ++d)
    off += coords[d] * (*strides)[d];
  return off;
}

} // namespace kiln::ir
