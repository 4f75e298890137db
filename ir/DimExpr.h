//===- ir/DimExpr.h - Symbolic dimension arithmetic -------------*- C++ -*-===//
//
// A symbolic Dim is a named symbol (`N`, bound from an input's size when a
// graph runs) or an expression over such symbols: `64*N`, `N*S`, `S-1`,
// `((H+1)/2)+1`, as a reshape's inferred dim, a concat along a symbolic
// axis, a window over a symbolic image or an exporter's shape arithmetic
// make them (XLA's dynamic dims, TVM's `Any` with its expression). Dim
// arithmetic keeps expressions in one canonical form, a sum of integer
// multiples of products of symbols and floor quotients, so equal
// expressions are equal strings and `N*64` and `64*N` unify; constants fold.
// The .kir printer writes the form and the parser reads it back.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Error.h"
#include "ir/Type.h"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace kiln::ir {

/// The sizes of a graph's symbols, as inputs bind them.
using DimBindings = std::map<std::string, int64_t>;

/// Sums, differences, products and floor quotients of dims: constant when
/// both operands are (a negative constant becomes unknown), an expression
/// when a symbol is involved, unknown when either operand is unknown or the
/// divisor is not positive.
Dim dimAdd(const Dim &a, const Dim &b);
Dim dimSub(const Dim &a, const Dim &b);
Dim dimMul(const Dim &a, const Dim &b);
Dim dimFloorDiv(const Dim &a, const Dim &b);

/// True for a symbol that is a plain name (`N`), which an input's size
/// binds; false for constants, unknown dims and expressions.
bool isNamedSymbol(const Dim &d);

/// The size of `d` with the symbols in `env`: nullopt where d is unknown or
/// uses a symbol `env` lacks. An expression that comes out negative is an
/// error (e.g. `S-1` at S = 0).
Expected<std::optional<int64_t>> evalDim(const Dim &d, const DimBindings &env);

/// The size of `d`, or nullopt; a negative expression counts as not known.
std::optional<int64_t> dimValue(const Dim &d, const DimBindings &env);

/// Reads a dim as .kir spells it: a size, a name, `?`, or an expression of
/// sizes and names with + - * / and parentheses; the result is canonical.
Expected<Dim> parseDim(std::string_view text);

/// The named symbols `d` uses.
std::set<std::string> dimSymbols(const Dim &d);

/// The product of a shape's dims (the element count), as a dim.
Dim dimProduct(const Shape &s);

} // namespace kiln::ir
