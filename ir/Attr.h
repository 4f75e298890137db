//===- ir/Attr.h - Typed node attributes -----------------------*- C++ -*-===//
//
// An attribute value is one of a fixed set of kinds. Each op declares the
// attributes it takes in the op table (name, kind, default); a node stores one
// value per declared attribute, in declaration order, defaults filled in.
// `std::monostate` marks an optional attribute that was not given.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Type.h"

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace kiln::ir {

enum class AttrKind : uint8_t { Int, Float, Bool, String, Ints, Floats, DType, Shape, Layout };

using AttrValue = std::variant<std::monostate, int64_t, double, bool, std::string,
                               std::vector<int64_t>, std::vector<double>, DType, Shape, Layout>;

/// A named attribute, as given when a node is built (any order, any subset).
using NamedAttr = std::pair<std::string, AttrValue>;
using AttrList = std::vector<NamedAttr>;

std::string_view attrKindName(AttrKind k);
/// True if `v` holds a value of kind `k`.
bool attrHasKind(const AttrValue &v, AttrKind k);
/// Converts `v` to kind `k` where that loses nothing (an int to a float, a
/// list of ints to a list of floats or to a shape, an empty list to any list).
/// Returns std::monostate when it cannot.
AttrValue coerceAttr(const AttrValue &v, AttrKind k);
/// The .kir spelling of a value: 3, 1.5, true, "edge", [1,2], f32, [N,10], nhwc.
std::string printAttr(const AttrValue &v);
/// Shortest text that parses back to exactly `v` (inf, -inf, nan included).
std::string printDouble(double v);

} // namespace kiln::ir
