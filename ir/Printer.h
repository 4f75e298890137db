//===- ir/Printer.h - The .kir text format: printing -----------*- C++ -*-===//
//
// Prints a Graph as .kir text, the format of every IR dump and golden test.
// parse(print(g)) prints the same text (ir/Parser.h). docs/ir.md describes
// the format.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <string>

namespace kiln::ir {

/// The whole graph as .kir text.
/// How print() writes tensor data: every element, or (MLIR's
/// `--mlir-elide-elementsattrs-if-larger`) for a tensor of more than
/// `elideLarger` elements only `elided(checksum="fnv1a64:...")`, which the
/// parser reads back given the data (ParseOptions::weights).
struct PrintOptions {
  int64_t elideLarger = -1; ///< -1: never elide
};

std::string print(const Graph &g, const PrintOptions &options = {});
/// The checksum an elided tensor prints: FNV-1a over its bytes, in hex.
std::string dataChecksum(const HostTensor &t);
/// One node as its .kir line (without indentation or newline).
std::string printNode(const Graph &g, const Node &n);
/// A value name as written after `%` or `@`: bare if it is made of letters,
/// digits, `_` and `.`, else quoted.
std::string printName(const std::string &name);
/// One float element of a tensor of `dtype`, shortest text that reads back exactly.
std::string printElement(DType dtype, double v);
/// A tensor's elements as `[e0, e1, ...]` (flat, C order).
std::string printData(const HostTensor &t);

} // namespace kiln::ir
