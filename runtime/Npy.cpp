//===- runtime/Npy.cpp - NumPy .npy files ---------------------------------===//
#include "runtime/Npy.h"

#include "ir/File.h"
#include "ir/Limits.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace kiln::npy {

using namespace ir;

namespace {

struct Descr {
  std::string_view text; ///< without the byte-order character
  DType dtype;
};
/// The first row of a dtype is what it is written as. bf16 reads from `V2`
/// and from `u2`: NumPy has no bfloat16, and bf16 data saved from it (as
/// ONNX's and ml_dtypes' tools do) is its bits as uint16, a dtype kiln
/// otherwise lacks.
constexpr Descr kDescrs[] = {{"f4", DType::F32}, {"f8", DType::F64}, {"f2", DType::F16}, {"V2", DType::BF16},
                             {"u2", DType::BF16}, {"i8", DType::I64}, {"i4", DType::I32}, {"i1", DType::I8},
                             {"u1", DType::U8},  {"b1", DType::Bool}};

/// Finds the value text after `'key':` in the header dict.
std::optional<std::string_view> dictValue(std::string_view header, std::string_view key) {
  std::string quoted = "'" + std::string(key) + "'";
  size_t k = header.find(quoted);
  if (k == std::string_view::npos)
    return std::nullopt;
  size_t colon = header.find(':', k + quoted.size());
  if (colon == std::string_view::npos)
    return std::nullopt;
  size_t start = header.find_first_not_of(" ", colon + 1);
  if (start == std::string_view::npos)
    return std::nullopt;
  return header.substr(start);
}

} // namespace

Expected<HostTensor> decode(std::string_view bytes, std::string_view name) {
  auto fail = [&](std::string_view why) { return makeError("{}: not a valid .npy file: {}", name, why); };
  if (bytes.size() < 10 || bytes.substr(0, 6) != "\x93NUMPY")
    return fail("it does not start with the .npy magic string");
  int major = static_cast<unsigned char>(bytes[6]);
  size_t headerLen = 0, offset = 0;
  if (major == 1) {
    headerLen = static_cast<unsigned char>(bytes[8]) | (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12)
      return fail("truncated header");
    for (int i = 0; i < 4; ++i)
      headerLen |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    offset = 12;
  } else {
    return fail(fmt::format("unsupported format version {}", major));
  }
  if (bytes.size() < offset + headerLen)
    return fail("truncated header");
  std::string_view header = bytes.substr(offset, headerLen);
  for (size_t i = 0; i < header.size(); ++i) {
    auto c = static_cast<unsigned char>(header[i]);
    if ((c < 0x20 || c > 0x7e) && !(c == '\n' && i + 1 == header.size()))
      return fail(fmt::format("the header holds byte 0x{:02x} at offset {} (a header is printable ASCII ending "
                              "in a newline)",
                              c, offset + i));
  }

  auto descr = dictValue(header, "descr");
  if (!descr || descr->size() < 2 || (*descr)[0] != '\'')
    return fail("the header has no 'descr'");
  size_t end = descr->find('\'', 1);
  if (end == std::string_view::npos)
    return fail("the header's 'descr' is not a string");
  std::string_view d = descr->substr(1, end - 1);
  if (d.size() != 3 || std::string_view("<>|=").find(d[0]) == std::string_view::npos)
    return fail(fmt::format("dtype '{}' is not supported (kiln reads f4 f8 f2 i8 i4 i1 u1 b1, and V2 or u2 as bf16)", d));
  const Descr *found = nullptr;
  for (const Descr &row : kDescrs)
    if (row.text == d.substr(1))
      found = &row;
  if (!found)
    return fail(fmt::format("dtype '{}' is not supported (kiln reads f4 f8 f2 i8 i4 i1 u1 b1, and V2 or u2 as bf16)", d));
  bool bigEndian = d[0] == '>';

  auto fortran = dictValue(header, "fortran_order");
  if (!fortran)
    return fail("the header has no 'fortran_order'");
  auto isWord = [&](std::string_view word) {
    return fortran->substr(0, word.size()) == word &&
           (fortran->size() == word.size() || std::string_view(", }").find((*fortran)[word.size()]) != std::string_view::npos);
  };
  if (isWord("True"))
    return fail("Fortran-ordered arrays are not supported; save with numpy.ascontiguousarray");
  if (!isWord("False"))
    return fail(fmt::format("the header's 'fortran_order' is '{}', not True or False",
                            fortran->substr(0, fortran->find_first_of(",}"))));

  auto shapeText = dictValue(header, "shape");
  if (!shapeText || shapeText->empty() || (*shapeText)[0] != '(')
    return fail("the header has no 'shape' tuple");
  size_t close = shapeText->find(')');
  if (close == std::string_view::npos)
    return fail("the header's 'shape' is not closed");
  Sizes sizes;
  std::string_view inner = shapeText->substr(1, close - 1);
  // Python's tuple syntax: `()`, `(3,)`, `(2, 3)` or `(2, 3,)`; an empty
  // entry elsewhere (`(3,, 4)`, `(,)`) is an error.
  while (!inner.empty()) {
    size_t comma = inner.find(',');
    std::string_view item = inner.substr(0, comma);
    while (!item.empty() && item.front() == ' ')
      item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == 'L'))
      item.remove_suffix(1);
    bool last = comma == std::string_view::npos;
    if (item.empty() && !(last && !sizes.empty()))
      return fail(fmt::format("the header's 'shape' {} has an empty entry", shapeText->substr(0, close + 1)));
    if (!item.empty()) {
      int64_t v = 0;
      for (char c : item) {
        if (c < '0' || c > '9' || __builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, c - '0', &v))
          return fail(fmt::format("bad shape entry '{}'", item));
      }
      sizes.push_back(v);
    }
    if (last)
      break;
    inner.remove_prefix(comma + 1);
  }
  auto bytesNeeded = checkedTensorBytes(found->dtype, sizes, "the array");
  if (!bytesNeeded)
    return fail(bytesNeeded.error().message);
  int64_t count = *checkedProduct(sizes);
  size_t elem = dtypeSize(found->dtype);
  size_t dataStart = offset + headerLen;
  if (static_cast<uint64_t>(count) > (bytes.size() - dataStart) / elem)
    return fail(fmt::format("the data is truncated: shape {} needs {} bytes, the file has {}", toString(sizes),
                            static_cast<uint64_t>(count) * elem, bytes.size() - dataStart));
  if (static_cast<uint64_t>(count) * elem != bytes.size() - dataStart)
    return fail(fmt::format("shape {} needs {} bytes of data, the file has {} more after them", toString(sizes),
                            static_cast<uint64_t>(count) * elem, bytes.size() - dataStart - count * elem));
  HostTensor t(found->dtype, sizes);
  if (t.byteSize())
    std::memcpy(t.data(), bytes.data() + dataStart, t.byteSize());
  if (bigEndian && elem > 1)
    for (size_t i = 0; i < t.byteSize(); i += elem)
      std::reverse(t.data() + i, t.data() + i + elem);
  return t;
}

std::string encode(const HostTensor &t) {
  std::string_view descr;
  for (const Descr &row : kDescrs)
    if (row.dtype == t.dtype() && descr.empty())
      descr = row.text;
  char order = dtypeSize(t.dtype()) == 1 ? '|' : '<';
  std::string shape = t.rank() == 1 ? fmt::format("({},)", t.sizes()[0])
                                    : fmt::format("({})", fmt::join(t.sizes(), ", "));
  std::string header = fmt::format("{{'descr': '{}{}', 'fortran_order': False, 'shape': {}, }}", order, descr, shape);
  // Pad with spaces so that the data starts on a 64-byte boundary.
  bool v2 = header.size() + 11 > 65535;
  size_t prefix = v2 ? 12 : 10;
  size_t total = (prefix + header.size() + 1 + 63) / 64 * 64;
  header.append(total - prefix - header.size() - 1, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += static_cast<char>(v2 ? 2 : 1);
  out += '\0';
  size_t len = header.size();
  for (size_t i = 0; i < (v2 ? 4u : 2u); ++i)
    out += static_cast<char>((len >> (8 * i)) & 0xff);
  out += header;
  out.append(reinterpret_cast<const char *>(t.data()), t.byteSize());
  return out;
}

Expected<HostTensor> load(const std::string &path) {
  auto bytes = readFile(path);
  if (!bytes)
    return bytes.error();
  return decode(*bytes, path);
}

Status save(const std::string &path, const HostTensor &t) { return writeFileAtomic(path, encode(t)); }

} // namespace kiln::npy
