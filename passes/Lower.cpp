//===- passes/Lower.cpp - Graph nodes to kernels --------------------------===//
#include "passes/Lower.h"
#include "passes/Rebuild.h"

#include "ir/TypeRules.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::passes {

using namespace ir;
using namespace kernel;

namespace {

using Coords = std::vector<ExprRef>;

/// Ops lowered as a sum (or max) over a window of taps.
bool isWindow(OpKind op) {
  return op == OpKind::Conv || op == OpKind::ConvGradWeight || op == OpKind::ConvGradInput || op == OpKind::MaxPool ||
         op == OpKind::MaxPoolGrad;
}

bool isReduce(OpKind op) {
  return op == OpKind::ReduceSum || op == OpKind::ReduceMean || op == OpKind::ReduceMax ||
         op == OpKind::ReduceMin || op == OpKind::ReduceProd;
}

/// A plain node as a one-node region, so both lower the same way.
std::shared_ptr<const Graph> asRegion(const Graph &g, const Node &n) {
  auto body = std::make_shared<Graph>("kernel");
  std::vector<ValueId> args;
  for (size_t i = 0; i < n.operands.size(); ++i) {
    auto v = body->addInput(fmt::format("in{}", i), g.type(n.operands[i]));
    if (!v)
      return nullptr;
    args.push_back(*v);
  }
  std::vector<std::string> names;
  for (ValueId r : n.results)
    names.push_back(g.nameOf(r));
  auto results = copyNode(*body, n, args, names);
  if (!results)
    return nullptr;
  for (ValueId r : *results)
    (void)body->addOutput(r);
  return body;
}

class Lowerer {
public:
  Lowerer(const Graph &region, const std::map<std::string, int64_t> &dims) : r_(region), dims_(dims) {}

  std::optional<Kernel> run(const std::string &name, const std::vector<std::string> &argNames,
                            const std::vector<std::string> &resultNames) {
    if (!check())
      return std::nullopt;
    k_.name = name;
    for (size_t i = 0; i < r_.inputs().size(); ++i) {
      ValueId v = r_.inputs()[i];
      bufferOf_[v] = static_cast<int>(i);
      k_.buffers.push_back(Buffer{argNames[i], r_.type(v).dtype, product(sizes_[v]), false});
    }
    for (size_t i = 0; i < r_.outputs().size(); ++i) {
      ValueId v = r_.outputs()[i];
      k_.buffers.push_back(Buffer{resultNames[i], r_.type(v).dtype, product(sizes_[v]), true});
    }
    OpKind anchorOp = anchor_ < 0 ? OpKind::Identity : r_.nodes()[static_cast<size_t>(anchor_)].op;
    bool ok = anchor_ < 0                    ? lowerElementwise()
              : anchorOp == OpKind::MatMul   ? lowerMatMul()
              : isWindow(anchorOp)           ? lowerWindow()
                                             : lowerReduce();
    if (!ok)
      return std::nullopt;
    return std::move(k_);
  }

private:
  /// Every value f32, f64 or bool of concrete sizes and strided layout; every node
  /// elementwise but one reduction or 2-D matmul at most.
  bool check() {
    sizes_.resize(r_.numValues());
    for (ValueId v = 0; v < static_cast<ValueId>(r_.numValues()); ++v) {
      const Type &t = r_.type(v);
      if (t.dtype != DType::F32 && t.dtype != DType::F64 && t.dtype != DType::Bool)
        return false;
      for (const Dim &d : t.shape) {
        if (d.isConst())
          sizes_[v].push_back(d.value);
        else if (d.isSymbol() && dims_.count(d.sym))
          sizes_[v].push_back(dims_.at(d.sym));
        else
          return false;
      }
      if (!strides(v))
        return false;
    }
    for (size_t i = 0; i < r_.nodes().size(); ++i) {
      const Node &n = r_.nodes()[i];
      for (ValueId res : n.results)
        nodeOf_[res] = static_cast<int>(i);
      if (n.op == OpKind::LayoutConvert || n.op == OpKind::Identity)
        continue;
      if (n.info().category == OpCategory::Elementwise) {
        if (!flatAgrees(n))
          return false;
        continue;
      }
      bool matmul2d = n.op == OpKind::MatMul && r_.type(n.operands[0]).rank() == 2 && r_.type(n.operands[1]).rank() == 2;
      if ((!isReduce(n.op) && !matmul2d && !isWindow(n.op)) || anchor_ >= 0)
        return false;
      anchor_ = static_cast<int>(i);
    }
    return !r_.consts().size(); // constants in regions are not lowered yet
  }

  /// An elementwise result in a flat layout reads every operand that spans
  /// its flat dim in the same layout (a vector broadcast along it would be
  /// read in logical order).
  bool flatAgrees(const Node &n) const {
    Layout l = r_.type(n.results[0]).layout;
    if (!l.isFlat())
      return true;
    size_t flat = l.kind == Layout::FlatRows ? 0 : 1;
    for (ValueId o : n.operands) {
      const Sizes &s = sizes_[o];
      size_t skip = 2 - std::min<size_t>(2, s.size());
      bool spans = flat >= skip && s[flat - skip] != 1;
      if (spans && !(r_.type(o).layout == l))
        return false;
    }
    return true;
  }

  int newVar() { return k_.numVars++; }

  /// One loop per dim of value v, in its storage order (outermost first):
  /// `c` gets v's coordinates, `vars` the loops.
  void loopsOver(ValueId v, Coords &c, std::vector<std::pair<int, int64_t>> &vars) {
    const Sizes &sizes = sizes_[v];
    c.assign(sizes.size(), nullptr);
    for (int d : storageOrder(r_.type(v).layout, static_cast<int>(sizes.size()))) {
      int var = newVar();
      c[static_cast<size_t>(d)] = index(var);
      vars.emplace_back(var, sizes[static_cast<size_t>(d)]);
    }
  }

  /// Value v's strides. A flat layout (nhwc_colsC, nhwc_rowsC) only permutes
  /// its flat dim, which every value it meets in the kernel permutes alike
  /// (check() makes sure), so the kernel indexes it in stored order.
  std::optional<std::vector<int64_t>> strides(ValueId v) const {
    Layout l = r_.type(v).layout;
    return physicalStrides(sizes_[v], l.isFlat() ? Layout{} : l);
  }

  /// The physical offset of logical `c` in value v's storage.
  ExprRef offset(ValueId v, const Coords &c) {
    auto strides = this->strides(v);
    ExprRef idx = imm(0, DType::I64);
    for (size_t d = 0; d < c.size(); ++d)
      if (sizes_[v][d] != 1)
        idx = addIdx(idx, mulIdx(c[d], (*strides)[d]));
    return idx;
  }

  /// `c` (coordinates of a result) as seen by an operand of `sizes`, which
  /// broadcasts against it from the right.
  static Coords broadcastCoords(const Coords &c, const Sizes &sizes) {
    Coords out;
    size_t skip = c.size() - sizes.size();
    for (size_t d = 0; d < sizes.size(); ++d)
      out.push_back(sizes[d] == 1 ? imm(0, DType::I64) : c[d + skip]);
    return out;
  }

  /// Value v at logical coordinates c, built once per (value, coordinates).
  ExprRef at(ValueId v, const Coords &c) {
    std::string key = std::to_string(v);
    for (const ExprRef &e : c)
      key += fmt::format(",{}", static_cast<const void *>(e.get()));
    if (auto it = memo_.find(key); it != memo_.end())
      return it->second;
    ExprRef e;
    if (auto b = bufferOf_.find(v); b != bufferOf_.end()) {
      e = load(b->second, r_.type(v).dtype, offset(v, c));
    } else if (nodeOf_.at(v) == anchor_) {
      e = anchorValue_;
    } else if (const Node &m = r_.nodes()[static_cast<size_t>(nodeOf_.at(v))];
               m.op == OpKind::LayoutConvert || m.op == OpKind::Identity) {
      e = at(m.operands[0], c); // the same element, read in its own layout
    } else {
      const Node &n = r_.nodes()[static_cast<size_t>(nodeOf_.at(v))];
      std::vector<ExprRef> args;
      for (ValueId o : n.operands)
        args.push_back(at(o, broadcastCoords(c, sizes_[o])));
      e = elementwise(n, r_.type(v).dtype, std::move(args));
    }
    memo_.emplace(std::move(key), e);
    return e;
  }

  static ExprRef elementwise(const Node &n, DType t, std::vector<ExprRef> args) {
    AttrView a = n.attrView();
    switch (n.op) {
    case OpKind::Cast: return cast(args[0], t);
    case OpKind::LeakyRelu:
    case OpKind::Elu: return op(n.op, t, std::move(args), {a.getFloat("alpha")});
    case OpKind::Selu: return op(n.op, t, std::move(args), {a.getFloat("alpha"), a.getFloat("gamma")});
    case OpKind::Clip: return op(n.op, t, std::move(args), {a.getFloat("min"), a.getFloat("max")});
    default: return op(n.op, t, std::move(args));
    }
  }

  /// Loops over `vars` (outermost first) around `inner`: the innermost
  /// vector, the outermost parallel unless they reduce (`reduction`).
  static Block nest(const std::vector<std::pair<int, int64_t>> &vars, Block inner, bool reduction = false) {
    for (size_t i = vars.size(); i-- > 0;) {
      LoopKind kind = i + 1 == vars.size()    ? LoopKind::Vector
                      : i == 0 && !reduction ? LoopKind::Parallel
                                             : LoopKind::Serial;
      inner = Block{loop(vars[i].first, vars[i].second, kind, std::move(inner))};
    }
    return inner;
  }

  Stmt storeYield(size_t i, const Coords &c) {
    ValueId y = r_.outputs()[i];
    return store(static_cast<int>(r_.inputs().size() + i), offset(y, c), at(y, c));
  }

  bool lowerElementwise() {
    ValueId first = r_.outputs()[0];
    const Sizes &domain = sizes_[first];
    for (ValueId y : r_.outputs())
      if (sizes_[y] != domain || !(r_.type(y).layout == r_.type(first).layout))
        return false;
    Coords c;
    std::vector<std::pair<int, int64_t>> vars;
    loopsOver(first, c, vars);
    Block body;
    for (size_t i = 0; i < r_.outputs().size(); ++i)
      body.push_back(storeYield(i, c));
    k_.body = nest(vars, std::move(body));
    return true;
  }

  /// Splits the yields into those made before the anchor (stored inside its
  /// inner loops, at `pre`) and after it (stored after them, at `post`).
  void storeYields(Block &inner, Block &after, const Coords &pre, const Coords &post) {
    for (size_t i = 0; i < r_.outputs().size(); ++i) {
      ValueId y = r_.outputs()[i];
      bool before = bufferOf_.count(y) || nodeOf_.at(y) < anchor_;
      (before ? inner : after).push_back(storeYield(i, before ? pre : post));
    }
  }

  bool lowerReduce() {
    const Node &n = r_.nodes()[static_cast<size_t>(anchor_)];
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
    int accId = newVar();
    DType t = r_.type(n.results[0]).dtype;
    anchorValue_ = acc(accId, t);
    if (n.op == OpKind::ReduceMean)
      anchorValue_ = op(OpKind::Div, t, {anchorValue_, imm(static_cast<double>(count), t)});
    return accumulate(outer, inner, accId, combine, imm(init, t), at(x, cin), cin, cout, true);
  }

  /// The body of an accumulating kernel: in the result loops `outer`, the
  /// accumulator starts at `init` and takes `term` at every point of the
  /// inner loops (where the yields made before the anchor are stored, at
  /// `pre`, if `preYields`; else there must be none), then the yields made
  /// after it are stored at `post`.
  bool accumulate(const std::vector<std::pair<int, int64_t>> &outer, const std::vector<std::pair<int, int64_t>> &inner,
                  int accId, OpKind combine, ExprRef init, ExprRef term, const Coords &pre, const Coords &post,
                  bool preYields) {
    Block innerBody{accUpdate(accId, combine, std::move(term))}, after;
    storeYields(innerBody, after, pre, post);
    if (!preYields && innerBody.size() != 1)
      return false; // a yield made before the anchor would be in another domain
    Block body{accInit(accId, std::move(init))};
    for (Stmt &st : nest(inner, std::move(innerBody), true))
      body.push_back(std::move(st));
    for (Stmt &st : after)
      body.push_back(std::move(st));
    k_.body = nest(outer, std::move(body));
    // Each result element holds its own accumulator: the innermost result
    // loop is not a vector loop.
    if (!outer.empty()) {
      Stmt *l = &k_.body[0];
      for (size_t i = 1; i < outer.size(); ++i)
        l = &l->body[0];
      l->loop = outer.size() > 1 ? LoopKind::Serial : LoopKind::Parallel;
    }
    return true;
  }

  bool lowerMatMul() {
    const Node &n = r_.nodes()[static_cast<size_t>(anchor_)];
    ValueId a = n.operands[0], b = n.operands[1];
    bool ta = n.attrView().getBool("transpose_a"), tb = n.attrView().getBool("transpose_b");
    const Sizes &out = sizes_[n.results[0]];
    int64_t kExtent = ta ? sizes_[a][0] : sizes_[a][1];
    ValueId first = r_.outputs()[0];
    bool rowInFirst = !bufferOf_.count(first) && nodeOf_.at(first) >= anchor_ && sizes_[first] == out &&
                      r_.type(first).dtype == r_.type(n.results[0]).dtype &&
                      r_.type(first).layout == r_.type(n.results[0]).layout;
    if (rowInFirst)
      return lowerMatMulRows(n, a, b, ta, tb, out, kExtent);
    int i = newVar(), j = newVar(), kk = newVar(), accId = newVar();
    Coords ci = {index(i), index(kk)}, ck = {index(kk), index(j)};
    if (ta)
      std::swap(ci[0], ci[1]);
    if (tb)
      std::swap(ck[0], ck[1]);
    DType t = r_.type(n.results[0]).dtype;
    anchorValue_ = acc(accId, t);
    Coords cij = {index(i), index(j)};
    return accumulate({{i, out[0]}, {j, out[1]}}, {{kk, kExtent}}, accId, OpKind::Add, imm(0, t),
                      op(OpKind::Mul, t, {at(a, ci), at(b, ck)}), cij, cij, false);
  }

  /// A matmul whose first result has its shape: each row of the product is
  /// accumulated in that result's buffer, k outside and j inside (contiguous,
  /// so the j loops vectorize), then the epilogue reads it back and writes
  /// every result.
  bool lowerMatMulRows(const Node &n, ValueId a, ValueId b, bool ta, bool tb, const Sizes &out, int64_t kExtent) {
    DType t = r_.type(n.results[0]).dtype;
    ValueId first = r_.outputs()[0];
    int rowBuffer = static_cast<int>(r_.inputs().size());
    int i = newVar(), kk = newVar(), jZero = newVar(), jAcc = newVar(), jOut = newVar();
    auto cell = [&](int j) { return offset(first, {index(i), index(j)}); };
    Coords ca = {index(i), index(kk)}, cb = {index(kk), index(jAcc)};
    if (ta)
      std::swap(ca[0], ca[1]);
    if (tb)
      std::swap(cb[0], cb[1]);
    ExprRef sum = op(OpKind::Add, t, {load(rowBuffer, t, cell(jAcc)), op(OpKind::Mul, t, {at(a, ca), at(b, cb)})});
    anchorValue_ = load(rowBuffer, t, cell(jOut));
    Block epilogue;
    Coords cij = {index(i), index(jOut)};
    for (size_t y = 0; y < r_.outputs().size(); ++y) {
      ValueId v = r_.outputs()[y];
      if (bufferOf_.count(v) || nodeOf_.at(v) < anchor_)
        return false;
      epilogue.push_back(storeYield(y, cij));
    }
    Block row;
    row.push_back(loop(jZero, out[1], LoopKind::Vector, {store(rowBuffer, cell(jZero), imm(0, t))}));
    row.push_back(loop(kk, kExtent, LoopKind::Serial,
                       {loop(jAcc, out[1], LoopKind::Vector, {store(rowBuffer, cell(jAcc), sum)})}));
    row.push_back(loop(jOut, out[1], LoopKind::Vector, std::move(epilogue)));
    k_.body = {loop(i, out[0], LoopKind::Parallel, std::move(row))};
    return true;
  }

  /// A buffer argument at coordinates that may fall in the padding: `fill`
  /// there (the index is clamped so the load stays inside the buffer).
  ExprRef guardedLoad(ValueId v, const Coords &c, const std::vector<size_t> &guarded, ExprRef fill) {
    ExprRef inside;
    for (size_t d : guarded) {
      ExprRef ok = op(OpKind::And, DType::Bool,
                      {op(OpKind::Greater, DType::Bool, {c[d], imm(-1, DType::I64)}),
                       op(OpKind::Less, DType::Bool, {c[d], imm(static_cast<double>(sizes_[v][d]), DType::I64)})});
      inside = inside ? op(OpKind::And, DType::Bool, {inside, ok}) : ok;
    }
    DType t = r_.type(v).dtype;
    if (!inside)
      return load(bufferOf_.at(v), t, offset(v, c));
    ExprRef idx = op(OpKind::Select, DType::I64, {inside, offset(v, c), imm(0, DType::I64)});
    return op(OpKind::Select, t, {inside, load(bufferOf_.at(v), t, idx), std::move(fill)});
  }

  /// Conv, its two gradients and max pooling: an accumulation over taps.
  /// The anchor's operands must be the kernel's arguments (no prologue).
  bool lowerWindow() {
    const Node &n = r_.nodes()[static_cast<size_t>(anchor_)];
    for (ValueId o : n.operands)
      if (!bufferOf_.count(o))
        return false;
    AttrView a = n.attrView();
    if (a.declares("groups") && a.getInt("groups") != 1)
      return false;
    if (n.op == OpKind::MaxPoolGrad)
      return lowerMaxPoolGrad(n);
    ValueId res = n.results[0];
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
    size_t spatial = kernel.size();
    // The result's coordinates (outer loops) and the taps' (inner loops).
    Coords cout;
    std::vector<std::pair<int, int64_t>> outer, inner;
    loopsOver(res, cout, outer);
    auto innerVar = [&](int64_t extent) {
      int var = newVar();
      inner.emplace_back(var, extent);
      return index(var);
    };
    auto tap = [&](const ExprRef &pos, const ExprRef &k, size_t d) { // pos * stride - pad + k * dilation
      return addIdx(mulIdx(pos, win->stride[d]), addIdx(mulIdx(k, win->dilation[d]), imm(static_cast<double>(-win->padBegin[d]), DType::I64)));
    };
    // Taps leave the input only through padding (or always, for the input
    // gradient's reversed window).
    std::vector<size_t> guarded;
    for (size_t d = 0; d < spatial; ++d)
      if (n.op == OpKind::ConvGradInput || win->padBegin[d] > 0 || win->padEnd[d] > 0 || win->ceilMode)
        guarded.push_back(d + 2);
    DType t = r_.type(res).dtype;
    ExprRef term;
    OpKind combine = OpKind::Add;
    double init = 0;
    ValueId x = n.operands[0];
    if (n.op == OpKind::Conv || n.op == OpKind::MaxPool) { // out[n, o, p] from x[n, c, p * s - pad + k * dil]
      bool conv = n.op == OpKind::Conv;
      ExprRef c = conv ? innerVar(sizes_[x][1]) : cout[1];
      Coords cx = {cout[0], c}, ck;
      for (size_t d = 0; d < spatial; ++d) {
        ExprRef k = innerVar(kernel[d]);
        cx.push_back(tap(cout[d + 2], k, d));
        ck.push_back(k);
      }
      double fill = conv ? 0 : -std::numeric_limits<double>::infinity();
      term = guardedLoad(x, cx, guarded, imm(fill, t));
      if (conv) {
        Coords cw = {cout[1], c};
        cw.insert(cw.end(), ck.begin(), ck.end());
        term = op(OpKind::Mul, t, {term, load(bufferOf_.at(n.operands[1]), t, offset(n.operands[1], cw))});
      } else {
        combine = OpKind::Max, init = -std::numeric_limits<double>::infinity();
      }
    } else if (n.op == OpKind::ConvGradWeight) { // dw[o, c, k] = sum over n, p of x[n, c, tap] dy[n, o, p]
      ValueId dy = n.operands[1];
      ExprRef b = innerVar(sizes_[x][0]);
      Coords cx = {b, cout[1]}, cdy = {b, cout[0]};
      for (size_t d = 0; d < spatial; ++d) {
        ExprRef p = innerVar(sizes_[dy][d + 2]);
        cx.push_back(tap(p, cout[d + 2], d));
        cdy.push_back(p);
      }
      term = op(OpKind::Mul, t, {guardedLoad(x, cx, guarded, imm(0, t)), load(bufferOf_.at(dy), t, offset(dy, cdy))});
    } else { // conv_grad_input, stride 1: dx[n, c, i] = sum over o, k of dy[n, o, i + pad - k * dil] w[o, c, k]
      for (int64_t s : win->stride)
        if (s != 1)
          return false;
      ValueId dy = x, w = n.operands[1];
      ExprRef o = innerVar(sizes_[w][0]);
      Coords cdy = {cout[0], o}, cw = {o, cout[1]};
      for (size_t d = 0; d < spatial; ++d) {
        ExprRef k = innerVar(kernel[d]);
        cdy.push_back(addIdx(cout[d + 2], addIdx(mulIdx(k, -win->dilation[d]), imm(static_cast<double>(win->padBegin[d]), DType::I64))));
        cw.push_back(k);
      }
      term = op(OpKind::Mul, t, {guardedLoad(dy, cdy, guarded, imm(0, t)), load(bufferOf_.at(w), t, offset(w, cw))});
    }
    int accId = newVar();
    anchorValue_ = acc(accId, t);
    return accumulate(outer, inner, accId, combine, imm(init, t), term, cout, cout, false);
  }

  /// max_pool_grad over windows that tile the input exactly (stride = kernel,
  /// no padding or dilation): each tap of each window is one input element,
  /// which gets dy if it is the window's first maximum (the reference's
  /// choice; NaNs are not ordered as the reference orders them) and 0 otherwise.
  bool lowerMaxPoolGrad(const Node &n) {
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

  const Graph &r_;
  const std::map<std::string, int64_t> &dims_;
  Kernel k_;
  std::vector<Sizes> sizes_;
  std::map<ValueId, int> nodeOf_, bufferOf_;
  std::map<std::string, ExprRef> memo_;
  int anchor_ = -1;
  ExprRef anchorValue_;
};

} // namespace

std::optional<Kernel> lower(const Graph &g, const Node &n, const std::map<std::string, int64_t> &dims,
                            const std::string &name) {
  std::shared_ptr<const Graph> region = n.body ? n.body : asRegion(g, n);
  if (!region)
    return std::nullopt;
  std::vector<std::string> args, results;
  for (ValueId o : n.operands)
    args.push_back(g.nameOf(o));
  for (ValueId r : n.results)
    results.push_back(g.nameOf(r));
  return Lowerer(*region, dims).run(name, args, results);
}

} // namespace kiln::passes
