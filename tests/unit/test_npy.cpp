//===- tests/unit/test_npy.cpp - NumPy .npy reading and writing -----------===//
#include "Helpers.h"

#include "runtime/Npy.h"

using namespace kiln;
using namespace kiln::ir;

TEST_CASE(".npy round-trips every dtype and rank", "[npy]") {
  for (DType dt : {DType::F32, DType::F64, DType::F16, DType::BF16, DType::I64, DType::I32, DType::I8, DType::U8, DType::Bool}) {
    for (Sizes sizes : {Sizes{}, Sizes{5}, Sizes{2, 3}, Sizes{0, 4}, Sizes{2, 1, 3, 2}}) {
      std::vector<double> v;
      for (int64_t i = 0; i < product(sizes); ++i)
        v.push_back(dt == DType::Bool ? i % 2 : static_cast<double>(i % 7) - (isFloat(dt) || dt == DType::U8 ? 0 : 3));
      HostTensor t = HostTensor::fromDoubles(dt, sizes, v);
      std::string bytes = npy::encode(t);
      INFO(dtypeName(dt) << toString(sizes));
      CHECK(bytes.size() % 64 == t.byteSize() % 64); // the data starts 64-byte aligned
      auto back = npy::decode(bytes, "t.npy");
      REQUIRE(back);
      CHECK(*back == t);
    }
  }
}

TEST_CASE(".npy headers as NumPy writes them", "[npy]") {
  std::string bytes = npy::encode(HostTensor(DType::F32, {3}));
  CHECK(bytes.substr(0, 8) == std::string("\x93NUMPY\x01\x00", 8));
  CHECK(bytes.find("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }") == 10);
  CHECK(npy::encode(HostTensor(DType::I64, {2, 3})).find("'shape': (2, 3), }") != std::string::npos);
  CHECK(npy::encode(HostTensor(DType::Bool, {})).find("{'descr': '|b1', 'fortran_order': False, 'shape': (), }") == 10);
}

namespace {
std::string withHeader(const std::string &dict, const std::string &data) {
  std::string h = dict;
  while ((10 + h.size() + 1) % 64)
    h += ' ';
  h += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(h.size() & 0xff);
  out += static_cast<char>(h.size() >> 8);
  return out + h + data;
}
std::string decodeError(const std::string &bytes) {
  auto t = npy::decode(bytes, "in.npy");
  REQUIRE_FALSE(t);
  return t.error().message;
}
} // namespace

TEST_CASE(".npy: big-endian data is swapped, bad files are clear errors", "[npy]") {
  std::string be = withHeader("{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }",
                              std::string("\x00\x00\x00\x01\xff\xff\xff\xfe", 8));
  auto t = npy::decode(be, "be.npy");
  REQUIRE(t);
  CHECK(t->get(0) == 1);
  CHECK(t->get(1) == -2);
  // bf16 saved from NumPy as its bits in uint16 (1.0 is 0x3f80, -2.5 0xc020).
  auto bf = npy::decode(withHeader("{'descr': '<u2', 'fortran_order': False, 'shape': (2,), }",
                                   std::string("\x80\x3f\x20\xc0", 4)),
                        "bf16.npy");
  REQUIRE(bf);
  CHECK(bf->dtype() == DType::BF16);
  CHECK(bf->get(0) == 1.0);
  CHECK(bf->get(1) == -2.5);
  CHECK(npy::encode(*bf).find("'descr': '<V2'") != std::string::npos); // written as before
  CHECK(decodeError("hello") == "in.npy: not a valid .npy file: it does not start with the .npy magic string");
  CHECK(decodeError(withHeader("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", "abcd")) ==
        "in.npy: not a valid .npy file: Fortran-ordered arrays are not supported; save with numpy.ascontiguousarray");
  CHECK(decodeError(withHeader("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", "abcdabcd")) ==
        "in.npy: not a valid .npy file: dtype '<c8' is not supported (kiln reads f4 f8 f2 i8 i4 i1 u1 b1, and V2 or u2 as bf16)");
  CHECK(decodeError(withHeader("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", "abcdabcd")).find(
            "is not supported") != std::string::npos);
  CHECK(decodeError(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", "abcd")) ==
        "in.npy: not a valid .npy file: the data is truncated: shape [2,2] needs 16 bytes, the file has 4");
  CHECK(decodeError(withHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", "")) ==
        "in.npy: not a valid .npy file: the array: a f32 tensor of shape [99999999999,99999999999] has more elements "
        "than kiln can address (its size overflows 64 bits)");
  CHECK(decodeError(std::string("\x93NUMPY\x01\x00\xff\x00{", 11)) == "in.npy: not a valid .npy file: truncated header");
  CHECK(decodeError(std::string("\x93NUMPY\x07\x00\x10\x00", 10)) == "in.npy: not a valid .npy file: unsupported format version 7");
  auto missing = npy::load("/nonexistent/x.npy");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message == "/nonexistent/x.npy: cannot open the file (No such file or directory)");
}
