//===- reference/Contraction.cpp - Reference matmul and conv ------===//
#include "reference/Kernels.h"

namespace kiln::ref {

using namespace ir;

namespace {

Results matmul(const KernelCtx &ctx, const Arr &a0, const Arr &b0) {
  bool ta = ctx.attrs.getBool("transpose_a"), tb = ctx.attrs.getBool("transpose_b");
  Sizes as = a0.shape, bs = b0.shape;
  bool aVec = as.size() == 1, bVec = bs.size() == 1;
  if (aVec)
    as.insert(as.begin(), 1);
  if (bVec)
    bs.push_back(1);
  size_t ar = as.size(), br = bs.size();
  // Logical (m, k) of a and (k, n) of b, whatever the stored order.
  int64_t m = ta ? as[ar - 1] : as[ar - 2], ka = ta ? as[ar - 2] : as[ar - 1];
  int64_t kb = tb ? bs[br - 1] : bs[br - 2], n = tb ? bs[br - 2] : bs[br - 1];
  if (ka != kb)
    return makeError("contracted dims {} and {} differ", ka, kb);
  Sizes aBatch(as.begin(), as.end() - 2), bBatch(bs.begin(), bs.end() - 2);
  auto batch = broadcastSizes(aBatch, bBatch);
  if (!batch)
    return batch.error();
  Sizes aStr = broadcastStrides(aBatch, *batch), bStr = broadcastStrides(bBatch, *batch);
  int64_t aMat = as[ar - 2] * as[ar - 1], bMat = bs[br - 2] * bs[br - 1];
  Sizes outShape = *batch;
  outShape.push_back(m);
  outShape.push_back(n);
  Arr out(a0.dtype, outShape);
  Sizes bi;
  int64_t nb = product(*batch);
  for (int64_t t = 0; t < nb; ++t) {
    unravel(t, *batch, bi);
    int64_t aOff = 0, bOff = 0;
    for (size_t d = 0; d < bi.size(); ++d) {
      aOff += bi[d] * aStr[d] * aMat;
      bOff += bi[d] * bStr[d] * bMat;
    }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t k = 0; k < ka; ++k) {
          double av = a0.v[aOff + (ta ? k * m + i : i * ka + k)];
          double bv = b0.v[bOff + (tb ? j * kb + k : k * n + j)];
          acc += av * bv;
        }
        out.v[(t * m + i) * n + j] = acc;
      }
  }
  if (aVec)
    out.shape.erase(out.shape.end() - 2);
  if (bVec)
    out.shape.pop_back();
  return std::vector<Arr>{std::move(out)};
}

Sizes spatialOf(const Sizes &s) { return Sizes(s.begin() + 2, s.end()); }

Expected<Sizes> windowOutputSizes(const Window &w, const Sizes &in) {
  Sizes out;
  for (int d = 0; d < w.spatialRank(); ++d) {
    auto o = windowOutput(w, d, in[d]);
    if (!o)
      return o.error();
    out.push_back(*o);
  }
  return out;
}

} // namespace

Results evalContraction(const KernelCtx &ctx, Args args) {
  OpKind op = ctx.node.op;
  if (op == OpKind::MatMul)
    return matmul(ctx, *args[0], *args[1]);
  int64_t groups = ctx.attrs.getInt("groups");
  switch (op) {
  case OpKind::Conv: {
    const Arr &x = *args[0], &wt = *args[1];
    auto win = readWindow(ctx.attrs, spatialOf(wt.shape));
    if (!win)
      return win.error();
    auto out = windowOutputSizes(*win, spatialOf(x.shape));
    if (!out)
      return out.error();
    Sizes ys = {x.shape[0], wt.shape[0]};
    ys.insert(ys.end(), out->begin(), out->end());
    Arr y(x.dtype, ys);
    forEachConvTap(x.shape, wt.shape, ys, *win, groups,
                   [&](int64_t xi, int64_t wi, int64_t yi) { y.v[yi] += x.v[xi] * wt.v[wi]; });
    return std::vector<Arr>{std::move(y)};
  }
  case OpKind::ConvGradInput: {
    const Arr &dy = *args[0], &wt = *args[1];
    auto win = readWindow(ctx.attrs, spatialOf(wt.shape));
    if (!win)
      return win.error();
    Sizes xs = {dy.shape[0], wt.shape[1] * groups};
    for (int64_t s : ctx.attrs.getInts("input_size"))
      xs.push_back(s);
    Arr dx(dy.dtype, xs);
    forEachConvTap(xs, wt.shape, dy.shape, *win, groups,
                   [&](int64_t xi, int64_t wi, int64_t yi) { dx.v[xi] += dy.v[yi] * wt.v[wi]; });
    return std::vector<Arr>{std::move(dx)};
  }
  case OpKind::ConvGradWeight: {
    const Arr &x = *args[0], &dy = *args[1];
    auto win = readWindow(ctx.attrs, ctx.attrs.getInts("kernel_size"));
    if (!win)
      return win.error();
    Sizes ws = {dy.shape[1], x.shape[1] / groups};
    ws.insert(ws.end(), win->kernel.begin(), win->kernel.end());
    Arr dw(x.dtype, ws);
    forEachConvTap(x.shape, ws, dy.shape, *win, groups,
                   [&](int64_t xi, int64_t wi, int64_t yi) { dw.v[wi] += x.v[xi] * dy.v[yi]; });
    return std::vector<Arr>{std::move(dw)};
  }
  case OpKind::ConvTranspose: {
    // y = conv_transpose(x, w) is the input gradient of a conv whose input is
    // y, whose weight is w[C, O/groups, k...] and whose output is x.
    const Arr &x = *args[0], &wt = *args[1];
    auto win = readWindow(ctx.attrs, spatialOf(wt.shape));
    if (!win)
      return win.error();
    std::vector<int64_t> outPad = ctx.attrs.getInts("output_padding");
    outPad.resize(static_cast<size_t>(win->spatialRank()), 0);
    Sizes ys = {x.shape[0], wt.shape[1] * groups};
    for (int d = 0; d < win->spatialRank(); ++d)
      ys.push_back(transposedOutput(*win, d, x.shape[d + 2], outPad[d]));
    Arr y(x.dtype, ys);
    forEachConvTap(ys, wt.shape, x.shape, *win, groups,
                   [&](int64_t yi, int64_t wi, int64_t xi) { y.v[yi] += x.v[xi] * wt.v[wi]; });
    return std::vector<Arr>{std::move(y)};
  }
  default: return makeError("no reference kernel");
  }
}

} // namespace kiln::ref
