//===- passes/Fold.cpp - Constant folding ---------------------------------===//
#include "passes/Fold.h"
#include "passes/Rebuild.h"

#include "reference/Reference.h"

namespace kiln::passes {

using namespace ir;

Expected<Graph> fold(const Graph &g, int64_t maxElements) {
  Rebuilder rb(g);
  return rb.run([&](Rebuilder &b, const Node &n) -> Expected<Rebuilder::Replacement> {
    std::vector<HostTensor> operands;
    for (ValueId o : n.operands) {
      const HostTensor *c = b.constant(o);
      if (!c)
        return Rebuilder::Replacement{};
      operands.push_back(*c);
    }
    for (ValueId r : n.results) {
      auto count = g.type(r).numElements();
      if (!count || *count > maxElements)
        return Rebuilder::Replacement{};
    }
    const Node &original = g.producer(n.results[0]);
    auto values = ref::evaluateNode(g, original, operands);
    if (!values) // an error at run time (an index out of range): leave it to run time
      return Rebuilder::Replacement{};
    std::vector<ValueId> out;
    for (size_t i = 0; i < values->size(); ++i) {
      KILN_ASSIGN(ValueId c, b.addConstant((*values)[i], g.nameOf(n.results[i])));
      out.push_back(c);
    }
    return Rebuilder::Replacement(out);
  });
}

} // namespace kiln::passes
