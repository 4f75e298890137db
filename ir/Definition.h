//===- ir/Definition.h - Composite elementwise ops over primitives -*- C++ -*-===//
//
// A composite elementwise op (sigmoid, selu, softplus, clip, ...) is written
// once, in its row of ir/Ops.def, as an expression of primitive ops (the
// table's rows marked Primitive: add, mul, max, exp, expm1, log, sqrt,
// reciprocal, select, the comparisons, ...), tinygrad's way. The table keeps
// it as a Definition: a straight-line list of steps, each an operand, a
// constant, one of the op's float attributes, or a primitive applied to
// earlier steps; the last step is the result.
//
// Every consumer expands a composite from that one list with expand():
// the reference interpreter over doubles, lowering over kernel-IR
// expressions (so codegen only ever sees primitives), and autodiff over
// graph values (the composite's gradient is the chain rule through its
// primitives). Adding a composite op is its row and its definition.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Attr.h"

#include <array>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace kiln::ir {

enum class OpKind : uint16_t;
class AttrView;

/// One step of a definition.
struct DefStep {
  enum Kind : uint8_t { Operand, Constant, Attribute, Apply };
  Kind kind = Constant;
  int operand = 0;           ///< Operand: which operand of the op
  double value = 0;          ///< Constant
  std::string_view attr;     ///< Attribute: a Float attribute of the op
  OpKind prim{};             ///< Apply: a primitive op
  std::array<int, 3> args{}; ///< Apply: earlier steps
  int numArgs = 0;
};

/// A composite op's meaning over primitives; the last step is its result.
struct Definition {
  std::vector<DefStep> steps;
};

namespace def {

struct Node;

/// A term of a definition while it is written (ir/Ops.def): operators and
/// the functions below build a tree that the table flattens into steps.
class Term {
public:
  Term(double constant); // NOLINT: `x > 0` reads as it should
  explicit Term(std::shared_ptr<const Node> n) : n_(std::move(n)) {}
  const std::shared_ptr<const Node> &node() const { return n_; }

private:
  std::shared_ptr<const Node> n_;
};

struct Node {
  DefStep::Kind kind;
  int operand = 0;
  double value = 0;
  std::string_view attr;
  OpKind prim{};
  std::vector<Term> args;
};

/// Operand i of the op (`x` is operand 0).
Term operand(int i);
/// A Float attribute of the op, by name.
Term attr(std::string_view name);
/// A primitive applied to terms.
Term apply(OpKind prim, std::vector<Term> args);

Term operator+(Term a, Term b);
Term operator-(Term a, Term b);
Term operator*(Term a, Term b);
Term operator/(Term a, Term b);
Term operator-(Term a);
Term operator>(Term a, Term b);
Term operator<(Term a, Term b);
Term select(Term cond, Term a, Term b);
Term max(Term a, Term b);
Term min(Term a, Term b);
Term abs(Term a);
Term exp(Term a);
Term expm1(Term a);
Term log1p(Term a);
Term sqrt(Term a);
Term reciprocal(Term a);
Term erf(Term a);
Term tanh(Term a);
Term atan(Term a);

/// The steps of a term, shared subterms once.
Definition flatten(const Term &t);

} // namespace def

/// Expands `d` over values of type V: `constant(double)` makes a constant,
/// `apply(OpKind, std::span<const V>)` applies a primitive; `scratch` keeps
/// its storage between calls (the reference interpreter expands once per
/// element).
template <class V, class Constant, class Apply>
V expand(const Definition &d, std::span<const V> operands, std::span<const double> attrValues, Constant &&constant,
         Apply &&apply, std::vector<V> &scratch) {
  scratch.clear();
  size_t attrIndex = 0;
  for (const DefStep &s : d.steps) {
    switch (s.kind) {
    case DefStep::Operand: scratch.push_back(operands[static_cast<size_t>(s.operand)]); break;
    case DefStep::Constant: scratch.push_back(constant(s.value)); break;
    case DefStep::Attribute: scratch.push_back(constant(attrValues[attrIndex++])); break;
    case DefStep::Apply: {
      std::array<V, 3> args{};
      for (int i = 0; i < s.numArgs; ++i)
        args[static_cast<size_t>(i)] = scratch[static_cast<size_t>(s.args[static_cast<size_t>(i)])];
      scratch.push_back(apply(s.prim, std::span<const V>(args.data(), static_cast<size_t>(s.numArgs))));
      break;
    }
    }
  }
  return scratch.back();
}

/// The values of the Attribute steps of `d`, in step order, read from a node's attributes.
std::vector<double> definitionAttrs(const Definition &d, const AttrView &attrs);

struct OpInfo;

/// The size, counted as a tree, of the expression an elementwise op
/// lowers to when its operands' expressions have `operandSizes`: a
/// composite that reads an operand twice counts it twice. Lowering, the
/// kernel-IR verifier and printer and the code generator walk expressions
/// as trees and recursively, so no kernel may hold an expression larger
/// than kMaxExpressionSize (a chain of 40 selus would be 2^40).
double expressionSize(const OpInfo &op, const AttrView &attrs, std::span<const double> operandSizes);
constexpr double kMaxExpressionSize = 1024;

} // namespace kiln::ir
