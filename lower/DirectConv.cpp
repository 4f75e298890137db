//===- lower/DirectConv.cpp - Direct convolutions ---------------------------===//
#include "lower/Lowerer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace kiln::lower::detail {

/// A direct convolution's taps as loops around the tile's k (a tap's
/// input channels): a tap row moves A by `wp` copied pixels times the
/// dilation and B by a row of packed taps; a tap column moves A by the
/// dilation's pixels and B by one packed tap (`nr` columns per channel).
std::vector<Tile::Around> Lowerer::taps(const Direct &d, int64_t wp, int64_t nr) {
  auto I = [](int64_t v) { return imm(static_cast<double>(v), DType::I64); };
  return {{I(d.kh), d.dilH * wp * d.cin, d.kw * d.cin * nr}, {I(d.kw), d.dilW * d.cin, d.cin * nr}};
}

/// The tiles and epilogue of a stride-1 direct convolution over the
/// flattened copied rows (see lowerDirect), on its schedule and buffers:
/// `body` packs the weights, `taskBody` copies the rows of output rows
/// [r0, r0 + group) of image b.
bool Lowerer::lowerDirectFlat(const Direct &d, const DirectSchedule &s, const DirectBuffers &buf, Block body,
                              Block taskBody, int task, const ExprRef &b, const ExprRef &r0) {
  DType t = r_.type(r_.nodes()[static_cast<size_t>(anchor_)].results[0]).dtype;
  const int64_t mr = s.mr, nr = s.nr, lanes = s.lanes, k = s.k, panels = s.panels, ldc = s.ldc, wp = s.wp;
  const int64_t group = s.group, groups = s.groups, tiles = s.flatTiles;
  const int rows = buf.rows, bp = buf.bPanels, cb = buf.cBlock;
  const int64_t batch = d.out[0], oh = d.out[2], ow = d.out[3];
  auto I = [](int64_t v) { return imm(static_cast<double>(v), DType::I64); };
  { // the taps loop around k inside the tile, the block in registers throughout (from zero)
    int p = newVar(), it = newVar();
    Tile tile{rows, bp, mulIdx(index(it), mr * d.cin), mulIdx(index(p), k * nr), I(d.cin), mr, nr, ldc, lanes, d.cin, 1, 0,
              taps(d, wp, nr), I(1)};
    ExprRef cAt = addIdx(mulIdx(index(it), mr * ldc), mulIdx(index(p), nr));
    taskBody.push_back(loop(p, panels, LoopKind::Serial, {loop(it, tiles, LoopKind::Serial, {tileFma(cb, cAt, tile)})}));
  }
  { // epilogue: the group's rows, their first ow pixels
    int rr = newVar(), i = newVar(), j = newVar();
    anchorValue_ = load(cb, t, addIdx(mulIdx(addIdx(mulIdx(index(rr), wp), index(i)), ldc), index(j)));
    Coords c = {b, index(j), addIdx(r0, index(rr)), index(i)};
    Block st;
    for (size_t y = 0; y < r_.outputs().size(); ++y)
      st.push_back(storeYield(y, c));
    taskBody.push_back(loopUpTo(rr, group, minIdx(I(group), addIdx(I(oh), mulIdx(r0, -1))), LoopKind::Serial,
                                {loop(i, ow, LoopKind::Serial, {loop(j, d.cout, LoopKind::Vector, std::move(st))})}));
  }
  body.push_back(loop(task, batch * groups, LoopKind::Parallel, std::move(taskBody)));
  k_.body = std::move(body);
  return true;
}

/// How a direct convolution is blocked, from its sizes and the machine.
/// Output rows per task: all of an image's, unless that leaves fewer than 4
/// tasks per thread. At stride 1 the copied rows are as wide as an output row
/// plus the taps' reach, and output pixel (r, c) reads input pixel (r, c) +
/// tap in them: a tile takes 6 consecutive pixels of the flattened rows,
/// whose columns past the output row's end are computed and dropped (fewer
/// than rounding every row up to whole tiles wastes).
Lowerer::DirectSchedule Lowerer::directSchedule(const Direct &d, DType t, const Machine &machine) {
  auto ceilDiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  const int64_t threads = std::max(1, machine.threads), batch = d.out[0], oh = d.out[2], ow = d.out[3];
  DirectSchedule s;
  s.lanes = std::max<int64_t>(1, machine.vectorBytes / static_cast<int64_t>(dtypeSize(t)));
  s.mr = 6, s.nr = 2 * s.lanes;
  const int64_t perImage = std::min(oh, ceilDiv(4 * threads, batch));
  s.group = ceilDiv(oh, perImage);
  s.groups = ceilDiv(oh, s.group), s.inRows = (s.group - 1) * d.strideH + (d.kh - 1) * d.dilH + 1;
  s.flat = d.strideH == 1 && d.strideW == 1;
  s.rowsPad = ceilDiv(ow, s.mr) * s.mr;
  s.wp = s.flat ? ow + (d.kw - 1) * d.dilW : (s.rowsPad - 1) * d.strideW + (d.kw - 1) * d.dilW + 1;
  s.flatTiles = ceilDiv((s.group - 1) * s.wp + ow, s.mr);
  s.k = d.kh * d.kw * d.cin, s.panels = ceilDiv(d.cout, s.nr), s.ldc = s.panels * s.nr;
  s.slack = s.flat ? s.mr : 0;
  return s;
}

/// The weights are packed once per call into panels of nr output channels
/// (tap, input channel, channel). The parallel loop runs over groups of
/// output rows of an image (a whole image when there are enough images
/// for the threads): each copies the input rows its taps read into a
/// scratch buffer once, zero padding included (a contiguous copy of
/// channels); then for each output row runs the tile with A read in place
/// from those rows — 6 neighbouring pixels, a tap's input channels as k —
/// once per tap, accumulating a block of the output row, and the epilogue
/// stores every result. No im2col matrix is built.
bool Lowerer::lowerDirect(const Direct &d) {
  DType t = r_.type(r_.nodes()[static_cast<size_t>(anchor_)].results[0]).dtype;
  const DirectSchedule s = directSchedule(d, t, Machine{vectorBytes_, threads_});
  const int64_t lanes = s.lanes, mr = s.mr, nr = s.nr, group = s.group, groups = s.groups, inRows = s.inRows;
  const bool flat = s.flat;
  const int64_t rowsPad = s.rowsPad, wp = s.wp, flatTiles = s.flatTiles, k = s.k, panels = s.panels, ldc = s.ldc;
  const int64_t slack = s.slack, batch = d.out[0], oh = d.out[2], ow = d.out[3];
  int rows = scratch("input_rows", t, (inRows * wp + slack) * d.cin), bp = scratch("b_panels", t, panels * k * nr);
  int cb = scratch("c_block", t, (flat ? flatTiles * mr : rowsPad) * ldc);
  auto I = [](int64_t v) { return imm(static_cast<double>(v), DType::I64); };
  Block body;
  { // pack the weights: panel p, tap (th, tw), channel c, lane j
    int p = newVar(), th = newVar(), tw = newVar(), c = newVar(), j = newVar();
    ExprRef co = addIdx(mulIdx(index(p), nr), index(j));
    ExprRef at = addIdx(mulIdx(index(p), k * nr),
                        mulIdx(addIdx(mulIdx(addIdx(mulIdx(index(th), d.kw), index(tw)), d.cin), index(c)), nr));
    Stmt st = store(bp, addIdx(at, index(j)), d.w(co, index(c), index(th), index(tw)));
    ExprRef left = minIdx(I(nr), addIdx(I(d.cout), mulIdx(index(p), -nr)));
    body.push_back(loop(p, panels, LoopKind::Serial,
                        {loop(th, d.kh, LoopKind::Serial,
                              {loop(tw, d.kw, LoopKind::Serial,
                                    {loop(c, d.cin, LoopKind::Serial, {loopUpTo(j, nr, left, LoopKind::Vector, {st})})})})}));
  }
  int task = newVar();
  ExprRef b = divIdx(index(task), groups), r0 = mulIdx(remIdx(index(task), groups), group);
  Block taskBody;
  { // the input rows, zero outside the image
    int q = newVar(), x = newVar(), c = newVar();
    ExprRef ih = addIdx(mulIdx(r0, d.strideH), addIdx(index(q), I(-d.padT)));
    ExprRef iw = addIdx(index(x), I(-d.padL));
    ExprRef value = imageLoad(d.x, {b, index(c), ih, iw});
    ExprRef at = addIdx(mulIdx(addIdx(mulIdx(index(q), wp), index(x)), d.cin), index(c));
    taskBody.push_back(loop(q, inRows, LoopKind::Serial,
                            {loop(x, wp, LoopKind::Serial, {loop(c, d.cin, LoopKind::Vector, {store(rows, at, value)})})}));
    if (slack > 0) {
      int z = newVar();
      taskBody.push_back(loop(z, slack * d.cin, LoopKind::Vector, {store(rows, addIdx(I(inRows * wp * d.cin), index(z)), imm(0, t))}));
    }
  }
  if (flat)
    return lowerDirectFlat(d, s, DirectBuffers{rows, bp, cb}, std::move(body), std::move(taskBody), task, b, r0);
  int rr = newVar();
  ExprRef row = addIdx(r0, index(rr));
  Block rowBody;
  { // the taps loop around k inside the tile (from zero)
    int p = newVar(), ir = newVar();
    ExprRef aAt = mulIdx(addIdx(mulIdx(index(rr), d.strideH * wp), mulIdx(index(ir), mr * d.strideW)), d.cin);
    Tile tile{rows, bp, aAt, mulIdx(index(p), k * nr), I(d.cin), mr, nr, ldc, lanes, d.strideW * d.cin, 1, 0, taps(d, wp, nr),
              I(1)};
    ExprRef cAt = addIdx(mulIdx(index(ir), mr * ldc), mulIdx(index(p), nr));
    rowBody.push_back(loop(p, panels, LoopKind::Serial, {loop(ir, rowsPad / mr, LoopKind::Serial, {tileFma(cb, cAt, tile)})}));
  }
  { // epilogue
    int i = newVar(), j = newVar();
    anchorValue_ = load(cb, t, addIdx(mulIdx(index(i), ldc), index(j)));
    Coords c = {b, index(j), row, index(i)};
    Block st;
    for (size_t y = 0; y < r_.outputs().size(); ++y)
      st.push_back(storeYield(y, c));
    rowBody.push_back(loop(i, ow, LoopKind::Serial, {loop(j, d.cout, LoopKind::Vector, std::move(st))}));
  }
  taskBody.push_back(loopUpTo(rr, group, minIdx(I(group), addIdx(I(oh), mulIdx(r0, -1))), LoopKind::Serial,
                              std::move(rowBody)));
  body.push_back(loop(task, batch * groups, LoopKind::Parallel, std::move(taskBody)));
  k_.body = std::move(body);
  return true;
}

/// A 2-D weight gradient over NHWC images whose input channels fill whole
/// tiles, split over the batch: dw[o, c, th, tw] is the sum over images
/// and output pixels of dy[b, o, p] x[b, c, p * s - pad + t * dil]. Each
/// part of the parallel loop takes a range of images and accumulates all
/// of dw in its own rows of a shared buffer of partial sums: for every
/// tap, every output row whose input row is inside the image, the tile
/// reads A in place from dy (6 output channels of a pixel, pixels as k)
/// and B in place from x (16 input channels at the tap, over the output
/// columns whose input column is inside the image: these ranges are index
/// expressions of the tap, so no padding is copied and one tile statement
/// serves every tap), over bands of output rows. Each image is read once
/// while in cache. The finish block adds the parts up and runs
/// the epilogue (the optimizer's update, fused).
bool Lowerer::lowerWeightGradByParts(const Node &n, const Window &win) {
  DType t = r_.type(n.results[0]).dtype;
  ValueId x = n.operands[0], dy = n.operands[1];
  const int64_t lanes = std::max<int64_t>(1, vectorBytes_ / static_cast<int64_t>(dtypeSize(t)));
  const int64_t mr = 6, nr = 2 * lanes;
  auto ceilDiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  const Sizes &xs = sizes_[x], &dys = sizes_[dy];
  const int64_t batch = dys[0], co = dys[1], oh = dys[2], ow = dys[3], ci = xs[1], h = xs[2], w = xs[3];
  if (ci % nr != 0 || co < mr)
    return false;
  const int64_t kh = win.kernel[0], kw = win.kernel[1], blocks = ceilDiv(co, mr), rows = blocks * mr;
  const int64_t ldc = kh * kw * ci, partSize = rows * ldc;
  const int64_t perPart = ceilDiv(batch, std::min<int64_t>(threads_, batch)), parts = ceilDiv(batch, perPart);
  k_.buffers.push_back(Buffer{"partial_sums", t, parts * partSize, false, true, true});
  const int pb = static_cast<int>(k_.buffers.size() - 1);
  auto I = [](int64_t v) { return imm(static_cast<double>(v), DType::I64); };
  int part = newVar(), b = newVar();
  ExprRef base = mulIdx(index(part), partSize);
  Block body;
  { // this part's sums start at zero
    int e = newVar();
    body.push_back(loop(e, partSize, LoopKind::Vector, {store(pb, addIdx(base, index(e)), imm(0, t))}));
  }
  ExprRef image = addIdx(mulIdx(index(part), perPart), index(b));
  // The output pixels (along one dim) whose input pixel at tap `tap` is
  // inside the image, [lo, hi) (hi <= lo: none): lo = ceil(max(0, pad -
  // tap * dil) / s), hi = min(out, floor((in - 1 + pad - tap * dil) / s) + 1),
  // written so that every division has a non-negative numerator.
  auto inside = [&](const ExprRef &tap, int64_t out, int64_t in, int64_t s, int64_t dil, int64_t pad) {
    ExprRef reach = mulIdx(tap, dil);
    ExprRef lo = divIdx(addIdx(addIdx(I(pad), mulIdx(minIdx(reach, I(pad)), -1)), I(s - 1)), s);
    ExprRef num = addIdx(I(in - 1 + pad), mulIdx(reach, -1));
    ExprRef atLeastMinus1 = addIdx(addIdx(num, I(-1)), mulIdx(minIdx(num, I(-1)), -1)); // max(num, -1)
    return std::pair{lo, minIdx(I(out), divIdx(addIdx(atLeastMinus1, I(s)), s))};
  };
  auto nonNegative = [](const ExprRef &v) { return addIdx(v, mulIdx(minIdx(v, imm(0, DType::I64)), -1)); };
  // Output rows go in bands of about 128 pixels, a loop around the tile's
  // k (the band's dy and x rows stay in L1 across the tiles of its taps
  // and channel blocks). One tile statement covers every tap: the rows and
  // columns inside the image are computed per tap.
  const int64_t band = std::max<int64_t>(1, 128 / ow);
  Block perImage;
  {
    int th = newVar(), bi = newVar(), tw = newVar(), blk = newVar(), chunk = newVar();
    auto [rowLo, rowHi] = inside(index(th, kh), oh, h, win.stride[0], win.dilation[0], win.padBegin[0]);
    auto [colLo, colHi] = inside(index(tw, kw), ow, w, win.stride[1], win.dilation[1], win.padBegin[1]);
    ExprRef rows = addIdx(rowHi, mulIdx(rowLo, -1));
    ExprRef bands = divIdx(addIdx(nonNegative(rows), I(band - 1)), band);
    ExprRef outRow = addIdx(rowLo, mulIdx(index(bi), band));
    ExprRef count = minIdx(I(band), addIdx(rows, mulIdx(index(bi), -band)));
    ExprRef inRow = addIdx(mulIdx(outRow, win.stride[0]), addIdx(mulIdx(index(th, kh), win.dilation[0]), I(-win.padBegin[0])));
    ExprRef inCol = addIdx(mulIdx(colLo, win.stride[1]), addIdx(mulIdx(index(tw, kw), win.dilation[1]), I(-win.padBegin[1])));
    ExprRef o0 = minIdx(mulIdx(index(blk), mr), I(co - mr));
    ExprRef aAt = offset(dy, {image, o0, outRow, colLo});
    ExprRef bAt = offset(x, {image, mulIdx(index(chunk), nr), inRow, inCol});
    Tile tile{bufferOf_.at(dy), bufferOf_.at(x), aAt, bAt, addIdx(colHi, mulIdx(colLo, -1)), mr, nr, ldc, lanes, 1, co,
              win.stride[1] * ci, {{count, ow * co, win.stride[0] * w * ci}}, nullptr};
    ExprRef cAt = addIdx(base, addIdx(mulIdx(index(blk), mr * ldc),
                                      addIdx(mulIdx(addIdx(mulIdx(index(th, kh), kw), index(tw, kw)), ci), mulIdx(index(chunk), nr))));
    Stmt tiles = loop(tw, kw, LoopKind::Serial,
                      {loop(blk, blocks, LoopKind::Serial, {loop(chunk, ci / nr, LoopKind::Serial, {tileFma(pb, cAt, tile)})})});
    perImage.push_back(loop(th, kh, LoopKind::Serial, {loopUpTo(bi, (oh + band - 1) / band, bands, LoopKind::Serial, {tiles})}));
  }
  body.push_back(loopUpTo(b, perPart, minIdx(I(perPart), addIdx(I(batch), mulIdx(index(part), -perPart))),
                          LoopKind::Serial, std::move(perImage)));
  k_.body = {loop(part, parts, LoopKind::Parallel, std::move(body))};
  // finish: the parts' sums into the first, then the epilogue from it (the
  // last block of channels overlaps the one before; its rows already
  // stored are skipped)
  if (parts > 1) {
    int p = newVar(), e = newVar();
    k_.finish.push_back(loop(p, parts - 1, LoopKind::Serial,
                             {loop(e, partSize, LoopKind::Vector,
                                   {store(pb, index(e), op(OpKind::Add, t, {load(pb, t, index(e)),
                                                                            load(pb, t, addIdx(mulIdx(addIdx(index(p), I(1)), partSize), index(e)))}))})}));
  }
  {
    int blk = newVar(), i = newVar(), th = newVar(), tw = newVar(), c = newVar();
    ExprRef start = mulIdx(index(blk), mr), o0 = minIdx(start, I(co - mr)), skip = addIdx(start, mulIdx(o0, -1));
    Coords cw = {addIdx(o0, addIdx(skip, index(i))), index(c), index(th), index(tw)};
    anchorValue_ = load(pb, t, addIdx(mulIdx(addIdx(start, addIdx(skip, index(i))), ldc),
                                      addIdx(mulIdx(addIdx(mulIdx(index(th), kw), index(tw)), ci), index(c))));
    Block st;
    for (size_t y = 0; y < r_.outputs().size(); ++y)
      st.push_back(storeYield(y, cw));
    k_.finish.push_back(loop(blk, blocks, LoopKind::Serial,
                             {loopUpTo(i, mr, addIdx(I(mr), mulIdx(skip, -1)), LoopKind::Serial,
                                       {loop(th, kh, LoopKind::Serial,
                                             {loop(tw, kw, LoopKind::Serial, {loop(c, ci, LoopKind::Vector, std::move(st))})})})}));
  }
  return true;
}

/// A 2-D weight gradient over NHWC images, directly: dw[o, c, th, tw] is
/// the sum over output pixels of dy[b, o, p] x[b, c, p * s - pad + t * dil].
/// The parallel loop runs over (tap row, block of 6 output channels); each
/// task walks every output row: it copies the input row its tap row reads
/// (zero padding included), then runs the tile with A read in place from
/// dy (6 output channels of a pixel, pixels as k) and B from that row (16
/// input channels at a tap column, pixels as k; channels past the last read
/// neighbours and land in discarded columns), accumulating its block of dw;
/// the epilogue (the optimizer's update, fused) stores it.
bool Lowerer::lowerDirectWeightGrad(const Node &n, const Window &win) {
  DType t = r_.type(n.results[0]).dtype;
  ValueId x = n.operands[0], dy = n.operands[1];
  if (win.kernel.size() != 2 || r_.type(x).layout.kind != Layout::NHWC || r_.type(dy).layout.kind != Layout::NHWC ||
      (t != DType::F32 && t != DType::F64))
    return false;
  for (ValueId y : r_.outputs())
    if (bufferOf_.count(y) || nodeOf_.at(y) < anchor_)
      return false;
  if (lowerWeightGradByParts(n, win))
    return true;
  const int64_t lanes = std::max<int64_t>(1, vectorBytes_ / static_cast<int64_t>(dtypeSize(t)));
  const int64_t mr = 6, nr = 2 * lanes;
  auto ceilDiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  const Sizes &xs = sizes_[x], &dys = sizes_[dy];
  if (dys[1] < mr || xs[1] < lanes)
    return false; // a block would read past dy's last pixel; most columns would be wasted
  const int64_t batch = dys[0], co = dys[1], oh = dys[2], ow = dys[3], ci = xs[1];
  const int64_t kh = win.kernel[0], kw = win.kernel[1];
  const int64_t chunks = ceilDiv(ci, nr), ldc = kw * chunks * nr, blocks = ceilDiv(co, mr);
  const int64_t wp = (ow - 1) * win.stride[1] + (kw - 1) * win.dilation[1] + 1;
  int rowBuf = scratch("input_row", t, wp * ci + nr), cb = scratch("c_block", t, mr * ldc);
  auto I = [](int64_t v) { return imm(static_cast<double>(v), DType::I64); };
  int task = newVar();
  // The last block ends at the last channel (overlapping the one before,
  // whose rows it does not store again), so every block reads 6 channels.
  ExprRef th = divIdx(index(task), blocks), start = mulIdx(remIdx(index(task), blocks), mr);
  ExprRef o0 = minIdx(start, I(co - mr)), skip = addIdx(start, mulIdx(o0, -1));
  Block body;
  {
    int i = newVar(), j = newVar();
    body.push_back(loop(i, mr, LoopKind::Serial,
                        {loop(j, ldc, LoopKind::Vector, {store(cb, addIdx(mulIdx(index(i), ldc), index(j)), imm(0, t))})}));
  }
  int b = newVar(), r = newVar();
  Block rowBody;
  { // the input row of tap row th, zero outside the image (and past its end)
    int px = newVar(), c = newVar(), z = newVar();
    ExprRef ih = addIdx(mulIdx(index(r), win.stride[0]), addIdx(mulIdx(th, win.dilation[0]), I(-win.padBegin[0])));
    ExprRef iw = addIdx(index(px), I(-win.padBegin[1]));
    ExprRef value = imageLoad(x, {index(b), index(c), ih, iw});
    rowBody.push_back(loop(px, wp, LoopKind::Serial,
                           {loop(c, ci, LoopKind::Vector, {store(rowBuf, addIdx(mulIdx(index(px), ci), index(c)), value)})}));
    rowBody.push_back(loop(z, nr, LoopKind::Serial, {store(rowBuf, addIdx(I(wp * ci), index(z)), imm(0, t))}));
  }
  {
    int tw = newVar(), chunk = newVar();
    ExprRef aAt = offset(dy, {index(b), o0, index(r), I(0)});
    ExprRef bAt = addIdx(mulIdx(index(tw), win.dilation[1] * ci), mulIdx(index(chunk), nr));
    Tile tile{bufferOf_.at(dy), rowBuf, aAt, bAt, I(ow), mr, nr, ldc, lanes, 1, co, win.stride[1] * ci, {}, nullptr};
    ExprRef cAt = addIdx(mulIdx(index(tw), chunks * nr), mulIdx(index(chunk), nr));
    rowBody.push_back(loop(tw, kw, LoopKind::Serial, {loop(chunk, chunks, LoopKind::Serial, {tileFma(cb, cAt, tile)})}));
  }
  body.push_back(loop(b, batch, LoopKind::Serial, {loop(r, oh, LoopKind::Serial, std::move(rowBody))}));
  { // epilogue: the block's output channels (fewer in the last block)
    int i = newVar(), tw = newVar(), c = newVar();
    ExprRef rowInBlock = addIdx(skip, index(i));
    anchorValue_ = load(cb, t, addIdx(mulIdx(rowInBlock, ldc), addIdx(mulIdx(index(tw), chunks * nr), index(c))));
    Coords cw = {addIdx(o0, rowInBlock), index(c), th, index(tw)};
    Block st;
    for (size_t y = 0; y < r_.outputs().size(); ++y)
      st.push_back(storeYield(y, cw));
    body.push_back(loopUpTo(i, mr, addIdx(I(mr), mulIdx(skip, -1)), LoopKind::Serial,
                            {loop(tw, kw, LoopKind::Serial, {loop(c, ci, LoopKind::Vector, std::move(st))})}));
  }
  k_.body = {loop(task, kh * blocks, LoopKind::Parallel, std::move(body))};
  return true;
}

/// The direct form of a 2-D conv or stride-1 input gradient over an NHWC
/// image, when it applies.
std::optional<Lowerer::Direct> Lowerer::directConv(const Node &n, const Window &win) {
  DType t = r_.type(n.results[0]).dtype;
  ValueId x = n.operands[0], w = n.operands[1];
  if (win.kernel.size() != 2 || r_.type(x).layout.kind != Layout::NHWC || (t != DType::F32 && t != DType::F64))
    return std::nullopt;
  for (ValueId y : r_.outputs())
    if (bufferOf_.count(y) || nodeOf_.at(y) < anchor_)
      return std::nullopt;
  Direct d;
  d.x = x;
  d.out = sizes_[n.results[0]];
  d.kh = win.kernel[0], d.kw = win.kernel[1], d.dilH = win.dilation[0], d.dilW = win.dilation[1];
  int wb = bufferOf_.at(w);
  if (n.op == OpKind::Conv) {
    d.cin = sizes_[x][1], d.cout = d.out[1];
    // Fewer output pixels than channels (a late layer at a small batch):
    // the weights outweigh the image, and the direct form packs all of
    // them in every thread; the im2col contraction splits them instead.
    if (product(d.out) / d.cout < d.cout)
      return std::nullopt;
    d.strideH = win.stride[0], d.strideW = win.stride[1], d.padT = win.padBegin[0], d.padL = win.padBegin[1];
    d.w = [this, w, wb, t](const ExprRef &co, const ExprRef &ci, const ExprRef &th, const ExprRef &tw) {
      return load(wb, t, offset(w, {co, ci, th, tw}));
    };
    return d;
  }
  // dx is a stride-1 conv of dy with the taps reversed and the padding
  // mirrored: dy[i + pad - k * dil] = dy[i - ((K - 1) * dil - pad) + (K - 1 - k) * dil].
  if (n.op != OpKind::ConvGradInput || win.stride[0] != 1 || win.stride[1] != 1)
    return std::nullopt;
  d.cin = sizes_[x][1], d.cout = d.out[1];
  d.padT = (d.kh - 1) * d.dilH - win.padBegin[0], d.padL = (d.kw - 1) * d.dilW - win.padBegin[1];
  if (d.padT < 0 || d.padL < 0)
    return std::nullopt;
  int64_t kh = d.kh, kw = d.kw;
  d.w = [this, w, wb, t, kh, kw](const ExprRef &c, const ExprRef &o, const ExprRef &th, const ExprRef &tw) {
    ExprRef rh = addIdx(mulIdx(th, -1), imm(static_cast<double>(kh - 1), DType::I64));
    ExprRef rw = addIdx(mulIdx(tw, -1), imm(static_cast<double>(kw - 1), DType::I64));
    return load(wb, t, offset(w, {o, c, rh, rw}));
  };
  return d;
}

} // namespace kiln::lower::detail
