//===- ir/TypeRules.cpp - Type inference rules of the op table ------------===//
#include "ir/TypeRules.h"
#include "ir/DimExpr.h"
#include "ir/Limits.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

namespace kiln::ir {

using Types = std::vector<Type>;
using Result = Expected<Types>;

namespace {

Type makeType(DType dt, Shape shape, Layout layout = {}) { return Type{dt, std::move(shape), layout}; }

Status requireFloat(const Type &t, std::string_view what) {
  if (!isFloat(t.dtype))
    return makeError("{} must be floating-point, got {}", what, toString(t));
  return {};
}
Status requireNumeric(const Type &t, std::string_view what) {
  if (!isNumeric(t.dtype))
    return makeError("{} must be numeric, got {}", what, toString(t));
  return {};
}
Status requireInteger(const Type &t, std::string_view what) {
  if (!isInteger(t.dtype))
    return makeError("{} must be an integer tensor, got {}", what, toString(t));
  return {};
}
Status requireRank(const Type &t, int minRank, std::string_view what) {
  if (t.rank() < minRank)
    return makeError("{} must have rank >= {}, got {}", what, minRank, toString(t));
  return {};
}
Status sameDType(const Type &a, const Type &b) {
  if (a.dtype != b.dtype)
    return makeError("operands have different dtypes: {} and {}", toString(a), toString(b));
  return {};
}
/// Two dims that must be equal: an error only when both are known and differ.
Status matchDim(const Dim &a, const Dim &b, std::string_view what) {
  if (a.isConst() && b.isConst() && a.value != b.value)
    return makeError("{}: {} does not match {}", what, a.value, b.value);
  return {};
}
/// The more informative of two dims that must be equal.
Dim unifyDim(const Dim &a, const Dim &b) { return a.isUnknown() ? b : a; }

/// The layout of an elementwise result: that of the operands of the result's
/// full shape, which must agree up to storage (broadcast operands are read
/// through logical indices, whatever their layout).
Expected<Layout> commonLayout(std::span<const Type> ts, const Shape &result) {
  std::optional<Layout> l;
  for (const Type &t : ts) {
    if (!(t.shape == result))
      continue;
    if (!l || l->kind == Layout::RowMajor)
      l = t.layout;
  }
  for (const Type &t : ts)
    if (t.shape == result && !sameStorage(result, t.layout, *l))
      return makeError("operands of shape {} are in different layouts ({} and {}): convert one with layout_convert",
                       toString(result), layoutName(t.layout), layoutName(*l));
  return l.value_or(Layout{});
}

std::vector<int64_t> windowAttrKernel(const AttrView &attrs) { return attrs.getInts("kernel"); }

Expected<std::vector<int64_t>> constSpatial(const Type &t, std::string_view what) {
  std::vector<int64_t> sizes;
  for (int i = 2; i < t.rank(); ++i) {
    if (!t.shape[i].isConst())
      return makeError("{} needs constant spatial sizes, got {}", what, toString(t));
    sizes.push_back(t.shape[i].value);
  }
  return sizes;
}

/// A window's output size over a symbolic input: (in + pads - span) / stride
/// + 1 as a dim expression (floor mode; ceil mode leaves it unknown, its
/// last-window rule not being arithmetic).
Dim symbolicWindowOutput(const Window &w, int i, const Dim &in) {
  if (w.ceilMode)
    return Dim::unknown();
  int64_t span = w.dilation[i] * (w.kernel[i] - 1) + 1;
  Dim num = dimAdd(in, Dim::of(w.padBegin[i] + w.padEnd[i]));
  num = dimSub(num, Dim::of(span));
  return dimAdd(dimFloorDiv(num, Dim::of(w.stride[i])), Dim::of(1));
}

Expected<Shape> windowOutputShape(const Window &w, const Type &x, Dim channels) {
  Shape out = {x.shape[0], std::move(channels)};
  for (int i = 0; i < w.spatialRank(); ++i) {
    const Dim &in = x.shape[i + 2];
    if (!in.isConst()) {
      out.push_back(symbolicWindowOutput(w, i, in));
      continue;
    }
    auto o = windowOutput(w, i, in.value);
    if (!o)
      return o.error();
    out.push_back(Dim::of(*o));
  }
  return out;
}

Status checkGroups(const Dim &channels, int64_t groups, std::string_view what) {
  if (groups < 1 || groups > (int64_t{1} << 31))
    return makeError("groups must be >= 1 and at most 2^31, got {}", groups);
  if (channels.isConst() && channels.value % groups != 0)
    return makeError("{} ({}) is not divisible by groups ({})", what, channels.value, groups);
  return {};
}

Dim mulDim(const Dim &d, int64_t k) { return dimMul(d, Dim::of(k)); }

} // namespace

// --- Shared shape helpers -------------------------------------------------------

Expected<Dim> broadcastDim(const Dim &a, const Dim &b) {
  if (a == b)
    return a;
  if (a.isConst() && a.value == 1)
    return b;
  if (b.isConst() && b.value == 1)
    return a;
  if (a.isConst() && b.isConst())
    return makeError("cannot broadcast dims {} and {}", a.value, b.value);
  if (a.isConst())
    return a;
  if (b.isConst())
    return b;
  if (a.isUnknown())
    return b;
  if (b.isUnknown())
    return a;
  return Dim::unknown(); // two different symbols: checked at run time
}

Expected<Shape> broadcastShapes(const Shape &a, const Shape &b) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    Dim da = i < rank - a.size() ? Dim::of(1) : a[i - (rank - a.size())];
    Dim db = i < rank - b.size() ? Dim::of(1) : b[i - (rank - b.size())];
    auto d = broadcastDim(da, db);
    if (!d)
      return makeError("shapes {} and {} do not broadcast: {}", toString(a), toString(b), d.error().message);
    out[i] = *d;
  }
  return out;
}

Expected<Sizes> broadcastSizes(const Sizes &a, const Sizes &b) {
  size_t rank = std::max(a.size(), b.size());
  Sizes out(rank);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1)
      return makeError("shapes {} and {} do not broadcast", toString(a), toString(b));
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Expected<std::vector<int64_t>> reshapeSpec(const Shape &from, const Shape &to) {
  std::vector<int64_t> spec;
  bool inferred = false;
  for (size_t i = 0; i < to.size(); ++i) {
    const Dim &d = to[i];
    if (d.isConst() && d.value != 0)
      spec.push_back(d.value);
    else if (i < from.size() && from[i] == d && !d.isUnknown())
      spec.push_back(0);
    else if (!inferred)
      inferred = true, spec.push_back(-1);
    else
      return makeError("cannot reshape {} to {}: more than one dim is unknown until run time", toString(from),
                       toString(to));
  }
  return spec;
}

Expected<int> normalizeAxis(int64_t axis, int rank) {
  if (axis < -rank || axis >= rank)
    return makeError("axis {} is out of range for rank {}", axis, rank);
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

Expected<std::vector<int>> normalizeAxes(const std::vector<int64_t> &axes, int rank) {
  std::vector<int> out;
  if (axes.empty()) {
    for (int i = 0; i < rank; ++i)
      out.push_back(i);
    return out;
  }
  for (int64_t a : axes) {
    auto n = normalizeAxis(a, rank);
    if (!n)
      return n.error();
    if (std::find(out.begin(), out.end(), *n) != out.end())
      return makeError("axis {} is repeated", a);
    out.push_back(*n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

SliceBounds sliceBounds(int64_t start, int64_t end, int64_t step, int64_t dim) {
  auto clampIndex = [&](int64_t v, int64_t lo, int64_t hi) {
    if (v < 0)
      v = v < std::numeric_limits<int64_t>::min() + dim ? lo : v + dim;
    return std::clamp(v, lo, hi);
  };
  if (step > 0) {
    int64_t s = clampIndex(start, 0, dim), e = clampIndex(end, 0, dim);
    return {s, step, e > s ? (e - s + step - 1) / step : 0};
  }
  int64_t s = clampIndex(start, -1, dim - 1), e = clampIndex(end, -1, dim - 1);
  return {s, step, s > e ? (s - e + (-step) - 1) / (-step) : 0};
}

/// The largest kernel size, stride, dilation or padding: every dim of a
/// valid type is below 2^43 (ir/Limits.h), so a window's arithmetic on them
/// stays far inside int64.
constexpr int64_t kMaxWindowAttr = int64_t{1} << 31;

Expected<Window> readWindow(const AttrView &attrs, std::vector<int64_t> kernel) {
  Window w;
  size_t n = kernel.size();
  for (int64_t k : kernel)
    if (k < 1 || k > kMaxWindowAttr)
      return makeError("kernel sizes must be >= 1 and at most 2^31, got [{}]", fmt::join(kernel, ","));
  w.kernel = std::move(kernel);
  auto list = [&](std::string_view name, size_t len, int64_t def, int64_t minValue,
                   std::vector<int64_t> &out) -> Status {
    const auto &v = attrs.getInts(name);
    if (v.empty()) {
      out.assign(len, def);
      return {};
    }
    if (v.size() != len)
      return makeError("{} must have {} entries, got [{}]", name, len, fmt::join(v, ","));
    for (int64_t x : v)
      if (x < minValue || x > kMaxWindowAttr)
        return makeError("{} entries must be >= {} and at most 2^31, got [{}]", name, minValue, fmt::join(v, ","));
    out = v;
    return {};
  };
  KILN_TRY(list("stride", n, 1, 1, w.stride));
  // A pool's stride defaults to its kernel (PyTorch, Keras, nn::maxPool);
  // a convolution's to 1.
  if (attrs.getInts("stride").empty() && attrs.has("kernel"))
    w.stride = w.kernel;
  KILN_TRY(list("dilation", n, 1, 1, w.dilation));
  std::vector<int64_t> pad;
  KILN_TRY(list("pad", 2 * n, 0, 0, pad));
  w.padBegin.assign(pad.begin(), pad.begin() + static_cast<long>(n));
  w.padEnd.assign(pad.begin() + static_cast<long>(n), pad.end());
  if (attrs.has("ceil_mode"))
    w.ceilMode = attrs.getBool("ceil_mode");
  return w;
}

Expected<int64_t> windowOutput(const Window &w, int i, int64_t in) {
  int64_t span = w.dilation[i] * (w.kernel[i] - 1) + 1;
  int64_t padded = in + w.padBegin[i] + w.padEnd[i];
  if (padded < span)
    return makeError("window of extent {} is larger than the padded input ({}) in spatial dim {}", span, padded, i);
  int64_t num = padded - span;
  int64_t out = (w.ceilMode ? (num + w.stride[i] - 1) / w.stride[i] : num / w.stride[i]) + 1;
  if (w.ceilMode && (out - 1) * w.stride[i] >= in + w.padBegin[i])
    --out;
  return out;
}

// --- Elementwise ------------------------------------------------------------------

Result inferUnaryNumeric(std::span<const Type> ops, const AttrView &) {
  KILN_TRY(requireNumeric(ops[0], "operand"));
  return Types{ops[0]};
}

Result inferUnaryFloat(std::span<const Type> ops, const AttrView &) {
  KILN_TRY(requireFloat(ops[0], "operand"));
  return Types{ops[0]};
}

namespace {
Expected<Shape> broadcastAll(std::span<const Type> ops) {
  Shape shape = ops[0].shape;
  for (size_t i = 1; i < ops.size(); ++i) {
    auto s = broadcastShapes(shape, ops[i].shape);
    if (!s)
      return s.error();
    shape = s.take();
  }
  return shape;
}
} // namespace

Result inferBinaryArith(std::span<const Type> ops, const AttrView &) {
  KILN_TRY(sameDType(ops[0], ops[1]));
  KILN_TRY(requireNumeric(ops[0], "operand"));
  auto shape = broadcastAll(ops);
  if (!shape)
    return shape.error();
  auto layout = commonLayout(ops, *shape);
  if (!layout)
    return layout.error();
  return Types{makeType(ops[0].dtype, shape.take(), *layout)};
}

Result inferCompare(std::span<const Type> ops, const AttrView &) {
  KILN_TRY(sameDType(ops[0], ops[1]));
  auto shape = broadcastAll(ops);
  if (!shape)
    return shape.error();
  auto layout = commonLayout(ops, *shape);
  if (!layout)
    return layout.error();
  return Types{makeType(DType::Bool, shape.take(), *layout)};
}

Result inferLogical(std::span<const Type> ops, const AttrView &) {
  for (const Type &t : ops)
    if (t.dtype != DType::Bool)
      return makeError("operands must be bool, got {}", toString(t));
  auto shape = broadcastAll(ops);
  if (!shape)
    return shape.error();
  auto layout = commonLayout(ops, *shape);
  if (!layout)
    return layout.error();
  return Types{makeType(DType::Bool, shape.take(), *layout)};
}

Result inferSelect(std::span<const Type> ops, const AttrView &) {
  if (ops[0].dtype != DType::Bool)
    return makeError("cond must be bool, got {}", toString(ops[0]));
  KILN_TRY(sameDType(ops[1], ops[2]));
  auto shape = broadcastAll(ops);
  if (!shape)
    return shape.error();
  auto layout = commonLayout(ops, *shape);
  if (!layout)
    return layout.error();
  return Types{makeType(ops[1].dtype, shape.take(), *layout)};
}

Result inferCast(std::span<const Type> ops, const AttrView &attrs) {
  Type t = ops[0];
  t.dtype = attrs.getDType("to");
  return Types{t};
}

// --- Reductions ---------------------------------------------------------------------

/// The layout of a reduction's result: the input's when dims are kept, else
/// the layout that stores the remaining dims in the input's order.
static Expected<Layout> reducedLayout(const Type &in, const std::vector<int> &axes, bool keep, const Shape &out) {
  if (keep || in.layout.kind == Layout::RowMajor)
    return keep ? in.layout : Layout{};
  if (in.layout.isFlat()) { // row-major once the flat dim is reduced away
    int flat = in.layout.kind == Layout::FlatRows ? 0 : 1;
    if (std::find(axes.begin(), axes.end(), flat) != axes.end())
      return Layout{};
    return makeError("reducing a {} tensor without keepdims needs it converted to row_major first",
                     layoutName(in.layout));
  }
  int nonUnitDims = 0;
  for (const Dim &d : out)
    nonUnitDims += !(d.isConst() && d.value == 1);
  if (nonUnitDims <= 1) // a vector or a scalar is stored one way only
    return Layout{};
  if (in.layout.kind != Layout::Blocked) {
    std::vector<int> kept, renumber(static_cast<size_t>(in.rank()), -1);
    int next = 0;
    for (int i = 0; i < in.rank(); ++i)
      if (std::find(axes.begin(), axes.end(), i) == axes.end())
        renumber[static_cast<size_t>(i)] = next++;
    for (int d : storageOrder(in.layout, in.rank()))
      if (renumber[static_cast<size_t>(d)] >= 0)
        kept.push_back(renumber[static_cast<size_t>(d)]);
    auto nonUnit = [&](const std::vector<int> &order) {
      std::vector<int> outDims;
      for (int d : order)
        if (!(out[static_cast<size_t>(d)].isConst() && out[static_cast<size_t>(d)].value == 1))
          outDims.push_back(d);
      return outDims;
    };
    for (Layout l : {Layout{}, Layout{Layout::NHWC, 0}})
      if (nonUnit(storageOrder(l, static_cast<int>(out.size()))) == nonUnit(kept))
        return l;
  }
  return makeError("reducing a {} tensor without keepdims needs it converted to row_major first",
                   layoutName(in.layout));
}

Result inferReduce(std::span<const Type> ops, const AttrView &attrs) {
  KILN_TRY(requireNumeric(ops[0], "operand"));
  auto axes = normalizeAxes(attrs.getInts("axes"), ops[0].rank());
  if (!axes)
    return axes.error();
  bool keep = attrs.getBool("keepdims");
  Shape out;
  for (int i = 0; i < ops[0].rank(); ++i) {
    bool reduced = std::find(axes->begin(), axes->end(), i) != axes->end();
    if (!reduced)
      out.push_back(ops[0].shape[i]);
    else if (keep)
      out.push_back(Dim::of(1));
  }
  auto layout = reducedLayout(ops[0], *axes, keep, out);
  if (!layout)
    return layout.error();
  return Types{makeType(ops[0].dtype, out, *layout)};
}

Result inferArgReduce(std::span<const Type> ops, const AttrView &attrs) {
  KILN_TRY(requireNumeric(ops[0], "operand"));
  KILN_TRY(requireRank(ops[0], 1, "operand"));
  auto axis = normalizeAxis(attrs.getInt("axis"), ops[0].rank());
  if (!axis)
    return axis.error();
  Shape out = ops[0].shape;
  if (attrs.getBool("keepdims"))
    out[*axis] = Dim::of(1);
  else
    out.erase(out.begin() + *axis);
  return Types{makeType(DType::I64, out)};
}

// --- Contractions -----------------------------------------------------------------

/// The layout of a matmul's result. Operands are row-major, except that 2-D
/// operands may be flat (FlatRows, FlatCols): the contracted dim must be
/// stored alike in both, and a flat M or J dim carries over to the result.
static Expected<Layout> matmulLayout(const Type &a, const Type &b, bool ta, bool tb) {
  if (a.layout.kind == Layout::RowMajor && b.layout.kind == Layout::RowMajor)
    return Layout{};
  for (const Type *t : {&a, &b})
    if (!t->layout.isFlat() && !sameStorage(t->shape, t->layout, Layout{}))
      return makeError("matmul reads row-major or flat 2-D operands, got {}", toString(*t));
  // The channel count of dim `d` of `t` if it is the flat one, else 0.
  auto flatDim = [](const Type &t, int d) {
    if (t.rank() != 2 || !t.layout.isFlat())
      return 0;
    return (t.layout.kind == Layout::FlatRows) == (d == 0) ? t.layout.block : 0;
  };
  int kA = flatDim(a, ta ? 0 : 1), m = flatDim(a, ta ? 1 : 0);
  int kB = flatDim(b, tb ? 1 : 0), j = flatDim(b, tb ? 0 : 1);
  if (kA != kB)
    return makeError("the contracted dims of {} and {} are stored in different orders", toString(a), toString(b));
  if (m && j)
    return makeError("a result flat in both dims ({} times {}) has no layout", toString(a), toString(b));
  if (m)
    return Layout{Layout::FlatRows, m};
  if (j)
    return Layout{Layout::FlatCols, j};
  return Layout{};
}

Result inferMatMul(std::span<const Type> ops, const AttrView &attrs) {
  KILN_TRY(sameDType(ops[0], ops[1]));
  KILN_TRY(requireNumeric(ops[0], "operand"));
  KILN_TRY(requireRank(ops[0], 1, "a"));
  KILN_TRY(requireRank(ops[1], 1, "b"));
  bool ta = attrs.getBool("transpose_a"), tb = attrs.getBool("transpose_b");
  Shape a = ops[0].shape, b = ops[1].shape;
  bool aVec = a.size() == 1, bVec = b.size() == 1;
  if ((aVec && ta) || (bVec && tb))
    return makeError("a transpose flag needs an operand of rank >= 2");
  if (aVec)
    a.insert(a.begin(), Dim::of(1));
  if (bVec)
    b.push_back(Dim::of(1));
  if (ta)
    std::swap(a[a.size() - 1], a[a.size() - 2]);
  if (tb)
    std::swap(b[b.size() - 1], b[b.size() - 2]);
  const Dim &ka = a.back(), &kb = b[b.size() - 2];
  KILN_TRY(matchDim(ka, kb, fmt::format("contracted dims of {} and {}", toString(ops[0]), toString(ops[1]))));
  auto batch = broadcastShapes(Shape(a.begin(), a.end() - 2), Shape(b.begin(), b.end() - 2));
  if (!batch)
    return makeError("batch dims: {}", batch.error().message);
  Shape out = batch.take();
  if (!aVec)
    out.push_back(a[a.size() - 2]);
  if (!bVec)
    out.push_back(b.back());
  auto layout = matmulLayout(ops[0], ops[1], ta, tb);
  if (!layout)
    return layout.error();
  return Types{makeType(ops[0].dtype, out, *layout)};
}

/// The layout of a conv-family result: out_layout if given, else `act`'s.
static Expected<Layout> convOutLayout(const AttrView &attrs, const Type &act, const Dim &channels) {
  if (!attrs.has("out_layout"))
    return act.layout;
  Layout l = attrs.getLayout("out_layout");
  if (l.kind == Layout::Blocked && channels.isConst() && channels.value % l.block != 0)
    return makeError("out_layout {}: {} channels do not divide into blocks of {}", layoutName(l), channels.value,
                     l.block);
  return l;
}

/// The checks every conv-family rule starts with: `act` (x or dy) and w of one
/// float dtype and equal rank >= 3, and the window of w's spatial sizes.
static Expected<Window> convPrologue(const Type &act, const Type &w, const AttrView &attrs, std::string_view actName) {
  KILN_TRY(sameDType(act, w));
  KILN_TRY(requireFloat(act, actName));
  KILN_TRY(requireRank(act, 3, actName));
  if (w.rank() != act.rank())
    return makeError("w must have the rank of {} ({}), got {}", actName, act.rank(), toString(w));
  auto kernel = constSpatial(w, "w");
  if (!kernel)
    return kernel.error();
  return readWindow(attrs, kernel.take());
}

Result inferConv(std::span<const Type> ops, const AttrView &attrs) {
  const Type &x = ops[0], &w = ops[1];
  auto win = convPrologue(x, w, attrs, "x");
  if (!win)
    return win.error();
  int64_t groups = attrs.getInt("groups");
  KILN_TRY(checkGroups(x.shape[1], groups, "input channels"));
  KILN_TRY(checkGroups(w.shape[0], groups, "output channels"));
  KILN_TRY(matchDim(mulDim(w.shape[1], groups), x.shape[1], "w's input channels times groups vs x's channels"));
  auto shape = windowOutputShape(*win, x, w.shape[0]);
  if (!shape)
    return shape.error();
  KILN_ASSIGN(Layout layout, convOutLayout(attrs, x, w.shape[0]));
  return Types{makeType(x.dtype, shape.take(), layout)};
}

Result inferConvTranspose(std::span<const Type> ops, const AttrView &attrs) {
  const Type &x = ops[0], &w = ops[1];
  auto win = convPrologue(x, w, attrs, "x");
  if (!win)
    return win.error();
  int64_t groups = attrs.getInt("groups");
  KILN_TRY(checkGroups(x.shape[1], groups, "input channels"));
  KILN_TRY(matchDim(w.shape[0], x.shape[1], "w's first dim vs x's channels"));
  std::vector<int64_t> outPad = attrs.getInts("output_padding");
  size_t n = win->kernel.size();
  if (outPad.empty())
    outPad.assign(n, 0);
  if (outPad.size() != n)
    return makeError("output_padding must have {} entries", n);
  for (int64_t p : outPad)
    if (p < 0 || p > kMaxWindowAttr)
      return makeError("output_padding entries must be >= 0 and at most 2^31, got [{}]", fmt::join(outPad, ","));
  Shape out = {x.shape[0], mulDim(w.shape[1], groups)};
  for (size_t i = 0; i < n; ++i) {
    const Dim &in = x.shape[i + 2];
    if (!in.isConst()) { // transposedOutput over a symbolic size
      int64_t k = static_cast<int64_t>(i);
      Dim o = dimMul(dimSub(in, Dim::of(1)), Dim::of(win->stride[k]));
      int64_t rest = win->dilation[k] * (win->kernel[k] - 1) + outPad[k] + 1 - win->padBegin[k] - win->padEnd[k];
      out.push_back(rest >= 0 ? dimAdd(o, Dim::of(rest)) : dimSub(o, Dim::of(-rest)));
      continue;
    }
    int64_t o = transposedOutput(*win, static_cast<int>(i), in.value, outPad[i]);
    if (o < 0)
      return makeError("output size {} in spatial dim {} is negative", o, i);
    out.push_back(Dim::of(o));
  }
  KILN_ASSIGN(Layout layout, convOutLayout(attrs, x, out[1]));
  return Types{makeType(x.dtype, out, layout)};
}

namespace {
/// Checks that a window over `spatial` sizes yields the spatial dims of `y`.
Status checkWindowYields(const Window &w, const std::vector<int64_t> &spatial, const Type &y) {
  for (int i = 0; i < w.spatialRank(); ++i) {
    auto o = windowOutput(w, i, spatial[i]);
    if (!o)
      return o.error();
    KILN_TRY(matchDim(Dim::of(*o), y.shape[i + 2],
                      fmt::format("spatial dim {} of {}: the window over size {} gives {}", i, toString(y),
                                  spatial[i], *o)));
  }
  return {};
}
} // namespace

Result inferConvGradInput(std::span<const Type> ops, const AttrView &attrs) {
  const Type &dy = ops[0], &w = ops[1];
  auto win = convPrologue(dy, w, attrs, "dy");
  if (!win)
    return win.error();
  int64_t groups = attrs.getInt("groups");
  KILN_TRY(checkGroups(w.shape[0], groups, "output channels"));
  KILN_TRY(matchDim(w.shape[0], dy.shape[1], "w's output channels vs dy's channels"));
  const auto &inSize = attrs.getInts("input_size");
  if (static_cast<int>(inSize.size()) != win->spatialRank())
    return makeError("input_size must have {} entries", win->spatialRank());
  KILN_TRY(checkWindowYields(*win, inSize, dy));
  Shape out = {dy.shape[0], mulDim(w.shape[1], groups)};
  for (int64_t s : inSize)
    out.push_back(Dim::of(s));
  KILN_ASSIGN(Layout layout, convOutLayout(attrs, dy, out[1]));
  return Types{makeType(dy.dtype, out, layout)};
}

Result inferConvGradWeight(std::span<const Type> ops, const AttrView &attrs) {
  const Type &x = ops[0], &dy = ops[1];
  KILN_TRY(sameDType(x, dy));
  KILN_TRY(requireFloat(x, "x"));
  KILN_TRY(requireRank(x, 3, "x"));
  if (dy.rank() != x.rank())
    return makeError("dy must have the rank of x ({}), got {}", x.rank(), toString(dy));
  KILN_TRY(matchDim(x.shape[0], dy.shape[0], "batch of x vs dy"));
  int64_t groups = attrs.getInt("groups");
  KILN_TRY(checkGroups(x.shape[1], groups, "input channels"));
  KILN_TRY(checkGroups(dy.shape[1], groups, "output channels"));
  auto win = readWindow(attrs, attrs.getInts("kernel_size"));
  if (!win)
    return win.error();
  if (win->spatialRank() != x.rank() - 2)
    return makeError("kernel_size must have {} entries", x.rank() - 2);
  auto spatial = constSpatial(x, "x");
  if (!spatial)
    return spatial.error();
  KILN_TRY(checkWindowYields(*win, *spatial, dy));
  Dim cin = x.shape[1].isConst() ? Dim::of(x.shape[1].value / groups) : Dim::unknown();
  Shape out = {dy.shape[1], cin};
  for (int64_t k : win->kernel)
    out.push_back(Dim::of(k));
  KILN_ASSIGN(Layout layout, convOutLayout(attrs, x, out[1]));
  return Types{makeType(x.dtype, out, layout)};
}

// --- Pooling ---------------------------------------------------------------------

Result inferPool(std::span<const Type> ops, const AttrView &attrs) {
  const Type &x = ops[0];
  // Averages need fractions; maxima are fine on integers too.
  bool isAverage = attrs.declares("count_include_pad");
  KILN_TRY(isAverage ? requireFloat(x, "x") : requireNumeric(x, "x"));
  KILN_TRY(requireRank(x, 3, "x"));
  auto win = readWindow(attrs, windowAttrKernel(attrs));
  if (!win)
    return win.error();
  if (win->spatialRank() != x.rank() - 2)
    return makeError("kernel must have {} entries (one per spatial dim of {})", x.rank() - 2, toString(x));
  auto shape = windowOutputShape(*win, x, x.shape[1]);
  if (!shape)
    return shape.error();
  return Types{makeType(x.dtype, shape.take(), x.layout)};
}

Result inferGlobalPool(std::span<const Type> ops, const AttrView &) {
  KILN_TRY(requireNumeric(ops[0], "x"));
  KILN_TRY(requireRank(ops[0], 3, "x"));
  Shape out = {ops[0].shape[0], ops[0].shape[1]};
  out.resize(ops[0].shape.size(), Dim::of(1));
  return Types{makeType(ops[0].dtype, out, ops[0].layout)};
}

Result inferMaxPoolGrad(std::span<const Type> ops, const AttrView &attrs) {
  KILN_TRY(sameDType(ops[0], ops[1]));
  Type x = ops[1];
  auto pooled = inferPool(std::span<const Type>(&x, 1), attrs);
  if (!pooled)
    return pooled.error();
  const Type &dy = ops[0];
  if (dy.rank() != x.rank())
    return makeError("dy must have the rank of x");
  for (int i = 0; i < dy.rank(); ++i)
    KILN_TRY(matchDim(dy.shape[i], (*pooled)[0].shape[i],
                      fmt::format("dy {} vs max_pool of x {}", toString(dy), toString((*pooled)[0]))));
  return Types{x};
}

Result inferAvgPoolGrad(std::span<const Type> ops, const AttrView &attrs) {
  const Type &dy = ops[0];
  KILN_TRY(requireFloat(dy, "dy"));
  KILN_TRY(requireRank(dy, 3, "dy"));
  auto win = readWindow(attrs, windowAttrKernel(attrs));
  if (!win)
    return win.error();
  const auto &inSize = attrs.getInts("input_size");
  if (win->spatialRank() != dy.rank() - 2 || static_cast<int>(inSize.size()) != win->spatialRank())
    return makeError("kernel and input_size must have {} entries", dy.rank() - 2);
  KILN_TRY(checkWindowYields(*win, inSize, dy));
  Shape out = {dy.shape[0], dy.shape[1]};
  for (int64_t s : inSize)
    out.push_back(Dim::of(s));
  return Types{makeType(dy.dtype, out, dy.layout)};
}

// --- Data movement ----------------------------------------------------------------

Result inferIdentity(std::span<const Type> ops, const AttrView &) { return Types{ops[0]}; }

/// The result type of a reshape, row-major.
static Result reshapeType(std::span<const Type> ops, const AttrView &attrs) {
  const Type &x = ops[0];
  const auto &spec = attrs.getInts("shape");
  Shape out;
  int inferAt = -1;
  Dim known = Dim::of(1); // the product of the dims spec gives
  for (size_t i = 0; i < spec.size(); ++i) {
    if (spec[i] == -1) {
      if (inferAt >= 0)
        return makeError("shape [{}] has more than one -1", fmt::join(spec, ","));
      inferAt = static_cast<int>(i);
      out.push_back(Dim::unknown());
      continue;
    }
    if (spec[i] < -1)
      return makeError("shape [{}] has a negative size", fmt::join(spec, ","));
    if (spec[i] == 0 && i >= x.shape.size())
      return makeError("shape [{}] copies dim {} (0) but the input has rank {}", fmt::join(spec, ","), i, x.rank());
    Dim d = spec[i] == 0 ? x.shape[i] : Dim::of(spec[i]);
    if (known.isConst() && d.isConst() && !checkedMul(known.value, d.value))
      return makeError("shape [{}] has more elements than kiln can address", fmt::join(spec, ","));
    known = dimMul(known, d);
    out.push_back(d);
  }
  // Element counts as dim expressions: equal when the reshape is valid; the
  // inferred dim is their quotient (an expression over symbols, or unknown).
  Dim total = dimProduct(x.shape);
  if (total.isUnknown() || known.isUnknown())
    return Types{makeType(x.dtype, out)};
  if (inferAt >= 0) {
    if (total.isConst() && known.isConst() && (known.value == 0 || total.value % known.value != 0))
      return makeError("cannot reshape {} to [{}]", toString(x), fmt::join(spec, ","));
    if (!known.isConst() || known.value != 0)
      out[inferAt] = dimFloorDiv(total, known);
    return Types{makeType(x.dtype, out)};
  }
  if (total.isConst() && known.isConst() && total.value != known.value)
    return makeError("cannot reshape {} ({} elements) to [{}] ({} elements)", toString(x), total.value,
                     fmt::join(spec, ","), known.value);
  // Two polynomials (no quotients) over the same symbols that differ can
  // never be equal.
  bool polynomials = total.sym.find('/') == std::string::npos && known.sym.find('/') == std::string::npos;
  if (polynomials && !total.isConst() && dimSymbols(total) == dimSymbols(known) && !(total == known))
    return makeError("cannot reshape {} ({} elements) to [{}] ({} elements)", toString(x), toString(total),
                     fmt::join(spec, ","), toString(known));
  return Types{makeType(x.dtype, out)};
}

/// A reshape moves no data, so it reads its input as stored: row-major; or an
/// NHWC image [N, C, spatial...] flattened to [N, K] (FlatCols, C channels);
/// or such a [N, K] back to the image [N, C, spatial...] (NHWC).
Result inferReshape(std::span<const Type> ops, const AttrView &attrs) {
  auto types = reshapeType(ops, attrs);
  if (!types)
    return types;
  const Type &x = ops[0];
  Type &out = (*types)[0];
  if (sameStorage(x.shape, x.layout, Layout{}))
    return types;
  bool sameBatch = out.rank() >= 1 && out.shape[0] == x.shape[0];
  if (x.layout.kind == Layout::NHWC && out.rank() == 2 && sameBatch && x.shape[1].isConst()) {
    out.layout = Layout{Layout::FlatCols, static_cast<int>(x.shape[1].value)};
    return types;
  }
  if (x.layout.kind == Layout::FlatCols && x.rank() == 2 && out.rank() >= 3 && sameBatch &&
      out.shape[1] == Dim::of(x.layout.block)) {
    out.layout = Layout{Layout::NHWC, 0};
    return types;
  }
  return makeError("a reshape of {} to {} would reorder its elements: convert it to row_major first", toString(x),
                   toString(Shape(out.shape)));
}

Result inferTranspose(std::span<const Type> ops, const AttrView &attrs) {
  const Type &x = ops[0];
  std::vector<int64_t> perm = attrs.getInts("perm");
  if (perm.empty())
    for (int i = x.rank() - 1; i >= 0; --i)
      perm.push_back(i);
  if (static_cast<int>(perm.size()) != x.rank())
    return makeError("perm [{}] must have {} entries", fmt::join(perm, ","), x.rank());
  std::vector<bool> seen(perm.size());
  Shape out;
  for (int64_t p : perm) {
    if (p < 0 || p >= x.rank() || seen[p])
      return makeError("perm [{}] is not a permutation of 0..{}", fmt::join(perm, ","), x.rank() - 1);
    seen[p] = true;
    out.push_back(x.shape[p]);
  }
  return Types{makeType(x.dtype, out)};
}

Result inferBroadcastTo(std::span<const Type> ops, const AttrView &attrs) {
  auto shape = broadcastShapes(ops[0].shape, attrs.getShape("shape"));
  if (!shape)
    return shape.error();
  return Types{makeType(ops[0].dtype, shape.take())};
}

Result inferConcat(std::span<const Type> ops, const AttrView &attrs) {
  auto axis = normalizeAxis(attrs.getInt("axis"), ops[0].rank());
  if (!axis)
    return axis.error();
  Shape out = ops[0].shape;
  for (size_t k = 1; k < ops.size(); ++k) {
    KILN_TRY(sameDType(ops[0], ops[k]));
    if (ops[k].rank() != ops[0].rank())
      return makeError("operands have different ranks: {} and {}", toString(ops[0]), toString(ops[k]));
    for (int i = 0; i < static_cast<int>(out.size()); ++i) {
      const Dim &d = ops[k].shape[i];
      if (i == *axis) {
        out[i] = dimAdd(out[i], d);
        continue;
      }
      KILN_TRY(matchDim(out[i], d, fmt::format("dim {} of {} and {}", i, toString(ops[0]), toString(ops[k]))));
      out[i] = unifyDim(out[i], d);
    }
  }
  if (attrs.has("out_layout")) { // checked as the conv family's is
    auto l = convOutLayout(attrs, ops[0], out.size() > 1 ? out[1] : Dim::of(1));
    if (!l)
      return l.error();
    if (l->isFlat() || (l->kind != Layout::RowMajor && out.size() < 3))
      return makeError("out_layout {}: concat writes row-major, channels-last or blocked images", layoutName(*l));
    return Types{makeType(ops[0].dtype, out, *l)};
  }
  // Images all channels last (or all in one channel-blocked layout) join in
  // that layout; any other mix is written row-major.
  Layout l = ops[0].layout;
  bool keep = l.kind == Layout::NHWC || l.kind == Layout::Blocked;
  for (const Type &t : ops)
    keep = keep && t.layout == l;
  return Types{makeType(ops[0].dtype, out, keep ? l : Layout{})};
}

Result inferSlice(std::span<const Type> ops, const AttrView &attrs) {
  const Type &x = ops[0];
  const auto &starts = attrs.getInts("starts"), &ends = attrs.getInts("ends");
  std::vector<int64_t> axes = attrs.getInts("axes"), steps = attrs.getInts("steps");
  if (ends.size() != starts.size())
    return makeError("starts and ends must have the same length");
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i)
      axes.push_back(static_cast<int64_t>(i));
  if (steps.empty())
    steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size())
    return makeError("axes and steps must have the length of starts ({})", starts.size());
  Shape out = x.shape;
  std::vector<bool> seen(x.rank());
  for (size_t i = 0; i < starts.size(); ++i) {
    auto axis = normalizeAxis(axes[i], x.rank());
    if (!axis)
      return axis.error();
    if (seen[*axis])
      return makeError("axis {} is sliced twice", *axis);
    seen[*axis] = true;
    if (steps[i] == 0)
      return makeError("steps must not be 0");
    const Dim &d = x.shape[*axis];
    if (d.isConst())
      out[*axis] = Dim::of(sliceBounds(starts[i], ends[i], steps[i], d.value).count);
    else if (starts[i] >= 0 && steps[i] == 1 && ends[i] == std::numeric_limits<int64_t>::max())
      out[*axis] = dimSub(d, Dim::of(starts[i])); // x[k:] of a symbolic dim (negative at run time is an error)
    else
      out[*axis] = Dim::unknown();
  }
  return Types{makeType(x.dtype, out)};
}

Result inferPad(std::span<const Type> ops, const AttrView &attrs) {
  const Type &x = ops[0];
  const auto &pads = attrs.getInts("pads");
  const std::string &mode = attrs.getString("mode");
  if (mode != "constant" && mode != "edge" && mode != "reflect")
    return makeError("mode must be constant, edge or reflect, got \"{}\"", mode);
  if (static_cast<int>(pads.size()) != 2 * x.rank())
    return makeError("pads must have {} entries (begins, then ends), got {}", 2 * x.rank(), pads.size());
  Shape out = x.shape;
  for (int i = 0; i < x.rank(); ++i) {
    int64_t b = pads[i], e = pads[i + x.rank()];
    if (b == 0 && e == 0)
      continue;
    if (std::abs(b) > kMaxWindowAttr || std::abs(e) > kMaxWindowAttr)
      return makeError("pads [{}] must each be at most 2^31 in size", fmt::join(pads, ","));
    if (!x.shape[i].isConst()) {
      // A negative total comes out as a negative size at run time, an error there.
      out[i] = b + e >= 0 ? dimAdd(x.shape[i], Dim::of(b + e)) : dimSub(x.shape[i], Dim::of(-(b + e)));
      continue;
    }
    int64_t n = x.shape[i].value;
    if (n + b + e < 0)
      return makeError("pads [{}] remove more than dim {} holds", fmt::join(pads, ","), i);
    if (mode == "reflect" && (b >= n || e >= n))
      return makeError("reflect padding of {} and {} needs dim {} larger than both, got {}", b, e, i, n);
    if (mode == "edge" && n == 0)
      return makeError("edge padding of an empty dim {}", i);
    out[i] = Dim::of(n + b + e);
  }
  return Types{makeType(x.dtype, out)};
}

Result inferGather(std::span<const Type> ops, const AttrView &attrs) {
  const Type &data = ops[0], &idx = ops[1];
  KILN_TRY(requireInteger(idx, "indices"));
  KILN_TRY(requireRank(data, 1, "data"));
  auto axis = normalizeAxis(attrs.getInt("axis"), data.rank());
  if (!axis)
    return axis.error();
  Shape out(data.shape.begin(), data.shape.begin() + *axis);
  out.insert(out.end(), idx.shape.begin(), idx.shape.end());
  out.insert(out.end(), data.shape.begin() + *axis + 1, data.shape.end());
  return Types{makeType(data.dtype, out)};
}

Result inferGatherElements(std::span<const Type> ops, const AttrView &attrs) {
  const Type &data = ops[0], &idx = ops[1];
  KILN_TRY(requireInteger(idx, "indices"));
  KILN_TRY(requireRank(data, 1, "data"));
  if (idx.rank() != data.rank())
    return makeError("indices {} must have the rank of data {}", toString(idx), toString(data));
  auto axis = normalizeAxis(attrs.getInt("axis"), data.rank());
  if (!axis)
    return axis.error();
  return Types{makeType(data.dtype, idx.shape)};
}

Result inferTopK(std::span<const Type> ops, const AttrView &attrs) {
  const Type &x = ops[0];
  KILN_TRY(requireNumeric(x, "x"));
  KILN_TRY(requireRank(x, 1, "x"));
  auto axis = normalizeAxis(attrs.getInt("axis"), x.rank());
  if (!axis)
    return axis.error();
  int64_t k = attrs.getInt("k");
  const Dim &n = x.shape[static_cast<size_t>(*axis)];
  if (k < 0 || (n.isConst() && k > n.value))
    return makeError("k = {} must be in [0, {}], the size of axis {} of {}", k, toString(n), *axis, toString(x));
  Shape out = x.shape;
  out[static_cast<size_t>(*axis)] = Dim::of(k);
  return Types{makeType(DType::I64, out)};
}

Result inferScatterElements(std::span<const Type> ops, const AttrView &attrs) {
  const Type &data = ops[0], &idx = ops[1], &upd = ops[2];
  KILN_TRY(requireInteger(idx, "indices"));
  KILN_TRY(sameDType(data, upd));
  if (idx.rank() != data.rank() || upd.shape.size() != idx.shape.size())
    return makeError("indices {} and updates {} must have the rank of data {}", toString(idx), toString(upd),
                     toString(data));
  for (size_t i = 0; i < idx.shape.size(); ++i)
    KILN_TRY(matchDim(idx.shape[i], upd.shape[i], fmt::format("dim {} of indices and updates", i)));
  auto axis = normalizeAxis(attrs.getInt("axis"), data.rank());
  if (!axis)
    return axis.error();
  const std::string &r = attrs.getString("reduction");
  if (r != "none" && r != "add" && r != "mul" && r != "max" && r != "min")
    return makeError("reduction must be none, add, mul, max or min, got \"{}\"", r);
  return Types{makeType(data.dtype, data.shape)};
}

/// GatherND's result: indices' dims but the last, then data's dims past
/// batch_dims + k.
static Expected<Shape> gatherNDShape(const Type &data, const Type &idx, int64_t batch) {
  KILN_TRY(requireInteger(idx, "indices"));
  KILN_TRY(requireRank(idx, 1, "indices"));
  const Dim &k = idx.shape.back();
  if (!k.isConst())
    return makeError("the last dim of indices {} must be known", toString(idx));
  if (batch < 0 || batch >= idx.rank() || batch + k.value > data.rank())
    return makeError("batch_dims {} and k = {} do not fit data {} and indices {}", batch, k.value, toString(data),
                     toString(idx));
  for (int64_t b = 0; b < batch; ++b)
    KILN_TRY(matchDim(data.shape[static_cast<size_t>(b)], idx.shape[static_cast<size_t>(b)], "a batch dim"));
  Shape out(idx.shape.begin(), idx.shape.end() - 1);
  out.insert(out.end(), data.shape.begin() + batch + k.value, data.shape.end());
  return out;
}

Result inferGatherND(std::span<const Type> ops, const AttrView &attrs) {
  KILN_ASSIGN(Shape out, gatherNDShape(ops[0], ops[1], attrs.getInt("batch_dims")));
  return Types{makeType(ops[0].dtype, out)};
}

Result inferScatterND(std::span<const Type> ops, const AttrView &attrs) {
  const Type &data = ops[0], &idx = ops[1], &upd = ops[2];
  KILN_TRY(sameDType(data, upd));
  KILN_ASSIGN(Shape want, gatherNDShape(data, idx, 0));
  if (upd.shape.size() != want.size())
    return makeError("updates must be {}, got {}", toString(want), toString(upd));
  for (size_t i = 0; i < want.size(); ++i)
    KILN_TRY(matchDim(want[i], upd.shape[i], fmt::format("dim {} of updates", i)));
  const std::string &r = attrs.getString("reduction");
  if (r != "none" && r != "add" && r != "mul" && r != "max" && r != "min")
    return makeError("reduction must be none, add, mul, max or min, got \"{}\"", r);
  return Types{makeType(data.dtype, data.shape)};
}

Result inferResize(std::span<const Type> ops, const AttrView &attrs) {
  const Type &x = ops[0];
  KILN_TRY(requireNumeric(x, "x"));
  const auto &scales = attrs.getFloats("scales");
  const auto &sizes = attrs.getInts("sizes");
  auto rank = static_cast<size_t>(x.rank());
  if ((!scales.empty() && scales.size() != rank) || (!sizes.empty() && sizes.size() != rank))
    return makeError("scales [{}] and sizes [{}] must have one entry per dim of {}", fmt::join(scales, ","),
                     fmt::join(sizes, ","), toString(x));
  const std::string &mode = attrs.getString("mode"), &ct = attrs.getString("coordinate_transformation_mode"),
                    &nm = attrs.getString("nearest_mode");
  if (mode != "nearest" && mode != "linear" && mode != "cubic")
    return makeError("mode must be nearest, linear or cubic, got \"{}\"", mode);
  static constexpr std::string_view kModes[] = {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                                "tf_half_pixel_for_nn", "tf_crop_and_resize"};
  if (std::find(std::begin(kModes), std::end(kModes), ct) == std::end(kModes))
    return makeError("coordinate_transformation_mode \"{}\" is not one ONNX defines", ct);
  if (nm != "round_prefer_floor" && nm != "round_prefer_ceil" && nm != "floor" && nm != "ceil")
    return makeError("nearest_mode \"{}\" is not one ONNX defines", nm);
  if (ct == "tf_crop_and_resize" && attrs.getFloats("roi").size() != 2 * rank)
    return makeError("tf_crop_and_resize needs an roi of {} values", 2 * rank);
  Shape out;
  for (size_t d = 0; d < rank; ++d) {
    const Dim &in = x.shape[d];
    if (!sizes.empty() && sizes[d] >= 0) {
      out.push_back(Dim::of(sizes[d]));
      continue;
    }
    if (scales.empty())
      return makeError("dim {} has neither a size nor a scale", d);
    double s = scales[d];
    if (!(s > 0))
      return makeError("scales [{}] must be positive", fmt::join(scales, ","));
    if (in.isConst())
      out.push_back(Dim::of(static_cast<int64_t>(std::floor(static_cast<double>(in.value) * s))));
    else if (s == std::floor(s))
      out.push_back(dimMul(in, Dim::of(static_cast<int64_t>(s))));
    else
      out.push_back(Dim::unknown());
  }
  return Types{makeType(x.dtype, out)};
}

Result inferCumSum(std::span<const Type> ops, const AttrView &attrs) {
  KILN_TRY(requireNumeric(ops[0], "x"));
  KILN_TRY(requireRank(ops[0], 1, "x"));
  auto axis = normalizeAxis(attrs.getInt("axis"), ops[0].rank());
  if (!axis)
    return axis.error();
  return Types{makeType(ops[0].dtype, ops[0].shape)};
}

Result inferOneHot(std::span<const Type> ops, const AttrView &attrs) {
  KILN_TRY(requireInteger(ops[0], "indices"));
  int64_t depth = attrs.getInt("depth");
  if (depth < 1)
    return makeError("depth must be >= 1, got {}", depth);
  auto axis = normalizeAxis(attrs.getInt("axis"), ops[0].rank() + 1);
  if (!axis)
    return axis.error();
  Shape out = ops[0].shape;
  out.insert(out.begin() + *axis, Dim::of(depth));
  return Types{makeType(attrs.getDType("dtype"), out)};
}

Result inferLayoutConvert(std::span<const Type> ops, const AttrView &attrs) {
  Layout l = attrs.getLayout("layout");
  if (l.isFlat()) {
    if (ops[0].rank() != 2)
      return makeError("{} is a layout of 2-D tensors, got {}", layoutName(l), toString(ops[0]));
    const Dim &flat = ops[0].shape[l.kind == Layout::FlatRows ? 0 : 1];
    if (flat.isConst() && flat.value % l.block != 0)
      return makeError("{} elements do not flatten {} channels", flat.value, l.block);
  } else if (l.kind != Layout::RowMajor) {
    KILN_TRY(requireRank(ops[0], 3, "a channels-last or blocked tensor"));
  }
  if (l.kind == Layout::Blocked && ops[0].shape[1].isConst() && ops[0].shape[1].value % l.block != 0)
    return makeError("{} channels do not divide into blocks of {}", ops[0].shape[1].value, l.block);
  Type t = ops[0];
  t.layout = l;
  return Types{t};
}

Status checkRowMajorOperands(const OpInfo &op, std::span<const Type> operands) {
  if (op.layoutAware())
    return {};
  for (size_t i = 0; i < operands.size(); ++i)
    if (!sameStorage(operands[i].shape, operands[i].layout, Layout{}))
      return makeError("op '{}' reads row-major tensors but operand {} is {}: convert it with layout_convert", op.name,
                       i, toString(operands[i]));
  return {};
}

/// A fused node's types come from its body (Graph::addFused), not from a rule.
Result inferFused(std::span<const Type>, const AttrView &) {
  return makeError("a fused node is built with its body (a region in .kir, Graph::addFused in C++)");
}

// --- Composite nn ops --------------------------------------------------------------

Result inferSoftmaxCrossEntropy(std::span<const Type> ops, const AttrView &attrs) {
  const Type &logits = ops[0], &labels = ops[1];
  KILN_TRY(requireFloat(logits, "logits"));
  KILN_TRY(requireRank(logits, 2, "logits"));
  KILN_TRY(requireInteger(labels, "labels"));
  if (labels.rank() != logits.rank() - 1)
    return makeError("labels {} must have rank {} for logits {}", toString(labels), logits.rank() - 1,
                     toString(logits));
  Shape perItem = {logits.shape[0]};
  perItem.insert(perItem.end(), logits.shape.begin() + 2, logits.shape.end());
  for (int i = 0; i < labels.rank(); ++i)
    KILN_TRY(matchDim(labels.shape[i], perItem[i], fmt::format("labels {} vs logits {}", toString(labels), toString(logits))));
  if (ops.size() == 3) {
    KILN_TRY(sameDType(logits, ops[2]));
    if (ops[2].rank() != 1)
      return makeError("weights must be a vector of one weight per class, got {}", toString(ops[2]));
    KILN_TRY(matchDim(ops[2].shape[0], logits.shape[1], "weights vs classes"));
  }
  const std::string &red = attrs.getString("reduction");
  if (red == "none")
    return Types{makeType(logits.dtype, perItem)};
  if (red != "mean" && red != "sum")
    return makeError("reduction must be mean, sum or none, got \"{}\"", red);
  return Types{makeType(logits.dtype, {})};
}

namespace {
Status checkChannelVectors(const Type &x, std::span<const Type> vecs) {
  for (const Type &v : vecs) {
    KILN_TRY(sameDType(x, v));
    if (v.rank() != 1)
      return makeError("per-channel operands must be vectors, got {}", toString(v));
    KILN_TRY(matchDim(v.shape[0], x.shape[1], fmt::format("per-channel operand {} vs channels of {}", toString(v), toString(x))));
  }
  return {};
}
} // namespace

Result inferBatchNormTrain(std::span<const Type> ops, const AttrView &) {
  KILN_TRY(requireFloat(ops[0], "x"));
  KILN_TRY(requireRank(ops[0], 2, "x"));
  KILN_TRY(checkChannelVectors(ops[0], ops.subspan(1)));
  Type c = makeType(ops[0].dtype, {ops[0].shape[1]});
  return Types{ops[0], c, c};
}

Result inferBatchNormInfer(std::span<const Type> ops, const AttrView &) {
  KILN_TRY(requireFloat(ops[0], "x"));
  KILN_TRY(requireRank(ops[0], 2, "x"));
  KILN_TRY(checkChannelVectors(ops[0], ops.subspan(1)));
  return Types{ops[0]};
}

Result inferBatchNormGrad(std::span<const Type> ops, const AttrView &) {
  const Type &dy = ops[0], &x = ops[1];
  KILN_TRY(requireFloat(x, "x"));
  KILN_TRY(requireRank(x, 2, "x"));
  if (!(dy.dtype == x.dtype && dy.shape.size() == x.shape.size()))
    return makeError("dy {} must have the type of x {}", toString(dy), toString(x));
  KILN_TRY(checkChannelVectors(x, ops.subspan(2)));
  Type c = makeType(x.dtype, {x.shape[1]});
  return Types{x, c, c};
}

Result inferDropout(std::span<const Type> ops, const AttrView &attrs) {
  KILN_TRY(requireFloat(ops[0], "x"));
  double ratio = attrs.getFloat("ratio");
  if (!(ratio >= 0 && ratio < 1))
    return makeError("ratio must be in [0, 1), got {}", ratio);
  if (ops.size() == 2) {
    KILN_TRY(requireInteger(ops[1], "offset"));
    if (ops[1].rank() != 0)
      return makeError("offset must be a scalar, got {}", toString(ops[1]));
  }
  Type mask = ops[0];
  mask.dtype = DType::Bool;
  return Types{ops[0], mask};
}

} // namespace kiln::ir
