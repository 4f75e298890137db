//===- ir/DimExpr.cpp - Symbolic dimension arithmetic ---------------------===//
//
// An expression is parsed into a small tree, which either evaluates at
// given sizes or normalizes into a polynomial: integer coefficients over
// monomials, each a sorted list of atoms (names, or floor quotients that do
// not divide exactly, kept whole as their printed text). The printed
// polynomial is the canonical form; parsing it gives it back.
//
//===----------------------------------------------------------------------===//
#include "ir/DimExpr.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <memory>

namespace kiln::ir {

namespace {

struct Ast {
  enum Kind { Num, Sym, Add, Sub, Mul, Div, Neg } kind = Num;
  int64_t value = 0;
  std::string name;
  std::unique_ptr<Ast> lhs, rhs;
};
using AstPtr = std::unique_ptr<Ast>;

AstPtr leaf(Ast::Kind k, int64_t v, std::string name) {
  auto a = std::make_unique<Ast>();
  a->kind = k, a->value = v, a->name = std::move(name);
  return a;
}
AstPtr node(Ast::Kind k, AstPtr l, AstPtr r) {
  auto a = std::make_unique<Ast>();
  a->kind = k, a->lhs = std::move(l), a->rhs = std::move(r);
  return a;
}

bool isNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool isNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

/// expr := term (('+'|'-') term)*; term := factor (('*'|'/') factor)*;
/// factor := NUMBER | NAME | '(' expr ')' | '-' factor.
class ExprParser {
public:
  explicit ExprParser(std::string_view s) : s_(s) {}
  Expected<AstPtr> parse() {
    KILN_ASSIGN(AstPtr e, expr());
    skip();
    if (pos_ != s_.size())
      return fail("an operator or the end");
    return e;
  }

private:
  Error fail(std::string_view wanted) const {
    return makeError("dim '{}': expected {} at column {}", s_, wanted, pos_ + 1);
  }
  void skip() {
    while (pos_ < s_.size() && s_[pos_] == ' ')
      ++pos_;
  }
  bool eat(char c) {
    skip();
    if (pos_ < s_.size() && s_[pos_] == c)
      return ++pos_, true;
    return false;
  }
  Expected<AstPtr> expr() {
    KILN_ASSIGN(AstPtr l, term());
    for (;;) {
      if (eat('+')) {
        KILN_ASSIGN(AstPtr r, term());
        l = node(Ast::Add, std::move(l), std::move(r));
      } else if (eat('-')) {
        KILN_ASSIGN(AstPtr r, term());
        l = node(Ast::Sub, std::move(l), std::move(r));
      } else {
        return l;
      }
    }
  }
  Expected<AstPtr> term() {
    KILN_ASSIGN(AstPtr l, factor());
    for (;;) {
      if (eat('*')) {
        KILN_ASSIGN(AstPtr r, factor());
        l = node(Ast::Mul, std::move(l), std::move(r));
      } else if (eat('/')) {
        KILN_ASSIGN(AstPtr r, factor());
        l = node(Ast::Div, std::move(l), std::move(r));
      } else {
        return l;
      }
    }
  }
  Expected<AstPtr> factor() {
    if (eat('(')) {
      KILN_ASSIGN(AstPtr e, expr());
      if (!eat(')'))
        return fail("')'");
      return e;
    }
    if (eat('-')) {
      KILN_ASSIGN(AstPtr e, factor());
      return node(Ast::Neg, std::move(e), nullptr);
    }
    skip();
    size_t start = pos_;
    if (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
      int64_t v = 0;
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_])))
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, s_[pos_++] - '0', &v))
          return makeError("dim '{}': the size at column {} overflows 64 bits", s_, start + 1);
      return leaf(Ast::Num, v, "");
    }
    if (pos_ < s_.size() && isNameStart(s_[pos_])) {
      while (pos_ < s_.size() && isNameChar(s_[pos_]))
        ++pos_;
      return leaf(Ast::Sym, 0, std::string(s_.substr(start, pos_ - start)));
    }
    return fail("a size, a name or '('");
  }

  std::string_view s_;
  size_t pos_ = 0;
};

Expected<AstPtr> parseAst(std::string_view s) { return ExprParser(s).parse(); }

int64_t floorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/// nullopt: a symbol is unbound; an error: division by zero or overflow.
Expected<std::optional<int64_t>> evalAst(const Ast &a, const DimBindings &env) {
  if (a.kind == Ast::Num)
    return std::optional<int64_t>(a.value);
  if (a.kind == Ast::Sym) {
    auto it = env.find(a.name);
    return it == env.end() ? std::nullopt : std::optional<int64_t>(it->second);
  }
  KILN_ASSIGN(std::optional<int64_t> l, evalAst(*a.lhs, env));
  if (a.kind == Ast::Neg)
    return l ? std::optional<int64_t>(-*l) : std::nullopt;
  KILN_ASSIGN(std::optional<int64_t> r, evalAst(*a.rhs, env));
  if (!l || !r)
    return std::optional<int64_t>();
  int64_t out = 0;
  bool overflow = false;
  switch (a.kind) {
  case Ast::Add: overflow = __builtin_add_overflow(*l, *r, &out); break;
  case Ast::Sub: overflow = __builtin_sub_overflow(*l, *r, &out); break;
  case Ast::Mul: overflow = __builtin_mul_overflow(*l, *r, &out); break;
  case Ast::Div:
    if (*r == 0)
      return makeError("a dim divides by zero");
    out = floorDiv(*l, *r);
    break;
  case Ast::Num:
  case Ast::Sym:
  case Ast::Neg: break;
  }
  if (overflow)
    return makeError("a dim overflows 64 bits");
  return std::optional<int64_t>(out);
}

// --- The canonical form -----------------------------------------------------------------

using Monomial = std::vector<std::string>; ///< sorted atoms, repeats allowed
using Poly = std::map<Monomial, int64_t>;  ///< no zero coefficients

void addTerm(Poly &p, const Monomial &m, int64_t c) {
  if ((p[m] += c) == 0)
    p.erase(m);
}

std::optional<int64_t> constantOf(const Poly &p) {
  if (p.empty())
    return 0;
  if (p.size() == 1 && p.begin()->first.empty())
    return p.begin()->second;
  return std::nullopt;
}

std::string printPoly(const Poly &p) {
  std::vector<std::pair<Monomial, int64_t>> terms(p.begin(), p.end());
  // Monomials are unique (map keys), so this order is total.
  std::sort(terms.begin(), terms.end(), [](const auto &a, const auto &b) {
    if (a.first.size() != b.first.size())
      return a.first.size() > b.first.size(); // higher degree first, the constant last
    return a.first < b.first;
  });
  std::string out;
  for (const auto &[m, c] : terms) {
    int64_t mag = c < 0 ? -c : c;
    out += c < 0 ? "-" : (out.empty() ? "" : "+");
    std::string atoms;
    for (const std::string &a : m)
      atoms += (atoms.empty() ? "" : "*") + a;
    if (m.empty())
      out += std::to_string(mag);
    else
      out += mag == 1 ? atoms : fmt::format("{}*{}", mag, atoms);
  }
  return out.empty() ? "0" : out;
}

/// One name or one parenthesized quotient, coefficient 1: printed bare.
bool isSingleAtom(const Poly &p) {
  return p.size() == 1 && p.begin()->second == 1 && p.begin()->first.size() == 1;
}

std::optional<Poly> polyMul(const Poly &a, const Poly &b) {
  Poly out;
  for (const auto &[ma, ca] : a)
    for (const auto &[mb, cb] : b) {
      int64_t c;
      if (__builtin_mul_overflow(ca, cb, &c))
        return std::nullopt;
      Monomial m = ma;
      m.insert(m.end(), mb.begin(), mb.end());
      std::sort(m.begin(), m.end());
      addTerm(out, m, c);
    }
  return out;
}

/// a / b exactly, where b is one term that divides every term of a.
std::optional<Poly> divideByTerm(const Poly &a, const Monomial &bm, int64_t bc) {
  Poly out;
  for (const auto &[m, c] : a) {
    if (c % bc != 0)
      return std::nullopt;
    Monomial rest = m;
    for (const std::string &atom : bm) {
      auto it = std::find(rest.begin(), rest.end(), atom);
      if (it == rest.end())
        return std::nullopt;
      rest.erase(it);
    }
    addTerm(out, rest, c / bc);
  }
  return out;
}

std::optional<Poly> polyDiv(Poly a, const Poly &b) {
  std::optional<int64_t> bc = constantOf(b);
  if (bc && *bc <= 0)
    return std::nullopt;
  if (b.size() == 1 && b.begin()->second > 0)
    if (auto q = divideByTerm(a, b.begin()->first, b.begin()->second))
      return q;
  if (!bc && !b.empty()) { // a = k * b for an integer k?
    const auto &[m0, c0] = *b.begin();
    auto it = a.find(m0);
    if (it != a.end() && it->second % c0 == 0) {
      Poly k = {{{}, it->second / c0}};
      if (auto kb = polyMul(k, b); kb && *kb == a)
        return k;
    }
  }
  if (bc) {
    // floor((c*A + B + r) / c) = A + q + floor((B + r') / c) with r = c*q + r'
    // and 0 <= r' < c: the terms c divides leave the quotient, and its
    // constant is reduced, so (H-2)/2+1 and H/2 are one form.
    Poly exact, rest;
    int64_t r = 0;
    for (const auto &[m, c] : a) {
      if (m.empty())
        r = c;
      else
        addTerm(c % *bc == 0 ? exact : rest, m, c % *bc == 0 ? c / *bc : c);
    }
    int64_t q = floorDiv(r, *bc);
    addTerm(exact, {}, q);
    if (rest.empty())
      return exact;
    addTerm(rest, {}, r - q * *bc);
    if (!exact.empty()) {
      auto inner = polyDiv(rest, b);
      if (!inner)
        return std::nullopt;
      for (const auto &[m, c] : *inner)
        addTerm(exact, m, c);
      return exact;
    }
    a = rest;
  }
  // Not exact: the quotient is one atom, its text parenthesized.
  std::string num = isSingleAtom(a) ? printPoly(a) : "(" + printPoly(a) + ")";
  std::string den = bc || isSingleAtom(b) ? printPoly(b) : "(" + printPoly(b) + ")";
  return Poly{{{"(" + num + "/" + den + ")"}, 1}};
}

std::optional<Poly> toPoly(const Ast &a) {
  switch (a.kind) {
  case Ast::Num: return a.value == 0 ? Poly{} : Poly{{{}, a.value}};
  case Ast::Sym: return Poly{{{a.name}, 1}};
  case Ast::Neg: {
    auto l = toPoly(*a.lhs);
    if (!l)
      return std::nullopt;
    for (auto &[m, c] : *l)
      c = -c;
    return l;
  }
  case Ast::Add:
  case Ast::Sub:
  case Ast::Mul:
  case Ast::Div: break;
  }
  auto l = toPoly(*a.lhs), r = toPoly(*a.rhs);
  if (!l || !r)
    return std::nullopt;
  if (a.kind == Ast::Mul)
    return polyMul(*l, *r);
  if (a.kind == Ast::Div)
    return polyDiv(*l, *r);
  for (const auto &[m, c] : *r)
    addTerm(*l, m, a.kind == Ast::Add ? c : -c);
  return l;
}

std::optional<Poly> polyOf(const Dim &d) {
  if (d.isConst())
    return d.value == 0 ? Poly{} : Poly{{{}, d.value}};
  if (d.isUnknown())
    return std::nullopt;
  if (isNamedSymbol(d))
    return Poly{{{d.sym}, 1}};
  auto ast = parseAst(d.sym);
  if (!ast)
    return std::nullopt;
  return toPoly(**ast);
}

Dim dimOf(const std::optional<Poly> &p) {
  if (!p)
    return Dim::unknown();
  if (auto c = constantOf(*p))
    return *c >= 0 ? Dim::of(*c) : Dim::unknown();
  return Dim::symbol(printPoly(*p));
}

template <typename F> Dim combine(const Dim &a, const Dim &b, F f) {
  auto pa = polyOf(a), pb = polyOf(b);
  if (!pa || !pb)
    return Dim::unknown();
  return dimOf(f(*pa, *pb));
}

void collectSymbols(const Ast &a, std::set<std::string> &out) {
  if (a.kind == Ast::Sym)
    out.insert(a.name);
  if (a.lhs)
    collectSymbols(*a.lhs, out);
  if (a.rhs)
    collectSymbols(*a.rhs, out);
}

} // namespace

bool isNamedSymbol(const Dim &d) {
  if (d.sym.empty() || !isNameStart(d.sym[0]))
    return false;
  return std::all_of(d.sym.begin(), d.sym.end(), isNameChar);
}

Dim dimAdd(const Dim &a, const Dim &b) {
  return combine(a, b, [](Poly x, const Poly &y) -> std::optional<Poly> {
    for (const auto &[m, c] : y)
      addTerm(x, m, c);
    return x;
  });
}

Dim dimSub(const Dim &a, const Dim &b) {
  return combine(a, b, [](Poly x, const Poly &y) -> std::optional<Poly> {
    for (const auto &[m, c] : y)
      addTerm(x, m, -c);
    return x;
  });
}

Dim dimMul(const Dim &a, const Dim &b) {
  if (a.isConst() && b.isConst()) {
    int64_t v;
    return __builtin_mul_overflow(a.value, b.value, &v) ? Dim::unknown() : Dim::of(v);
  }
  return combine(a, b, [](const Poly &x, const Poly &y) { return polyMul(x, y); });
}

Dim dimFloorDiv(const Dim &a, const Dim &b) {
  return combine(a, b, [](const Poly &x, const Poly &y) { return polyDiv(x, y); });
}

Expected<std::optional<int64_t>> evalDim(const Dim &d, const DimBindings &env) {
  if (d.isConst())
    return std::optional<int64_t>(d.value);
  if (d.isUnknown())
    return std::optional<int64_t>();
  if (isNamedSymbol(d)) {
    auto it = env.find(d.sym);
    return it == env.end() ? std::nullopt : std::optional<int64_t>(it->second);
  }
  KILN_ASSIGN(AstPtr ast, parseAst(d.sym));
  auto v = evalAst(*ast, env);
  if (!v)
    return makeError("dim {}: {}", d.sym, v.error().message);
  if (*v && **v < 0) {
    std::string at;
    for (const std::string &s : dimSymbols(d))
      if (env.count(s))
        at += fmt::format("{}{} = {}", at.empty() ? "" : ", ", s, env.at(s));
    return makeError("dim {} is {} (negative) at {}", d.sym, **v, at);
  }
  return v;
}

std::optional<int64_t> dimValue(const Dim &d, const DimBindings &env) {
  auto v = evalDim(d, env);
  return v ? *v : std::nullopt;
}

Expected<Dim> parseDim(std::string_view text) {
  if (text == "?")
    return Dim::unknown();
  KILN_ASSIGN(AstPtr ast, parseAst(text));
  auto p = toPoly(*ast);
  if (!p)
    return makeError("dim '{}' divides by a size that is not positive, or overflows", text);
  if (auto c = constantOf(*p); c && *c < 0)
    return makeError("dim '{}' is negative", text);
  return dimOf(p);
}

std::set<std::string> dimSymbols(const Dim &d) {
  std::set<std::string> out;
  if (isNamedSymbol(d))
    out.insert(d.sym);
  else if (d.isSymbol())
    if (auto ast = parseAst(d.sym))
      collectSymbols(**ast, out);
  return out;
}

Dim dimProduct(const Shape &s) {
  Dim p = Dim::of(1);
  for (const Dim &d : s)
    p = dimMul(p, d);
  return p;
}

} // namespace kiln::ir
