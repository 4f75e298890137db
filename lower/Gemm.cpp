//===- lower/Gemm.cpp - Contractions, BLIS's schedule -----------------------===//
#include "lower/Lowerer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace kiln::lower {

/// BLIS's blocking for C[m, n] += A(m, k) B(k, n) of dtype t on `machine`.
/// k is cut into slices of at most 256 holding whole units of kStep (a
/// conv's channels); rows go by blocks of at most 192 (A's packed block stays
/// in L2), columns by blocks of at most 512 holding whole units of lcm(nr,
/// nStep) (B's packed slice in L2 or L3). A task is a group of row blocks
/// sharing one packed B slice, the group's accumulated block at most ~4 MB
/// (in L3). The runtime gives each thread an equal range of tasks: the task
/// count is made a multiple of the threads (more groups, then more column
/// blocks; column blocks first when there are fewer rows than columns) where
/// the sizes allow, and groups are equal in size.
GemmSchedule gemmSchedule(int64_t m, int64_t n, int64_t k, int64_t kStep, int64_t nStep, ir::DType t,
                          const Machine &machine) {
  auto ceilDiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  const int64_t threads = std::max(1, machine.threads);
  GemmSchedule s;
  s.lanes = std::max<int64_t>(1, machine.vectorBytes / static_cast<int64_t>(ir::dtypeSize(t)));
  s.mr = 6, s.nr = 2 * s.lanes;
  const int64_t units = k / kStep;
  s.perSlice = ceilDiv(units, ceilDiv(k, 256)), s.kc = s.perSlice * kStep, s.kBlocks = ceilDiv(units, s.perSlice);
  const int64_t rowUnits = ceilDiv(m, s.mr), nAlign = std::lcm(s.nr, nStep), nUnits = ceilDiv(n, nAlign);
  int64_t nBlocks = std::min(nUnits, ceilDiv(n, 512));
  const int64_t blockBytes = 192 * std::min<int64_t>(n, 512) * static_cast<int64_t>(ir::dtypeSize(t));
  int64_t groups = ceilDiv(ceilDiv(m, 192), std::max<int64_t>(1, (4 << 20) / blockBytes));
  // Fewer rows than columns (a small batch, a late layer's few pixels):
  // split the columns first, so no two threads pack the same slice of B,
  // the larger operand.
  if (m < n)
    while ((groups * nBlocks) % threads != 0 && nBlocks < nUnits)
      ++nBlocks;
  while ((groups * nBlocks) % threads != 0 && groups < rowUnits)
    ++groups;
  while ((groups * nBlocks) % threads != 0 && nBlocks < nUnits)
    ++nBlocks;
  const int64_t groupUnits = ceilDiv(rowUnits, groups);
  s.perGroup = ceilDiv(groupUnits * s.mr, 192);
  s.mc = ceilDiv(groupUnits, s.perGroup) * s.mr, s.gm = s.perGroup * s.mc;
  s.groups = ceilDiv(m, s.gm);
  s.nc = ceilDiv(nUnits, nBlocks) * nAlign;
  s.nBlocks = ceilDiv(n, s.nc);
  return s;
}

namespace detail {

int Lowerer::scratch(const char *name, DType t, int64_t elements) {
  k_.buffers.push_back(Buffer{name, t, elements, false, true});
  return static_cast<int>(k_.buffers.size() - 1);
}

/// The BLIS schedule. The parallel loop runs over tasks, each a group of
/// row blocks (mc rows) by one block of nc columns of C; a task
/// accumulates its rows in a scratch block over slices of kc of the k dim:
/// it packs the slice of B into panels of nr columns once (prologues and
/// padding guards are computed here, once per element), then for each row
/// block packs the slice of A into panels of mr rows and runs the
/// register-blocked tile over every pair of panels; the epilogue reads the
/// finished block and stores every result. Edge blocks run shorter loops.
bool Lowerer::lowerGemm(const Gemm &g) {
  DType t = r_.type(r_.nodes()[static_cast<size_t>(anchor_)].results[0]).dtype;
  if (t != DType::F32 && t != DType::F64)
    return false;
  for (size_t y = 0; y < r_.outputs().size(); ++y)
    if (bufferOf_.count(r_.outputs()[y]) || nodeOf_.at(r_.outputs()[y]) < anchor_)
      return false; // a value made before the anchor, in another domain
  if (gpu_)
    return lowerGemmGpu(g);
  const GemmSchedule sched = gemmSchedule(g.m, g.n, g.k, g.kStep, g.nStep, t, Machine{vectorBytes_, threads_});
  const int64_t lanes = sched.lanes, mr = sched.mr, nr = sched.nr, perSlice = sched.perSlice, kc = sched.kc;
  const int64_t kBlocks = sched.kBlocks, perGroup = sched.perGroup, mc = sched.mc, gm = sched.gm;
  const int64_t groups = sched.groups, nc = sched.nc, nBlocks = sched.nBlocks;
  auto ceilDiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  int ap = scratch("a_panels", t, mc * kc), bp = scratch("b_panels", t, kc * nc), cb = scratch("c_block", t, gm * nc);

  auto I = [](int64_t v) { return imm(static_cast<double>(v), DType::I64); };
  auto left = [&](int64_t block, int64_t total, const ExprRef &start) {
    return minIdx(I(block), addIdx(I(total), mulIdx(start, -1)));
  };
  int task = newVar();
  ExprRef g0 = mulIdx(divIdx(index(task), nBlocks), gm), n0 = mulIdx(remIdx(index(task), nBlocks), nc);
  ExprRef groupRows = left(gm, g.m, g0), cols = left(nc, g.n, n0);
  ExprRef colPanels = divIdx(addIdx(cols, I(nr - 1)), nr);
  Block body;
  int slice = newVar();
  ExprRef k0 = mulIdx(index(slice), kc);
  ExprRef depth = left(kc, g.k, k0);
  // pack: panel p holds element (row or column w < width of the panel, k)
  // at p * width * kc + k * width + w; `start` is the block's first row or
  // column, `extent` its size.
  auto pack = [&](int buffer, const ExprRef &start, const ExprRef &extent, int64_t width, bool kInner, bool isA) {
    int unit = newVar(), kr = newVar();
    ExprRef kk = addIdx(mulIdx(index(unit, perSlice), g.kStep), index(kr, g.kStep));
    ExprRef kAt = addIdx(k0, kk);
    ExprRef panels = divIdx(addIdx(extent, I(width - 1)), width);
    auto kLoops = [&](Block b) {
      return loopUpTo(unit, perSlice, divIdx(depth, g.kStep), LoopKind::Serial, {loop(kr, g.kStep, LoopKind::Serial, std::move(b))});
    };
    // The row or column in the block: by panels (p, w), or by the source's
    // units (u, r) when B's columns have a step.
    int64_t step = isA ? 1 : g.nStep, blockExtent = isA ? mc : nc;
    int p = newVar(), w = newVar(), lane = newVar();
    // A unit that holds whole panel rows is copied a panel row at a time
    // (the lane loop, contiguous on both sides, vectorizes).
    bool lanes = step > 1 && step % width == 0;
    ExprRef unitPos = lanes ? addIdx(mulIdx(index(w, step / width), width), index(lane, width)) : index(w, step);
    ExprRef along = step > 1 ? addIdx(mulIdx(index(p), step), unitPos) : addIdx(mulIdx(index(p), width), index(w, width));
    ExprRef value = isA ? g.a(addIdx(start, along), kAt) : g.b(kAt, addIdx(start, along));
    ExprRef at = addIdx(mulIdx(divIdx(along, width), width * kc), addIdx(mulIdx(kk, width), remIdx(along, width)));
    Block inner{store(buffer, at, value)};
    ExprRef widthLeft = minIdx(I(width), addIdx(extent, mulIdx(index(p), -width)));
    auto alongLoops = [&](Block b) {
      if (lanes)
        return loopUpTo(p, blockExtent / step, divIdx(extent, step), LoopKind::Serial,
                        {loop(w, step / width, LoopKind::Serial, {loop(lane, width, LoopKind::Vector, std::move(b))})});
      if (step > 1)
        return loopUpTo(p, blockExtent / step, divIdx(extent, step), LoopKind::Serial, {loop(w, step, LoopKind::Serial, std::move(b))});
      return loopUpTo(p, ceilDiv(blockExtent, width), panels, LoopKind::Serial,
                      {loopUpTo(w, width, widthLeft, LoopKind::Serial, std::move(b))});
    };
    if (kInner)
      return alongLoops({kLoops(std::move(inner))});
    // k outside: the panel loop stays outermost (one panel's elements together)
    // unless the columns go by units.
    if (step > 1)
      return kLoops({alongLoops(std::move(inner))});
    return loopUpTo(p, ceilDiv(blockExtent, width), panels, LoopKind::Serial,
                    {kLoops({loopUpTo(w, width, widthLeft, LoopKind::Serial, std::move(inner))})});
  };
  Block sliceBody{pack(bp, n0, cols, nr, !g.bNInner, false)};
  { // each row block of the group: pack A, then the tiles
    int rb = newVar();
    ExprRef r0 = mulIdx(index(rb), mc), m0 = addIdx(g0, r0);
    ExprRef rows = left(mc, g.m, m0), rowPanels = divIdx(addIdx(rows, I(mr - 1)), mr);
    Block blockBody{pack(ap, m0, rows, mr, g.aKInner, true)};
    int jr = newVar(), ir = newVar();
    // The first slice's tiles start from zero: the block is never cleared.
    ExprRef first = addIdx(I(1), mulIdx(minIdx(index(slice), I(1)), -1));
    Tile tile{ap, bp, mulIdx(index(ir), mr * kc), mulIdx(index(jr), nr * kc), depth, mr, nr, nc, lanes, 1, 0, 0, {},
              first};
    ExprRef at = addIdx(mulIdx(addIdx(r0, mulIdx(index(ir), mr)), nc), mulIdx(index(jr), nr));
    blockBody.push_back(loopUpTo(jr, ceilDiv(nc, nr), colPanels, LoopKind::Serial,
                                 {loopUpTo(ir, ceilDiv(mc, mr), rowPanels, LoopKind::Serial, {tileFma(cb, at, tile)})}));
    sliceBody.push_back(loopUpTo(rb, perGroup, divIdx(addIdx(groupRows, I(mc - 1)), mc), LoopKind::Serial,
                                 std::move(blockBody)));
  }
  body.push_back(loop(slice, kBlocks, LoopKind::Serial, std::move(sliceBody)));
  { // epilogue
    int i = newVar(), j = newVar();
    anchorValue_ = load(cb, t, addIdx(mulIdx(index(i), nc), index(j)));
    Coords c = g.out(addIdx(g0, index(i)), addIdx(n0, index(j)));
    Block store;
    for (size_t y = 0; y < r_.outputs().size(); ++y)
      store.push_back(storeYield(y, c));
    body.push_back(loopUpTo(i, gm, groupRows, LoopKind::Serial, {loopUpTo(j, nc, cols, LoopKind::Vector, std::move(store))}));
  }
  k_.body = {loop(task, groups * nBlocks, LoopKind::Parallel, std::move(body))};
  return true;
}

bool Lowerer::lowerMatMul() {
  const Node &n = r_.nodes()[static_cast<size_t>(anchor_)];
  ValueId a = n.operands[0], b = n.operands[1];
  bool ta = n.attrView().getBool("transpose_a"), tb = n.attrView().getBool("transpose_b");
  Gemm g;
  g.m = sizes_[n.results[0]][0];
  g.n = sizes_[n.results[0]][1];
  g.k = ta ? sizes_[a][0] : sizes_[a][1];
  g.a = [&](const ExprRef &m, const ExprRef &k) { return at(a, ta ? Coords{k, m} : Coords{m, k}); };
  g.b = [&](const ExprRef &k, const ExprRef &j) { return at(b, tb ? Coords{j, k} : Coords{k, j}); };
  g.out = [](const ExprRef &m, const ExprRef &j) { return Coords{m, j}; };
  g.aKInner = !ta;
  g.bNInner = !tb;
  if (g.m == 1 && tb && !ta && lowerGemvT(a, b, g.n, g.k))
    return true;
  return lowerGemm(g);
}

/// y[0, j] = sum over k of a[0, k] b[j, k], b's rows contiguous: a parallel
/// task per block of rows of b; each row's dot product accumulates `width`
/// partial sums (a few vectors, for the FMA latency) in a vector loop over
/// its contiguous k, then adds them and the tail in order. The packing
/// schedule would copy all of b (a classifier's weights) to read it once.
bool Lowerer::lowerGemvT(ValueId a, ValueId b, int64_t n, int64_t k) {
  DType t = r_.type(r_.nodes()[static_cast<size_t>(anchor_)].results[0]).dtype;
  if (gpu_ || (t != DType::F32 && t != DType::F64))
    return false;
  for (ValueId out : r_.outputs())
    if (bufferOf_.count(out) || nodeOf_.at(out) < anchor_)
      return false; // a value made before the anchor, in another domain
  const int64_t lanes = std::max<int64_t>(1, vectorBytes_ / static_cast<int64_t>(dtypeSize(t)));
  const int64_t width = 4 * lanes, chunks = k / width;
  if (chunks < 1 || n < 2)
    return false;
  auto I = [](int64_t v) { return imm(static_cast<double>(v), DType::I64); };
  const int64_t blocks = std::min<int64_t>(n, 16 * threads_), rows = (n + blocks - 1) / blocks;
  int part = scratch("partial_sums", t, width);
  int blk = newVar(), j = newVar(), l0 = newVar(), c = newVar(), l = newVar(), l2 = newVar(), tail = newVar();
  int sum = newVar();
  ExprRef row = addIdx(mulIdx(index(blk), rows), index(j));
  ExprRef kAt = addIdx(mulIdx(index(c), width), index(l));
  ExprRef prod = op(OpKind::Mul, t, {at(a, {I(0), kAt}), at(b, {row, kAt})});
  ExprRef kTail = addIdx(I(chunks * width), index(tail));
  Block perRow{loop(l0, width, LoopKind::Vector, {store(part, index(l0), imm(0, t))}),
               loop(c, chunks, LoopKind::Serial,
                    {loop(l, width, LoopKind::Vector,
                          {store(part, index(l), op(OpKind::Add, t, {load(part, t, index(l)), prod}))})}),
               accInit(sum, imm(0, t)),
               loop(l2, width, LoopKind::Serial, {accUpdate(sum, OpKind::Add, load(part, t, index(l2)))})};
  if (k > chunks * width)
    perRow.push_back(loop(tail, k - chunks * width, LoopKind::Serial,
                          {accUpdate(sum, OpKind::Add,
                                     op(OpKind::Mul, t, {at(a, {I(0), kTail}), at(b, {row, kTail})}))}));
  anchorValue_ = acc(sum, t);
  for (size_t y = 0; y < r_.outputs().size(); ++y)
    perRow.push_back(storeYield(y, {I(0), row}));
  ExprRef limit = minIdx(I(rows), addIdx(I(n), mulIdx(index(blk), -rows)));
  k_.body = {loop(blk, blocks, LoopKind::Parallel,
                  {loopUpTo(j, rows, limit, LoopKind::Serial, std::move(perRow))})};
  return true;
}

/// `flat` (row-major over `extents`) as one coordinate per extent.
Coords Lowerer::decompose(const ExprRef &flat, const Sizes &extents) {
  Coords out(extents.size());
  ExprRef q = flat; // flat / (the product of the extents after d)
  for (size_t d = extents.size(); d-- > 0;) {
    out[d] = extents[d] == 1 ? imm(0, DType::I64) : d == 0 ? q : remIdx(q, extents[d]);
    q = divIdx(q, extents[d]);
  }
  return out;
}

bool Lowerer::lowerConv(const Node &n, const Window &win) {
  // The direct schedules are the CPU's (rows copied per thread, vectors of
  // channels); a GPU runs every convolution as an implicit contraction.
  if (auto direct = gpu_ ? std::nullopt : directConv(n, win))
    return lowerDirect(*direct);
  if (!gpu_ && n.op == OpKind::ConvGradWeight && lowerDirectWeightGrad(n, win))
    return true;
  size_t spatial = win.kernel.size();
  ValueId res = n.results[0];
  const Sizes &out = sizes_[res];
  Sizes kern(win.kernel.begin(), win.kernel.end());
  auto with = [](Sizes s, int64_t c, bool inner) { // (taps, c) or (c, taps)
    inner ? s.push_back(c) : (void)s.insert(s.begin(), c);
    return s;
  };
  auto split = [&](const ExprRef &flat, int64_t c, bool inner, ExprRef &ch, Coords &taps) {
    Coords all = decompose(flat, with(kern, c, inner));
    ch = inner ? all.back() : all.front();
    taps.assign(inner ? all.begin() : all.begin() + 1, inner ? all.end() - 1 : all.end());
  };
  auto pixels = [&](const ExprRef &flat, const Sizes &image, ExprRef &b, Coords &p) { // (batch, pixel...)
    Sizes ext = {image[0]};
    ext.insert(ext.end(), image.begin() + 2, image.end());
    Coords all = decompose(flat, ext);
    b = all[0];
    p.assign(all.begin() + 1, all.end());
  };
  auto image = [&](const ExprRef &flat, const Sizes &sizes, const ExprRef &ch) { // [b, ch, pixel...]
    ExprRef b;
    Coords p;
    pixels(flat, sizes, b, p);
    Coords c = {b, ch};
    c.insert(c.end(), p.begin(), p.end());
    return c;
  };
  auto tap = [&](const ExprRef &pos, const ExprRef &k, size_t d) { // pos * stride - pad + k * dilation
    return addIdx(mulIdx(pos, win.stride[d]), addIdx(mulIdx(k, win.dilation[d]), imm(static_cast<double>(-win.padBegin[d]), DType::I64)));
  };
  DType t = r_.type(res).dtype;
  Gemm g;
  ValueId x = n.operands[0], w = n.operands[1];
  // The gradient's dy (the first operand of the input gradient, the second
  // of the weight gradient): here, so the closures outlive no local.
  ValueId dy = n.op == OpKind::ConvGradInput ? x : w;
  const Sizes &xs = sizes_[x], &ws = sizes_[w], &dys = sizes_[dy];
  if (n.op == OpKind::Conv) { // out[b, o, p] = sum over c, k of x[b, c, p * s - pad + k * dil] w[o, c, k]
    bool inner = channelsInner(x);
    g.m = product(out) / out[1], g.n = out[1], g.k = product(ws) / ws[0];
    g.a = [&, inner](const ExprRef &m, const ExprRef &k) {
      ExprRef b, c;
      Coords p, taps;
      pixels(m, out, b, p);
      split(k, xs[1], inner, c, taps);
      Coords cx = {b, c};
      for (size_t d = 0; d < spatial; ++d)
        cx.push_back(tap(p[d], taps[d], d));
      return windowLoad(x, cx, {}, win, imm(0, t));
    };
    g.b = [&, inner](const ExprRef &k, const ExprRef &o) {
      ExprRef c;
      Coords taps;
      split(k, xs[1], inner, c, taps);
      Coords cw = {o, c};
      cw.insert(cw.end(), taps.begin(), taps.end());
      return load(bufferOf_.at(w), t, offset(w, cw));
    };
    g.out = [&](const ExprRef &m, const ExprRef &o) { return image(m, out, o); };
    g.aKInner = true;
    g.bNInner = false;
    g.kStep = inner ? xs[1] : 1;
  } else if (n.op == OpKind::ConvGradInput) { // dx[b, c, i] = sum over o, k of dy[b, o, (i + pad - k * dil) / s] w[o, c, k]
    bool inner = channelsInner(dy);
    g.m = product(out) / out[1], g.n = out[1], g.k = ws[0] * product(kern);
    g.a = [&, inner](const ExprRef &m, const ExprRef &k) {
      ExprRef b, o;
      Coords p, taps;
      pixels(m, out, b, p);
      split(k, dys[1], inner, o, taps);
      Coords cdy = {b, o};
      for (size_t d = 0; d < spatial; ++d)
        cdy.push_back(addIdx(p[d], addIdx(mulIdx(taps[d], -win.dilation[d]), imm(static_cast<double>(win.padBegin[d]), DType::I64))));
      return windowLoad(dy, cdy, win.stride, win, imm(0, t));
    };
    g.b = [&, inner](const ExprRef &k, const ExprRef &c) {
      ExprRef o;
      Coords taps;
      split(k, dys[1], inner, o, taps);
      Coords cw = {o, c};
      cw.insert(cw.end(), taps.begin(), taps.end());
      return load(bufferOf_.at(w), t, offset(w, cw));
    };
    g.out = [&](const ExprRef &m, const ExprRef &c) { return image(m, out, c); };
    g.aKInner = true;
    g.bNInner = channelsInner(w);
    g.kStep = inner ? dys[1] : 1;
  } else { // dw[o, c, k] = sum over b, p of dy[b, o, p] x[b, c, p * s - pad + k * dil]
    // Rows are output channels and columns (taps, channels): both panels
    // then read their sources along contiguous channels.
    bool inner = channelsInner(x);
    g.m = out[0], g.n = product(out) / out[0], g.k = product(dys) / dys[1];
    g.a = [&](const ExprRef &o, const ExprRef &k) { return load(bufferOf_.at(dy), t, offset(dy, image(k, dys, o))); };
    g.b = [&, inner](const ExprRef &k, const ExprRef &col) {
      ExprRef b, c;
      Coords p, taps;
      pixels(k, dys, b, p);
      split(col, xs[1], inner, c, taps);
      Coords cx = {b, c};
      for (size_t d = 0; d < spatial; ++d)
        cx.push_back(tap(p[d], taps[d], d));
      return windowLoad(x, cx, {}, win, imm(0, t));
    };
    g.out = [&, inner](const ExprRef &o, const ExprRef &col) {
      ExprRef c;
      Coords taps;
      split(col, xs[1], inner, c, taps);
      Coords co = {o, c};
      co.insert(co.end(), taps.begin(), taps.end());
      return co;
    };
    g.aKInner = !channelsInner(dy);
    g.bNInner = inner;
    g.nStep = inner ? xs[1] : 1;
  }
  return lowerGemm(g);
}

} // namespace detail

} // namespace kiln::lower
