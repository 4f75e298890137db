//===- ir/Printer.cpp - The .kir text format: printing --------------------===//
#include "ir/Printer.h"

#include <charconv>
#include <cmath>

namespace kiln::ir {

std::string printName(const std::string &name) {
  bool bare = !name.empty();
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'))
      bare = false;
  if (bare)
    return name;
  std::string out = "\"";
  for (char c : name) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string printElement(DType dtype, double v) {
  if (dtype == DType::Bool)
    return v != 0 ? "true" : "false";
  if (isInteger(dtype))
    return std::to_string(static_cast<int64_t>(v));
  if (dtype == DType::F64 || std::isnan(v) || std::isinf(v))
    return printDouble(v);
  // f32, f16 and bf16 values are floats: the shortest float text reads back.
  char buf[32];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), static_cast<float>(v));
  std::string s(buf, ptr);
  if (s.find_first_of(".e") == std::string::npos)
    s += ".0";
  return s;
}

std::string printData(const HostTensor &t) {
  std::string out = "[";
  for (int64_t i = 0; i < t.numElements(); ++i) {
    if (i)
      out += ", ";
    out += isInteger(t.dtype()) ? std::to_string(t.getInt(i)) : printElement(t.dtype(), t.get(i));
  }
  return out + "]";
}

namespace {

std::string valueList(const Graph &g, const std::vector<ValueId> &vs) {
  std::string out;
  for (size_t i = 0; i < vs.size(); ++i)
    out += (i ? ", %" : "%") + printName(g.nameOf(vs[i]));
  return out;
}

std::string printNodeAt(const Graph &g, const Node &n, const std::string &indent, const PrintOptions &o = {});

/// The statements of a graph or of a region, one per line after `indent`.
/// A region declares its arguments with `arg` and ends with `yield`.
std::string printStatements(const Graph &g, const std::string &indent, bool region, const PrintOptions &o) {
  auto data = [&o](const HostTensor &t) {
    if (o.elideLarger >= 0 && t.numElements() > o.elideLarger)
      return fmt::format("elided(checksum=\"{}\")", dataChecksum(t));
    return printData(t);
  };
  std::string out;
  for (ValueId v : g.inputs())
    out += fmt::format("{}{} %{} : {}\n", indent, region ? "arg" : "input", printName(g.nameOf(v)),
                       toString(g.type(v)));
  for (const Param &p : g.params()) {
    out += fmt::format("{}param %{} : {} = ", indent, printName(g.nameOf(p.value)), toString(g.type(p.value)));
    out += p.init ? printInitializer(*p.init) : data(p.data);
    out += "\n";
  }
  for (const Const &c : g.consts())
    out += fmt::format("{}const %{} : {} = {}\n", indent, printName(g.nameOf(c.value)), toString(g.type(c.value)),
                       data(c.data));
  for (const Node &n : g.nodes())
    out += indent + printNodeAt(g, n, indent, o) + "\n";
  if (!g.outputs().empty())
    out += fmt::format("{}{} {}\n", indent, region ? "yield" : "output", valueList(g, g.outputs()));
  for (const Update &u : g.updates())
    out += fmt::format("{}update %{} <- %{}\n", indent, printName(g.nameOf(u.param)), printName(g.nameOf(u.value)));
  return out;
}

std::string printNodeAt(const Graph &g, const Node &n, const std::string &indent, const PrintOptions &o) {
  const OpInfo &info = n.info();
  std::string out = valueList(g, n.results);
  out += fmt::format(" = {}({})", info.name, valueList(g, n.operands));
  std::string attrs;
  for (size_t i = 0; i < info.attrs.size(); ++i) {
    const AttrValue &v = n.attrs[i];
    if (std::holds_alternative<std::monostate>(v) || v == info.attrs[i].def)
      continue;
    attrs += fmt::format("{}{}={}", attrs.empty() ? "" : ", ", info.attrs[i].name, printAttr(v));
  }
  if (!attrs.empty())
    out += " {" + attrs + "}";
  out += " : ";
  for (size_t i = 0; i < n.results.size(); ++i)
    out += (i ? ", " : "") + toString(g.type(n.results[i]));
  if (n.body)
    out += " {\n" + printStatements(*n.body, indent + "  ", true, o) + indent + "}";
  return out;
}

} // namespace

std::string printNode(const Graph &g, const Node &n) { return printNodeAt(g, n, ""); }

std::string print(const Graph &g, const PrintOptions &options) {
  return fmt::format("graph @{} {{\n", printName(g.name())) + printStatements(g, "  ", false, options) + "}\n";
}

std::string dataChecksum(const HostTensor &t) {
  uint64_t h = 0xcbf29ce484222325ull;
  const std::byte *p = t.data();
  for (size_t i = 0; i < t.byteSize(); ++i)
    h = (h ^ static_cast<uint64_t>(p[i])) * 0x100000001b3ull;
  return fmt::format("fnv1a64:{:016x}", h);
}

} // namespace kiln::ir
