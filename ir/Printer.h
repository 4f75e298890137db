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
std::string print(const Graph &g);
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
