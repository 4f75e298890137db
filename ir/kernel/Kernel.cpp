//===- ir/kernel/Kernel.cpp - The loop-level kernel IR ---------------------===//
#include "ir/kernel/Kernel.h"

#include "ir/Printer.h"
#include "ir/TypeRules.h"

#include <algorithm>
#include <cctype>

namespace kiln::kernel {

namespace {
std::shared_ptr<Expr> make(Expr::Kind kind, DType type) {
  auto e = std::make_shared<Expr>();
  e->kind = kind;
  e->type = type;
  return e;
}
} // namespace

ExprRef imm(double v, DType t) {
  auto e = make(Expr::Imm, t);
  e->imm = v;
  return e;
}

ExprRef index(int loopVar, int64_t extent) {
  auto e = make(Expr::Var, DType::I64);
  e->var = loopVar;
  e->imm = static_cast<double>(extent);
  return e;
}

ExprRef load(int buffer, DType t, ExprRef idx) {
  auto e = make(Expr::Load, t);
  e->var = buffer;
  e->args = {std::move(idx)};
  return e;
}

ExprRef acc(int id, DType t) {
  auto e = make(Expr::Acc, t);
  e->var = id;
  return e;
}

ExprRef op(ir::OpKind k, DType t, std::vector<ExprRef> args) {
  auto e = make(Expr::Op, t);
  e->op = k;
  e->args = std::move(args);
  return e;
}

DType primitiveType(ir::OpKind k, std::span<const ExprRef> args) {
  const ir::OpInfo &info = ir::opInfo(k);
  if (info.infer == ir::inferCompare || info.infer == ir::inferLogical)
    return DType::Bool;
  if (k == ir::OpKind::Select && args.size() > 1)
    return args[1]->type;
  return args.empty() ? DType::F32 : args[0]->type;
}

ExprRef cast(ExprRef x, DType t) {
  if (x->type == t)
    return x;
  auto e = make(Expr::Cast, t);
  e->args = {std::move(x)};
  return e;
}

ExprRef addIdx(ExprRef a, ExprRef b) {
  if (a->kind == Expr::Imm && a->imm == 0)
    return b;
  if (b->kind == Expr::Imm && b->imm == 0)
    return a;
  if (a->kind == Expr::Imm && b->kind == Expr::Imm)
    return imm(a->imm + b->imm, DType::I64);
  return op(ir::OpKind::Add, DType::I64, {std::move(a), std::move(b)});
}

ExprRef mulIdx(ExprRef a, int64_t c) {
  if (c == 0)
    return imm(0, DType::I64);
  if (c == 1)
    return a;
  if (a->kind == Expr::Imm)
    return imm(a->imm * static_cast<double>(c), DType::I64);
  return op(ir::OpKind::Mul, DType::I64, {std::move(a), imm(static_cast<double>(c), DType::I64)});
}

namespace {

int64_t immOf(const ExprRef &e) { return static_cast<int64_t>(e->imm); }
bool isOp(const ExprRef &e, ir::OpKind k) { return e->kind == Expr::Op && e->op == k && e->type == DType::I64; }
/// a * c or a / c with a constant c.
bool byConst(const ExprRef &e, ir::OpKind k) { return isOp(e, k) && e->args[1]->kind == Expr::Imm; }

/// Whether e is remIdx's a - a / c * c; `c` gets c.
bool isRem(const ExprRef &e, int64_t *c = nullptr) {
  if (!isOp(e, ir::OpKind::Sub) || !byConst(e->args[1], ir::OpKind::Mul))
    return false;
  const ExprRef &q = e->args[1]->args[0];
  bool rem = byConst(q, ir::OpKind::Div) && q->args[0] == e->args[0] && immOf(q->args[1]) == immOf(e->args[1]->args[1]);
  if (rem && c)
    *c = immOf(q->args[1]);
  return rem;
}

/// Whether index e is never negative: loop indices, non-negative constants,
/// and sums, products, quotients, remainders and minimums of them.
bool nonNegative(const ExprRef &e) {
  if (e->kind == Expr::Imm)
    return e->imm >= 0;
  if (e->kind == Expr::Var)
    return true;
  if (isRem(e))
    return nonNegative(e->args[0]);
  if (!(isOp(e, ir::OpKind::Add) || isOp(e, ir::OpKind::Mul) || isOp(e, ir::OpKind::Div) || isOp(e, ir::OpKind::Min)))
    return false;
  return std::all_of(e->args.begin(), e->args.end(), nonNegative);
}

/// An exclusive upper bound of non-negative index e, 0 when unknown.
int64_t upperBound(const ExprRef &e) {
  if (e->kind == Expr::Imm)
    return immOf(e) + 1;
  if (e->kind == Expr::Var)
    return immOf(e);
  if (isOp(e, ir::OpKind::Add)) {
    int64_t a = upperBound(e->args[0]), b = upperBound(e->args[1]);
    return a && b ? a + b - 1 : 0;
  }
  if (byConst(e, ir::OpKind::Mul)) {
    int64_t a = upperBound(e->args[0]);
    return a ? (a - 1) * immOf(e->args[1]) + 1 : 0;
  }
  if (int64_t c = 0; isRem(e, &c))
    return c;
  return 0;
}

/// Whether index e is a multiple of c.
bool multipleOf(const ExprRef &e, int64_t c) {
  if (e->kind == Expr::Imm)
    return immOf(e) % c == 0;
  if (byConst(e, ir::OpKind::Mul))
    return immOf(e->args[1]) % c == 0 || multipleOf(e->args[0], c);
  if (isOp(e, ir::OpKind::Add))
    return multipleOf(e->args[0], c) && multipleOf(e->args[1], c);
  return false;
}

} // namespace

// Division and remainder simplify the way im2col indexing needs (Halide's
// rules): (q * c + r) / c = q and (q * c + r) % c = r for 0 <= r < c, which
// a loop index of that extent is; so a flat index built from nested loops
// decomposes back into them without dividing.
ExprRef divIdx(ExprRef a, int64_t c) {
  if (c == 1)
    return a;
  if (a->kind == Expr::Imm)
    return imm(static_cast<double>(immOf(a) / c), DType::I64);
  if (nonNegative(a)) {
    if (int64_t b = upperBound(a); b && b <= c)
      return imm(0, DType::I64);
    if (byConst(a, ir::OpKind::Mul) && immOf(a->args[1]) % c == 0)
      return mulIdx(a->args[0], immOf(a->args[1]) / c);
    if (byConst(a, ir::OpKind::Div))
      return divIdx(a->args[0], immOf(a->args[1]) * c);
    if (isOp(a, ir::OpKind::Add))
      for (int side = 0; side < 2; ++side)
        if (multipleOf(a->args[static_cast<size_t>(side)], c))
          return addIdx(divIdx(a->args[static_cast<size_t>(side)], c), divIdx(a->args[static_cast<size_t>(1 - side)], c));
  }
  return op(ir::OpKind::Div, DType::I64, {std::move(a), imm(static_cast<double>(c), DType::I64)});
}

ExprRef remIdx(ExprRef a, int64_t c) {
  if (c == 1 || multipleOf(a, c))
    return imm(0, DType::I64);
  if (a->kind == Expr::Imm)
    return imm(static_cast<double>(immOf(a) % c), DType::I64);
  if (nonNegative(a)) {
    if (int64_t b = upperBound(a); b && b <= c)
      return a;
    if (isOp(a, ir::OpKind::Add))
      for (int side = 0; side < 2; ++side)
        if (multipleOf(a->args[static_cast<size_t>(side)], c))
          return remIdx(a->args[static_cast<size_t>(1 - side)], c);
  }
  return op(ir::OpKind::Sub, DType::I64, {a, mulIdx(divIdx(a, c), c)});
}

ExprRef minIdx(ExprRef a, ExprRef b) {
  if (a->kind == Expr::Imm && b->kind == Expr::Imm)
    return imm(std::min(a->imm, b->imm), DType::I64);
  return op(ir::OpKind::Min, DType::I64, {std::move(a), std::move(b)});
}

Stmt loopUpTo(int var, int64_t extent, ExprRef limit, LoopKind k, Block body) {
  Stmt s = loop(var, extent, k, std::move(body));
  if (!(limit->kind == Expr::Imm && static_cast<int64_t>(limit->imm) >= extent))
    s.limit = std::move(limit);
  return s;
}

Stmt tileFma(int c, ExprRef cIndex, Tile t) {
  Stmt s;
  s.kind = Stmt::TileFma;
  s.buffer = c;
  s.index = std::move(cIndex);
  s.tile = std::move(t);
  return s;
}

Stmt loop(int var, int64_t extent, LoopKind k, Block body) {
  Stmt s;
  s.kind = Stmt::Loop;
  s.var = var;
  s.extent = extent;
  s.loop = k;
  s.body = std::move(body);
  return s;
}

Stmt store(int buffer, ExprRef index, ExprRef value) {
  Stmt s;
  s.kind = Stmt::Store;
  s.buffer = buffer;
  s.index = std::move(index);
  s.value = std::move(value);
  return s;
}

Stmt accInit(int id, ExprRef value) {
  Stmt s;
  s.kind = Stmt::AccInit;
  s.var = id;
  s.value = std::move(value);
  return s;
}

Stmt accUpdate(int id, ir::OpKind combine, ExprRef value) {
  Stmt s;
  s.kind = Stmt::AccUpdate;
  s.var = id;
  s.combine = combine;
  s.value = std::move(value);
  return s;
}

Stmt barrier() {
  Stmt s;
  s.kind = Stmt::Barrier;
  return s;
}

Stmt blockReduce(int id, ir::OpKind combine) {
  Stmt s;
  s.kind = Stmt::BlockReduce;
  s.var = id;
  s.combine = combine;
  return s;
}

namespace {

/// A buffer's name as it reads back: plain when an identifier, else quoted.
std::string bufferName(const Kernel &k, int b) {
  const std::string &n = k.buffers[static_cast<size_t>(b)].name;
  bool plain = !n.empty() && !std::isdigit(static_cast<unsigned char>(n[0])) &&
               std::all_of(n.begin(), n.end(), [](char c) {
                 return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
               });
  if (plain)
    return n;
  std::string out = "\"";
  for (char c : n)
    out += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
  return out + "\"";
}

/// Whether an i64 sum, printed without parentheses, shows a `-` at its top
/// level (a sum right of another then needs them: the text reads back left
/// to right).
bool subtracts(const ExprRef &e) {
  if (e->kind != Expr::Op || e->type != DType::I64)
    return false;
  if (e->op == ir::OpKind::Sub)
    return true;
  return e->op == ir::OpKind::Add && (subtracts(e->args[0]) || subtracts(e->args[1]));
}

std::string printExpr(const Kernel &k, const ExprRef &e) {
  switch (e->kind) {
  case Expr::Imm: return ir::printElement(e->type, e->imm);
  case Expr::Var: return fmt::format("i{}", e->var);
  case Expr::Acc: return fmt::format("acc{}", e->var);
  case Expr::Load:
    return fmt::format("{}[{}]", bufferName(k, e->var), printExpr(k, e->args[0]));
  case Expr::Cast: return fmt::format("{}({})", ir::dtypeName(e->type), printExpr(k, e->args[0]));
  case Expr::Op: break;
  }
  auto infix = [](ir::OpKind op) -> const char * {
    switch (op) {
    case ir::OpKind::Add: return "+";
    case ir::OpKind::Sub: return "-";
    case ir::OpKind::Mul: return "*";
    case ir::OpKind::Div: return "/";
    default: return nullptr;
    }
  };
  if (e->type == DType::I64 && e->args.size() == 2 && infix(e->op)) {
    bool product = e->op == ir::OpKind::Mul || e->op == ir::OpKind::Div;
    auto isOp = [](const ExprRef &a, ir::OpKind k) { return a->kind == Expr::Op && a->op == k && a->type == DType::I64; };
    // A sum under a product or a difference needs parentheses, and so does a
    // product or quotient right of one: the text reads back left to right.
    auto side = [&](const ExprRef &a, bool right) {
      std::string t = printExpr(k, a);
      bool sum = isOp(a, ir::OpKind::Add) || isOp(a, ir::OpKind::Sub);
      bool prod = isOp(a, ir::OpKind::Mul) || isOp(a, ir::OpKind::Div);
      bool paren = ((product || e->op == ir::OpKind::Sub) && sum) || (right && product && prod) ||
                   (right && subtracts(a));
      return paren ? "(" + t + ")" : t;
    };
    return fmt::format("{} {} {}", side(e->args[0], false), infix(e->op), side(e->args[1], true));
  }
  std::string out = fmt::format("{}(", ir::opInfo(e->op).name);
  for (size_t i = 0; i < e->args.size(); ++i)
    out += (i ? ", " : "") + printExpr(k, e->args[i]);
  return out + ")";
}

void printBlock(const Kernel &k, const Block &b, const std::string &indent, std::string &out) {
  for (const Stmt &s : b) {
    switch (s.kind) {
    case Stmt::Loop: {
      const char *kind = "";
      switch (s.loop) {
      case LoopKind::Serial: break;
      case LoopKind::Parallel: kind = " parallel"; break;
      case LoopKind::Vector: kind = " vector"; break;
      case LoopKind::Block: kind = " block"; break;
      case LoopKind::Thread: kind = " thread"; break;
      }
      std::string bound = s.limit ? fmt::format("min({}, {})", s.extent, printExpr(k, s.limit)) : std::to_string(s.extent);
      out += fmt::format("{}for{} i{} in 0..{} {{\n", indent, kind, s.var, bound);
      printBlock(k, s.body, indent + "  ", out);
      out += indent + "}\n";
      break;
    }
    case Stmt::Store:
      out += fmt::format("{}{}[{}] = {}\n", indent, bufferName(k, s.buffer),
                         printExpr(k, s.index), printExpr(k, s.value));
      break;
    case Stmt::AccInit:
      out += fmt::format("{}acc{} : {} = {}\n", indent, s.var, ir::dtypeName(s.value->type), printExpr(k, s.value));
      break;
    case Stmt::AccUpdate:
      out += fmt::format("{}acc{} = {}(acc{}, {})\n", indent, s.var, ir::opInfo(s.combine).name, s.var,
                         printExpr(k, s.value));
      break;
    case Stmt::Barrier: out += indent + "barrier\n"; break;
    case Stmt::BlockReduce:
      out += fmt::format("{}acc{} = block {}(acc{})\n", indent, s.var, ir::opInfo(s.combine).name, s.var);
      break;
    case Stmt::TileFma: {
      const Tile &t = s.tile;
      auto name = [&](int b) { return bufferName(k, b); };
      std::string aStrides = t.aK ? fmt::format(", {} x {}", t.aRow, t.aK) : "";
      std::string bStride = t.bK ? fmt::format(", rows {} apart", t.bK) : "";
      std::string around;
      for (const Tile::Around &l : t.around)
        around += fmt::format(" x {} (a +{}, b +{})", printExpr(k, l.count), l.aStride, l.bStride);
      std::string fresh = t.fresh ? fmt::format(" (from zero if {})", printExpr(k, t.fresh)) : "";
      out += fmt::format("{}tile {}x{} {}[{} ..., ldc {}] += {}[{} ...{}] * {}[{} ...{}] over k in 0..{}{} (vector {}){}\n",
                         indent, t.mr, t.nr, name(s.buffer), printExpr(k, s.index), t.ldc, name(t.a),
                         printExpr(k, t.aIndex), aStrides, name(t.b), printExpr(k, t.bIndex), bStride,
                         printExpr(k, t.depth), around, t.lanes, fresh);
      break;
    }
    }
  }
}

} // namespace

std::string print(const Kernel &k) {
  std::string out = fmt::format("kernel @{}(", k.name);
  for (size_t i = 0; i < k.buffers.size(); ++i) {
    const Buffer &b = k.buffers[i];
    out += fmt::format("{}{}{} : {}[{}]", i ? ", " : "",
                       b.output      ? "out "
                       : b.shared    ? "shared scratch "
                       : b.workgroup ? "workgroup "
                       : b.scratch   ? "scratch "
                                     : "",
                       bufferName(k, static_cast<int>(i)),
                       ir::dtypeName(b.type), b.elements);
  }
  out += ") {\n";
  printBlock(k, k.body, "  ", out);
  if (!k.finish.empty()) {
    out += "  finish {\n";
    printBlock(k, k.finish, "    ", out);
    out += "  }\n";
  }
  return out + "}\n";
}

} // namespace kiln::kernel
