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
// - a contraction big enough for it (m and n at least 32) is tiled
//   instead: a block of 256 threads computes a 64 x 64 tile of C, staging
//   16-deep slices of A and B in shared memory (workgroup buffers, loaded
//   with coalesced reads along each operand's contiguous dim, out-of-range
//   elements as zeros) between barriers, each thread a 4 x 4 register block;
// - a reduction keeps one accumulator per result element in its thread,
//   unless the results are few and the reduction long (a loss, a bias
//   gradient): then a block of 256 threads reduces each result, each
//   thread a strided share of the reduced elements (consecutive threads,
//   consecutive elements), combined by warp shuffles and shared memory
//   (the block reduction statement), stored by thread 0.
//
//===----------------------------------------------------------------------===//
#include "lower/Lowerer.h"

#include <algorithm>
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

/// e rebuilt bottom up, shared subtrees once (`done`): each node with its
/// arguments rewritten goes through `node`, which may replace it (nullptr:
/// keep it, copied only if an argument changed).
template <class F>
ExprRef rewrite(const ExprRef &e, std::unordered_map<const Expr *, ExprRef> &done, const F &node) {
  if (!e)
    return e;
  if (auto it = done.find(e.get()); it != done.end())
    return it->second;
  std::vector<ExprRef> args;
  bool changed = false;
  for (const ExprRef &a : e->args) {
    args.push_back(rewrite(a, done, node));
    changed = changed || args.back() != a;
  }
  ExprRef out = e;
  if (changed) {
    auto copy = std::make_shared<Expr>(*e);
    copy->args = std::move(args);
    out = copy;
  }
  if (ExprRef replaced = node(out))
    out = replaced;
  done.emplace(e.get(), out);
  return out;
}

/// Every expression of every statement in b (and the loops inside) through f.
template <class F> void rewriteBlock(Block &b, const F &f) {
  for (Stmt &s : b) {
    s.limit = f(s.limit), s.index = f(s.index), s.value = f(s.value);
    Tile &t = s.tile;
    t.aIndex = f(t.aIndex), t.bIndex = f(t.bIndex), t.depth = f(t.depth), t.fresh = f(t.fresh);
    for (Tile::Around &a : t.around)
      a.count = f(a.count);
    rewriteBlock(s.body, f);
  }
}

/// Replaces loop variables by expressions, keeping shared subtrees shared.
struct Substitute {
  std::unordered_map<int, ExprRef> vars;
  std::unordered_map<const Expr *, ExprRef> done;

  ExprRef expr(const ExprRef &e) {
    return rewrite(e, done, [this](const ExprRef &n) -> ExprRef {
      auto v = n->kind == Expr::Var ? vars.find(n->var) : vars.end();
      return v != vars.end() ? v->second : nullptr;
    });
  }
  void block(Block &b) {
    rewriteBlock(b, [this](const ExprRef &e) { return expr(e); });
  }
};

bool mentions(const ExprRef &e, int var) {
  if (e->kind == Expr::Var && e->var == var)
    return true;
  return std::any_of(e->args.begin(), e->args.end(), [&](const ExprRef &a) { return mentions(a, var); });
}

/// Whether every store in b is at an index of loop `var` and b holds
/// nothing but stores and loops (no accumulator carried across its trips).
bool writesIndexedBy(const Block &b, int var) {
  return std::all_of(b.begin(), b.end(), [&](const Stmt &s) {
    if (s.kind == Stmt::Store)
      return mentions(s.index, var);
    return s.kind == Stmt::Loop && !s.limit && writesIndexedBy(s.body, var);
  });
}

} // namespace

/// The parallel loop ending k's body and the loops perfectly nested in it
/// (each the only statement of the one around it, without a computed trip
/// count) as one parallel loop over their product.
void flattenParallelNest(Kernel &k) {
  // A 1-D result's one loop (the CPU's vector loop, no parallel one): on a
  // GPU its elements are the threads' too.
  if (k.parallelExtent() == 0 && k.body.size() == 1 && k.body[0].kind == Stmt::Loop && !k.body[0].limit &&
      (k.body[0].loop == LoopKind::Vector || k.body[0].loop == LoopKind::Serial) &&
      writesIndexedBy(k.body[0].body, k.body[0].var))
    k.body[0].loop = LoopKind::Parallel;
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

/// A reduction kernel (a flat parallel loop over the results, each an
/// accumulator over a perfect nest of reduced loops) whose results are few
/// and reductions long, as blocks: one block a result (lower/Gpu.cpp's
/// header).
void blockReduceNest(Kernel &k) {
  constexpr int64_t kThreads = 256;
  if (k.parallelExtent() == 0 || !k.finish.empty() || k.body.size() != 1)
    return;
  Stmt &par = k.body.back();
  if (par.body.size() < 2 || par.body[0].kind != Stmt::AccInit || par.body[1].kind != Stmt::Loop)
    return;
  for (size_t i = 2; i < par.body.size(); ++i)
    if (par.body[i].kind != Stmt::Store)
      return;
  std::vector<Stmt *> chain{&par.body[1]};
  while (chain.back()->body.size() == 1 && chain.back()->body[0].kind == Stmt::Loop)
    chain.push_back(&chain.back()->body[0]);
  int64_t count = 1;
  for (const Stmt *l : chain) {
    if (l->limit || l->loop == LoopKind::Parallel)
      return;
    count *= l->extent;
  }
  Block &inner = chain.back()->body;
  int updates = 0;
  for (const Stmt &s : inner) {
    if (s.kind == Stmt::AccUpdate && s.var == par.body[0].var)
      ++updates;
    else if (s.kind != Stmt::Store)
      return;
  }
  // Enough results to fill the GPU one a thread, or too little to reduce:
  // the flat schedule.
  if (updates != 1 || par.extent > 2048 || count < 4 * kThreads)
    return;
  const int acc = par.body[0].var;
  const ir::OpKind combine = std::find_if(inner.begin(), inner.end(), [](const Stmt &s) {
                               return s.kind == Stmt::AccUpdate;
                             })->combine;
  int blk = k.numVars++, thr = k.numVars++, r = k.numVars++, guard = k.numVars++, first = k.numVars++;
  const int64_t rounds = (count + kThreads - 1) / kThreads;
  ExprRef e = addIdx(mulIdx(index(r, rounds), kThreads), index(thr, kThreads)); // the reduced element, flat
  Substitute sub;
  sub.vars[par.var] = index(blk, par.extent);
  // Clamped into the operand (the last round's threads past the end are
  // guarded off), so every index is provably inside its buffer.
  ExprRef q = count % kThreads == 0 ? e : minIdx(e, imm(static_cast<double>(count - 1), DType::I64));
  for (size_t i = chain.size(); i-- > 0;) {
    int64_t ext = chain[i]->extent;
    sub.vars[chain[i]->var] = ext == 1 ? imm(0, DType::I64) : i == 0 ? q : remIdx(q, ext);
    q = divIdx(q, ext);
  }
  Block sweep = std::move(inner), after(par.body.begin() + 2, par.body.end());
  Stmt init = std::move(par.body[0]);
  sub.block(sweep);
  sub.block(after);
  init.value = sub.expr(init.value);
  auto I = [](int64_t v) { return imm(static_cast<double>(v), DType::I64); };
  Block threadBody;
  threadBody.push_back(std::move(init));
  ExprRef left = addIdx(I(count), mulIdx(e, -1)); // at least 1 while e < count
  if (count % kThreads == 0) // every thread has an element in every round
    threadBody.push_back(loop(r, rounds, LoopKind::Serial, std::move(sweep)));
  else
    threadBody.push_back(loop(r, rounds, LoopKind::Serial, {loopUpTo(guard, 1, left, LoopKind::Serial, std::move(sweep))}));
  threadBody.push_back(blockReduce(acc, combine));
  ExprRef isFirst = addIdx(I(1), mulIdx(index(thr, kThreads), -1)); // 1 in thread 0
  threadBody.push_back(loopUpTo(first, 1, isFirst, LoopKind::Serial, std::move(after)));
  Stmt threads = loop(thr, kThreads, LoopKind::Thread, std::move(threadBody));
  k.body.back() = loop(blk, par.extent, LoopKind::Block, {std::move(threads)});
}

/// A register block's sums: an accumulator per pair of `as` and `bs`
/// (row-major in `accs`), declared at zero in `inits`; the updates by
/// as[i] * bs[j] returned.
Block Lowerer::outerProduct(const std::vector<ExprRef> &as, const std::vector<ExprRef> &bs, DType t, Block &inits,
                            std::vector<int> &accs) {
  Block sums;
  for (const ExprRef &a : as)
    for (const ExprRef &b : bs) {
      accs.push_back(newVar());
      inits.push_back(accInit(accs.back(), imm(0, t)));
      sums.push_back(accUpdate(accs.back(), OpKind::Add, op(OpKind::Mul, t, {a, b})));
    }
  return sums;
}

/// The tiled contraction (lower/Gpu.cpp's header): 64 x 64 tiles of C, one
/// block of 256 threads each, slices of 16 along k staged in shared memory.
bool Lowerer::lowerGemmTiled(const Gemm &g) {
  constexpr int64_t BM = 64, BN = 64, BK = 16, T = 256, TM = 4, TN = 4;
  DType t = r_.type(r_.nodes()[static_cast<size_t>(anchor_)].results[0]).dtype;
  const int64_t tilesM = (g.m + BM - 1) / BM, tilesN = (g.n + BN - 1) / BN, kTiles = (g.k + BK - 1) / BK;
  auto I = [](int64_t v) { return imm(static_cast<double>(v), DType::I64); };
  auto less = [](ExprRef a, int64_t b) { return op(OpKind::Less, DType::Bool, {std::move(a), imm(static_cast<double>(b), DType::I64)}); };
  auto both = [](ExprRef a, ExprRef b) { return op(OpKind::And, DType::Bool, {std::move(a), std::move(b)}); };
  int as = scratch("a_tile", t, BK * BM), bs = scratch("b_tile", t, BK * BN);
  k_.buffers[static_cast<size_t>(as)].workgroup = k_.buffers[static_cast<size_t>(bs)].workgroup = true;
  int blk = newVar(), thr = newVar(), kb = newVar(), kk = newVar();
  ExprRef tile = index(blk, tilesM * tilesN), th = index(thr, T);
  ExprRef i0 = mulIdx(divIdx(tile, tilesN), BM), j0 = mulIdx(remIdx(tile, tilesN), BN);
  ExprRef k0 = mulIdx(index(kb, kTiles), BK);
  Block slice;
  for (int64_t l = 0; l < BM * BK / T; ++l) { // A's slice: BM rows by BK
    ExprRef e = addIdx(th, I(l * T));
    ExprRef r = g.aKInner ? divIdx(e, BK) : remIdx(e, BM), c = g.aKInner ? remIdx(e, BK) : divIdx(e, BM);
    ExprRef row = addIdx(i0, r), col = addIdx(k0, c);
    ExprRef v = g.a(minIdx(row, I(g.m - 1)), minIdx(col, I(g.k - 1)));
    slice.push_back(store(as, addIdx(mulIdx(c, BM), r),
                          op(OpKind::Select, t, {both(less(row, g.m), less(col, g.k)), v, imm(0, t)})));
  }
  for (int64_t l = 0; l < BN * BK / T; ++l) { // B's slice: BK rows by BN
    ExprRef e = addIdx(th, I(l * T));
    ExprRef r = g.bNInner ? divIdx(e, BN) : remIdx(e, BK), c = g.bNInner ? remIdx(e, BN) : divIdx(e, BK);
    ExprRef row = addIdx(k0, r), col = addIdx(j0, c);
    ExprRef v = g.b(minIdx(row, I(g.k - 1)), minIdx(col, I(g.n - 1)));
    slice.push_back(store(bs, addIdx(mulIdx(r, BN), c),
                          op(OpKind::Select, t, {both(less(row, g.k), less(col, g.n)), v, imm(0, t)})));
  }
  slice.push_back(barrier());
  ExprRef tr = mulIdx(divIdx(th, BN / TN), TM), tc = mulIdx(remIdx(th, BN / TN), TN);
  std::vector<ExprRef> av, bv;
  for (int64_t i = 0; i < TM; ++i)
    av.push_back(load(as, t, addIdx(mulIdx(index(kk, BK), BM), addIdx(tr, I(i)))));
  for (int64_t j = 0; j < TN; ++j)
    bv.push_back(load(bs, t, addIdx(mulIdx(index(kk, BK), BN), addIdx(tc, I(j)))));
  Block body;
  std::vector<int> accs;
  slice.push_back(loop(kk, BK, LoopKind::Serial, outerProduct(av, bv, t, body, accs)));
  slice.push_back(barrier());
  body.push_back(loop(kb, kTiles, LoopKind::Serial, std::move(slice)));
  for (int64_t i = 0; i < TM; ++i)
    for (int64_t j = 0; j < TN; ++j) {
      ExprRef row = addIdx(i0, addIdx(tr, I(i))), col = addIdx(j0, addIdx(tc, I(j)));
      anchorValue_ = acc(accs[static_cast<size_t>(i * TN + j)], t);
      Coords at = g.out(minIdx(row, I(g.m - 1)), minIdx(col, I(g.n - 1)));
      Block store;
      for (size_t y = 0; y < r_.outputs().size(); ++y)
        store.push_back(storeYield(y, at));
      ExprRef inside = minIdx(addIdx(I(g.m), mulIdx(row, -1)), addIdx(I(g.n), mulIdx(col, -1)));
      body.push_back(loopUpTo(newVar(), 1, inside, LoopKind::Serial, std::move(store)));
    }
  k_.body = {loop(blk, tilesM * tilesN, LoopKind::Block, {loop(thr, T, LoopKind::Thread, std::move(body))})};
  return true;
}

} // namespace detail

using namespace kernel;

namespace {
bool plainStatements(const Block &b) {
  return std::all_of(b.begin(), b.end(), [](const Stmt &s) {
    bool plain = s.kind == Stmt::Store || s.kind == Stmt::AccInit || s.kind == Stmt::AccUpdate ||
                 (s.kind == Stmt::Loop && (s.loop == LoopKind::Serial || s.loop == LoopKind::Vector));
    return plain && plainStatements(s.body);
  });
}
} // namespace

bool mergeable(const Kernel &k, int64_t maxExtent) {
  if (k.body.size() != 1 || !k.finish.empty() || k.parallelExtent() == 0 || k.parallelExtent() > maxExtent)
    return false;
  return plainStatements(k.body.back().body) &&
         std::all_of(k.buffers.begin(), k.buffers.end(), [](const Buffer &b) { return !b.scratch; });
}

namespace {

/// Kernel k's ids moved past those of the kernels before it: loop and
/// accumulator ids by `vars`, buffers by `buffers`.
struct Renumber {
  int vars = 0, buffers = 0;
  std::unordered_map<const Expr *, ExprRef> done;

  ExprRef expr(const ExprRef &e) {
    return detail::rewrite(e, done, [this](const ExprRef &n) -> ExprRef {
      if (n->kind != Expr::Var && n->kind != Expr::Acc && n->kind != Expr::Load)
        return nullptr;
      auto copy = std::make_shared<Expr>(*n);
      copy->var += n->kind == Expr::Load ? buffers : vars;
      return copy;
    });
  }

  void ids(Block &b) const {
    for (Stmt &s : b) {
      if (s.var >= 0)
        s.var += vars;
      if (s.buffer >= 0)
        s.buffer += buffers;
      ids(s.body);
    }
  }
  void block(Block &b) {
    ids(b);
    detail::rewriteBlock(b, [this](const ExprRef &e) { return expr(e); });
  }
};

} // namespace

Kernel mergeKernels(const std::vector<const Kernel *> &kernels, const std::string &name) {
  Kernel out;
  out.name = name;
  int64_t total = 0;
  for (const Kernel *k : kernels)
    total += k->parallelExtent();
  int flat = 0;
  for (const Kernel *k : kernels)
    flat += k->numVars;
  out.numVars = flat + 1 + static_cast<int>(kernels.size());
  Block body;
  int64_t start = 0;
  int vars = 0, guard = flat + 1;
  for (const Kernel *k : kernels) {
    Renumber r{vars, static_cast<int>(out.buffers.size()), {}};
    Block inner = k->body.back().body;
    r.block(inner);
    // The kernel's own index, f - start, where start <= f < start + extent:
    // a loop of min(f - start + 1, start + extent - f) trips, at most one.
    detail::Substitute sub;
    const int64_t extent = k->parallelExtent();
    ExprRef f = index(flat, total), own = addIdx(f, imm(static_cast<double>(-start), DType::I64));
    // (clamped into the kernel's range, which the guard keeps it in, so its
    // indices are provably inside their buffers)
    sub.vars[k->body.back().var + vars] = minIdx(own, imm(static_cast<double>(extent - 1), DType::I64));
    sub.block(inner);
    ExprRef trips = minIdx(addIdx(own, imm(1, DType::I64)),
                           addIdx(imm(static_cast<double>(start + extent), DType::I64), mulIdx(f, -1)));
    body.push_back(loopUpTo(guard++, 1, trips, LoopKind::Serial, std::move(inner)));
    for (const Buffer &b : k->buffers)
      out.buffers.push_back(b);
    start += extent;
    vars += k->numVars;
  }
  out.body = {loop(flat, total, LoopKind::Parallel, std::move(body))};
  return out;
}

namespace detail {

bool Lowerer::lowerGemmGpu(const Gemm &g) {
  if (g.m >= 32 && g.n >= 32 && g.k >= 8)
    return lowerGemmTiled(g);
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
  Block body;
  std::vector<int> accs;
  Block sums = outerProduct(as, bs, t, body, accs);
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
