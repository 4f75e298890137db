//===- lower/Elementwise.cpp - Elementwise kernels --------------------------===//
#include "lower/Lowerer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace kiln::lower::detail {

/// One elementwise node over its operands' values: a primitive as one
/// kernel-IR op, a composite expanded from its definition (so codegen
/// only meets primitives). Constants take the result's dtype (integers
/// clamped: clip's infinite default bounds).
ExprRef Lowerer::elementwise(const Node &n, DType t, std::vector<ExprRef> args) {
  const OpInfo &info = n.info();
  if (n.op == OpKind::Cast)
    return cast(args[0], t);
  if (!info.isComposite())
    return op(n.op, t, std::move(args));
  auto constant = [t](double c) {
    if (!isFloat(t))
      c = std::clamp(c, -9.2e18, 9.2e18);
    return imm(c, t);
  };
  auto apply = [](OpKind k, std::span<const ExprRef> a) {
    return op(k, primitiveType(k, a), std::vector<ExprRef>(a.begin(), a.end()));
  };
  std::vector<ExprRef> scratch;
  return expand<ExprRef>(info.definition, args, definitionAttrs(info.definition, n.attrView()), constant, apply,
                         scratch);
}

bool Lowerer::lowerElementwise() {
  ValueId first = r_.outputs()[0];
  const Sizes &domain = sizes_[first];
  for (ValueId y : r_.outputs())
    if (sizes_[y] != domain || !(r_.type(y).layout == r_.type(first).layout))
      return false;
  Coords c;
  std::vector<std::pair<int, int64_t>> vars;
  loopsOver(first, c, vars);
  Block body;
  for (size_t i = 0; i < r_.outputs().size(); ++i)
    body.push_back(storeYield(i, c));
  k_.body = nest(vars, std::move(body));
  return true;
}

} // namespace kiln::lower::detail
