//===- ir/Op.h - The op table ----------------------------------*- C++ -*-===//
//
// Every op of kiln is declared once, as one row of ir/Ops.def: its name,
// category, traits (what passes ask of it: commutative, cheap, a window or an
// axis reduction, how it takes layouts), operands, attributes with their
// kinds and defaults, type rule and documentation; a composite elementwise op
// also has its definition over primitives there (ir/Definition.h). The
// printer, parser, verifier, reference interpreter, autodiff, the passes and
// lowering all read this table; adding a composite op is its row, adding a
// primitive is its row plus its scalar meaning in each backend.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Attr.h"
#include "ir/Definition.h"
#include "ir/Error.h"
#include "ir/Type.h"

#include <span>
#include <string_view>
#include <vector>

namespace kiln::ir {

enum class OpKind : uint16_t {
#define KILN_OP(id, ...) id,
#include "ir/Ops.def"
#undef KILN_OP
};

/// The category of an op, as TVM's pattern kinds: it decides fusion.
enum class OpCategory : uint8_t { Elementwise, Reduction, Contraction, DataMovement, Opaque };
std::string_view categoryName(OpCategory c);

/// One declared attribute.
/// What passes ask of an op beyond its category: bits of OpInfo::traits,
/// written by name in ir/Ops.def.
namespace trait {
/// An elementwise op every backend implements itself (its scalar meaning in
/// the reference interpreter and in each code generator); the other
/// elementwise ops are definitions over these.
inline constexpr uint32_t Primitive = 1u << 0;
/// Cheap enough to apply while packing a contraction's operand (fusion's
/// cost class); a composite is cheap when all its primitives are.
inline constexpr uint32_t Cheap = 1u << 1;
/// A binary op whose operands may swap (constants move right).
inline constexpr uint32_t Commutative = 1u << 2;
/// Reduces over its `axes` attribute with one combining op.
inline constexpr uint32_t AxisReduce = 1u << 3;
/// Sums or maxes over a sliding window of taps (the conv family, pooling).
inline constexpr uint32_t Windowed = 1u << 4;
/// Reads operands in any layout and gives its result one (elementwise ops
/// are, by their category); the others read row-major tensors.
inline constexpr uint32_t LayoutAware = 1u << 5;
/// The layout pass leaves its operands as they are stored.
inline constexpr uint32_t AnyLayout = 1u << 6;
/// Operand 0 (1) is an image stored exactly in the target's image layout.
inline constexpr uint32_t ImageOperand0 = 1u << 7;
inline constexpr uint32_t ImageOperand1 = 1u << 8;
} // namespace trait

struct AttrSpec {
  std::string_view name;
  AttrKind kind;
  AttrValue def;       ///< default; monostate when there is none
  bool required = false;
};

struct OpInfo;

/// Read access to a node's attributes through its op's declarations.
class AttrView {
public:
  AttrView(const OpInfo &op, std::span<const AttrValue> values) : op_(op), values_(values) {}
  const AttrValue &get(std::string_view name) const;
  bool has(std::string_view name) const;
  /// True if the op declares the attribute (given or not).
  bool declares(std::string_view name) const;
  int64_t getInt(std::string_view name) const { return std::get<int64_t>(get(name)); }
  double getFloat(std::string_view name) const { return std::get<double>(get(name)); }
  bool getBool(std::string_view name) const { return std::get<bool>(get(name)); }
  const std::string &getString(std::string_view name) const { return std::get<std::string>(get(name)); }
  const std::vector<int64_t> &getInts(std::string_view name) const {
    return std::get<std::vector<int64_t>>(get(name));
  }
  const std::vector<double> &getFloats(std::string_view name) const {
    return std::get<std::vector<double>>(get(name));
  }
  DType getDType(std::string_view name) const { return std::get<DType>(get(name)); }
  const Shape &getShape(std::string_view name) const { return std::get<Shape>(get(name)); }
  Layout getLayout(std::string_view name) const { return std::get<Layout>(get(name)); }

private:
  const OpInfo &op_;
  std::span<const AttrValue> values_;
};

/// Infers result types from operand types and attributes; the error message
/// says what is wrong without naming the node (the caller prefixes that).
using TypeRule = Expected<std::vector<Type>> (*)(std::span<const Type> operands, const AttrView &attrs);

struct OpInfo {
  OpKind kind;
  std::string_view name;
  OpCategory category;
  uint32_t traits;           ///< trait:: bits
  std::string_view operands; ///< operand names, comma-separated; `[x]` optional, `x...` variadic
  int minOperands;
  int maxOperands;           ///< -1: variadic
  int numResults;
  TypeRule infer;
  std::string_view doc;
  std::vector<AttrSpec> attrs;
  /// A composite elementwise op's meaning over primitives (empty steps for
  /// every other op).
  Definition definition;

  /// Index of the attribute `name` in `attrs`, or -1.
  int attrIndex(std::string_view name) const;
  bool has(uint32_t t) const { return (traits & t) != 0; }
  bool isComposite() const { return !definition.steps.empty(); }
  /// Reads operands in any layout (trait::LayoutAware, or elementwise).
  bool layoutAware() const { return category == OpCategory::Elementwise || has(trait::LayoutAware); }
  /// Cheap, or a composite whose primitives all are.
  bool cheap() const;
};

/// The row of an op.
const OpInfo &opInfo(OpKind kind);
/// Looks an op up by its .kir name.
const OpInfo *findOp(std::string_view name);
/// Every op, in table order.
std::span<const OpInfo> allOps();

/// Checks `given` against the op's declarations and returns one value per
/// declared attribute (defaults filled in). Errors name the attribute.
Expected<std::vector<AttrValue>> resolveAttrs(const OpInfo &op, const AttrList &given);

} // namespace kiln::ir
