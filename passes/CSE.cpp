//===- passes/CSE.cpp - Common subexpression elimination ------------------===//
#include "passes/CSE.h"
#include "passes/Rebuild.h"

#include "ir/Printer.h"

#include <map>

namespace kiln::passes {

using namespace ir;

namespace {
/// A node's identity: op, operands, attributes and region (printed exactly).
std::string keyOf(const Node &n) {
  std::string k = fmt::format("{}(", static_cast<int>(n.op));
  for (ValueId o : n.operands)
    k += fmt::format("{},", o);
  k += ")";
  for (const AttrValue &a : n.attrs)
    k += printAttr(a) + ";";
  if (n.body)
    k += print(*n.body);
  return k;
}
} // namespace

Expected<Graph> cse(const Graph &g) {
  Rebuilder rb(g);
  rb.mergeEqualConstants();
  std::map<std::string, std::vector<ValueId>> seen;
  return rb.run([&](Rebuilder &b, const Node &n) -> Expected<Rebuilder::Replacement> {
    std::string key = keyOf(n);
    auto it = seen.find(key);
    if (it != seen.end())
      return Rebuilder::Replacement(it->second);
    KILN_ASSIGN(std::vector<ValueId> results, b.copy(n));
    seen.emplace(std::move(key), results);
    return Rebuilder::Replacement(results);
  });
}

} // namespace kiln::passes
