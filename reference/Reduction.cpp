//===- reference/Reduction.cpp - Reference reductions -------------===//
#include "reference/Kernels.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::ref {

using namespace ir;

namespace {

/// For every element of `in`, the flat index of its slot in the reduced
/// shape (reduced axes collapsed to size 1).
struct ReduceMap {
  Sizes keptShape; ///< the shape with reduced axes set to 1
  std::vector<int64_t> slot;
};

ReduceMap mapReduction(const Sizes &in, const std::vector<int> &axes) {
  ReduceMap m;
  m.keptShape = in;
  for (int a : axes)
    m.keptShape[a] = 1;
  Sizes outStrides = stridesOf(m.keptShape), index;
  m.slot.resize(static_cast<size_t>(product(in)));
  for (int64_t i = 0; i < static_cast<int64_t>(m.slot.size()); ++i) {
    unravel(i, in, index);
    int64_t off = 0;
    for (size_t d = 0; d < in.size(); ++d)
      off += (m.keptShape[d] == 1 ? 0 : index[d]) * outStrides[d];
    m.slot[i] = off;
  }
  return m;
}

Sizes resultShape(const Sizes &in, const std::vector<int> &axes, bool keep) {
  Sizes out;
  for (int i = 0; i < static_cast<int>(in.size()); ++i) {
    bool reduced = std::find(axes.begin(), axes.end(), i) != axes.end();
    if (!reduced)
      out.push_back(in[i]);
    else if (keep)
      out.push_back(1);
  }
  return out;
}

} // namespace

Results evalReduction(const KernelCtx &ctx, Args args) {
  const Arr &x = *args[0];
  OpKind op = ctx.node.op;
  if (op == OpKind::ArgMax || op == OpKind::ArgMin) {
    auto axis = normalizeAxis(ctx.attrs.getInt("axis"), x.rank());
    if (!axis)
      return axis.error();
    if (x.shape[*axis] == 0)
      return makeError("{} over an empty axis", ctx.node.info().name);
    bool last = ctx.attrs.getBool("select_last_index");
    ReduceMap m = mapReduction(x.shape, {*axis});
    Arr best(x.dtype, m.keptShape, NAN), out(DType::I64, m.keptShape, -1);
    Sizes index;
    for (int64_t i = 0; i < x.size(); ++i) {
      unravel(i, x.shape, index);
      int64_t s = m.slot[i];
      double v = x.v[i];
      bool better = out.v[s] < 0 || (op == OpKind::ArgMax ? v > best.v[s] : v < best.v[s]) ||
                    (last && v == best.v[s]);
      if (better) {
        best.v[s] = v;
        out.v[s] = static_cast<double>(index[*axis]);
      }
    }
    out.shape = resultShape(x.shape, {*axis}, ctx.attrs.getBool("keepdims"));
    return std::vector<Arr>{std::move(out)};
  }

  auto axes = normalizeAxes(ctx.attrs.getInts("axes"), x.rank());
  if (!axes)
    return axes.error();
  ReduceMap m = mapReduction(x.shape, *axes);
  double init = 0;
  if (op == OpKind::ReduceProd)
    init = 1;
  else if (op == OpKind::ReduceMax)
    init = -std::numeric_limits<double>::infinity();
  else if (op == OpKind::ReduceMin)
    init = std::numeric_limits<double>::infinity();
  Arr out(x.dtype, m.keptShape, init);
  for (int64_t i = 0; i < x.size(); ++i) {
    double &acc = out.v[m.slot[i]];
    double v = x.v[i];
    switch (op) {
    case OpKind::ReduceSum:
    case OpKind::ReduceMean: acc += v; break;
    case OpKind::ReduceProd: acc *= v; break;
    case OpKind::ReduceMax: acc = std::isnan(v) || std::isnan(acc) ? NAN : std::max(acc, v); break;
    case OpKind::ReduceMin: acc = std::isnan(v) || std::isnan(acc) ? NAN : std::min(acc, v); break;
    default: return makeError("not a reduction");
    }
  }
  if (op == OpKind::ReduceMean) {
    double count = static_cast<double>(x.size()) / static_cast<double>(std::max<int64_t>(out.size(), 1));
    if (x.size() == 0)
      count = 0;
    for (double &v : out.v)
      v = isInteger(x.dtype) ? std::trunc(v / count) : v / count;
  }
  out.shape = resultShape(x.shape, *axes, ctx.attrs.getBool("keepdims"));
  return std::vector<Arr>{std::move(out)};
}

} // namespace kiln::ref
