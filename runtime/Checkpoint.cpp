//===- runtime/Checkpoint.cpp - Checkpoints in safetensors format ---------===//
#include "runtime/Checkpoint.h"

#include "ir/File.h"

#include <nlohmann/json.hpp>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace kiln::checkpoint {

using namespace ir;
using json = nlohmann::json;

/// The metadata key of a tensor's checksum: `crc32:NAME`.
const std::string kChecksumPrefix = "crc32:";

namespace {
const std::pair<DType, const char *> kNames[] = {{DType::F32, "F32"}, {DType::F64, "F64"}, {DType::F16, "F16"},
                                                 {DType::BF16, "BF16"}, {DType::I64, "I64"}, {DType::I32, "I32"},
                                                 {DType::I8, "I8"},   {DType::U8, "U8"},   {DType::Bool, "BOOL"}};
/// The CRC-32 of a tensor's bytes, as 8 hex digits.
std::string crcOf(const HostTensor &t) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto *p = reinterpret_cast<const Bytef *>(t.data());
  for (size_t left = t.byteSize(); left > 0;) {
    auto chunk = static_cast<uInt>(std::min<size_t>(left, 1u << 30));
    crc = crc32(crc, p, chunk);
    p += chunk;
    left -= chunk;
  }
  return fmt::format("{:08x}", static_cast<uint32_t>(crc));
}
} // namespace

Status save(const std::string &path, const Tensors &tensors, const Metadata &meta) {
  json header = json::object();
  size_t offset = 0;
  for (const auto &[name, t] : tensors) {
    const char *dt = "F32";
    for (const auto &[d, n] : kNames)
      if (d == t.dtype())
        dt = n;
    header[name] = {{"dtype", dt}, {"shape", t.sizes()}, {"data_offsets", {offset, offset + t.byteSize()}}};
    offset += t.byteSize();
  }
  // Each tensor's CRC-32 in the metadata (safetensors allows only strings
  // there), verified on load: flipped bits in the weights are an error.
  Metadata withSums = meta;
  for (const auto &[name, t] : tensors)
    withSums[kChecksumPrefix + name] = crcOf(t);
  if (!withSums.empty())
    header["__metadata__"] = withSums;
  std::string text = header.dump();
  while (text.size() % 8)
    text += ' ';
  std::string file;
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i)
    file += static_cast<char>((n >> (8 * i)) & 0xff);
  file += text;
  for (const auto &[name, t] : tensors)
    file.append(reinterpret_cast<const char *>(t.data()), t.byteSize());
  return writeFileAtomic(path, file);
}

Expected<Loaded> load(const std::string &path) {
  auto file = readFile(path);
  if (!file)
    return file.error();
  const std::string &bytes = *file;
  auto fail = [&](const std::string &why) { return makeError("{}: not a valid safetensors checkpoint: {}", path, why); };
  if (bytes.size() < 8)
    return fail("too short");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i)
    n |= static_cast<uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  if (n > bytes.size() - 8)
    return fail("the header is truncated");
  json header = json::parse(bytes.substr(8, n), nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object())
    return fail("the header is not a JSON object");
  Loaded out;
  size_t dataStart = 8 + n;
  for (const auto &[name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (entry.is_object())
        for (const auto &[k, v] : entry.items())
          if (v.is_string())
            out.meta[k] = v.get<std::string>();
      continue;
    }
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets") ||
        !entry["dtype"].is_string() || !entry["shape"].is_array() || !entry["data_offsets"].is_array() ||
        entry["data_offsets"].size() != 2)
      return fail(fmt::format("entry '{}' lacks dtype, shape or data_offsets", name));
    std::optional<DType> dt;
    for (const auto &[d, dn] : kNames)
      if (entry["dtype"].get<std::string>() == dn)
        dt = d;
    if (!dt)
      return fail(fmt::format("entry '{}' has unsupported dtype {}", name, entry["dtype"].get<std::string>()));
    Sizes sizes;
    int64_t count = 1;
    for (const auto &d : entry["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0 || __builtin_mul_overflow(count, d.get<int64_t>(), &count))
        return fail(fmt::format("entry '{}' has a bad shape", name));
      sizes.push_back(d.get<int64_t>());
    }
    const auto &offs = entry["data_offsets"];
    if (!offs[0].is_number_unsigned() || !offs[1].is_number_unsigned())
      return fail(fmt::format("entry '{}' has bad data offsets", name));
    uint64_t b = offs[0].get<uint64_t>(), e = offs[1].get<uint64_t>();
    if (e < b || e > bytes.size() - dataStart || e - b != static_cast<uint64_t>(count) * dtypeSize(*dt))
      return fail(fmt::format("entry '{}' has data offsets that do not match its shape or the file", name));
    HostTensor t(*dt, sizes);
    if (t.byteSize())
      std::memcpy(t.data(), bytes.data() + dataStart + b, t.byteSize());
    out.tensors.emplace(name, std::move(t));
  }
  // Checksums: verified where present (safetensors files from other tools
  // carry none), and then required of every tensor.
  bool summed = false;
  for (const auto &[key, value] : out.meta)
    summed |= key.starts_with(kChecksumPrefix);
  for (const auto &[name, t] : out.tensors) {
    auto it = out.meta.find(kChecksumPrefix + name);
    if (it == out.meta.end()) {
      if (summed)
        return fail(fmt::format("tensor '{}' has no checksum while the others have one", name));
      continue;
    }
    if (it->second != crcOf(t))
      return fail(fmt::format("tensor '{}' does not match its checksum (the file is damaged)", name));
  }
  for (auto it = out.meta.begin(); it != out.meta.end();)
    it = it->first.starts_with(kChecksumPrefix) ? out.meta.erase(it) : std::next(it);
  return out;
}

} // namespace kiln::checkpoint
