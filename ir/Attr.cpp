//===- ir/Attr.cpp - Typed node attributes --------------------------------===//
#include "ir/Attr.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

namespace kiln::ir {

std::string_view attrKindName(AttrKind k) {
  switch (k) {
  case AttrKind::Int: return "int";
  case AttrKind::Float: return "float";
  case AttrKind::Bool: return "bool";
  case AttrKind::String: return "string";
  case AttrKind::Ints: return "int list";
  case AttrKind::Floats: return "float list";
  case AttrKind::DType: return "dtype";
  case AttrKind::Shape: return "shape";
  case AttrKind::Layout: return "layout";
  }
  return "?";
}

bool attrHasKind(const AttrValue &v, AttrKind k) {
  // The variant's alternatives after monostate follow AttrKind's order.
  return v.index() == static_cast<size_t>(k) + 1;
}

AttrValue coerceAttr(const AttrValue &v, AttrKind k) {
  if (attrHasKind(v, k))
    return v;
  if (k == AttrKind::Float && std::holds_alternative<int64_t>(v))
    return static_cast<double>(std::get<int64_t>(v));
  if (const auto *ints = std::get_if<std::vector<int64_t>>(&v)) {
    if (k == AttrKind::Floats)
      return std::vector<double>(ints->begin(), ints->end());
    if (k == AttrKind::Shape) {
      Shape s;
      for (int64_t i : *ints) {
        if (i < 0)
          return std::monostate{};
        s.push_back(Dim::of(i));
      }
      return s;
    }
  }
  if (const auto *shape = std::get_if<Shape>(&v)) {
    // A shape of constants only is also an int list (the parser reads `[]`
    // and `[1,2]` as shapes when symbols could appear).
    std::vector<int64_t> ints;
    for (const Dim &d : *shape) {
      if (!d.isConst())
        return std::monostate{};
      ints.push_back(d.value);
    }
    if (k == AttrKind::Ints)
      return ints;
    if (k == AttrKind::Floats)
      return std::vector<double>(ints.begin(), ints.end());
  }
  if (const auto *floats = std::get_if<std::vector<double>>(&v); floats && floats->empty()) {
    if (k == AttrKind::Ints)
      return std::vector<int64_t>{};
    if (k == AttrKind::Shape)
      return Shape{};
  }
  return std::monostate{};
}

std::string printDouble(double v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  std::string s(buf, ptr);
  // Keep a float recognisable as one: 2 -> 2.0, but 1e-05 stays as is.
  if (s.find_first_of(".en") == std::string::npos)
    s += ".0";
  return s;
}

namespace {
std::string quote(const std::string &s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}
} // namespace

std::string printAttr(const AttrValue &v) {
  struct Printer {
    std::string operator()(std::monostate) const { return "none"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const { return printDouble(d); }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(const std::string &s) const { return quote(s); }
    std::string operator()(const std::vector<int64_t> &l) const {
      return fmt::format("[{}]", fmt::join(l, ","));
    }
    std::string operator()(const std::vector<double> &l) const {
      std::string out = "[";
      for (size_t i = 0; i < l.size(); ++i)
        out += (i ? "," : "") + printDouble(l[i]);
      return out + "]";
    }
    std::string operator()(DType d) const { return std::string(dtypeName(d)); }
    std::string operator()(const Shape &s) const { return toString(s); }
    std::string operator()(Layout l) const { return layoutName(l); }
  };
  return std::visit(Printer{}, v);
}

} // namespace kiln::ir
