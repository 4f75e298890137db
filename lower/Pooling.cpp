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
  if (perGroupIn == 1 && perGroupOut == 1 && lowerDepthwise(n, win))
    return true;
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

/// out[n, c, p] = sum over taps k of x[n, c, p * s - pad + k * dil] w[c, k],
/// for images stored channels last: a parallel task per (image, output
/// row), its weights repacked tap-major (w[c, k] is strided in c), and per
/// output pixel a vector loop over the channels, contiguous in x, summing
/// every tap in registers (up to 25 taps: MobileNet's and EfficientNet's
/// 3x3 and 5x5); a larger window keeps a scratch row of C accumulators that
/// each tap updates, and the epilogue reads the row.
bool Lowerer::lowerDepthwise(const Node &n, const Window &win) {
  ValueId res = n.results[0], x = n.operands[0], w = n.operands[1];
  DType t = r_.type(res).dtype;
  const Sizes &xs = sizes_[x], &ys = sizes_[res];
  int rank = static_cast<int>(xs.size());
  auto channelsLast = [&](ValueId v) {
    std::vector<int> order = storageOrder(r_.type(v).layout, rank);
    return !order.empty() && order.back() == 1 && order.front() == 0;
  };
  const int64_t lanes = std::max<int64_t>(1, vectorBytes_ / static_cast<int64_t>(dtypeSize(t)));
  const int64_t channels = xs[1];
  if (gpu_ || rank < 3 || (t != DType::F32 && t != DType::F64) || !channelsLast(x) || !channelsLast(res) ||
      channels < lanes)
    return false;
  for (ValueId out : r_.outputs())
    if (bufferOf_.count(out) || nodeOf_.at(out) < anchor_)
      return false; // a value made before the anchor, in another domain
  auto I = [](int64_t v) { return imm(static_cast<double>(v), DType::I64); };
  int64_t taps = product(win.kernel);
  constexpr int64_t kUnrolledTaps = 25; // up to 5x5: one sum of the taps per channel vector
  int wBuf = scratch("w_taps", t, taps * channels);
  int accBuf = taps > kUnrolledTaps ? scratch("acc", t, channels) : -1;
  int task = newVar(), c0 = newVar(), c1 = newVar(), c2 = newVar(), c3 = newVar(), tap = newVar();
  int64_t rows = ys[0] * ys[2];
  ExprRef image = divIdx(index(task), ys[2]), row = remIdx(index(task), ys[2]);
  // The weights, tap-major: w_taps[k * C + c] = w[c, 0, k...].
  Coords cw = {index(c0), I(0)};
  for (ExprRef k : decompose(index(tap), Sizes(win.kernel.begin(), win.kernel.end())))
    cw.push_back(k);
  Block taskBody{loop(tap, taps, LoopKind::Serial,
                      {loop(c0, channels, LoopKind::Vector,
                            {store(wBuf, addIdx(mulIdx(index(tap), channels), index(c0)), at(w, cw))})})};
  // The output pixels of the task's row: the spatial dims after the first.
  std::vector<std::pair<int, int64_t>> pixels;
  Coords cout = {image, nullptr, row};
  for (int d = 3; d < rank; ++d) {
    int var = newVar();
    pixels.emplace_back(var, ys[static_cast<size_t>(d)]);
    cout.push_back(index(var));
  }
  Block pixel;
  if (taps <= kUnrolledTaps) {
    // Every tap in one sum: the accumulator stays in a register.
    ExprRef sum;
    for (int64_t tk = 0; tk < taps; ++tk) {
      Coords cx = {image, index(c3)};
      for (int64_t rem = tk, d = rank - 3; d >= 0; --d) {
        auto ud = static_cast<size_t>(d);
        int64_t kd = rem % win.kernel[ud];
        rem /= win.kernel[ud];
        cx.insert(cx.begin() + 2, addIdx(mulIdx(cout[ud + 2], win.stride[ud]), I(kd * win.dilation[ud] - win.padBegin[ud])));
      }
      ExprRef term = op(OpKind::Mul, t, {windowLoad(x, cx, {}, win, imm(0, t)),
                                         load(wBuf, t, addIdx(I(tk * channels), index(c3)))});
      sum = sum ? op(OpKind::Add, t, {sum, term}) : term;
    }
    anchorValue_ = sum;
    Coords post = cout;
    post[1] = index(c3);
    Block st;
    for (size_t y = 0; y < r_.outputs().size(); ++y)
      st.push_back(storeYield(y, post));
    pixel.push_back(loop(c3, channels, LoopKind::Vector, std::move(st)));
    for (auto it = pixels.rbegin(); it != pixels.rend(); ++it)
      pixel = {loop(it->first, it->second, LoopKind::Serial, std::move(pixel))};
    for (Stmt &st2 : pixel)
      taskBody.push_back(std::move(st2));
    k_.body = {loop(task, rows, LoopKind::Parallel, std::move(taskBody))};
    return true;
  }
  pixel.push_back(loop(c1, channels, LoopKind::Vector, {store(accBuf, index(c1), imm(0, t))}));
  int k = newVar();
  Coords cx = {image, index(c2)};
  Coords kc = decompose(index(k), Sizes(win.kernel.begin(), win.kernel.end()));
  for (size_t d = 0; d + 2 < static_cast<size_t>(rank); ++d)
    cx.push_back(addIdx(mulIdx(cout[d + 2], win.stride[d]),
                        addIdx(mulIdx(kc[d], win.dilation[d]), I(-win.padBegin[d]))));
  ExprRef term = op(OpKind::Mul, t, {windowLoad(x, cx, {}, win, imm(0, t)),
                                     load(wBuf, t, addIdx(mulIdx(index(k), channels), index(c2)))});
  pixel.push_back(loop(k, taps, LoopKind::Serial,
                       {loop(c2, channels, LoopKind::Vector,
                             {store(accBuf, index(c2), op(OpKind::Add, t, {load(accBuf, t, index(c2)), term}))})}));
  anchorValue_ = load(accBuf, t, index(c3));
  Coords post = cout;
  post[1] = index(c3);
  Block epilogue;
  for (size_t y = 0; y < r_.outputs().size(); ++y)
    epilogue.push_back(storeYield(y, post));
  pixel.push_back(loop(c3, channels, LoopKind::Vector, std::move(epilogue)));
  for (auto it = pixels.rbegin(); it != pixels.rend(); ++it) // serial: each pixel reuses the row
    pixel = {loop(it->first, it->second, LoopKind::Serial, std::move(pixel))};
  for (Stmt &st : pixel)
    taskBody.push_back(std::move(st));
  k_.body = {loop(task, rows, LoopKind::Parallel, std::move(taskBody))};
  return true;
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
