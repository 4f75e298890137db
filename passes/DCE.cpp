//===- passes/DCE.cpp - Dead code elimination -----------------------------===//
#include "passes/DCE.h"
#include "passes/Rebuild.h"

namespace kiln::passes {

using namespace ir;

Expected<Graph> dce(const Graph &g) {
  std::vector<bool> live(g.numValues());
  for (ValueId v : g.outputs())
    live[v] = true;
  for (const Update &u : g.updates())
    live[u.param] = live[u.value] = true;
  std::vector<bool> keepNode(g.nodes().size());
  for (size_t i = g.nodes().size(); i-- > 0;) {
    const Node &n = g.nodes()[i];
    for (ValueId r : n.results)
      keepNode[i] = keepNode[i] || live[r];
    if (keepNode[i])
      for (ValueId o : n.operands)
        live[o] = true;
  }
  Graph out(g.name());
  std::vector<ValueId> map(g.numValues(), kNoValue);
  for (ValueId v : g.inputs()) {
    KILN_ASSIGN(map[v], out.addInput(g.nameOf(v), g.type(v)));
  }
  for (const Param &p : g.params())
    if (live[p.value]) {
      KILN_ASSIGN(map[p.value], out.addParam(g.nameOf(p.value), p.data, p.init, g.type(p.value).layout));
    }
  for (const Const &c : g.consts())
    if (live[c.value]) {
      KILN_ASSIGN(map[c.value], out.addConst(g.nameOf(c.value), c.data));
    }
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    if (!keepNode[i])
      continue;
    const Node &n = g.nodes()[i];
    std::vector<ValueId> operands;
    for (ValueId o : n.operands)
      operands.push_back(map[o]);
    std::vector<std::string> names;
    for (ValueId r : n.results)
      names.push_back(g.nameOf(r));
    KILN_ASSIGN(std::vector<ValueId> results, copyNode(out, n, operands, names));
    for (size_t r = 0; r < results.size(); ++r)
      map[n.results[r]] = results[r];
  }
  for (ValueId v : g.outputs())
    KILN_TRY(out.addOutput(map[v]));
  for (const Update &u : g.updates())
    KILN_TRY(out.addUpdate(map[u.param], map[u.value]));
  return out;
}

} // namespace kiln::passes
