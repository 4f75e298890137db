//===- ir/kernel/Kernel.cpp - The loop-level kernel IR ---------------------===//
#include "ir/kernel/Kernel.h"

#include "ir/Printer.h"

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

ExprRef index(int loopVar) {
  auto e = make(Expr::Var, DType::I64);
  e->var = loopVar;
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

ExprRef op(ir::OpKind k, DType t, std::vector<ExprRef> args, std::vector<double> params) {
  auto e = make(Expr::Op, t);
  e->op = k;
  e->args = std::move(args);
  e->params = std::move(params);
  return e;
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

namespace {

std::string printExpr(const Kernel &k, const ExprRef &e) {
  switch (e->kind) {
  case Expr::Imm: return ir::printElement(e->type, e->imm);
  case Expr::Var: return fmt::format("i{}", e->var);
  case Expr::Acc: return fmt::format("acc{}", e->var);
  case Expr::Load:
    return fmt::format("{}[{}]", k.buffers[static_cast<size_t>(e->var)].name, printExpr(k, e->args[0]));
  case Expr::Cast: return fmt::format("{}({})", ir::dtypeName(e->type), printExpr(k, e->args[0]));
  case Expr::Op: break;
  }
  if (e->type == DType::I64 && e->args.size() == 2 && (e->op == ir::OpKind::Add || e->op == ir::OpKind::Mul)) {
    bool mul = e->op == ir::OpKind::Mul;
    auto side = [&](const ExprRef &a) { // a sum under a product needs parentheses
      std::string t = printExpr(k, a);
      bool sum = a->kind == Expr::Op && a->op == ir::OpKind::Add && a->type == DType::I64;
      return mul && sum ? "(" + t + ")" : t;
    };
    return fmt::format("{} {} {}", side(e->args[0]), mul ? "*" : "+", side(e->args[1]));
  }
  std::string out = fmt::format("{}(", ir::opInfo(e->op).name);
  for (size_t i = 0; i < e->args.size(); ++i)
    out += (i ? ", " : "") + printExpr(k, e->args[i]);
  for (double p : e->params)
    out += fmt::format(", {}", ir::printDouble(p));
  return out + ")";
}

void printBlock(const Kernel &k, const Block &b, const std::string &indent, std::string &out) {
  for (const Stmt &s : b) {
    switch (s.kind) {
    case Stmt::Loop: {
      const char *kind = s.loop == LoopKind::Parallel ? " parallel" : s.loop == LoopKind::Vector ? " vector" : "";
      out += fmt::format("{}for{} i{} in 0..{} {{\n", indent, kind, s.var, s.extent);
      printBlock(k, s.body, indent + "  ", out);
      out += indent + "}\n";
      break;
    }
    case Stmt::Store:
      out += fmt::format("{}{}[{}] = {}\n", indent, k.buffers[static_cast<size_t>(s.buffer)].name,
                         printExpr(k, s.index), printExpr(k, s.value));
      break;
    case Stmt::AccInit: out += fmt::format("{}acc{} = {}\n", indent, s.var, printExpr(k, s.value)); break;
    case Stmt::AccUpdate:
      out += fmt::format("{}acc{} = {}(acc{}, {})\n", indent, s.var, ir::opInfo(s.combine).name, s.var,
                         printExpr(k, s.value));
      break;
    }
  }
}

} // namespace

std::string print(const Kernel &k) {
  std::string out = fmt::format("kernel @{}(", k.name);
  for (size_t i = 0; i < k.buffers.size(); ++i) {
    const Buffer &b = k.buffers[i];
    out += fmt::format("{}{}{} : {}[{}]", i ? ", " : "", b.output ? "out " : "", b.name, ir::dtypeName(b.type),
                       b.elements);
  }
  out += ") {\n";
  printBlock(k, k.body, "  ", out);
  return out + "}\n";
}

} // namespace kiln::kernel
