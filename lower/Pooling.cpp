//===- lower/Pooling.cpp - Max pooling and its gradient ---------------------===//
#include "lower/Lowerer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace kiln::lower::detail {

/// Conv, its two gradients (contractions) and max pooling (a maximum over
/// taps). The anchor's operands must be the kernel's arguments (no
/// prologue).
bool Lowerer::lowerWindow() {
  const Node &n = r_.nodes()[static_cast<size_t>(anchor_)];
  for (ValueId o : n.operands)
    if (!bufferOf_.count(o))
      return false;
  AttrView a = n.attrView();
  bool grouped = a.declares("groups") && a.getInt("groups") != 1;
  if (grouped && n.op != OpKind::Conv)
    return false;
  if (n.op == OpKind::MaxPoolGrad)
    return lowerMaxPoolGrad(n);
  std::vector<int64_t> kernel;
  switch (n.op) {
  case OpKind::Conv:
  case OpKind::ConvGradInput: kernel.assign(sizes_[n.operands[1]].begin() + 2, sizes_[n.operands[1]].end()); break;
  case OpKind::ConvGradWeight: kernel = a.getInts("kernel_size"); break;
  default: kernel = a.getInts("kernel"); break;
  }
  auto win = readWindow(a, kernel);
  if (!win)
    return false;
  if (grouped)
    return lowerGroupedConv(n, *win, a.getInt("groups"));
  if (n.op == OpKind::AvgPool)
    return lowerAvgPool(n, *win);
  if (n.op != OpKind::MaxPool)
    return lowerConv(n, *win);
  // out[n, c, p] = max over k of x[n, c, p * s - pad + k * dil]
  ValueId res = n.results[0], x = n.operands[0];
  Coords cout;
  std::vector<std::pair<int, int64_t>> outer, inner;
  loopsOver(res, cout, outer);
  Coords cx = {cout[0], cout[1]};
  for (size_t d = 0; d < kernel.size(); ++d) {
    int var = newVar();
    inner.emplace_back(var, kernel[d]);
    cx.push_back(addIdx(mulIdx(cout[d + 2], win->stride[d]),
                        addIdx(mulIdx(index(var), win->dilation[d]), imm(static_cast<double>(-win->padBegin[d]), DType::I64))));
  }
  DType t = r_.type(res).dtype;
  const double inf = std::numeric_limits<double>::infinity();
  ExprRef term = windowLoad(x, cx, {}, *win, imm(-inf, t));
  int accId = newVar();
  anchorValue_ = acc(accId, t);
  return accumulate(outer, inner, accId, OpKind::Max, imm(-inf, t), term, cout, cout, false);
}

/// out[n, c, p] = sum over taps of x[n, c, p * s - pad + k] / count, the
/// count per output position as the reference counts it (the taps inside
/// the input, or inside the padded input with count_include_pad), a
/// product over the spatial dims computed from the position. Dilation 1.
bool Lowerer::lowerAvgPool(const Node &n, const Window &win) {
  for (int64_t d : win.dilation)
    if (d != 1)
      return false;
  bool includePad = n.attrView().getBool("count_include_pad");
  ValueId res = n.results[0], x = n.operands[0];
  Coords cout;
  std::vector<std::pair<int, int64_t>> outer, inner;
  loopsOver(res, cout, outer);
  Coords cx = {cout[0], cout[1]};
  DType t = r_.type(res).dtype;
  auto I = [](int64_t v) { return imm(static_cast<double>(v), DType::I64); };
  ExprRef count;
  for (size_t d = 0; d < win.kernel.size(); ++d) {
    int var = newVar();
    inner.emplace_back(var, win.kernel[d]);
    ExprRef start = addIdx(mulIdx(cout[d + 2], win.stride[d]), I(-win.padBegin[d]));
    cx.push_back(addIdx(start, index(var)));
    int64_t lo = includePad ? -win.padBegin[d] : 0, hi = sizes_[x][d + 2] + (includePad ? win.padEnd[d] : 0);
    ExprRef from = op(OpKind::Max, DType::I64, {start, I(lo)});
    ExprRef to = minIdx(addIdx(start, I(win.kernel[d])), I(hi));
    ExprRef taps = op(OpKind::Max, DType::I64, {addIdx(to, mulIdx(from, -1)), I(0)});
    count = count ? op(OpKind::Mul, DType::I64, {count, taps}) : taps;
  }
  ExprRef term = windowLoad(x, cx, {}, win, imm(0, t));
  int accId = newVar();
  anchorValue_ = op(OpKind::Div, t, {acc(accId, t), cast(count, t)});
  return accumulate(outer, inner, accId, OpKind::Add, imm(0, t), term, cout, cout, false);
}

/// A grouped convolution (depthwise when each group has one channel) as a
/// sum over each output channel's group of input channels and taps:
/// out[n, o, p] = sum over c < C/groups, k of x[n, (o / (O/groups)) * C/groups + c,
/// p * s - pad + k * dil] w[o, c, k].
bool Lowerer::lowerGroupedConv(const Node &n, const Window &win, int64_t groups) {
  ValueId res = n.results[0], x = n.operands[0], w = n.operands[1];
  const Sizes &ws = sizes_[w];
  int64_t perGroupIn = ws[1], perGroupOut = ws[0] / groups;
  if (perGroupOut <= 0)
    return false;
  Coords cout;
  std::vector<std::pair<int, int64_t>> outer, inner;
  loopsOver(res, cout, outer);
  int ci = newVar();
  inner.emplace_back(ci, perGroupIn);
  ExprRef channel = addIdx(mulIdx(divIdx(cout[1], perGroupOut), perGroupIn), index(ci));
  Coords cx = {cout[0], channel}, cw = {cout[1], index(ci)};
  for (size_t d = 0; d < win.kernel.size(); ++d) {
    int var = newVar();
    inner.emplace_back(var, win.kernel[d]);
    cx.push_back(addIdx(mulIdx(cout[d + 2], win.stride[d]),
                        addIdx(mulIdx(index(var), win.dilation[d]), imm(static_cast<double>(-win.padBegin[d]), DType::I64))));
    cw.push_back(index(var));
  }
  DType t = r_.type(res).dtype;
  ExprRef term = op(OpKind::Mul, t, {windowLoad(x, cx, {}, win, imm(0, t)), at(w, cw)});
  int accId = newVar();
  anchorValue_ = acc(accId, t);
  return accumulate(outer, inner, accId, OpKind::Add, imm(0, t), term, cout, cout, false);
}

/// max_pool_grad over windows that tile the input exactly (stride = kernel,
/// no padding or dilation): each tap of each window is one input element,
/// which gets dy if it is the window's first maximum (the reference's
/// choice; NaNs are not ordered as the reference orders them) and 0 otherwise.
bool Lowerer::lowerMaxPoolGrad(const Node &n) {
  AttrView a = n.attrView();
  auto win = readWindow(a, a.getInts("kernel"));
  if (!win || win->ceilMode || product(win->kernel) > 9)
    return false;
  size_t spatial = win->kernel.size();
  for (size_t d = 0; d < spatial; ++d)
    if (win->stride[d] != win->kernel[d] || win->padBegin[d] || win->padEnd[d] || win->dilation[d] != 1)
      return false;
  ValueId dy = n.operands[0], x = n.operands[1], res = n.results[0];
  for (size_t d = 0; d < spatial; ++d) // every input element in one window (an epilogue sees them all)
    if (sizes_[x][d + 2] != sizes_[dy][d + 2] * win->stride[d])
      return false;
  Coords cw;
  std::vector<std::pair<int, int64_t>> outer;
  loopsOver(dy, cw, outer);
  // The input coordinates of every tap of the window at cw.
  std::vector<Coords> taps;
  Sizes k(spatial);
  for (int64_t t = 0; t < product(win->kernel); ++t) {
    for (size_t d = spatial, rest = static_cast<size_t>(t); d-- > 0;) {
      k[d] = static_cast<int64_t>(rest) % win->kernel[d];
      rest /= static_cast<size_t>(win->kernel[d]);
    }
    Coords c = {cw[0], cw[1]};
    for (size_t d = 0; d < spatial; ++d)
      c.push_back(addIdx(mulIdx(cw[d + 2], win->stride[d]), imm(static_cast<double>(k[d]), DType::I64)));
    taps.push_back(std::move(c));
  }
  DType t = r_.type(res).dtype;
  Block body;
  for (size_t i = 0; i < taps.size(); ++i) {
    ExprRef v = at(x, taps[i]), first;
    for (size_t j = 0; j < taps.size(); ++j) {
      if (j == i)
        continue;
      ExprRef u = at(x, taps[j]); // earlier taps must be smaller, later ones not larger
      ExprRef ok = j < i ? op(OpKind::Less, DType::Bool, {u, v}) : op(OpKind::Greater, DType::Bool, {v, u});
      if (j > i)
        ok = op(OpKind::Or, DType::Bool, {ok, op(OpKind::Equal, DType::Bool, {u, v})});
      first = first ? op(OpKind::And, DType::Bool, {first, ok}) : ok;
    }
    ExprRef g = load(bufferOf_.at(dy), t, offset(dy, cw));
    anchorValue_ = first ? op(OpKind::Select, t, {first, g, imm(0, t)}) : g;
    for (size_t y = 0; y < r_.outputs().size(); ++y) {
      ValueId out = r_.outputs()[y];
      if (bufferOf_.count(out) || nodeOf_.at(out) < anchor_)
        return false; // a value made before the anchor, in another domain
      body.push_back(storeYield(y, taps[i]));
    }
  }
  k_.body = nest(outer, std::move(body));
  return true;
}

} // namespace kiln::lower::detail
