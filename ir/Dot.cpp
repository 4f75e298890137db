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

namespace {

std::string nodeLabel(const Graph &g, const Node &n) {
  std::string label(n.info().name);
  for (ValueId r : n.results)
    label += fmt::format("\\n%{} : {}", escape(g.nameOf(r)), escape(toString(g.type(r))));
  return label;
}

/// A fused node as a cluster: its region's nodes inside, edges from the
/// values it reads, and its results as points outside.
std::string cluster(const Node &n, size_t index, int kernel) {
  const Graph &body = *n.body;
  std::string ops;
  for (const Node &b : body.nodes())
    ops += fmt::format("{}{}", ops.empty() ? "" : ", ", b.info().name);
  std::string out = fmt::format("  subgraph cluster_n{} {{\n    label=\"fused kernel {}: {}\\n{}\";\n"
                                "    style=\"rounded,filled\"; fillcolor=\"#eef5ff\"; color=\"#4a78b5\";\n",
                                index, kernel, escape(n.attrView().getString("kind")), escape(ops));
  // Where each body value comes from: an outer value (an argument) or a body node.
  std::vector<std::string> source(body.numValues());
  for (size_t k = 0; k < body.inputs().size(); ++k)
    source[body.inputs()[k]] = fmt::format("v{}", n.operands[k]);
  for (const Const &c : body.consts())
    source[c.value] = fmt::format("n{}_c{}", index, c.value);
  for (const Const &c : body.consts())
    out += fmt::format("    n{}_c{} [shape=box, label=\"const %{}\"];\n", index, c.value, escape(body.nameOf(c.value)));
  std::string edges;
  for (size_t j = 0; j < body.nodes().size(); ++j) {
    const Node &b = body.nodes()[j];
    std::string id = fmt::format("n{}_{}", index, j);
    out += fmt::format("    {} [shape=ellipse, label=\"{}\"];\n", id, nodeLabel(body, b));
    for (ValueId o : b.operands)
      edges += fmt::format("  {} -> {};\n", source[o], id);
    for (ValueId r : b.results)
      source[r] = id;
  }
  out += "  }\n" + edges;
  for (size_t k = 0; k < n.results.size(); ++k)
    out += fmt::format("  v{} [shape=point];\n  {} -> v{} [arrowhead=none];\n", n.results[k],
                       source[body.outputs()[k]], n.results[k]);
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
  int kernels = 0;
  for (size_t i = 0; i < g.nodes().size(); ++i) {
    const Node &n = g.nodes()[i];
    if (n.body) {
      out += cluster(n, i, kernels++);
      continue;
    }
    out += fmt::format("  n{} [shape=ellipse, label=\"{}\"];\n", i, nodeLabel(g, n));
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
