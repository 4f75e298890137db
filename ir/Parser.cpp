//===- ir/Parser.cpp - The .kir text format: parsing ----------------------===//
//
// A hand-written lexer and recursive-descent parser. Grammar (docs/ir.md):
//
//   file   := 'graph' '@' name '{' stmt* '}'
//   stmt   := 'input' '%' name ':' type
//           | 'param' '%' name ':' type '=' (initializer | data)
//           | 'const' '%' name ':' type '=' data
//           | '%' name (',' '%' name)* '=' op '(' operands ')' attrs? ':' type (',' type)* region?
//           | 'output' '%' name (',' '%' name)*
//           | 'update' '%' name '<-' '%' name
//   region := '{' ('arg' '%' name ':' type)* (const | node)* 'yield' '%' name (',' '%' name)* '}'
//   type   := dtype '[' dims ']' ('{' layout '}')?
//
//===----------------------------------------------------------------------===//
#include "ir/Parser.h"
#include "ir/DimExpr.h"
#include "ir/Printer.h"
#include "ir/File.h"

#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

namespace kiln::ir {

namespace {

enum class Tok { End, Word, Percent, At, Number, String, Punct, Arrow, Bad };

struct Token {
  Tok kind = Tok::End;
  std::string text; ///< word, name (unquoted), number text, string contents, punctuation
  int line = 1, col = 1;
};

bool isWordStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool isWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }

class Lexer {
public:
  explicit Lexer(std::string_view s) : s_(s) {}

  Token next() {
    skipSpaceAndComments();
    Token t;
    t.line = line_;
    t.col = col_;
    if (pos_ >= s_.size())
      return t;
    char c = s_[pos_];
    if (c == '%' || c == '@') {
      advance();
      t.kind = c == '%' ? Tok::Percent : Tok::At;
      if (pos_ < s_.size() && s_[pos_] == '"') {
        if (std::string bad = readString(t.text); !bad.empty())
          t.kind = Tok::Bad, t.text = bad == "unterminated string" ? "unterminated quoted name" : bad;
        return t;
      }
      while (pos_ < s_.size() && isWordChar(s_[pos_]))
        t.text += advance();
      if (t.text.empty())
        t.kind = Tok::Bad, t.text = fmt::format("a name after '{}'", c);
      return t;
    }
    if (c == '"') {
      t.kind = Tok::String;
      if (std::string bad = readString(t.text); !bad.empty())
        t.kind = Tok::Bad, t.text = bad;
      return t;
    }
    if (c == '<' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '-') {
      advance(), advance();
      t.kind = Tok::Arrow;
      t.text = "<-";
      return t;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+') {
      t.kind = Tok::Number;
      t.text += advance();
      while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.' ||
                                  ((s_[pos_] == '-' || s_[pos_] == '+') && (t.text.back() == 'e' || t.text.back() == 'E'))))
        t.text += advance();
      return t;
    }
    if (isWordStart(c)) {
      t.kind = Tok::Word;
      while (pos_ < s_.size() && isWordChar(s_[pos_]))
        t.text += advance();
      return t;
    }
    if (std::string_view("()[]{},:=?*/").find(c) != std::string_view::npos) {
      t.kind = Tok::Punct;
      t.text = std::string(1, advance());
      return t;
    }
    t.kind = Tok::Bad;
    t.text = std::isprint(static_cast<unsigned char>(c)) ? fmt::format("character '{}'", c)
                                                          : fmt::format("byte 0x{:02x}", static_cast<unsigned char>(c));
    advance();
    return t;
  }

private:
  char advance() {
    char c = s_[pos_++];
    if (c == '\n')
      ++line_, col_ = 1;
    else
      ++col_;
    return c;
  }
  void skipSpaceAndComments() {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (std::isspace(static_cast<unsigned char>(c))) {
        advance();
      } else if (c == '/' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '/') {
        while (pos_ < s_.size() && s_[pos_] != '\n')
          advance();
      } else {
        break;
      }
    }
  }
  /// Reads a quoted string with the printer's escapes (\\n, \\" and
  /// \\\\); an empty result on success, else what is wrong with it.
  std::string readString(std::string &out) {
    advance(); // opening quote
    while (pos_ < s_.size()) {
      char c = advance();
      if (c == '"')
        return {};
      if (c == '\\' && pos_ < s_.size()) {
        char e = advance();
        if (e != 'n' && e != '"' && e != '\\')
          return std::isprint(static_cast<unsigned char>(e))
                     ? fmt::format("unknown escape '\\{}' in a string (\\n, \\\" and \\\\ are known)", e)
                     : fmt::format("unknown escape of byte 0x{:02x} in a string", static_cast<unsigned char>(e));
        out += e == 'n' ? '\n' : e;
        continue;
      }
      if (c == '\n')
        break;
      out += c;
    }
    return "unterminated string";
  }

  std::string_view s_;
  size_t pos_ = 0;
  int line_ = 1, col_ = 1;
};

/// Whether integer `v` is a value of `dtype` (floats take any integer).
bool fitsInteger(DType dtype, int64_t v) {
  switch (dtype) {
  case DType::I8: return v >= -128 && v <= 127;
  case DType::U8: return v >= 0 && v <= 255;
  case DType::I32: return v >= INT32_MIN && v <= INT32_MAX;
  case DType::Bool: return v == 0 || v == 1;
  case DType::I64:
  case DType::F32:
  case DType::F64:
  case DType::F16:
  case DType::BF16: return true;
  }
  return false;
}

std::string describe(const Token &t) {
  switch (t.kind) {
  case Tok::End: return "end of file";
  case Tok::Word: return fmt::format("'{}'", t.text);
  case Tok::Percent: return fmt::format("'%{}'", t.text);
  case Tok::At: return fmt::format("'@{}'", t.text);
  case Tok::Number: return fmt::format("number '{}'", t.text);
  case Tok::String: return "a string";
  case Tok::Punct:
  case Tok::Arrow: return fmt::format("'{}'", t.text);
  case Tok::Bad: return t.text;
  }
  return "?";
}

/// A literal before it is checked against what the context wants.
struct Literal {
  enum Kind { Int, Float, Bool, Str, Word, List } kind = Int;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::vector<Literal> items;
  bool unknownDim = false; ///< '?' inside a list
};

class Parser {
public:
  Parser(std::string_view text, std::string_view filename, const ParseOptions &options)
      : lex_(text), file_(filename), options_(options) {
    tok_ = lex_.next();
  }

  Expected<Graph> parseFile() {
    KILN_TRY(expectWord("graph"));
    if (tok_.kind != Tok::At)
      return errorHere("expected the graph's name '@name'");
    Graph g(tok_.text);
    consume();
    KILN_TRY(expectPunct("{"));
    while (!isPunct("}")) {
      if (tok_.kind == Tok::End)
        return errorHere("expected '}' to close the graph");
      KILN_TRY(parseStatement(g, false));
    }
    consume();
    if (tok_.kind != Tok::End)
      return errorHere(fmt::format("expected end of file after the graph, got {}", describe(tok_)));
    return g;
  }

private:
  // --- Token helpers ---------------------------------------------------------------
  void consume() { tok_ = lex_.next(); }
  bool isPunct(std::string_view p) const { return tok_.kind == Tok::Punct && tok_.text == p; }
  /// After a size in a type's dims: an operator follows (`2*N`).
  bool dimContinues() const { return isPunct("*") || isPunct("/") || isPunct("("); }
  bool isWord(std::string_view w) const { return tok_.kind == Tok::Word && tok_.text == w; }
  Error errorAt(const Token &t, const std::string &msg) const {
    return makeError("{}:{}:{}: error: {}", file_, t.line, t.col, msg);
  }
  Error errorHere(const std::string &msg) const { return errorAt(tok_, msg); }
  Status expectPunct(std::string_view p) {
    if (!isPunct(p))
      return errorHere(fmt::format("expected '{}', got {}", p, describe(tok_)));
    consume();
    return {};
  }
  Status expectWord(std::string_view w) {
    if (!isWord(w))
      return errorHere(fmt::format("expected '{}', got {}", w, describe(tok_)));
    consume();
    return {};
  }
  Expected<std::string> expectValueName() {
    if (tok_.kind != Tok::Percent)
      return errorHere(fmt::format("expected a value name '%name', got {}", describe(tok_)));
    std::string name = tok_.text;
    consume();
    return name;
  }
  /// A use of a value, which must be defined above.
  Expected<ValueId> expectUse(const Graph &g) {
    Token at = tok_;
    auto name = expectValueName();
    if (!name)
      return name.error();
    ValueId v = g.lookup(*name);
    if (v == kNoValue)
      return errorAt(at, fmt::format("use of undefined value '%{}'", *name));
    return v;
  }

  /// At a '{' after a type: true if it opens a fused node's region rather
  /// than a layout (a region starts with arg, const, a node or yield).
  bool regionFollows() const {
    Lexer ahead = lex_;
    Token t = ahead.next();
    return t.kind != Tok::Word || t.text == "arg" || t.text == "const" || t.text == "yield";
  }

  // --- Types -----------------------------------------------------------------------
  Expected<Type> parseType() {
    if (tok_.kind != Tok::Word)
      return errorHere(fmt::format("expected a type such as f32[N,10], got {}", describe(tok_)));
    auto dt = parseDType(tok_.text);
    if (!dt)
      return errorHere(fmt::format("unknown dtype '{}' (expected f32, f64, f16, bf16, i64, i32, i8, u8 or bool)", tok_.text));
    consume();
    Type t;
    t.dtype = *dt;
    KILN_TRY(expectPunct("["));
    int64_t elements = 1;
    while (!isPunct("]")) {
      if (!t.shape.empty())
        KILN_TRY(expectPunct(","));
      if (isPunct("?")) {
        t.shape.push_back(Dim::unknown());
        consume();
        continue;
      }
      if (!(tok_.kind == Tok::Number || isPunct("(") || (tok_.kind == Tok::Word && tok_.text.find('.') == std::string::npos)))
        return errorHere(fmt::format("expected a dimension (a size, a symbol or '?'), got {}", describe(tok_)));
      // A size, a name, or an expression of names and sizes (64*N, (H+1)/2):
      // the tokens up to the next ',' or ']' outside parentheses.
      Token first = tok_;
      std::string text;
      int depth = 0, tokens = 0;
      while (tok_.kind != Tok::End && (depth > 0 || !(isPunct(",") || isPunct("]")))) {
        if (tok_.kind == Tok::Bad || tok_.kind == Tok::String || isPunct("[") || isPunct("{"))
          return errorHere(fmt::format("expected a dimension (a size, a symbol or '?'), got {}", describe(tok_)));
        depth += isPunct("(") ? 1 : isPunct(")") ? -1 : 0;
        text += tok_.text;
        ++tokens;
        consume();
      }
      if (tokens == 1 && first.kind == Tok::Number) {
        auto v = toInt(first);
        if (!v)
          return v.error();
        if (*v < 0)
          return errorAt(first, fmt::format("dimension {} is negative", *v));
        if (__builtin_mul_overflow(elements, *v, &elements))
          return errorAt(first, "the shape's element count overflows 64 bits");
        t.shape.push_back(Dim::of(*v));
        continue;
      }
      auto d = parseDim(text);
      if (!d)
        return errorAt(first, d.error().message);
      t.shape.push_back(*d);
    }
    consume();
    if (isPunct("{") && !regionFollows()) {
      consume();
      auto l = tok_.kind == Tok::Word ? parseLayout(tok_.text) : std::nullopt;
      if (!l)
        return errorHere(fmt::format("expected a layout (row_major, nhwc, nchw8c, nhwc_rows64, nhwc_cols64), got {}", describe(tok_)));
      t.layout = *l;
      consume();
      KILN_TRY(expectPunct("}"));
    }
    return t;
  }

  Expected<int64_t> toInt(const Token &t) const {
    int64_t v = 0;
    const char *b = t.text.data(), *e = b + t.text.size();
    if (*b == '+')
      ++b;
    auto [ptr, ec] = std::from_chars(b, e, v);
    if (ec == std::errc::result_out_of_range)
      return errorAt(t, fmt::format("integer {} does not fit in 64 bits", t.text));
    if (ec != std::errc() || ptr != e)
      return errorAt(t, fmt::format("expected an integer, got {}", describe(t)));
    return v;
  }

  // --- Literals ---------------------------------------------------------------------
  Expected<Literal> parseLiteral(bool inList) {
    Literal lit;
    if (tok_.kind == Tok::Number) {
      const std::string &s = tok_.text;
      bool isFloatText = s.find_first_of(".eEin") != std::string::npos;
      if (!isFloatText) {
        auto v = toInt(tok_);
        if (!v)
          return v.error();
        lit.kind = Literal::Int;
        lit.i = *v;
      } else {
        auto v = toDouble(tok_);
        if (!v)
          return v.error();
        lit.kind = Literal::Float;
        lit.f = *v;
      }
      consume();
      return lit;
    }
    if (tok_.kind == Tok::String) {
      lit.kind = Literal::Str;
      lit.s = tok_.text;
      consume();
      return lit;
    }
    if (tok_.kind == Tok::Word) {
      lit.s = tok_.text;
      if (lit.s == "true" || lit.s == "false") {
        lit.kind = Literal::Bool;
        lit.i = lit.s == "true";
      } else if (lit.s == "inf" || lit.s == "nan") {
        lit.kind = Literal::Float;
        lit.f = lit.s == "inf" ? INFINITY : NAN;
      } else {
        lit.kind = Literal::Word;
      }
      consume();
      return lit;
    }
    if (inList && isPunct("?")) {
      lit.kind = Literal::Word;
      lit.unknownDim = true;
      consume();
      return lit;
    }
    if (!inList && isPunct("[")) {
      consume();
      lit.kind = Literal::List;
      while (!isPunct("]")) {
        if (!lit.items.empty())
          KILN_TRY(expectPunct(","));
        auto item = parseLiteral(true);
        if (!item)
          return item.error();
        lit.items.push_back(item.take());
      }
      consume();
      return lit;
    }
    return errorHere(fmt::format("expected a value, got {}", describe(tok_)));
  }

  Expected<double> toDouble(const Token &t) const {
    std::string_view s = t.text;
    bool neg = false;
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
      neg = s[0] == '-';
      s.remove_prefix(1);
    }
    if (s == "inf")
      return neg ? -INFINITY : INFINITY;
    if (s == "nan")
      return NAN;
    double v = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc::result_out_of_range)
      return errorAt(t, fmt::format("number {} is out of the range of f64 (write inf, or 0)", t.text));
    if (ec != std::errc() || ptr != s.data() + s.size() || s.empty())
      return errorAt(t, fmt::format("expected a number, got {}", describe(t)));
    return neg ? -v : v;
  }

  /// Converts a literal to an attribute value (the op decides its kind later).
  Expected<AttrValue> toAttr(const Literal &lit, const Token &at) const {
    switch (lit.kind) {
    case Literal::Int: return AttrValue(lit.i);
    case Literal::Float: return AttrValue(lit.f);
    case Literal::Bool: return AttrValue(lit.i != 0);
    case Literal::Str: return AttrValue(lit.s);
    case Literal::Word:
      if (auto dt = parseDType(lit.s))
        return AttrValue(*dt);
      if (auto l = parseLayout(lit.s))
        return AttrValue(*l);
      return errorAt(at, fmt::format("unknown word '{}' (strings are written in double quotes)", lit.s));
    case Literal::List: break;
    }
    bool anyFloat = false, anyWord = false;
    for (const Literal &item : lit.items) {
      if (item.kind == Literal::Float)
        anyFloat = true;
      else if (item.kind == Literal::Word)
        anyWord = true;
      else if (item.kind != Literal::Int)
        return errorAt(at, "a list holds numbers, or sizes and symbols");
    }
    if (anyFloat && anyWord)
      return errorAt(at, "a list mixes numbers and symbols");
    if (anyWord) {
      Shape s;
      for (const Literal &item : lit.items) {
        if (item.kind == Literal::Int && item.i < 0)
          return errorAt(at, "a shape has a negative size");
        s.push_back(item.kind == Literal::Int ? Dim::of(item.i)
                    : item.unknownDim         ? Dim::unknown()
                                              : Dim::symbol(item.s));
      }
      return AttrValue(s);
    }
    if (anyFloat) {
      std::vector<double> v;
      for (const Literal &item : lit.items)
        v.push_back(item.kind == Literal::Float ? item.f : static_cast<double>(item.i));
      return AttrValue(v);
    }
    std::vector<int64_t> v;
    for (const Literal &item : lit.items)
      v.push_back(item.i);
    return AttrValue(v);
  }

  // --- Tensor data --------------------------------------------------------------------
  /// `elided(checksum="fnv1a64:...")`: the data comes from the weights
  /// given with the text, with the dtype, shape and checksum printed.
  Expected<HostTensor> parseElided(const std::string &name, const Type &type, const Token &at) {
    consume();
    KILN_TRY(expectPunct("("));
    if (!isWord("checksum"))
      return errorHere(fmt::format("expected checksum=\"...\" in elided(...), got {}", describe(tok_)));
    consume();
    KILN_TRY(expectPunct("="));
    if (tok_.kind != Tok::String)
      return errorHere(fmt::format("expected a string checksum, got {}", describe(tok_)));
    std::string checksum = tok_.text;
    consume();
    KILN_TRY(expectPunct(")"));
    if (!options_.weights)
      return errorAt(at, fmt::format("%{}: its data was elided when it was printed (kiln dump elides tensors of more "
                                     "than 16 elements): print it with --print-weights, or give the data with "
                                     "--load-weights FILE.safetensors (kiln dump --save-weights writes it)",
                                     name));
    auto it = options_.weights->find(name);
    if (it == options_.weights->end())
      return errorAt(at, fmt::format("%{}: its data was elided, and the weights given do not hold it", name));
    const HostTensor &t = it->second;
    Sizes sizes;
    for (const Dim &d : type.shape)
      sizes.push_back(d.isConst() ? d.value : -1);
    if (t.dtype() != type.dtype || t.sizes() != sizes)
      return errorAt(at, fmt::format("%{}: the weights give {}{} where {} was printed", name, dtypeName(t.dtype()),
                                     toString(t.sizes()), toString(type)));
    if (dataChecksum(t) != checksum)
      return errorAt(at, fmt::format("%{}: the weights' data has checksum {}, not the {} printed", name, dataChecksum(t),
                                     checksum));
    return t;
  }

  Expected<HostTensor> parseData(const Type &type, const Token &at) {
    Sizes sizes;
    for (const Dim &d : type.shape) {
      if (!d.isConst())
        return errorAt(at, fmt::format("a tensor with data needs a constant shape, got {}", toString(type)));
      sizes.push_back(d.value);
    }
    if (!isPunct("["))
      return errorHere(fmt::format("expected data '[...]' or an initializer, got {}", describe(tok_)));
    Token open = tok_;
    auto lit = parseLiteral(false);
    if (!lit)
      return lit.error();
    int64_t n = product(sizes);
    if (static_cast<int64_t>(lit->items.size()) != n)
      return errorAt(open, fmt::format("{} needs {} values, got {}", toString(type), n, lit->items.size()));
    HostTensor t(type.dtype, sizes);
    for (size_t i = 0; i < lit->items.size(); ++i) {
      const Literal &item = lit->items[i];
      if (item.kind == Literal::Word || item.kind == Literal::Str)
        return errorAt(open, fmt::format("'{}' is not a number", item.s));
      if (item.kind == Literal::Float && !isFloat(type.dtype))
        return errorAt(open, fmt::format("value {} (item {}) is not an integer, as {} data must be", item.f, i,
                                         dtypeName(type.dtype)));
      if (item.kind != Literal::Float && !fitsInteger(type.dtype, item.i))
        return errorAt(open, fmt::format("value {} (item {}) does not fit in {}", item.i, i, dtypeName(type.dtype)));
      if (item.kind == Literal::Float)
        t.set(static_cast<int64_t>(i), item.f);
      else
        t.setInt(static_cast<int64_t>(i), item.i); // exact for i64, whatever its size
    }
    return t;
  }

  Expected<Initializer> parseInitializer() {
    Token at = tok_;
    auto kind = initializerKind(tok_.text);
    if (!kind)
      return errorHere(fmt::format("unknown initializer '{}' (expected zeros, constant, uniform, normal, "
                                   "glorot_uniform, glorot_normal, he_uniform or he_normal)",
                                   tok_.text));
    consume();
    Initializer init;
    init.kind = *kind;
    int arity = initializerArity(*kind);
    bool seeded = initializerSeeded(*kind);
    if (arity == 0 && !seeded)
      return init;
    KILN_TRY(expectPunct("("));
    for (int i = 0; i < arity; ++i) {
      if (i)
        KILN_TRY(expectPunct(","));
      if (tok_.kind != Tok::Number && !isWord("inf") && !isWord("nan"))
        return errorHere(fmt::format("initializer '{}' takes {} numbers", at.text, arity));
      auto lit = parseLiteral(false);
      if (!lit)
        return lit.error();
      (i == 0 ? init.a : init.b) = lit->kind == Literal::Float ? lit->f : static_cast<double>(lit->i);
    }
    if (seeded) {
      if (arity)
        KILN_TRY(expectPunct(","));
      KILN_TRY(expectWord("seed"));
      KILN_TRY(expectPunct("="));
      if (tok_.kind != Tok::Number)
        return errorHere("expected the seed, a non-negative integer");
      auto s = toInt(tok_);
      if (!s)
        return s.error();
      if (*s < 0)
        return errorHere("the seed must not be negative");
      init.seed = static_cast<uint64_t>(*s);
      consume();
    }
    KILN_TRY(expectPunct(")"));
    return init;
  }

  // --- Statements ---------------------------------------------------------------------
  /// One statement of a graph or, when `region`, of a fused node's body
  /// (where `arg` and `yield` take the place of `input` and `output`).
  Status parseStatement(Graph &g, bool region) {
    Token start = tok_;
    if (region && (isWord("input") || isWord("output") || isWord("param") || isWord("update")))
      return errorHere(fmt::format("a region has no '{}' statements (it has arg, const, nodes and yield)", tok_.text));
    if (!region && (isWord("arg") || isWord("yield")))
      return errorHere(fmt::format("'{}' is only written inside a fused node's region", tok_.text));
    if (isWord("input") || isWord("arg")) {
      consume();
      auto name = expectValueName();
      if (!name)
        return name.error();
      KILN_TRY(expectPunct(":"));
      auto type = parseType();
      if (!type)
        return type.error();
      return located(start, g.addInput(name.take(), type.take()));
    }
    if (isWord("param") || isWord("const")) {
      bool isParam = isWord("param");
      consume();
      auto name = expectValueName();
      if (!name)
        return name.error();
      KILN_TRY(expectPunct(":"));
      Token typeAt = tok_;
      auto type = parseType();
      if (!type)
        return type.error();
      if (!isParam && type->layout.kind != Layout::RowMajor)
        return errorAt(typeAt, "constants are row-major (a parameter may name its device layout)");
      KILN_TRY(expectPunct("="));
      if (isWord("elided")) {
        auto data = parseElided(*name, *type, typeAt);
        if (!data)
          return data.error();
        return located(start, isParam ? g.addParam(name.take(), data.take(), std::nullopt, type->layout)
                                      : g.addConst(name.take(), data.take()));
      }
      if (isParam && tok_.kind == Tok::Word) {
        auto init = parseInitializer();
        if (!init)
          return init.error();
        auto n = type->numElements();
        if (!n)
          return errorAt(typeAt, fmt::format("parameter %{} must have a constant shape, got {}", *name, toString(*type)));
        if (*n > options_.maxInitElements)
          return errorAt(typeAt, fmt::format("parameter %{} has {} elements, more than the limit of {}", *name, *n,
                                             options_.maxInitElements));
        return located(start, g.addParam(name.take(), *type, *init));
      }
      auto data = parseData(*type, typeAt);
      if (!data)
        return data.error();
      return located(start, isParam ? g.addParam(name.take(), data.take(), std::nullopt, type->layout)
                                    : g.addConst(name.take(), data.take()));
    }
    if (isWord("output") || isWord("yield")) {
      consume();
      do {
        auto v = expectUse(g);
        if (!v)
          return v.error();
        KILN_TRY(g.addOutput(*v));
      } while (isPunct(",") && (consume(), true));
      return {};
    }
    if (isWord("update")) {
      consume();
      auto p = expectUse(g);
      if (!p)
        return p.error();
      if (tok_.kind != Tok::Arrow)
        return errorHere(fmt::format("expected '<-', got {}", describe(tok_)));
      consume();
      auto v = expectUse(g);
      if (!v)
        return v.error();
      return located(start, g.addUpdate(*p, *v));
    }
    if (tok_.kind == Tok::Percent)
      return parseNode(g);
    return errorHere(fmt::format("expected a statement (input, param, const, a node '%name = op(...)', output or "
                                 "update), got {}",
                                 describe(tok_)));
  }

  Status parseNode(Graph &g) {
    Token start = tok_;
    std::vector<std::string> names;
    do {
      auto name = expectValueName();
      if (!name)
        return name.error();
      names.push_back(name.take());
    } while (isPunct(",") && (consume(), true));
    KILN_TRY(expectPunct("="));
    Token opAt = tok_;
    if (tok_.kind != Tok::Word)
      return errorHere(fmt::format("expected an op name, got {}", describe(tok_)));
    const OpInfo *op = findOp(tok_.text);
    if (!op)
      return errorHere(fmt::format("unknown op '{}'", tok_.text));
    consume();
    KILN_TRY(expectPunct("("));
    std::vector<ValueId> operands;
    while (!isPunct(")")) {
      if (!operands.empty())
        KILN_TRY(expectPunct(","));
      auto v = expectUse(g);
      if (!v)
        return v.error();
      operands.push_back(*v);
    }
    consume();
    AttrList attrs;
    if (isPunct("{")) {
      consume();
      while (!isPunct("}")) {
        if (!attrs.empty())
          KILN_TRY(expectPunct(","));
        if (tok_.kind != Tok::Word)
          return errorHere(fmt::format("expected an attribute name, got {}", describe(tok_)));
        std::string attrName = tok_.text;
        consume();
        KILN_TRY(expectPunct("="));
        Token valueAt = tok_;
        auto lit = parseLiteral(false);
        if (!lit)
          return lit.error();
        auto value = toAttr(*lit, valueAt);
        if (!value)
          return value.error();
        attrs.emplace_back(std::move(attrName), value.take());
      }
      consume();
    }
    KILN_TRY(expectPunct(":"));
    std::vector<std::pair<Token, Type>> declared;
    do {
      Token at = tok_;
      auto t = parseType();
      if (!t)
        return t.error();
      declared.emplace_back(at, t.take());
    } while (isPunct(",") && (consume(), true));

    std::string firstName = names[0];
    Expected<std::vector<ValueId>> results = std::vector<ValueId>{};
    if (op->kind == OpKind::Fused) {
      auto body = parseRegion(firstName);
      if (!body)
        return body.error();
      auto resolved = resolveAttrs(*op, attrs);
      if (!resolved)
        return errorAt(opAt, fmt::format("node %{}: {}", firstName, resolved.error().message));
      std::string kind = AttrView(*op, *resolved).getString("kind");
      results = g.addFused(operands, std::make_shared<const Graph>(body.take()), kind, names);
    } else {
      if (isPunct("{"))
        return errorHere(fmt::format("node %{}: only fused nodes have a region", firstName));
      results = g.addNode(op->kind, operands, attrs, names);
    }
    if (!results)
      return errorAt(opAt, fmt::format("node %{}: {}", firstName, results.error().message));
    if (declared.size() != results->size())
      return errorAt(start, fmt::format("node %{}: op '{}' has {} results, {} types declared", firstName, op->name,
                                        results->size(), declared.size()));
    for (size_t i = 0; i < declared.size(); ++i) {
      const Type &inferred = g.type((*results)[i]);
      if (!(declared[i].second == inferred))
        return errorAt(declared[i].first, fmt::format("node %{}: declared type {} but op '{}' gives {}",
                                                      g.nameOf((*results)[i]), toString(declared[i].second),
                                                      op->name, toString(inferred)));
    }
    return {};
  }

  /// The `{ ... }` body of the fused node `owner`.
  Expected<Graph> parseRegion(const std::string &owner) {
    if (!isPunct("{"))
      return errorHere(fmt::format("node %{}: a fused node needs its region '{{ ... }}' after its types", owner));
    if (regionDepth_ >= kMaxRegionDepth) // every walker of regions recurses once per level
      return errorHere(fmt::format("node %{}: fused regions nest deeper than {} levels", owner, kMaxRegionDepth));
    consume();
    ++regionDepth_;
    struct Leave {
      int &depth;
      ~Leave() { --depth; }
    } leave{regionDepth_};
    Graph body("region");
    while (!isPunct("}")) {
      if (tok_.kind == Tok::End)
        return errorHere(fmt::format("expected '}}' to close the region of %{}", owner));
      KILN_TRY(parseStatement(body, true));
    }
    consume();
    return body;
  }

  template <typename T> Status located(const Token &at, const Expected<T> &r) const {
    if (!r)
      return errorAt(at, r.error().message);
    return {};
  }
  Status located(const Token &at, const Status &r) const {
    if (!r)
      return errorAt(at, r.error().message);
    return {};
  }

  /// How deep fused regions may nest (kiln's fuser makes one level).
  static constexpr int kMaxRegionDepth = 16;
  int regionDepth_ = 0;
  Lexer lex_;
  Token tok_;
  std::string file_;
  ParseOptions options_;
};

} // namespace

Expected<Graph> parse(std::string_view text, std::string_view filename, const ParseOptions &options) {
  return Parser(text, filename, options).parseFile();
}

Expected<Graph> parseFile(const std::string &path, const ParseOptions &options) {
  auto text = readFile(path);
  if (!text)
    return text.error();
  return parse(*text, path, options);
}

} // namespace kiln::ir
