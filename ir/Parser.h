//===- ir/Parser.h - The .kir text format: parsing -------------*- C++ -*-===//
//
// Parses .kir text into a Graph, checking it as it goes: every error names
// `file:line:column` and what was expected, an unknown op, an undefined value,
// a wrong attribute or a declared type that differs from the inferred one.
// It never aborts or throws on any input (a libFuzzer target checks this).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <map>

#include <string_view>

namespace kiln::ir {

struct ParseOptions {
  /// Largest parameter an initializer may make, in elements.
  int64_t maxInitElements = int64_t{1} << 28;
  /// The data of tensors printed `elided(checksum="...")` (kiln dump's
  /// default for large ones), by name; each must match the checksum.
  const std::map<std::string, HostTensor> *weights = nullptr;
};

/// Parses `text`; `filename` is used in error messages only.
Expected<Graph> parse(std::string_view text, std::string_view filename = "<input>",
                      const ParseOptions &options = {});
/// Reads and parses a file.
Expected<Graph> parseFile(const std::string &path, const ParseOptions &options = {});

} // namespace kiln::ir
