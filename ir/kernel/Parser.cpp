//===- ir/kernel/Parser.cpp - Reading the kernel IR's text ----------------===//
#include "ir/kernel/Parser.h"

#include "ir/TypeRules.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>

namespace kiln::kernel {

namespace {

using ir::OpKind;

class Parser {
public:
  explicit Parser(std::string_view text) : t_(text) {}

  Expected<std::vector<Kernel>> run() {
    std::vector<Kernel> out;
    while (true) {
      skipSpace();
      if (p_ >= t_.size())
        return out;
      KILN_ASSIGN(Kernel k, kernel());
      out.push_back(std::move(k));
    }
  }

private:
  // --- Characters and tokens ---------------------------------------------------

  void skipSpace() {
    while (p_ < t_.size()) {
      if (std::isspace(static_cast<unsigned char>(t_[p_]))) {
        ++p_;
      } else if (t_.substr(p_, 2) == "//") {
        while (p_ < t_.size() && t_[p_] != '\n')
          ++p_;
      } else {
        break;
      }
    }
  }

  Error failAt(size_t at, std::string_view what) {
    p_ = at;
    return fail(what);
  }

  Error fail(std::string_view what) const {
    size_t line = 1 + static_cast<size_t>(std::count(t_.begin(), t_.begin() + static_cast<long>(p_), '\n'));
    size_t start = t_.rfind('\n', p_ == 0 ? 0 : p_ - 1);
    size_t col = p_ - (start == std::string_view::npos ? 0 : start + 1) + 1;
    if (p_ > 0 && t_[p_ - 1] == '\n')
      col = 1;
    return makeError("kernel IR {}:{}: {}", line, col, what);
  }

  bool peek(std::string_view s) {
    skipSpace();
    return t_.substr(p_, s.size()) == s;
  }

  bool accept(std::string_view s) {
    if (!peek(s))
      return false;
    p_ += s.size();
    return true;
  }

  Status expect(std::string_view s) {
    if (!accept(s))
      return fail(fmt::format("expected '{}'", s));
    return {};
  }

  static bool nameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }

  /// A name, plain or quoted as the printer quotes one that is not a plain
  /// identifier (`"0"`, `"a b"`).
  Expected<std::string> name() {
    skipSpace();
    if (p_ < t_.size() && t_[p_] == '"') {
      std::string out;
      for (size_t i = p_ + 1; i < t_.size(); ++i) {
        if (t_[i] == '"') {
          p_ = i + 1;
          return out;
        }
        if (t_[i] == '\\' && i + 1 < t_.size())
          ++i;
        out += t_[i];
      }
      return fail("a quoted name without its closing quote");
    }
    size_t b = p_;
    while (p_ < t_.size() && nameChar(t_[p_]))
      ++p_;
    if (b == p_)
      return fail("expected a name");
    return std::string(t_.substr(b, p_ - b));
  }

  /// A word is a name the keyword matches whole (`for` not `format`).
  bool acceptWord(std::string_view w) {
    skipSpace();
    if (t_.substr(p_, w.size()) != w || (p_ + w.size() < t_.size() && nameChar(t_[p_ + w.size()])))
      return false;
    p_ += w.size();
    return true;
  }

  Expected<int64_t> integer() {
    skipSpace();
    int64_t v = 0;
    auto [ptr, ec] = std::from_chars(t_.data() + p_, t_.data() + t_.size(), v);
    if (ec != std::errc())
      return fail("expected an integer");
    p_ = static_cast<size_t>(ptr - t_.data());
    return v;
  }

  /// `i12` or `acc3`: the id after the prefix.
  Expected<int> numbered(std::string_view prefix) {
    skipSpace();
    if (t_.substr(p_, prefix.size()) != prefix)
      return fail(fmt::format("expected {}N", prefix));
    p_ += prefix.size();
    KILN_ASSIGN(int64_t v, integer());
    numVars_ = std::max(numVars_, static_cast<int>(v) + 1);
    return static_cast<int>(v);
  }

  // --- Kernels and statements --------------------------------------------------

  Expected<Kernel> kernel() {
    KILN_TRY(expect("kernel"));
    KILN_TRY(expect("@"));
    Kernel k;
    KILN_ASSIGN(k.name, name());
    KILN_TRY(expect("("));
    while (!accept(")")) {
      if (!k.buffers.empty())
        KILN_TRY(expect(","));
      Buffer b;
      if (acceptWord("out"))
        b.output = true;
      else if (acceptWord("shared")) {
        KILN_TRY(expect("scratch"));
        b.scratch = b.shared = true;
      } else if (acceptWord("workgroup")) {
        b.scratch = b.workgroup = true;
      } else if (acceptWord("scratch"))
        b.scratch = true;
      KILN_ASSIGN(b.name, name());
      KILN_TRY(expect(":"));
      KILN_ASSIGN(b.type, dtype());
      KILN_TRY(expect("["));
      KILN_ASSIGN(b.elements, integer());
      KILN_TRY(expect("]"));
      k.buffers.push_back(std::move(b));
    }
    k_ = &k;
    numVars_ = 0;
    accTypes_.clear();
    KILN_TRY(expect("{"));
    KILN_ASSIGN(k.body, block(true));
    if (acceptWord("finish")) {
      KILN_TRY(expect("{"));
      KILN_ASSIGN(k.finish, block(false));
      KILN_TRY(expect("}"));
    }
    k.numVars = numVars_;
    k_ = nullptr;
    return k;
  }

  Expected<ir::DType> dtype() {
    skipSpace();
    size_t at = p_;
    KILN_ASSIGN(std::string n, name());
    auto t = ir::parseDType(n);
    if (!t)
      return failAt(at, fmt::format("unknown dtype '{}'", n));
    return *t;
  }

  /// Statements up to the closing brace (consumed), or up to `finish` in a
  /// kernel's body.
  Expected<Block> block(bool body) {
    Block b;
    while (true) {
      if (accept("}"))
        return b;
      if (body && peek("finish"))
        return b;
      KILN_ASSIGN(Stmt s, stmt());
      b.push_back(std::move(s));
    }
  }

  Expected<Stmt> stmt() {
    if (acceptWord("for"))
      return forLoop();
    if (acceptWord("tile"))
      return tile();
    if (acceptWord("barrier"))
      return barrier();
    skipSpace();
    if (t_.substr(p_, 3) == "acc" && p_ + 3 < t_.size() && std::isdigit(static_cast<unsigned char>(t_[p_ + 3])))
      return accumulator();
    KILN_ASSIGN(int buffer, bufferRef());
    KILN_TRY(expect("["));
    KILN_ASSIGN(ExprRef index, expr(ir::DType::I64));
    KILN_TRY(expect("]"));
    KILN_TRY(expect("="));
    KILN_ASSIGN(ExprRef value, expr(k_->buffers[static_cast<size_t>(buffer)].type));
    return store(buffer, std::move(index), std::move(value));
  }

  Expected<Stmt> forLoop() {
    LoopKind kind = acceptWord("parallel") ? LoopKind::Parallel
                    : acceptWord("vector") ? LoopKind::Vector
                    : acceptWord("block")  ? LoopKind::Block
                    : acceptWord("thread") ? LoopKind::Thread
                                           : LoopKind::Serial;
    KILN_ASSIGN(int var, numbered("i"));
    KILN_TRY(expect("in"));
    KILN_TRY(expect("0.."));
    int64_t extent = 0;
    ExprRef limit;
    if (acceptWord("min")) {
      KILN_TRY(expect("("));
      KILN_ASSIGN(extent, integer());
      KILN_TRY(expect(","));
      KILN_ASSIGN(limit, expr(ir::DType::I64));
      KILN_TRY(expect(")"));
    } else {
      KILN_ASSIGN(extent, integer());
    }
    KILN_TRY(expect("{"));
    extents_[var] = extent;
    KILN_ASSIGN(Block body, block(false));
    Stmt s = loop(var, extent, kind, std::move(body));
    s.limit = std::move(limit);
    return s;
  }

  Expected<Stmt> accumulator() {
    KILN_ASSIGN(int id, numbered("acc"));
    if (accept(":")) { // a declaration: accN : type = value
      KILN_ASSIGN(ir::DType t, dtype());
      KILN_TRY(expect("="));
      accTypes_[id] = t;
      KILN_ASSIGN(ExprRef v, expr(t));
      return accInit(id, std::move(v));
    }
    auto t = accTypes_.find(id);
    if (t == accTypes_.end())
      return fail(fmt::format("accumulator acc{} is updated before its declaration", id));
    KILN_TRY(expect("="));
    bool overBlock = acceptWord("block");
    KILN_ASSIGN(std::string op, name());
    const ir::OpInfo *info = ir::findOp(op);
    if (!info)
      return fail(fmt::format("unknown op '{}'", op));
    KILN_TRY(expect("("));
    KILN_ASSIGN(int self, numbered("acc"));
    if (self != id)
      return fail(fmt::format("acc{} is updated from acc{}", id, self));
    if (overBlock) { // accN = block OP(accN)
      KILN_TRY(expect(")"));
      return blockReduce(id, info->kind);
    }
    KILN_TRY(expect(","));
    KILN_ASSIGN(ExprRef v, expr(t->second));
    KILN_TRY(expect(")"));
    return accUpdate(id, info->kind, std::move(v));
  }

  /// tile MRxNR C[c ..., ldc L] += A[a ...(, aRow x aK)] * B[b ...(, rows bK apart)]
  ///   over k in 0..depth( x count (a +s, b +s))* (vector lanes)( (from zero if e))
  Expected<Stmt> tile() {
    Tile t;
    KILN_ASSIGN(t.mr, integer());
    KILN_TRY(expect("x"));
    KILN_ASSIGN(t.nr, integer());
    KILN_ASSIGN(int c, bufferRef());
    KILN_TRY(expect("["));
    KILN_ASSIGN(ExprRef cIndex, expr(ir::DType::I64));
    KILN_TRY(expect("..."));
    KILN_TRY(expect(","));
    KILN_TRY(expect("ldc"));
    KILN_ASSIGN(t.ldc, integer());
    KILN_TRY(expect("]"));
    KILN_TRY(expect("+="));
    KILN_ASSIGN(t.a, bufferRef());
    KILN_TRY(expect("["));
    KILN_ASSIGN(t.aIndex, expr(ir::DType::I64));
    KILN_TRY(expect("..."));
    if (accept(",")) {
      KILN_ASSIGN(t.aRow, integer());
      KILN_TRY(expect("x"));
      KILN_ASSIGN(t.aK, integer());
    }
    KILN_TRY(expect("]"));
    KILN_TRY(expect("*"));
    KILN_ASSIGN(t.b, bufferRef());
    KILN_TRY(expect("["));
    KILN_ASSIGN(t.bIndex, expr(ir::DType::I64));
    KILN_TRY(expect("..."));
    if (accept(",")) {
      KILN_TRY(expect("rows"));
      KILN_ASSIGN(t.bK, integer());
      KILN_TRY(expect("apart"));
    }
    KILN_TRY(expect("]"));
    KILN_TRY(expect("over"));
    KILN_TRY(expect("k"));
    KILN_TRY(expect("in"));
    KILN_TRY(expect("0.."));
    KILN_ASSIGN(t.depth, expr(ir::DType::I64));
    while (acceptWord("x")) {
      Tile::Around a;
      KILN_ASSIGN(a.count, expr(ir::DType::I64));
      KILN_TRY(expect("("));
      KILN_TRY(expect("a"));
      KILN_TRY(expect("+"));
      KILN_ASSIGN(a.aStride, integer());
      KILN_TRY(expect(","));
      KILN_TRY(expect("b"));
      KILN_TRY(expect("+"));
      KILN_ASSIGN(a.bStride, integer());
      KILN_TRY(expect(")"));
      t.around.push_back(std::move(a));
    }
    KILN_TRY(expect("("));
    KILN_TRY(expect("vector"));
    KILN_ASSIGN(t.lanes, integer());
    KILN_TRY(expect(")"));
    if (accept("(")) {
      KILN_TRY(expect("from"));
      KILN_TRY(expect("zero"));
      KILN_TRY(expect("if"));
      KILN_ASSIGN(t.fresh, expr(ir::DType::I64));
      KILN_TRY(expect(")"));
    }
    return tileFma(c, std::move(cIndex), std::move(t));
  }

  Expected<int> bufferRef() {
    skipSpace();
    size_t at = p_;
    KILN_ASSIGN(std::string n, name());
    for (size_t i = 0; i < k_->buffers.size(); ++i)
      if (k_->buffers[i].name == n)
        return static_cast<int>(i);
    return failAt(at, fmt::format("kernel {} has no buffer '{}'", k_->name, n));
  }

  // --- Expressions -------------------------------------------------------------
  // `expected` is the type the context gives (nullopt: none); constants take
  // it, and a constant among an op's operands takes its siblings' type.

  Expected<ExprRef> expr(std::optional<ir::DType> expected) {
    KILN_ASSIGN(ExprRef lhs, product(expected));
    while (true) {
      OpKind k = OpKind::Add;
      if (accept("- ")) // binary minus has a space after it; "-1" is a number
        k = OpKind::Sub;
      else if (!accept("+"))
        return lhs;
      KILN_ASSIGN(ExprRef rhs, product(ir::DType::I64));
      lhs = op(k, ir::DType::I64, {std::move(lhs), std::move(rhs)});
    }
  }

  Expected<ExprRef> product(std::optional<ir::DType> expected) {
    KILN_ASSIGN(ExprRef lhs, primary(expected));
    while (true) {
      OpKind k = OpKind::Mul;
      if (accept("/"))
        k = OpKind::Div;
      else if (!accept("*"))
        return lhs;
      KILN_ASSIGN(ExprRef rhs, primary(ir::DType::I64));
      lhs = op(k, ir::DType::I64, {std::move(lhs), std::move(rhs)});
    }
  }

  Expected<ExprRef> primary(std::optional<ir::DType> expected) {
    // Expressions nest by recursion: a bound keeps hostile text from
    // overflowing the stack.
    if (++depth_ > kMaxDepth)
      return fail(fmt::format("expressions nest deeper than {}", kMaxDepth));
    auto e = primaryAt(expected);
    --depth_;
    return e;
  }

  Expected<ExprRef> primaryAt(std::optional<ir::DType> expected) {
    if (accept("(")) {
      KILN_ASSIGN(ExprRef e, expr(expected));
      KILN_TRY(expect(")"));
      return e;
    }
    skipSpace();
    if (p_ < t_.size() && (std::isdigit(static_cast<unsigned char>(t_[p_])) || t_[p_] == '-'))
      return number(expected);
    size_t at = p_;
    KILN_ASSIGN(std::string n, name());
    if (n == "true" || n == "false")
      return imm(n == "true" ? 1 : 0, ir::DType::Bool);
    if (n == "inf" || n == "nan")
      return imm(n == "inf" ? INFINITY : NAN, expected.value_or(ir::DType::F32));
    if (accept("[")) {
      int b = -1;
      for (size_t i = 0; i < k_->buffers.size(); ++i)
        if (k_->buffers[i].name == n)
          b = static_cast<int>(i);
      if (b < 0)
        return failAt(at, fmt::format("kernel {} has no buffer '{}'", k_->name, n));
      KILN_ASSIGN(ExprRef idx, expr(ir::DType::I64));
      KILN_TRY(expect("]"));
      return load(b, k_->buffers[static_cast<size_t>(b)].type, std::move(idx));
    }
    if (accept("(")) {
      if (auto t = ir::parseDType(n)) {
        KILN_ASSIGN(ExprRef x, expr(std::nullopt));
        KILN_TRY(expect(")"));
        auto e = std::make_shared<Expr>();
        e->kind = Expr::Cast;
        e->type = *t;
        e->args = {std::move(x)};
        return ExprRef(std::move(e));
      }
      return call(at, n, expected);
    }
    if (auto id = numberedName(n, "acc")) {
      auto t = accTypes_.find(*id);
      if (t == accTypes_.end())
        return failAt(at, fmt::format("accumulator acc{} is read before its declaration", *id));
      return acc(*id, t->second);
    }
    if (auto id = numberedName(n, "i")) {
      numVars_ = std::max(numVars_, *id + 1);
      auto e = extents_.find(*id);
      return index(*id, e == extents_.end() ? 0 : e->second);
    }
    return failAt(at, fmt::format("unknown name '{}' in an expression", n));
  }

  static std::optional<int> numberedName(const std::string &n, std::string_view prefix) {
    if (n.size() <= prefix.size() || n.compare(0, prefix.size(), prefix) != 0)
      return std::nullopt;
    int v = 0;
    auto [ptr, ec] = std::from_chars(n.data() + prefix.size(), n.data() + n.size(), v);
    if (ec != std::errc() || ptr != n.data() + n.size())
      return std::nullopt;
    return v;
  }

  Expected<ExprRef> number(std::optional<ir::DType> expected) {
    skipSpace();
    size_t b = p_;
    if (t_[p_] == '-')
      ++p_;
    if (t_.substr(p_, 3) == "inf") {
      p_ += 3;
      return imm(-INFINITY, expected.value_or(ir::DType::F32));
    }
    while (p_ < t_.size() && (std::isalnum(static_cast<unsigned char>(t_[p_])) || t_[p_] == '.' ||
                              ((t_[p_] == '-' || t_[p_] == '+') && (t_[p_ - 1] == 'e' || t_[p_ - 1] == 'E'))))
      ++p_;
    std::string text(t_.substr(b, p_ - b));
    double v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || ptr != text.data() + text.size())
      return fail(fmt::format("bad number '{}'", text));
    bool integral = text.find_first_of(".e") == std::string::npos;
    return imm(v, expected.value_or(integral ? ir::DType::I64 : ir::DType::F32));
  }

  /// op(args): an elementwise primitive of the table.
  Expected<ExprRef> call(size_t at, const std::string &n, std::optional<ir::DType> expected) {
    const ir::OpInfo *info = ir::findOp(n);
    if (!info)
      return failAt(at, fmt::format("unknown op '{}'", n));
    bool compare = info->infer == ir::inferCompare || info->infer == ir::inferLogical;
    bool select = info->kind == OpKind::Select;
    std::vector<ExprRef> args;
    while (!accept(")")) {
      if (!args.empty())
        KILN_TRY(expect(","));
      std::optional<ir::DType> want = compare ? std::nullopt : expected;
      if (select)
        want = args.empty() ? std::optional(ir::DType::Bool) : expected;
      KILN_ASSIGN(ExprRef a, expr(want));
      args.push_back(std::move(a));
    }
    // Constants among the operands take the type of the others.
    size_t from = select ? 1 : 0;
    std::optional<ir::DType> sibling;
    for (size_t i = from; i < args.size(); ++i)
      if (args[i]->kind != Expr::Imm)
        sibling = args[i]->type;
    if (sibling)
      for (size_t i = from; i < args.size(); ++i)
        if (args[i]->kind == Expr::Imm && args[i]->type != *sibling)
          args[i] = imm(args[i]->imm, *sibling);
    if (args.empty())
      return fail(fmt::format("op '{}' without operands", n));
    ir::DType t = primitiveType(info->kind, args);
    return op(info->kind, t, std::move(args));
  }

  static constexpr int kMaxDepth = 500;
  std::string_view t_;
  size_t p_ = 0;
  int depth_ = 0;
  const Kernel *k_ = nullptr;
  int numVars_ = 0;
  std::map<int, ir::DType> accTypes_;
  std::map<int, int64_t> extents_;
};

} // namespace

Expected<std::vector<Kernel>> parse(std::string_view text) { return Parser(text).run(); }

} // namespace kiln::kernel
