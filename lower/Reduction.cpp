//===- lower/Reduction.cpp - Reductions -------------------------------------===//
#include "lower/Lowerer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace kiln::lower::detail {

bool Lowerer::lowerReduce() {
  const Node &n = r_.nodes()[static_cast<size_t>(anchor_)];
  if (n.op == OpKind::ArgMax || n.op == OpKind::ArgMin)
    return lowerArgReduce(n);
  ValueId x = n.operands[0];
  const Sizes &in = sizes_[x];
  auto rank = static_cast<int>(in.size());
  auto axes = normalizeAxes(n.attrView().getInts("axes"), rank);
  if (!axes)
    return false;
  std::vector<int> reduced = *axes;
  if (reduced.empty())
    for (int d = 0; d < rank; ++d)
      reduced.push_back(d);
  bool keep = n.attrView().getBool("keepdims");
  Coords cin(in.size()), cout;
  std::vector<std::pair<int, int64_t>> outer, inner;
  int64_t count = 1;
  for (int d = 0; d < rank; ++d) {
    int var = newVar();
    cin[static_cast<size_t>(d)] = index(var);
    bool isReduced = std::find(reduced.begin(), reduced.end(), d) != reduced.end();
    (isReduced ? inner : outer).emplace_back(var, in[static_cast<size_t>(d)]);
    if (isReduced) {
      count *= in[static_cast<size_t>(d)];
      if (keep)
        cout.push_back(imm(0, DType::I64));
    } else {
      cout.push_back(cin[static_cast<size_t>(d)]);
    }
  }
  const double inf = std::numeric_limits<double>::infinity();
  OpKind combine = OpKind::Add;
  double init = 0;
  switch (n.op) {
  case OpKind::ReduceMax: combine = OpKind::Max, init = -inf; break;
  case OpKind::ReduceMin: combine = OpKind::Min, init = inf; break;
  case OpKind::ReduceProd: combine = OpKind::Mul, init = 1; break;
  default: break;
  }
  DType t = r_.type(n.results[0]).dtype;
  if (lowerColumnReduce(x, reduced, combine, init, n.op == OpKind::ReduceMean ? count : 1, t))
    return true;
  int accId = newVar();
  anchorValue_ = acc(accId, t);
  if (n.op == OpKind::ReduceMean)
    anchorValue_ = op(OpKind::Div, t, {anchorValue_, imm(static_cast<double>(count), t)});
  return accumulate(outer, inner, accId, combine, imm(init, t), at(x, cin), cin, cout, true);
}

/// argmax/argmin along one axis: the extreme value in a first sweep, then
/// the first index holding it (the last with select_last_index) in a second.
bool Lowerer::lowerArgReduce(const Node &n) {
  ValueId x = n.operands[0];
  const Sizes &in = sizes_[x];
  auto rank = static_cast<int>(in.size());
  auto axis = normalizeAxis(n.attrView().getInt("axis"), rank);
  if (!axis || in[static_cast<size_t>(*axis)] == 0)
    return false;
  bool keep = n.attrView().getBool("keepdims"), last = n.attrView().getBool("select_last_index");
  bool isMax = n.op == OpKind::ArgMax;
  DType t = r_.type(x).dtype;
  const int64_t extent = in[static_cast<size_t>(*axis)];
  int j1 = newVar(), j2 = newVar();
  Coords c1(in.size()), c2(in.size()), cout;
  std::vector<std::pair<int, int64_t>> outer;
  for (int d = 0; d < rank; ++d) {
    auto ud = static_cast<size_t>(d);
    if (d == *axis) {
      c1[ud] = index(j1);
      c2[ud] = index(j2);
      if (keep)
        cout.push_back(imm(0, DType::I64));
      continue;
    }
    int var = newVar();
    c1[ud] = c2[ud] = index(var);
    cout.push_back(c1[ud]);
    outer.emplace_back(var, in[ud]);
  }
  const double inf = isFloat(t) ? std::numeric_limits<double>::infinity() : 4.0e18;
  const double none = last ? -1.0 : 4.0e18; // no index yet
  int best = newVar(), where = newVar();
  anchorValue_ = acc(where, DType::I64);
  Block first{accUpdate(best, isMax ? OpKind::Max : OpKind::Min, at(x, c1))}, after;
  storeYields(first, after, c1, cout);
  ExprRef hit = op(OpKind::Equal, DType::Bool, {at(x, c2), acc(best, t)});
  ExprRef term = op(OpKind::Select, DType::I64, {hit, index(j2), imm(none, DType::I64)});
  Block body{accInit(best, imm(isMax ? -inf : inf, t)), loop(j1, extent, LoopKind::Serial, std::move(first)),
             accInit(where, imm(none, DType::I64)),
             loop(j2, extent, LoopKind::Serial, {accUpdate(where, last ? OpKind::Max : OpKind::Min, term)})};
  for (Stmt &st : after)
    body.push_back(std::move(st));
  nestAccumulating(outer, std::move(body));
  return true;
}

/// A reduction whose operand keeps its innermost stored dim (a bias
/// gradient: an NHWC image summed over N, H and W) reads its operand in
/// stored order, accumulating a vector of the kept dim's elements in a
/// scratch row at every point of the reduced dims; the other kept dims
/// are outer loops, and the kept row is split in blocks across threads
/// when they are too few. The result is the row divided by `divisor`.
bool Lowerer::lowerColumnReduce(ValueId x, const std::vector<int> &reduced, OpKind combine, double init, int64_t divisor, DType t) {
  const Sizes &in = sizes_[x];
  std::vector<int> order = storageOrder(r_.type(x).layout, static_cast<int>(in.size()));
  auto isReduced = [&](int d) { return std::find(reduced.begin(), reduced.end(), d) != reduced.end(); };
  const int64_t lanes = std::max<int64_t>(1, vectorBytes_ / static_cast<int64_t>(dtypeSize(t)));
  if (gpu_ || order.empty() || isReduced(order.back()) || dtypeSize(t) < 4)
    return false; // (a GPU thread sums its own result: no vectors of rows)
  const int inner = order.back();
  const int64_t row = in[static_cast<size_t>(inner)];
  int64_t others = 1, count = 1;
  for (int d : order)
    (isReduced(d) ? count : others) *= d == inner ? 1 : in[static_cast<size_t>(d)];
  if (row < lanes || count < 16)
    return false;
  // Blocks of the kept row, whole vectors, enough for the threads.
  int64_t blocks = others >= threads_ ? 1 : std::min<int64_t>(threads_, row / lanes);
  const int64_t block = (row / lanes + blocks - 1) / blocks * lanes;
  blocks = (row + block - 1) / block;
  int accBuf = scratch("row", t, block);
  auto I = [](int64_t v) { return imm(static_cast<double>(v), DType::I64); };
  Coords cin(in.size()), cout;
  std::vector<std::pair<int, int64_t>> keptLoops, reducedLoops;
  for (int d : order) {
    if (d == inner)
      continue;
    int var = newVar();
    cin[static_cast<size_t>(d)] = index(var);
    (isReduced(d) ? reducedLoops : keptLoops).emplace_back(var, in[static_cast<size_t>(d)]);
  }
  int b = newVar(), e = newVar(), e2 = newVar(), e0 = newVar();
  ExprRef start = mulIdx(index(b, blocks), block);
  ExprRef width = minIdx(I(block), addIdx(I(row), mulIdx(start, -1)));
  cin[static_cast<size_t>(inner)] = addIdx(start, index(e));
  Coords post = cin;
  post[static_cast<size_t>(inner)] = addIdx(start, index(e2));
  bool keep = r_.nodes()[static_cast<size_t>(anchor_)].attrView().getBool("keepdims");
  for (size_t d = 0; d < in.size(); ++d)
    if (!isReduced(static_cast<int>(d)))
      cout.push_back(post[d]);
    else if (keep)
      cout.push_back(imm(0, DType::I64));
  anchorValue_ = load(accBuf, t, index(e2));
  if (divisor != 1)
    anchorValue_ = op(OpKind::Div, t, {anchorValue_, imm(static_cast<double>(divisor), t)});
  Block update{store(accBuf, index(e), op(combine, t, {load(accBuf, t, index(e)), at(x, cin)}))}, after;
  storeYields(update, after, cin, cout);
  auto rowLoop = [&](int var, Block b) {
    return row % block == 0 ? loop(var, block, LoopKind::Vector, std::move(b))
                            : loopUpTo(var, block, width, LoopKind::Vector, std::move(b));
  };
  Block body{rowLoop(e0, {store(accBuf, index(e0), imm(init, t))})};
  Block sweep{rowLoop(e, std::move(update))};
  for (size_t i = reducedLoops.size(); i-- > 0;)
    sweep = Block{loop(reducedLoops[i].first, reducedLoops[i].second, LoopKind::Serial, std::move(sweep))};
  body.push_back(std::move(sweep[0]));
  body.push_back(rowLoop(e2, std::move(after)));
  Block nestBody{loop(b, blocks, LoopKind::Serial, std::move(body))};
  for (size_t i = keptLoops.size(); i-- > 0;)
    nestBody = Block{loop(keptLoops[i].first, keptLoops[i].second, LoopKind::Serial, std::move(nestBody))};
  nestBody[0].loop = LoopKind::Parallel;
  k_.body = std::move(nestBody);
  return true;
}

/// The body of an accumulating kernel: in the result loops `outer`, the
/// accumulator starts at `init` and takes `term` at every point of the
/// inner loops (where the yields made before the anchor are stored, at
/// `pre`, if `preYields`; else there must be none), then the yields made
/// after it are stored at `post`.
bool Lowerer::accumulate(const std::vector<std::pair<int, int64_t>> &outer, const std::vector<std::pair<int, int64_t>> &inner, int accId, OpKind combine, ExprRef init, ExprRef term, const Coords &pre, const Coords &post, bool preYields) {
  Block innerBody{accUpdate(accId, combine, std::move(term))}, after;
  storeYields(innerBody, after, pre, post);
  if (!preYields && innerBody.size() != 1)
    return false; // a yield made before the anchor would be in another domain
  Block body{accInit(accId, std::move(init))};
  for (Stmt &st : nest(inner, std::move(innerBody), true))
    body.push_back(std::move(st));
  for (Stmt &st : after)
    body.push_back(std::move(st));
  nestAccumulating(outer, std::move(body));
  return true;
}

/// The result loops `outer` around `body` as the kernel's body: each result
/// element holds its own accumulator, so the innermost result loop is not a
/// vector loop (the outermost is parallel).
void Lowerer::nestAccumulating(const std::vector<std::pair<int, int64_t>> &outer, Block body) {
  k_.body = nest(outer, std::move(body));
  if (outer.empty())
    return;
  Stmt *l = &k_.body[0];
  for (size_t i = 1; i < outer.size(); ++i)
    l = &l->body[0];
  l->loop = outer.size() > 1 ? LoopKind::Serial : LoopKind::Parallel;
}

} // namespace kiln::lower::detail
