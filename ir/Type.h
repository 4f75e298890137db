//===- ir/Type.h - Element types, shapes, layouts, tensor types -*- C++ -*-===//
//
// A tensor Type is a dtype, a logical shape and a physical layout. A dimension
// is a constant, a named symbol (`N`, bound when a graph is run, so one graph
// serves every batch size) or unknown (`?`, a size only known at run time).
// The layout says how the logical (NCHW-ordered) tensor is stored; ops keep
// their logical meaning whatever the layout.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::ir {

/// Element type of a tensor.
enum class DType : uint8_t { F32, F64, F16, BF16, I64, I32, I8, U8, Bool };

/// The .kir spelling: f32, f64, f16, bf16, i64, i32, i8, u8, bool.
std::string_view dtypeName(DType dt);
/// Parses a .kir dtype spelling.
std::optional<DType> parseDType(std::string_view name);
/// Bytes per element.
size_t dtypeSize(DType dt);
bool isFloat(DType dt);
bool isInteger(DType dt);
inline bool isNumeric(DType dt) { return dt != DType::Bool; }

/// One dimension of a shape: constant (value >= 0), symbolic (sym non-empty)
/// or unknown (neither).
struct Dim {
  int64_t value = -1;
  std::string sym;

  static Dim of(int64_t v) { return Dim{v, {}}; }
  static Dim symbol(std::string s) { return Dim{-1, std::move(s)}; }
  static Dim unknown() { return Dim{}; }
  Dim() = default;
  Dim(int64_t v, std::string s) : value(v), sym(std::move(s)) {}
  /// Implicit from an integer, so `{Dim::symbol("N"), 1, 28, 28}` reads well.
  Dim(int v) : value(v) {}
  Dim(int64_t v) : value(v) {}
  /// Implicit from a string literal: a symbol, so `{"N", 784}` reads well.
  Dim(const char *s) : sym(s) {}

  bool isConst() const { return sym.empty() && value >= 0; }
  bool isSymbol() const { return !sym.empty(); }
  bool isUnknown() const { return sym.empty() && value < 0; }
  bool operator==(const Dim &o) const { return value == o.value && sym == o.sym; }
};

using Shape = std::vector<Dim>;

/// Physical storage order of a tensor whose logical order is N, C, spatial...
struct Layout {
  enum Kind : uint8_t {
    RowMajor, ///< the logical order, C-contiguous (NCHW for images)
    NHWC,     ///< channels last: N, spatial..., C
    Blocked,  ///< NCHW[x]c: channels split into blocks of `block`, innermost
    /// A 2-D tensor whose rows (FlatRows) or columns (FlatCols) index a
    /// flattened [C, spatial...] image of `block` = C channels, stored
    /// channels last: a flattened NHWC image is FlatCols, and the dense
    /// weight that reads it is FlatRows, so the flatten moves no data.
    FlatRows,
    FlatCols,
  };
  Kind kind = RowMajor;
  int block = 0;

  bool operator==(const Layout &o) const { return kind == o.kind && block == o.block; }
  bool isFlat() const { return kind == FlatRows || kind == FlatCols; }
};

/// The logical dims of a rank-`rank` tensor in the order `l` stores them,
/// outermost first; empty for blocked and flat layouts (no permutation of
/// the logical dims describes them).
std::vector<int> storageOrder(Layout l, int rank);
/// True if a tensor of `shape` is laid out identically in `a` and `b`: the
/// same order of its dims, dims of size 1 not counting (so a converting copy
/// between them moves nothing).
bool sameStorage(const Shape &shape, Layout a, Layout b);

/// The .kir spelling: row_major, nhwc, nchw8c (block 8), nhwc_rows64 and
/// nhwc_cols64 (64 channels).
std::string layoutName(Layout l);
std::optional<Layout> parseLayout(std::string_view name);

/// The type of a tensor value.
struct Type {
  DType dtype = DType::F32;
  Shape shape;
  Layout layout;

  int rank() const { return static_cast<int>(shape.size()); }
  bool operator==(const Type &o) const = default;
  /// The number of elements when every dim is constant.
  std::optional<int64_t> numElements() const;
};

std::string toString(const Dim &d);
std::string toString(const Shape &s);
/// `f32[N,1,28,28]`, with `{nhwc}` appended for a non-default layout.
std::string toString(const Type &t);

/// Shape of concrete sizes, as tensors carry at run time.
using Sizes = std::vector<int64_t>;
std::string toString(const Sizes &s);
int64_t product(const Sizes &s);

/// Where each logical dim steps in memory for a tensor of `sizes` stored in
/// `l`, in elements; nullopt for blocked and flat layouts (no strides
/// describe them).
std::optional<std::vector<int64_t>> physicalStrides(const Sizes &sizes, Layout l);
/// The memory offset of the element at logical `coords`, in any layout.
int64_t physicalOffset(const Sizes &sizes, Layout l, const int64_t *coords);

} // namespace kiln::ir
