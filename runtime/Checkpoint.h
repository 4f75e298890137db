//===- runtime/Checkpoint.h - Checkpoints in safetensors format -*- C++ -*-===//
//
// Saves named tensors and string metadata in the safetensors format (an
// 8-byte little-endian header length, a JSON header, the raw data), written
// through writeFileAtomic (a temporary file, fsync'ed and renamed), so a
// crash or a power loss never leaves a half-written checkpoint. Each tensor's
// CRC-32 is kept in the metadata (`crc32:NAME`) and verified on load, so
// flipped bits are an error. Loads them back with every inconsistency
// reported; the checksums are not part of the Metadata returned.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Error.h"
#include "ir/HostTensor.h"

#include <map>
#include <string>

namespace kiln::checkpoint {

using Tensors = std::map<std::string, ir::HostTensor>;
using Metadata = std::map<std::string, std::string>;

Status save(const std::string &path, const Tensors &tensors, const Metadata &meta);

struct Loaded {
  Tensors tensors;
  Metadata meta;
};
Expected<Loaded> load(const std::string &path);

} // namespace kiln::checkpoint
