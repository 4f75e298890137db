//===- passes/PatternUtil.h - Small helpers for peephole patterns -*- C++ -*-===//
#pragma once

#include "passes/Rebuild.h"

namespace kiln::passes {

/// True if v is a constant all of whose elements equal `value`.
inline bool isSplat(const Rebuilder &b, ValueId v, double value) {
  const ir::HostTensor *c = b.constant(v);
  if (!c || c->numElements() == 0)
    return false;
  for (int64_t i = 0; i < c->numElements(); ++i)
    if (c->get(i) != value)
      return false;
  return true;
}

/// The node defining v in the new graph if it is of op `k`, else nullptr.
inline const ir::Node *defining(const Rebuilder &b, ValueId v, ir::OpKind k) {
  const ir::Node *n = b.producer(v);
  return n && n->op == k ? n : nullptr;
}

/// The type the node's first result must keep.
inline const ir::Type &resultType(const Rebuilder &b, const ir::Node &n) { return b.old().value(n.results[0]).type; }

/// Replace the node's single result with v, if v has the same type.
inline Rebuilder::Replacement replaceWith(const Rebuilder &b, const ir::Node &n, ValueId v) {
  if (!(b.graph().type(v) == resultType(b, n)))
    return std::nullopt;
  return std::vector<ValueId>{v};
}

} // namespace kiln::passes
