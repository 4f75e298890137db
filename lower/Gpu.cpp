//===- lower/Gpu.cpp - The GPU's schedules ----------------------------------===//
//
// A GPU wants one thread per result element (or per small block of them),
// tens of thousands at once, and neighbouring threads reading neighbouring
// addresses. So on a GPU Machine:
//
// - every kernel's parallel nest (the result loops, outermost parallel)
//   becomes one flat parallel loop over their product, the coordinates
//   recovered by division: the CUDA backend runs it as a grid-stride loop
//   whose consecutive threads take consecutive elements of the result's
//   storage order (coalesced stores; elementwise chains with their
//   broadcasts and layout conversions are one kernel as on the CPU);
// - a contraction (matmul, conv and its two gradients as implicit im2col
//   contractions) gives each thread a TM x TN register block of C, summed
//   over k straight from the accessors (prologues and padding guards
//   included), the epilogue stored from the block;
// - reductions keep one accumulator per result element in its thread.
//
//===----------------------------------------------------------------------===//
#include "lower/Lowerer.h"

#include <unordered_map>

namespace kiln::lower {

Machine defaultGpuMachine() {
  Machine m;
  m.vectorBytes = 4;
  m.threads = 1;
  m.gpuSms = 132;
  m.warpSize = 32;
  m.sharedBytes = 48 * 1024;
  m.gpuArch = 90;
  return m;
}

namespace detail {

namespace {

/// Replaces loop variables by expressions, keeping shared subtrees shared.
struct Substitute {
  std::unordered_map<int, ExprRef> vars;
  std::unordered_map<const Expr *, ExprRef> done;

  ExprRef expr(const ExprRef &e) {
    if (!e)
      return e;
    if (auto it = done.find(e.get()); it != done.end())
      return it->second;
    ExprRef out = e;
    if (e->kind == Expr::Var) {
      if (auto v = vars.find(e->var); v != vars.end())
        out = v->second;
    } else if (!e->args.empty()) {
      std::vector<ExprRef> args;
      bool changed = false;
      for (const ExprRef &a : e->args) {
        args.push_back(expr(a));
        changed = changed || args.back() != a;
      }
      if (changed) {
        auto copy = std::make_shared<Expr>(*e);
        copy->args = std::move(args);
        out = copy;
      }
    }
    done.emplace(e.get(), out);
    return out;
  }

  void block(Block &b) {
    for (Stmt &s : b) {
      s.limit = expr(s.limit);
      s.index = expr(s.index);
      s.value = expr(s.value);
      Tile &t = s.tile;
      t.aIndex = expr(t.aIndex), t.bIndex = expr(t.bIndex), t.depth = expr(t.depth), t.fresh = expr(t.fresh);
      for (Tile::Around &a : t.around)
        a.count = expr(a.count);
      block(s.body);
    }
  }
};

} // namespace

/// The parallel loop ending k's body and the loops perfectly nested in it
/// (each the only statement of the one around it, without a computed trip
/// count) as one parallel loop over their product.
void flattenParallelNest(Kernel &k) {
  if (k.parallelExtent() == 0)
    return;
  std::vector<Stmt *> chain{&k.body.back()};
  while (chain.back()->body.size() == 1 && chain.back()->body[0].kind == Stmt::Loop && !chain.back()->body[0].limit &&
         chain.back()->body[0].loop != LoopKind::Parallel)
    chain.push_back(&chain.back()->body[0]);
  if (chain.size() < 2)
    return;
  int64_t total = 1;
  for (const Stmt *l : chain)
    total *= l->extent;
  int flat = k.numVars++;
  Substitute sub;
  ExprRef q = index(flat, total); // flat / (the extents inside loop i)
  for (size_t i = chain.size(); i-- > 0;) {
    int64_t e = chain[i]->extent;
    sub.vars[chain[i]->var] = e == 1 ? imm(0, DType::I64) : i == 0 ? q : remIdx(q, e);
    q = divIdx(q, e);
  }
  Block inner = std::move(chain.back()->body);
  sub.block(inner);
  k.body.back() = loop(flat, total, LoopKind::Parallel, std::move(inner));
}

bool Lowerer::lowerGemmGpu(const Gemm &g) {
  DType t = r_.type(r_.nodes()[static_cast<size_t>(anchor_)].results[0]).dtype;
  const int64_t tm = std::min<int64_t>(4, g.m), tn = std::min<int64_t>(4, g.n);
  const int64_t tilesM = (g.m + tm - 1) / tm, tilesN = (g.n + tn - 1) / tn;
  auto I = [](int64_t v) { return imm(static_cast<double>(v), DType::I64); };
  int f = newVar(), kk = newVar();
  ExprRef tile = index(f, tilesM * tilesN);
  ExprRef i0 = mulIdx(divIdx(tile, tilesN), tm), j0 = mulIdx(remIdx(tile, tilesN), tn);
  // Rows and columns past the edge are clamped into C (their results are
  // not stored), so every load and store stays inside its buffer.
  std::vector<ExprRef> rows, cols;
  for (int64_t r = 0; r < tm; ++r)
    rows.push_back(g.m % tm == 0 ? addIdx(i0, I(r)) : minIdx(addIdx(i0, I(r)), I(g.m - 1)));
  for (int64_t c = 0; c < tn; ++c)
    cols.push_back(g.n % tn == 0 ? addIdx(j0, I(c)) : minIdx(addIdx(j0, I(c)), I(g.n - 1)));
  std::vector<ExprRef> as, bs;
  for (int64_t r = 0; r < tm; ++r)
    as.push_back(g.a(rows[static_cast<size_t>(r)], index(kk, g.k)));
  for (int64_t c = 0; c < tn; ++c)
    bs.push_back(g.b(index(kk, g.k), cols[static_cast<size_t>(c)]));
  Block body, sums;
  std::vector<int> accs;
  for (int64_t r = 0; r < tm; ++r)
    for (int64_t c = 0; c < tn; ++c) {
      accs.push_back(newVar());
      body.push_back(accInit(accs.back(), imm(0, t)));
      sums.push_back(accUpdate(accs.back(), OpKind::Add,
                               op(OpKind::Mul, t, {as[static_cast<size_t>(r)], bs[static_cast<size_t>(c)]})));
    }
  body.push_back(loop(kk, g.k, LoopKind::Serial, std::move(sums)));
  for (int64_t r = 0; r < tm; ++r)
    for (int64_t c = 0; c < tn; ++c) {
      anchorValue_ = acc(accs[static_cast<size_t>(r * tn + c)], t);
      Coords at = g.out(rows[static_cast<size_t>(r)], cols[static_cast<size_t>(c)]);
      Block store;
      for (size_t y = 0; y < r_.outputs().size(); ++y)
        store.push_back(storeYield(y, at));
      // Stored only where the block is inside C: a loop of at most one trip.
      bool edge = g.m % tm != 0 || g.n % tn != 0;
      if (!edge) {
        for (Stmt &s : store)
          body.push_back(std::move(s));
        continue;
      }
      ExprRef inside = minIdx(addIdx(I(g.m - r), mulIdx(i0, -1)), addIdx(I(g.n - c), mulIdx(j0, -1)));
      body.push_back(loopUpTo(newVar(), 1, inside, LoopKind::Serial, std::move(store)));
    }
  k_.body = {loop(f, tilesM * tilesN, LoopKind::Parallel, std::move(body))};
  return true;
}

} // namespace detail

} // namespace kiln::lower
