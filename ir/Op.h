//===- ir/Op.h - The op table ----------------------------------*- C++ -*-===//
//
// Every op of kiln is declared once, as one row of ir/Ops.def: its name,
// operands, attributes with their kinds and defaults, category, type rule and
// documentation. The printer, parser, verifier, reference interpreter (and
// later autodiff, fusion and lowering) all read this table or switch over
// OpKind; adding an op is one row here plus its kernels.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Attr.h"
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
  std::string_view operands; ///< operand names, comma-separated; `[x]` optional, `x...` variadic
  int minOperands;
  int maxOperands;           ///< -1: variadic
  int numResults;
  TypeRule infer;
  std::string_view doc;
  std::vector<AttrSpec> attrs;

  /// Index of the attribute `name` in `attrs`, or -1.
  int attrIndex(std::string_view name) const;
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
