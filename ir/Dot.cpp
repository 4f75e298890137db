//===- ir/Dot.cpp - Graphviz export ---------------------------------------===//
#include "ir/Dot.h"

namespace kiln::ir {

namespace {
std::string escape(const std::string &s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out;
}
} // namespace

std::string toDot(const Graph &g) {
  std::string out = fmt::format("digraph \"{}\" {{\n  rankdir=TB;\n  node [fontname=\"monospace\"];\n", escape(g.name()));
  auto valueNode = [&](ValueId v) { return fmt::format("v{}", v); };
  auto leaf = [&](ValueId v, std::string_view kind, std::string_view color) {
    out += fmt::format("  {} [shape=box, style=filled, fillcolor=\"{}\", label=\"{} %{}\\n{}\"];\n", valueNode(v),
                       color, kind, escape(g.nameOf(v)), escape(toString(g.type(v))));
  };
  for (ValueId v : g.inputs())
    leaf(v, "input", "#cfe2ff");
  for (const Param &p : g.params())
    leaf(p.value, "param", "#fff3cd");
  for (const Const &c : g.consts())
    leaf(c.value, "const", "#e2e3e5");
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    const Node &n = g.nodes()[i];
    std::string label = std::string(n.info().name);
    for (ValueId r : n.results)
      label += fmt::format("\\n%{} : {}", escape(g.nameOf(r)), escape(toString(g.type(r))));
    out += fmt::format("  n{} [shape=ellipse, label=\"{}\"];\n", i, label);
    for (ValueId r : n.results)
      out += fmt::format("  {} [shape=point];\n  n{} -> {} [arrowhead=none];\n", valueNode(r), i, valueNode(r));
    for (ValueId o : n.operands)
      out += fmt::format("  {} -> n{};\n", valueNode(o), i);
  }
  for (size_t i = 0; i < g.outputs().size(); ++i)
    out += fmt::format("  out{} [shape=doublecircle, label=\"output\"];\n  {} -> out{};\n", i,
                       valueNode(g.outputs()[i]), i);
  for (const Update &u : g.updates())
    out += fmt::format("  {} -> {} [style=dashed, label=\"update\"];\n", valueNode(u.value), valueNode(u.param));
  return out + "}\n";
}

} // namespace kiln::ir
