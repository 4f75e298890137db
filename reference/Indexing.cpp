//===- reference/Indexing.cpp - Reference kernels: top_k, scatter, cumsum --===//
//
// Selection and scans along one axis, and GatherND/ScatterND's slices. Each walks the tensor as
// [outer, axis, inner] (row-major), so one element of the axis is `inner`
// apart from the next.
//
//===----------------------------------------------------------------------===//
#include "reference/Kernels.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace kiln::ref {

using namespace ir;

namespace {

/// The tensor seen as [outer, n, inner] around `axis`.
struct AxisView {
  int64_t outer = 1, n = 1, inner = 1;
  AxisView(const Sizes &shape, int axis) {
    for (int d = 0; d < static_cast<int>(shape.size()); ++d)
      (d < axis ? outer : d == axis ? n : inner) *= shape[static_cast<size_t>(d)];
  }
  int64_t at(int64_t o, int64_t k, int64_t i) const { return (o * n + k) * inner + i; }
};

/// `t` combined with `u` by a scatter's reduction.
void combine(double &t, double u, const std::string &reduction) {
  if (reduction == "add")
    t += u;
  else if (reduction == "mul")
    t *= u;
  else if (reduction == "max")
    t = std::max(t, u);
  else if (reduction == "min")
    t = std::min(t, u);
  else
    t = u;
}

/// GatherND/ScatterND's addressing: data [B..., D1..Dk, rest...] and
/// indices [B..., rows..., k]; `row(i)` is where the slice that index row i
/// names starts in data, the slices `slice` elements long.
struct NDView {
  int64_t batches = 1, rows = 1, slice = 1, perBatch = 1;
  int64_t k = 0;
  Sizes dims, strides; // the k indexed dims of data and their strides within a batch
  NDView(const Sizes &data, const Sizes &idx, int64_t b) : k(idx.back()) {
    for (int64_t d = 0; d < b; ++d)
      batches *= data[static_cast<size_t>(d)];
    for (size_t d = static_cast<size_t>(b); d + 1 < idx.size(); ++d)
      rows *= idx[d];
    for (size_t d = static_cast<size_t>(b + k); d < data.size(); ++d)
      slice *= data[d];
    for (size_t d = static_cast<size_t>(b); d < data.size(); ++d)
      perBatch *= data[d];
    int64_t stride = slice;
    for (int64_t j = k - 1; j >= 0; --j) {
      dims.insert(dims.begin(), data[static_cast<size_t>(b + j)]);
      strides.insert(strides.begin(), stride);
      stride *= data[static_cast<size_t>(b + j)];
    }
  }
  /// The offset in data of index row r of batch i.
  Expected<int64_t> row(const Arr &idx, int64_t i, int64_t r) const {
    int64_t at = i * perBatch;
    for (int64_t j = 0; j < k; ++j) {
      auto c = static_cast<int64_t>(idx.v[static_cast<size_t>((i * rows + r) * k + j)]);
      int64_t n = dims[static_cast<size_t>(j)];
      if (c < -n || c >= n)
        return makeError("index {} is out of range for a dim of size {}", c, n);
      at += (c < 0 ? c + n : c) * strides[static_cast<size_t>(j)];
    }
    return at;
  }
};

} // namespace

Results gatherND(const KernelCtx &ctx, Args args) {
  const Arr &data = *args[0], &idx = *args[1];
  int64_t b = ctx.attrs.getInt("batch_dims");
  NDView v(data.shape, idx.shape, b);
  Sizes shape(idx.shape.begin(), idx.shape.end() - 1);
  shape.insert(shape.end(), data.shape.begin() + b + v.k, data.shape.end());
  Arr out(data.dtype, shape);
  for (int64_t i = 0; i < v.batches; ++i)
    for (int64_t r = 0; r < v.rows; ++r) {
      KILN_ASSIGN(int64_t at, v.row(idx, i, r));
      std::copy_n(data.v.begin() + at, v.slice, out.v.begin() + (i * v.rows + r) * v.slice);
    }
  return std::vector<Arr>{std::move(out)};
}

Results scatterND(const KernelCtx &ctx, Args args) {
  const Arr &data = *args[0], &idx = *args[1], &upd = *args[2];
  const std::string &reduction = ctx.attrs.getString("reduction");
  NDView v(data.shape, idx.shape, 0);
  if (upd.size() != v.rows * v.slice)
    return makeError("updates {} do not fit indices {} into data {}", toString(upd.shape), toString(idx.shape),
                     toString(data.shape));
  Arr out = data;
  for (int64_t r = 0; r < v.rows; ++r) {
    KILN_ASSIGN(int64_t at, v.row(idx, 0, r));
    for (int64_t s = 0; s < v.slice; ++s)
      combine(out.v[static_cast<size_t>(at + s)], upd.v[static_cast<size_t>(r * v.slice + s)], reduction);
  }
  return std::vector<Arr>{std::move(out)};
}

Results topK(const KernelCtx &ctx, Args args) {
  const Arr &x = *args[0];
  int axis = *normalizeAxis(ctx.attrs.getInt("axis"), x.rank());
  int64_t k = ctx.attrs.getInt("k");
  bool largest = ctx.attrs.getBool("largest");
  AxisView in(x.shape, axis);
  if (k > in.n)
    return makeError("k = {} is larger than axis {} ({})", k, axis, in.n);
  Sizes shape = x.shape;
  shape[static_cast<size_t>(axis)] = k;
  Arr out(DType::I64, shape);
  AxisView res(shape, axis);
  std::vector<int64_t> order(static_cast<size_t>(in.n));
  for (int64_t o = 0; o < in.outer; ++o)
    for (int64_t i = 0; i < in.inner; ++i) {
      std::iota(order.begin(), order.end(), 0);
      // By value (NaN as the largest, as NumPy sorts it), ties to the lower index.
      auto key = [&](int64_t j) { return x.v[static_cast<size_t>(in.at(o, j, i))]; };
      std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
        double va = key(a), vb = key(b);
        bool na = std::isnan(va), nb = std::isnan(vb);
        if (na != nb)
          return largest ? na : nb;
        if (!na && va != vb)
          return largest ? va > vb : va < vb;
        return a < b; // ties (NaN with NaN too) to the lower index
      });
      for (int64_t j = 0; j < k; ++j)
        out.v[static_cast<size_t>(res.at(o, j, i))] = static_cast<double>(order[static_cast<size_t>(j)]);
    }
  return std::vector<Arr>{std::move(out)};
}

Results scatterElements(const KernelCtx &ctx, Args args) {
  const Arr &data = *args[0], &idx = *args[1], &upd = *args[2];
  int axis = *normalizeAxis(ctx.attrs.getInt("axis"), data.rank());
  const std::string &reduction = ctx.attrs.getString("reduction");
  if (idx.shape != upd.shape)
    return makeError("indices {} and updates {} differ in shape", toString(idx.shape), toString(upd.shape));
  for (int d = 0; d < data.rank(); ++d)
    if (d != axis && idx.shape[static_cast<size_t>(d)] > data.shape[static_cast<size_t>(d)])
      return makeError("indices {} exceed data {} in dim {}", toString(idx.shape), toString(data.shape), d);
  Arr out = data;
  Sizes strides = stridesOf(data.shape), index;
  int64_t n = data.shape[static_cast<size_t>(axis)];
  for (int64_t i = 0; i < idx.size(); ++i) {
    auto k = static_cast<int64_t>(idx.v[static_cast<size_t>(i)]);
    if (k < -n || k >= n)
      return makeError("index {} is out of range for dim {} of size {}", k, axis, n);
    unravel(i, idx.shape, index);
    index[static_cast<size_t>(axis)] = k < 0 ? k + n : k;
    int64_t at = 0;
    for (size_t d = 0; d < index.size(); ++d)
      at += index[d] * strides[d];
    combine(out.v[static_cast<size_t>(at)], upd.v[static_cast<size_t>(i)], reduction);
  }
  return std::vector<Arr>{std::move(out)};
}

Results cumSum(const KernelCtx &ctx, Args args) {
  const Arr &x = *args[0];
  int axis = *normalizeAxis(ctx.attrs.getInt("axis"), x.rank());
  bool exclusive = ctx.attrs.getBool("exclusive"), reverse = ctx.attrs.getBool("reverse");
  AxisView v(x.shape, axis);
  Arr out(x.dtype, x.shape);
  for (int64_t o = 0; o < v.outer; ++o)
    for (int64_t i = 0; i < v.inner; ++i) {
      double sum = 0;
      for (int64_t s = 0; s < v.n; ++s) {
        int64_t k = reverse ? v.n - 1 - s : s;
        size_t at = static_cast<size_t>(v.at(o, k, i));
        if (exclusive) {
          out.v[at] = sum;
          sum += x.v[at];
        } else {
          sum += x.v[at];
          out.v[at] = sum;
        }
      }
    }
  return std::vector<Arr>{std::move(out)};
}

} // namespace kiln::ref
