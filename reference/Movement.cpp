//===- reference/Movement.cpp - Reference data movement -----------===//
#include "reference/Kernels.h"
#include "ir/DimExpr.h"

namespace kiln::ref {

using namespace ir;

namespace {

Expected<Sizes> resolveReshape(const std::vector<int64_t> &spec, const Sizes &in) {
  Sizes out;
  int inferAt = -1;
  int64_t known = 1;
  for (size_t i = 0; i < spec.size(); ++i) {
    int64_t d = spec[i];
    if (d == -1) {
      inferAt = static_cast<int>(i);
      out.push_back(1);
      continue;
    }
    if (d == 0)
      d = in[i];
    out.push_back(d);
    known *= d;
  }
  int64_t total = product(in);
  if (inferAt >= 0) {
    if (known == 0 || total % known != 0)
      return makeError("cannot reshape {} to [{}]", toString(in), fmt::join(spec, ","));
    out[inferAt] = total / known;
  } else if (known != total) {
    return makeError("cannot reshape {} ({} elements) to {}", toString(in), total, toString(out));
  }
  return out;
}

Expected<Sizes> resolveShape(const Shape &shape, const SymbolEnv &env) {
  Sizes out;
  for (const Dim &d : shape) {
    if (d.isConst()) {
      out.push_back(d.value);
      continue;
    }
    KILN_ASSIGN(std::optional<int64_t> size, evalDim(d, env));
    if (!size)
      return makeError("dim {} of {} is not bound by the inputs", toString(d), toString(shape));
    out.push_back(*size);
  }
  return out;
}

/// Copies x into a new shape by mapping every output index to an input
/// offset: out[i] = x[src(index)], or `fill` where src returns -1.
template <typename F> Arr gatherBy(const Arr &x, Sizes shape, F src, double fill = 0) {
  Arr out(x.dtype, std::move(shape));
  Sizes index;
  for (int64_t i = 0; i < out.size(); ++i) {
    unravel(i, out.shape, index);
    int64_t s = src(index);
    out.v[i] = s < 0 ? fill : x.v[s];
  }
  return out;
}

int64_t offsetOf(const Sizes &index, const Sizes &strides) {
  int64_t off = 0;
  for (size_t d = 0; d < index.size(); ++d)
    off += index[d] * strides[d];
  return off;
}

} // namespace

Results evalMovement(const KernelCtx &ctx, Args args) {
  const Arr &x = *args[0];
  const AttrView &a = ctx.attrs;
  Sizes xStrides = stridesOf(x.shape);
  switch (ctx.node.op) {
  case OpKind::Reshape: {
    auto shape = resolveReshape(a.getInts("shape"), x.shape);
    if (!shape)
      return shape.error();
    Arr out = x;
    out.shape = shape.take();
    return std::vector<Arr>{std::move(out)};
  }
  case OpKind::Identity:
  case OpKind::LayoutConvert: // the logical tensor is unchanged
    return std::vector<Arr>{x};
  case OpKind::Transpose: {
    std::vector<int64_t> perm = a.getInts("perm");
    if (perm.empty())
      for (int i = x.rank() - 1; i >= 0; --i)
        perm.push_back(i);
    Sizes shape;
    for (int64_t p : perm)
      shape.push_back(x.shape[p]);
    return std::vector<Arr>{gatherBy(x, shape, [&](const Sizes &idx) {
      int64_t off = 0;
      for (size_t d = 0; d < idx.size(); ++d)
        off += idx[d] * xStrides[perm[d]];
      return off;
    })};
  }
  case OpKind::BroadcastTo: {
    auto target = resolveShape(a.getShape("shape"), ctx.env);
    if (!target)
      return target.error();
    auto shape = broadcastSizes(x.shape, *target);
    if (!shape)
      return shape.error();
    Sizes s = broadcastStrides(x.shape, *shape);
    return std::vector<Arr>{gatherBy(x, *shape, [&](const Sizes &idx) { return offsetOf(idx, s); })};
  }
  case OpKind::Concat: {
    auto axis = normalizeAxis(a.getInt("axis"), x.rank());
    if (!axis)
      return axis.error();
    Sizes shape = x.shape;
    shape[*axis] = 0;
    for (const Arr *arg : args)
      shape[*axis] += arg->shape[*axis];
    Arr out(x.dtype, shape);
    Sizes index;
    for (int64_t i = 0; i < out.size(); ++i) {
      unravel(i, shape, index);
      size_t k = 0;
      while (index[*axis] >= args[k]->shape[*axis])
        index[*axis] -= args[k++]->shape[*axis];
      out.v[i] = args[k]->v[offsetOf(index, stridesOf(args[k]->shape))];
    }
    return std::vector<Arr>{std::move(out)};
  }
  case OpKind::Slice: {
    const auto &starts = a.getInts("starts"), &ends = a.getInts("ends");
    std::vector<int64_t> axes = a.getInts("axes"), steps = a.getInts("steps");
    Sizes start(x.rank(), 0), step(x.rank(), 1), shape = x.shape;
    for (size_t i = 0; i < starts.size(); ++i) {
      int ax = *normalizeAxis(axes.empty() ? static_cast<int64_t>(i) : axes[i], x.rank());
      SliceBounds b = sliceBounds(starts[i], ends[i], steps.empty() ? 1 : steps[i], x.shape[ax]);
      start[ax] = b.start;
      step[ax] = b.step;
      shape[ax] = b.count;
    }
    return std::vector<Arr>{gatherBy(x, shape, [&](const Sizes &idx) {
      int64_t off = 0;
      for (size_t d = 0; d < idx.size(); ++d)
        off += (start[d] + idx[d] * step[d]) * xStrides[d];
      return off;
    })};
  }
  case OpKind::Pad: {
    const auto &pads = a.getInts("pads");
    const std::string &mode = a.getString("mode");
    int r = x.rank();
    Sizes shape = x.shape;
    for (int d = 0; d < r; ++d)
      shape[d] += pads[d] + pads[d + r];
    return std::vector<Arr>{gatherBy(
        x, shape,
        [&](const Sizes &idx) -> int64_t {
          int64_t off = 0;
          for (int d = 0; d < r; ++d) {
            int64_t p = idx[d] - pads[d], n = x.shape[d];
            if (p < 0 || p >= n) {
              if (mode == "constant")
                return -1;
              if (mode == "edge")
                p = p < 0 ? 0 : n - 1;
              else // reflect, without repeating the edge
                p = p < 0 ? -p : 2 * (n - 1) - p;
            }
            off += p * xStrides[d];
          }
          return off;
        },
        a.getFloat("value"))};
  }
  case OpKind::Gather: {
    const Arr &idx = *args[1];
    int axis = *normalizeAxis(a.getInt("axis"), x.rank());
    int64_t n = x.shape[axis];
    for (double v : idx.v)
      if (v < -n || v >= n)
        return makeError("index {} is out of range for dim {} of size {}", static_cast<int64_t>(v), axis, n);
    Sizes shape(x.shape.begin(), x.shape.begin() + axis);
    shape.insert(shape.end(), idx.shape.begin(), idx.shape.end());
    shape.insert(shape.end(), x.shape.begin() + axis + 1, x.shape.end());
    Sizes idxStrides = stridesOf(idx.shape);
    int ir = idx.rank();
    return std::vector<Arr>{gatherBy(x, shape, [&](const Sizes &o) {
      int64_t io = 0;
      for (int d = 0; d < ir; ++d)
        io += o[axis + d] * idxStrides[d];
      auto k = static_cast<int64_t>(idx.v[io]);
      if (k < 0)
        k += n;
      int64_t off = k * xStrides[axis];
      for (int d = 0; d < axis; ++d)
        off += o[d] * xStrides[d];
      for (int d = axis + 1; d < x.rank(); ++d)
        off += o[d - 1 + ir] * xStrides[d];
      return off;
    })};
  }
  case OpKind::GatherElements: {
    const Arr &idx = *args[1];
    int axis = *normalizeAxis(a.getInt("axis"), x.rank());
    int64_t n = x.shape[axis];
    for (int d = 0; d < x.rank(); ++d)
      if (d != axis && idx.shape[d] > x.shape[d])
        return makeError("indices {} exceed data {} in dim {}", toString(idx.shape), toString(x.shape), d);
    Arr out(x.dtype, idx.shape);
    Sizes index;
    for (int64_t i = 0; i < out.size(); ++i) {
      auto k = static_cast<int64_t>(idx.v[i]);
      if (k < -n || k >= n)
        return makeError("index {} is out of range for dim {} of size {}", k, axis, n);
      unravel(i, idx.shape, index);
      index[axis] = k < 0 ? k + n : k;
      out.v[i] = x.v[offsetOf(index, xStrides)];
    }
    return std::vector<Arr>{std::move(out)};
  }
  case OpKind::OneHot: {
    int64_t depth = a.getInt("depth");
    int axis = *normalizeAxis(a.getInt("axis"), x.rank() + 1);
    Sizes shape = x.shape;
    shape.insert(shape.begin() + axis, depth);
    Arr out(ctx.resultTypes[0], shape);
    Sizes index;
    for (int64_t i = 0; i < out.size(); ++i) {
      unravel(i, shape, index);
      int64_t cls = index[axis];
      index.erase(index.begin() + axis);
      auto k = static_cast<int64_t>(x.v[offsetOf(index, xStrides)]);
      if (k < 0)
        k += depth; // ONNX: indices in [-depth, depth) count from the end when negative
      out.v[i] = k == cls ? 1.0 : 0.0;
    }
    return std::vector<Arr>{std::move(out)};
  }
  default: return makeError("no reference kernel");
  }
}

} // namespace kiln::ref
