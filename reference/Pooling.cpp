//===- reference/Pooling.cpp - Reference pooling and its gradients -===//
#include "reference/Kernels.h"

#include <cmath>
#include <limits>

namespace kiln::ref {

using namespace ir;

namespace {

/// Visits every (plane, output position) of a pooling of x[N,C,in...] to
/// y[N,C,out...]: f(xBase, yIndex, outPos).
template <typename F> void forEachWindow(const Sizes &x, const Sizes &y, F f) {
  Sizes in(x.begin() + 2, x.end()), out(y.begin() + 2, y.end()), pos;
  int64_t planes = x[0] * x[1], inSize = product(in), outSize = product(out);
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t o = 0; o < outSize; ++o) {
      unravel(o, out, pos);
      f(p * inSize, p * outSize + o, pos);
    }
}

Expected<Sizes> pooledShape(const Window &w, const Sizes &x) {
  Sizes y = {x[0], x[1]};
  for (int d = 0; d < w.spatialRank(); ++d) {
    auto o = windowOutput(w, d, x[d + 2]);
    if (!o)
      return o.error();
    y.push_back(*o);
  }
  return y;
}

/// The first maximum of a window (padding never wins), or -1 if none.
int64_t argmaxTap(const Window &w, const Sizes &in, const Sizes &pos, const Arr &x, int64_t base) {
  int64_t best = -1;
  forEachTap(w, in, pos, [&](int64_t, int64_t i, bool) {
    if (i < 0)
      return;
    if (best < 0) {
      best = i;
      return;
    }
    double v = x.v[base + i], b = x.v[base + best];
    if (!std::isnan(b) && (std::isnan(v) || v > b)) // a NaN wins, as in max
      best = i;
  });
  return best;
}

/// The divisor of an average window and its in-input taps.
double avgCount(const Window &w, const Sizes &in, const Sizes &pos, bool includePad) {
  double count = 0;
  forEachTap(w, in, pos, [&](int64_t, int64_t i, bool padded) { count += includePad ? padded : i >= 0; });
  return count;
}

} // namespace

Results evalPooling(const KernelCtx &ctx, Args args) {
  OpKind op = ctx.node.op;
  const Arr &x0 = *args[0];
  if (op == OpKind::GlobalAvgPool || op == OpKind::GlobalMaxPool) {
    Sizes ys = {x0.shape[0], x0.shape[1]};
    ys.resize(x0.shape.size(), 1);
    int64_t inner = product(Sizes(x0.shape.begin() + 2, x0.shape.end()));
    bool isMax = op == OpKind::GlobalMaxPool;
    Arr y(x0.dtype, ys, isMax ? -std::numeric_limits<double>::infinity() : 0.0);
    for (int64_t p = 0; p < y.size(); ++p) {
      for (int64_t i = 0; i < inner; ++i) {
        double v = x0.v[p * inner + i];
        y.v[p] = isMax ? (std::isnan(v) ? v : std::max(y.v[p], v)) : y.v[p] + v;
      }
      if (!isMax)
        y.v[p] /= static_cast<double>(inner);
    }
    return std::vector<Arr>{std::move(y)};
  }

  auto win = readWindow(ctx.attrs, ctx.attrs.getInts("kernel"));
  if (!win)
    return win.error();
  bool includePad = ctx.attrs.has("count_include_pad") && ctx.attrs.getBool("count_include_pad");
  switch (op) {
  case OpKind::MaxPool:
  case OpKind::AvgPool: {
    const Arr &x = x0;
    auto ys = pooledShape(*win, x.shape);
    if (!ys)
      return ys.error();
    Sizes in(x.shape.begin() + 2, x.shape.end());
    Arr y(x.dtype, *ys);
    forEachWindow(x.shape, *ys, [&](int64_t base, int64_t yi, const Sizes &pos) {
      if (op == OpKind::MaxPool) {
        int64_t best = argmaxTap(*win, in, pos, x, base);
        y.v[yi] = best < 0 ? -std::numeric_limits<double>::infinity() : x.v[base + best];
        return;
      }
      double sum = 0;
      forEachTap(*win, in, pos, [&](int64_t, int64_t i, bool) { sum += i >= 0 ? x.v[base + i] : 0.0; });
      y.v[yi] = sum / avgCount(*win, in, pos, includePad);
    });
    return std::vector<Arr>{std::move(y)};
  }
  case OpKind::MaxPoolGrad: {
    const Arr &dy = *args[0], &x = *args[1];
    Sizes in(x.shape.begin() + 2, x.shape.end());
    Arr dx(x.dtype, x.shape);
    forEachWindow(x.shape, dy.shape, [&](int64_t base, int64_t yi, const Sizes &pos) {
      int64_t best = argmaxTap(*win, in, pos, x, base);
      if (best >= 0)
        dx.v[base + best] += dy.v[yi];
    });
    return std::vector<Arr>{std::move(dx)};
  }
  case OpKind::AvgPoolGrad: {
    const Arr &dy = x0;
    Sizes xs = {dy.shape[0], dy.shape[1]};
    for (int64_t s : ctx.attrs.getInts("input_size"))
      xs.push_back(s);
    Sizes in(xs.begin() + 2, xs.end());
    Arr dx(dy.dtype, xs);
    forEachWindow(xs, dy.shape, [&](int64_t base, int64_t yi, const Sizes &pos) {
      double share = dy.v[yi] / avgCount(*win, in, pos, includePad);
      forEachTap(*win, in, pos, [&](int64_t, int64_t i, bool) {
        if (i >= 0)
          dx.v[base + i] += share;
      });
    });
    return std::vector<Arr>{std::move(dx)};
  }
  default: return makeError("no reference kernel");
  }
}

} // namespace kiln::ref
