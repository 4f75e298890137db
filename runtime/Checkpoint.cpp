//===- runtime/Checkpoint.cpp - Checkpoints in safetensors format ---------===//
#include "runtime/Checkpoint.h"

#include "ir/File.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace kiln::checkpoint {

using namespace ir;
using json = nlohmann::json;

namespace {
const std::pair<DType, const char *> kNames[] = {{DType::F32, "F32"}, {DType::F64, "F64"}, {DType::F16, "F16"},
                                                 {DType::BF16, "BF16"}, {DType::I64, "I64"}, {DType::I32, "I32"},
                                                 {DType::I8, "I8"},   {DType::U8, "U8"},   {DType::Bool, "BOOL"}};
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
  if (!meta.empty())
    header["__metadata__"] = meta;
  std::string text = header.dump();
  while (text.size() % 8)
    text += ' ';
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      return makeError("{}: cannot write the checkpoint", tmp);
    uint64_t n = text.size();
    char len[8];
    for (int i = 0; i < 8; ++i)
      len[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    out.write(len, 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto &[name, t] : tensors)
      out.write(reinterpret_cast<const char *>(t.data()), static_cast<std::streamsize>(t.byteSize()));
    out.flush();
    if (!out)
      return makeError("{}: writing the checkpoint failed", tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return makeError("{}: cannot move the checkpoint into place", path);
  return {};
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
  return out;
}

} // namespace kiln::checkpoint
