//===- lower/Lower.cpp - Graph nodes to kernels --------------------------===//
#include "lower/Lower.h"
#include "passes/Rebuild.h"

#include "ir/TypeRules.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <limits>

namespace kiln::lower {

using namespace ir;
using namespace kernel;

namespace {

using Coords = std::vector<ExprRef>;

/// Window ops lowered as a sum (or max) over taps: the table's windows but
/// average pooling and transposed convolution, which stay on the reference.
bool isWindow(OpKind op) {
  return opInfo(op).has(trait::Windowed) && op != OpKind::AvgPool && op != OpKind::AvgPoolGrad &&
         op != OpKind::ConvTranspose;
}

bool isReduce(OpKind op) { return opInfo(op).has(trait::AxisReduce); }

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
  auto results = passes::copyNode(*body, n, args, names);
  if (!results)
    return nullptr;
  for (ValueId r : *results)
    (void)body->addOutput(r);
  return body;
}

class Lowerer {
public:
  Lowerer(const Graph &region, const std::map<std::string, int64_t> &dims, const Machine &machine)
      : r_(region), dims_(dims), vectorBytes_(machine.vectorBytes), threads_(std::max(1, machine.threads)) {}

  std::optional<Kernel> run(const std::string &name, const std::vector<std::string> &argNames,
                            const std::vector<std::string> &resultNames) {
    if (!check())
      return std::nullopt;
    k_.name = name;
    for (size_t i = 0; i < r_.inputs().size(); ++i) {
      ValueId v = r_.inputs()[i];
      bufferOf_[v] = static_cast<int>(i);
      k_.buffers.push_back(Buffer{argNames[i], r_.type(v).dtype, product(sizes_[v]), false, false});
    }
    for (size_t i = 0; i < r_.outputs().size(); ++i) {
      ValueId v = r_.outputs()[i];
      k_.buffers.push_back(Buffer{resultNames[i], r_.type(v).dtype, product(sizes_[v]), true, false});
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

  /// One elementwise node over its operands' values: a primitive as one
  /// kernel-IR op, a composite expanded from its definition (so codegen
  /// only meets primitives). Constants take the result's dtype (integers
  /// clamped: clip's infinite default bounds).
  static ExprRef elementwise(const Node &n, DType t, std::vector<ExprRef> args) {
    const OpInfo &info = n.info();
    if (n.op == OpKind::Cast)
      return cast(args[0], t);
    if (!info.isComposite())
      return op(n.op, t, std::move(args));
    auto constant = [t](double c) {
      if (!isFloat(t))
        c = std::clamp(c, -9.2e18, 9.2e18);
      return imm(c, t);
    };
    auto apply = [t](OpKind k, std::span<const ExprRef> a) {
      const OpInfo &p = opInfo(k);
      DType rt = p.infer == inferCompare || p.infer == inferLogical ? DType::Bool : k == OpKind::Select ? a[1]->type : t;
      return op(k, rt, std::vector<ExprRef>(a.begin(), a.end()));
    };
    std::vector<ExprRef> scratch;
    return expand<ExprRef>(info.definition, args, definitionAttrs(info.definition, n.attrView()), constant, apply,
                           scratch);
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
    DType t = r_.type(n.results[0]).dtype;
    if (lowerColumnReduce(x, reduced, combine, init, n.op == OpKind::ReduceMean ? count : 1, t))
      return true;
    int accId = newVar();
    anchorValue_ = acc(accId, t);
    if (n.op == OpKind::ReduceMean)
      anchorValue_ = op(OpKind::Div, t, {anchorValue_, imm(static_cast<double>(count), t)});
    return accumulate(outer, inner, accId, combine, imm(init, t), at(x, cin), cin, cout, true);
  }

  /// A reduction whose operand keeps its innermost stored dim (a bias
  /// gradient: an NHWC image summed over N, H and W) reads its operand in
  /// stored order, accumulating a vector of the kept dim's elements in a
  /// scratch row at every point of the reduced dims; the other kept dims
  /// are outer loops, and the kept row is split in blocks across threads
  /// when they are too few. The result is the row divided by `divisor`.
  bool lowerColumnReduce(ValueId x, const std::vector<int> &reduced, OpKind combine, double init, int64_t divisor,
                         DType t) {
    const Sizes &in = sizes_[x];
    std::vector<int> order = storageOrder(r_.type(x).layout, static_cast<int>(in.size()));
    auto isReduced = [&](int d) { return std::find(reduced.begin(), reduced.end(), d) != reduced.end(); };
    const int64_t lanes = std::max<int64_t>(1, vectorBytes_ / static_cast<int64_t>(dtypeSize(t)));
    if (order.empty() || isReduced(order.back()) || dtypeSize(t) < 4)
      return false;
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

  /// A contraction C[m, n] = sum over k < K of A(m, k) B(k, n), the anchor's
  /// value at the result coordinates out(m, n). `aKInner` says A's elements
  /// are contiguous along k (else along m), `bNInner` B's along n (else k):
  /// the packing loops follow them.
  struct Gemm {
    int64_t m = 0, n = 0, k = 0;
    std::function<ExprRef(const ExprRef &, const ExprRef &)> a, b;
    std::function<Coords(const ExprRef &, const ExprRef &)> out;
    bool aKInner = true, bNInner = true;
    /// k runs over (units, kStep) with the second contiguous (a conv's
    /// channels): slices hold whole units and packing loops over both, so
    /// the taps' indexing and padding guards are computed once per unit.
    int64_t kStep = 1;
    /// n runs over (units, nStep) likewise (a weight gradient's columns):
    /// blocks of columns hold whole units, and B is packed along them.
    int64_t nStep = 1;
  };

  int scratch(const char *name, DType t, int64_t elements) {
    k_.buffers.push_back(Buffer{name, t, elements, false, true});
    return static_cast<int>(k_.buffers.size() - 1);
  }

  /// The BLIS schedule. The parallel loop runs over tasks, each a group of
  /// row blocks (mc rows) by one block of nc columns of C; a task
  /// accumulates its rows in a scratch block over slices of kc of the k dim:
  /// it packs the slice of B into panels of nr columns once (prologues and
  /// padding guards are computed here, once per element), then for each row
  /// block packs the slice of A into panels of mr rows and runs the
  /// register-blocked tile over every pair of panels; the epilogue reads the
  /// finished block and stores every result. Edge blocks run shorter loops.
  bool lowerGemm(const Gemm &g) {
    DType t = r_.type(r_.nodes()[static_cast<size_t>(anchor_)].results[0]).dtype;
    if (t != DType::F32 && t != DType::F64)
      return false;
    for (size_t y = 0; y < r_.outputs().size(); ++y)
      if (bufferOf_.count(r_.outputs()[y]) || nodeOf_.at(r_.outputs()[y]) < anchor_)
        return false; // a value made before the anchor, in another domain
    const int64_t lanes = std::max<int64_t>(1, vectorBytes_ / static_cast<int64_t>(dtypeSize(t)));
    const int64_t mr = 6, nr = 2 * lanes;
    auto ceilDiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
    const int64_t units = g.k / g.kStep, perSlice = ceilDiv(units, ceilDiv(g.k, 256)), kc = perSlice * g.kStep;
    const int64_t kBlocks = ceilDiv(units, perSlice);
    // Blocks: rows by at most 192 (A's packed block stays in L2), columns by
    // at most 512 (B's packed slice in L2 or L3). A task is a group of row
    // blocks sharing one packed B slice, the group's accumulated block at
    // most ~4 MB (in L3). The runtime gives each thread an equal range of tasks: the
    // task count is made a multiple of the threads (more groups, then more
    // column blocks) where the sizes allow, and groups are equal in size.
    const int64_t rowUnits = ceilDiv(g.m, mr), nAlign = std::lcm(nr, g.nStep), nUnits = ceilDiv(g.n, nAlign);
    int64_t nBlocks = std::min(nUnits, ceilDiv(g.n, 512));
    const int64_t blockBytes = 192 * std::min<int64_t>(g.n, 512) * static_cast<int64_t>(dtypeSize(t));
    int64_t groups = ceilDiv(ceilDiv(g.m, 192), std::max<int64_t>(1, (4 << 20) / blockBytes));
    while ((groups * nBlocks) % threads_ != 0 && groups < rowUnits)
      ++groups;
    while ((groups * nBlocks) % threads_ != 0 && nBlocks < nUnits)
      ++nBlocks;
    const int64_t groupUnits = ceilDiv(rowUnits, groups), perGroup = ceilDiv(groupUnits * mr, 192);
    const int64_t mc = ceilDiv(groupUnits, perGroup) * mr, gm = perGroup * mc;
    groups = ceilDiv(g.m, gm);
    const int64_t nc = ceilDiv(nUnits, nBlocks) * nAlign;
    nBlocks = ceilDiv(g.n, nc);
    int ap = scratch("a_panels", t, mc * kc), bp = scratch("b_panels", t, kc * nc), cb = scratch("c_block", t, gm * nc);

    auto I = [](int64_t v) { return imm(static_cast<double>(v), DType::I64); };
    auto left = [&](int64_t block, int64_t total, const ExprRef &start) {
      return minIdx(I(block), addIdx(I(total), mulIdx(start, -1)));
    };
    int task = newVar();
    ExprRef g0 = mulIdx(divIdx(index(task), nBlocks), gm), n0 = mulIdx(remIdx(index(task), nBlocks), nc);
    ExprRef groupRows = left(gm, g.m, g0), cols = left(nc, g.n, n0);
    ExprRef colPanels = divIdx(addIdx(cols, I(nr - 1)), nr);
    Block body;
    int slice = newVar();
    ExprRef k0 = mulIdx(index(slice), kc);
    ExprRef depth = left(kc, g.k, k0);
    // pack: panel p holds element (row or column w < width of the panel, k)
    // at p * width * kc + k * width + w; `start` is the block's first row or
    // column, `extent` its size.
    auto pack = [&](int buffer, const ExprRef &start, const ExprRef &extent, int64_t width, bool kInner, bool isA) {
      int unit = newVar(), kr = newVar();
      ExprRef kk = addIdx(mulIdx(index(unit, perSlice), g.kStep), index(kr, g.kStep));
      ExprRef kAt = addIdx(k0, kk);
      ExprRef panels = divIdx(addIdx(extent, I(width - 1)), width);
      auto kLoops = [&](Block b) {
        return loopUpTo(unit, perSlice, divIdx(depth, g.kStep), LoopKind::Serial, {loop(kr, g.kStep, LoopKind::Serial, std::move(b))});
      };
      // The row or column in the block: by panels (p, w), or by the source's
      // units (u, r) when B's columns have a step.
      int64_t step = isA ? 1 : g.nStep, blockExtent = isA ? mc : nc;
      int p = newVar(), w = newVar(), lane = newVar();
      // A unit that holds whole panel rows is copied a panel row at a time
      // (the lane loop, contiguous on both sides, vectorizes).
      bool lanes = step > 1 && step % width == 0;
      ExprRef unitPos = lanes ? addIdx(mulIdx(index(w, step / width), width), index(lane, width)) : index(w, step);
      ExprRef along = step > 1 ? addIdx(mulIdx(index(p), step), unitPos) : addIdx(mulIdx(index(p), width), index(w, width));
      ExprRef value = isA ? g.a(addIdx(start, along), kAt) : g.b(kAt, addIdx(start, along));
      ExprRef at = addIdx(mulIdx(divIdx(along, width), width * kc), addIdx(mulIdx(kk, width), remIdx(along, width)));
      Block inner{store(buffer, at, value)};
      ExprRef widthLeft = minIdx(I(width), addIdx(extent, mulIdx(index(p), -width)));
      auto alongLoops = [&](Block b) {
        if (lanes)
          return loopUpTo(p, blockExtent / step, divIdx(extent, step), LoopKind::Serial,
                          {loop(w, step / width, LoopKind::Serial, {loop(lane, width, LoopKind::Vector, std::move(b))})});
        if (step > 1)
          return loopUpTo(p, blockExtent / step, divIdx(extent, step), LoopKind::Serial, {loop(w, step, LoopKind::Serial, std::move(b))});
        return loopUpTo(p, ceilDiv(blockExtent, width), panels, LoopKind::Serial,
                        {loopUpTo(w, width, widthLeft, LoopKind::Serial, std::move(b))});
      };
      if (kInner)
        return alongLoops({kLoops(std::move(inner))});
      // k outside: the panel loop stays outermost (one panel's elements together)
      // unless the columns go by units.
      if (step > 1)
        return kLoops({alongLoops(std::move(inner))});
      return loopUpTo(p, ceilDiv(blockExtent, width), panels, LoopKind::Serial,
                      {kLoops({loopUpTo(w, width, widthLeft, LoopKind::Serial, std::move(inner))})});
    };
    Block sliceBody{pack(bp, n0, cols, nr, !g.bNInner, false)};
    { // each row block of the group: pack A, then the tiles
      int rb = newVar();
      ExprRef r0 = mulIdx(index(rb), mc), m0 = addIdx(g0, r0);
      ExprRef rows = left(mc, g.m, m0), rowPanels = divIdx(addIdx(rows, I(mr - 1)), mr);
      Block blockBody{pack(ap, m0, rows, mr, g.aKInner, true)};
      int jr = newVar(), ir = newVar();
      // The first slice's tiles start from zero: the block is never cleared.
      ExprRef first = addIdx(I(1), mulIdx(minIdx(index(slice), I(1)), -1));
      Tile tile{ap, bp, mulIdx(index(ir), mr * kc), mulIdx(index(jr), nr * kc), depth, mr, nr, nc, lanes, 1, 0, 0, {},
                first};
      ExprRef at = addIdx(mulIdx(addIdx(r0, mulIdx(index(ir), mr)), nc), mulIdx(index(jr), nr));
      blockBody.push_back(loopUpTo(jr, ceilDiv(nc, nr), colPanels, LoopKind::Serial,
                                   {loopUpTo(ir, ceilDiv(mc, mr), rowPanels, LoopKind::Serial, {tileFma(cb, at, tile)})}));
      sliceBody.push_back(loopUpTo(rb, perGroup, divIdx(addIdx(groupRows, I(mc - 1)), mc), LoopKind::Serial,
                                   std::move(blockBody)));
    }
    body.push_back(loop(slice, kBlocks, LoopKind::Serial, std::move(sliceBody)));
    { // epilogue
      int i = newVar(), j = newVar();
      anchorValue_ = load(cb, t, addIdx(mulIdx(index(i), nc), index(j)));
      Coords c = g.out(addIdx(g0, index(i)), addIdx(n0, index(j)));
      Block store;
      for (size_t y = 0; y < r_.outputs().size(); ++y)
        store.push_back(storeYield(y, c));
      body.push_back(loopUpTo(i, gm, groupRows, LoopKind::Serial, {loopUpTo(j, nc, cols, LoopKind::Vector, std::move(store))}));
    }
    k_.body = {loop(task, groups * nBlocks, LoopKind::Parallel, std::move(body))};
    return true;
  }

  bool lowerMatMul() {
    const Node &n = r_.nodes()[static_cast<size_t>(anchor_)];
    ValueId a = n.operands[0], b = n.operands[1];
    bool ta = n.attrView().getBool("transpose_a"), tb = n.attrView().getBool("transpose_b");
    Gemm g;
    g.m = sizes_[n.results[0]][0];
    g.n = sizes_[n.results[0]][1];
    g.k = ta ? sizes_[a][0] : sizes_[a][1];
    g.a = [&](const ExprRef &m, const ExprRef &k) { return at(a, ta ? Coords{k, m} : Coords{m, k}); };
    g.b = [&](const ExprRef &k, const ExprRef &j) { return at(b, tb ? Coords{j, k} : Coords{k, j}); };
    g.out = [](const ExprRef &m, const ExprRef &j) { return Coords{m, j}; };
    g.aKInner = !ta;
    g.bNInner = !tb;
    return lowerGemm(g);
  }

  /// `flat` (row-major over `extents`) as one coordinate per extent.
  static Coords decompose(const ExprRef &flat, const Sizes &extents) {
    Coords out(extents.size());
    ExprRef q = flat; // flat / (the product of the extents after d)
    for (size_t d = extents.size(); d-- > 0;) {
      out[d] = extents[d] == 1 ? imm(0, DType::I64) : d == 0 ? q : remIdx(q, extents[d]);
      q = divIdx(q, extents[d]);
    }
    return out;
  }

  /// Whether images in value v's layout keep channels inside pixels (NHWC
  /// or blocked), so a contraction over (taps, channels) runs channels
  /// innermost.
  bool channelsInner(ValueId v) const { return r_.type(v).layout.kind != Layout::RowMajor; }

  /// Conv and its gradients as contractions over (channels, taps), the taps
  /// read through padding guards (and the stride's divisibility for the
  /// input gradient).
  /// A 2-D convolution computed directly (oneDNN's structure): an image
  /// read in NHWC, `w(out channel, in channel, tap row, tap column)` its
  /// weights; the result has `out` (logical) sizes.
  struct Direct {
    ValueId x = -1;
    int64_t cin = 0, cout = 0;
    Sizes out;
    int64_t kh = 0, kw = 0, strideH = 1, strideW = 1, dilH = 1, dilW = 1, padT = 0, padL = 0;
    std::function<ExprRef(const ExprRef &, const ExprRef &, const ExprRef &, const ExprRef &)> w;
  };

  /// A direct convolution's taps as loops around the tile's k (a tap's
  /// input channels): a tap row moves A by `wp` copied pixels times the
  /// dilation and B by a row of packed taps; a tap column moves A by the
  /// dilation's pixels and B by one packed tap (`nr` columns per channel).
  static std::vector<Tile::Around> taps(const Direct &d, int64_t wp, int64_t nr) {
    auto I = [](int64_t v) { return imm(static_cast<double>(v), DType::I64); };
    return {{I(d.kh), d.dilH * wp * d.cin, d.kw * d.cin * nr}, {I(d.kw), d.dilW * d.cin, d.cin * nr}};
  }

  /// The tiles and epilogue of a stride-1 direct convolution over the
  /// flattened copied rows (see lowerDirect): `body` packs the weights,
  /// `taskBody` copies the rows of output rows [r0, r0 + group) of image b.
  bool lowerDirectFlat(const Direct &d, Block body, Block taskBody, int task, const ExprRef &b, const ExprRef &r0,
                       int64_t group, int64_t groups, int64_t wp, int64_t tiles, int rows, int bp, int cb) {
    DType t = r_.type(r_.nodes()[static_cast<size_t>(anchor_)].results[0]).dtype;
    const int64_t lanes = std::max<int64_t>(1, vectorBytes_ / static_cast<int64_t>(dtypeSize(t)));
    const int64_t mr = 6, nr = 2 * lanes, k = d.kh * d.kw * d.cin, panels = (d.cout + nr - 1) / nr, ldc = panels * nr;
    const int64_t batch = d.out[0], oh = d.out[2], ow = d.out[3];
    auto I = [](int64_t v) { return imm(static_cast<double>(v), DType::I64); };
    { // the taps loop around k inside the tile, the block in registers throughout (from zero)
      int p = newVar(), it = newVar();
      Tile tile{rows, bp, mulIdx(index(it), mr * d.cin), mulIdx(index(p), k * nr), I(d.cin), mr, nr, ldc, lanes, d.cin, 1, 0,
                taps(d, wp, nr), I(1)};
      ExprRef cAt = addIdx(mulIdx(index(it), mr * ldc), mulIdx(index(p), nr));
      taskBody.push_back(loop(p, panels, LoopKind::Serial, {loop(it, tiles, LoopKind::Serial, {tileFma(cb, cAt, tile)})}));
    }
    { // epilogue: the group's rows, their first ow pixels
      int rr = newVar(), i = newVar(), j = newVar();
      anchorValue_ = load(cb, t, addIdx(mulIdx(addIdx(mulIdx(index(rr), wp), index(i)), ldc), index(j)));
      Coords c = {b, index(j), addIdx(r0, index(rr)), index(i)};
      Block st;
      for (size_t y = 0; y < r_.outputs().size(); ++y)
        st.push_back(storeYield(y, c));
      taskBody.push_back(loopUpTo(rr, group, minIdx(I(group), addIdx(I(oh), mulIdx(r0, -1))), LoopKind::Serial,
                                  {loop(i, ow, LoopKind::Serial, {loop(j, d.cout, LoopKind::Vector, std::move(st))})}));
    }
    body.push_back(loop(task, batch * groups, LoopKind::Parallel, std::move(taskBody)));
    k_.body = std::move(body);
    return true;
  }

  /// The weights are packed once per call into panels of nr output channels
  /// (tap, input channel, channel). The parallel loop runs over groups of
  /// output rows of an image (a whole image when there are enough images
  /// for the threads): each copies the input rows its taps read into a
  /// scratch buffer once, zero padding included (a contiguous copy of
  /// channels); then for each output row runs the tile with A read in place
  /// from those rows — 6 neighbouring pixels, a tap's input channels as k —
  /// once per tap, accumulating a block of the output row, and the epilogue
  /// stores every result. No im2col matrix is built.
  bool lowerDirect(const Direct &d) {
    DType t = r_.type(r_.nodes()[static_cast<size_t>(anchor_)].results[0]).dtype;
    const int64_t lanes = std::max<int64_t>(1, vectorBytes_ / static_cast<int64_t>(dtypeSize(t)));
    const int64_t mr = 6, nr = 2 * lanes;
    auto ceilDiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
    const int64_t batch = d.out[0], oh = d.out[2], ow = d.out[3];
    // Output rows per task: all of an image's, unless that leaves fewer than
    // 4 tasks per thread.
    const int64_t perImage = std::min(oh, ceilDiv(4 * threads_, batch)), group = ceilDiv(oh, perImage);
    const int64_t groups = ceilDiv(oh, group), inRows = (group - 1) * d.strideH + (d.kh - 1) * d.dilH + 1;
    // At stride 1 the copied rows are as wide as an output row plus the
    // taps' reach, and output pixel (r, c) reads input pixel (r, c) + tap in
    // them: a tile takes 6 consecutive pixels of the flattened rows, whose
    // columns past the output row's end are computed and dropped (fewer than
    // rounding every row up to whole tiles wastes).
    const bool flat = d.strideH == 1 && d.strideW == 1;
    const int64_t rowsPad = ceilDiv(ow, mr) * mr;
    const int64_t wp = flat ? ow + (d.kw - 1) * d.dilW : (rowsPad - 1) * d.strideW + (d.kw - 1) * d.dilW + 1;
    const int64_t flatTiles = ceilDiv((group - 1) * wp + ow, mr);
    const int64_t k = d.kh * d.kw * d.cin, panels = ceilDiv(d.cout, nr), ldc = panels * nr;
    const int64_t slack = flat ? mr : 0; // pixels the last tile reads past the rows
    int rows = scratch("input_rows", t, (inRows * wp + slack) * d.cin), bp = scratch("b_panels", t, panels * k * nr);
    int cb = scratch("c_block", t, (flat ? flatTiles * mr : rowsPad) * ldc);
    auto I = [](int64_t v) { return imm(static_cast<double>(v), DType::I64); };
    Block body;
    { // pack the weights: panel p, tap (th, tw), channel c, lane j
      int p = newVar(), th = newVar(), tw = newVar(), c = newVar(), j = newVar();
      ExprRef co = addIdx(mulIdx(index(p), nr), index(j));
      ExprRef at = addIdx(mulIdx(index(p), k * nr),
                          mulIdx(addIdx(mulIdx(addIdx(mulIdx(index(th), d.kw), index(tw)), d.cin), index(c)), nr));
      Stmt st = store(bp, addIdx(at, index(j)), d.w(co, index(c), index(th), index(tw)));
      ExprRef left = minIdx(I(nr), addIdx(I(d.cout), mulIdx(index(p), -nr)));
      body.push_back(loop(p, panels, LoopKind::Serial,
                          {loop(th, d.kh, LoopKind::Serial,
                                {loop(tw, d.kw, LoopKind::Serial,
                                      {loop(c, d.cin, LoopKind::Serial, {loopUpTo(j, nr, left, LoopKind::Vector, {st})})})})}));
    }
    int task = newVar();
    ExprRef b = divIdx(index(task), groups), r0 = mulIdx(remIdx(index(task), groups), group);
    Block taskBody;
    { // the input rows, zero outside the image
      int q = newVar(), x = newVar(), c = newVar();
      ExprRef ih = addIdx(mulIdx(r0, d.strideH), addIdx(index(q), I(-d.padT)));
      ExprRef iw = addIdx(index(x), I(-d.padL));
      ExprRef value = imageLoad(d.x, {b, index(c), ih, iw});
      ExprRef at = addIdx(mulIdx(addIdx(mulIdx(index(q), wp), index(x)), d.cin), index(c));
      taskBody.push_back(loop(q, inRows, LoopKind::Serial,
                              {loop(x, wp, LoopKind::Serial, {loop(c, d.cin, LoopKind::Vector, {store(rows, at, value)})})}));
      if (slack > 0) {
        int z = newVar();
        taskBody.push_back(loop(z, slack * d.cin, LoopKind::Vector, {store(rows, addIdx(I(inRows * wp * d.cin), index(z)), imm(0, t))}));
      }
    }
    if (flat)
      return lowerDirectFlat(d, std::move(body), std::move(taskBody), task, b, r0, group, groups, wp, flatTiles, rows, bp, cb);
    int rr = newVar();
    ExprRef row = addIdx(r0, index(rr));
    Block rowBody;
    { // the taps loop around k inside the tile (from zero)
      int p = newVar(), ir = newVar();
      ExprRef aAt = mulIdx(addIdx(mulIdx(index(rr), d.strideH * wp), mulIdx(index(ir), mr * d.strideW)), d.cin);
      Tile tile{rows, bp, aAt, mulIdx(index(p), k * nr), I(d.cin), mr, nr, ldc, lanes, d.strideW * d.cin, 1, 0, taps(d, wp, nr),
                I(1)};
      ExprRef cAt = addIdx(mulIdx(index(ir), mr * ldc), mulIdx(index(p), nr));
      rowBody.push_back(loop(p, panels, LoopKind::Serial, {loop(ir, rowsPad / mr, LoopKind::Serial, {tileFma(cb, cAt, tile)})}));
    }
    { // epilogue
      int i = newVar(), j = newVar();
      anchorValue_ = load(cb, t, addIdx(mulIdx(index(i), ldc), index(j)));
      Coords c = {b, index(j), row, index(i)};
      Block st;
      for (size_t y = 0; y < r_.outputs().size(); ++y)
        st.push_back(storeYield(y, c));
      rowBody.push_back(loop(i, ow, LoopKind::Serial, {loop(j, d.cout, LoopKind::Vector, std::move(st))}));
    }
    taskBody.push_back(loopUpTo(rr, group, minIdx(I(group), addIdx(I(oh), mulIdx(r0, -1))), LoopKind::Serial,
                                std::move(rowBody)));
    body.push_back(loop(task, batch * groups, LoopKind::Parallel, std::move(taskBody)));
    k_.body = std::move(body);
    return true;
  }

  /// A 2-D weight gradient over NHWC images whose input channels fill whole
  /// tiles, split over the batch: dw[o, c, th, tw] is the sum over images
  /// and output pixels of dy[b, o, p] x[b, c, p * s - pad + t * dil]. Each
  /// part of the parallel loop takes a range of images and accumulates all
  /// of dw in its own rows of a shared buffer of partial sums: for every
  /// tap, every output row whose input row is inside the image, the tile
  /// reads A in place from dy (6 output channels of a pixel, pixels as k)
  /// and B in place from x (16 input channels at the tap, over the output
  /// columns whose input column is inside the image: these ranges are index
  /// expressions of the tap, so no padding is copied and one tile statement
  /// serves every tap), over bands of output rows. Each image is read once
  /// while in cache. The finish block adds the parts up and runs
  /// the epilogue (the optimizer's update, fused).
  bool lowerWeightGradByParts(const Node &n, const Window &win) {
    DType t = r_.type(n.results[0]).dtype;
    ValueId x = n.operands[0], dy = n.operands[1];
    const int64_t lanes = std::max<int64_t>(1, vectorBytes_ / static_cast<int64_t>(dtypeSize(t)));
    const int64_t mr = 6, nr = 2 * lanes;
    auto ceilDiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
    const Sizes &xs = sizes_[x], &dys = sizes_[dy];
    const int64_t batch = dys[0], co = dys[1], oh = dys[2], ow = dys[3], ci = xs[1], h = xs[2], w = xs[3];
    if (ci % nr != 0 || co < mr)
      return false;
    const int64_t kh = win.kernel[0], kw = win.kernel[1], blocks = ceilDiv(co, mr), rows = blocks * mr;
    const int64_t ldc = kh * kw * ci, partSize = rows * ldc;
    const int64_t perPart = ceilDiv(batch, std::min<int64_t>(threads_, batch)), parts = ceilDiv(batch, perPart);
    k_.buffers.push_back(Buffer{"partial_sums", t, parts * partSize, false, true, true});
    const int pb = static_cast<int>(k_.buffers.size() - 1);
    auto I = [](int64_t v) { return imm(static_cast<double>(v), DType::I64); };
    int part = newVar(), b = newVar();
    ExprRef base = mulIdx(index(part), partSize);
    Block body;
    { // this part's sums start at zero
      int e = newVar();
      body.push_back(loop(e, partSize, LoopKind::Vector, {store(pb, addIdx(base, index(e)), imm(0, t))}));
    }
    ExprRef image = addIdx(mulIdx(index(part), perPart), index(b));
    // The output pixels (along one dim) whose input pixel at tap `tap` is
    // inside the image, [lo, hi) (hi <= lo: none): lo = ceil(max(0, pad -
    // tap * dil) / s), hi = min(out, floor((in - 1 + pad - tap * dil) / s) + 1),
    // written so that every division has a non-negative numerator.
    auto inside = [&](const ExprRef &tap, int64_t out, int64_t in, int64_t s, int64_t dil, int64_t pad) {
      ExprRef reach = mulIdx(tap, dil);
      ExprRef lo = divIdx(addIdx(addIdx(I(pad), mulIdx(minIdx(reach, I(pad)), -1)), I(s - 1)), s);
      ExprRef num = addIdx(I(in - 1 + pad), mulIdx(reach, -1));
      ExprRef atLeastMinus1 = addIdx(addIdx(num, I(-1)), mulIdx(minIdx(num, I(-1)), -1)); // max(num, -1)
      return std::pair{lo, minIdx(I(out), divIdx(addIdx(atLeastMinus1, I(s)), s))};
    };
    auto nonNegative = [](const ExprRef &v) { return addIdx(v, mulIdx(minIdx(v, imm(0, DType::I64)), -1)); };
    // Output rows go in bands of about 128 pixels, a loop around the tile's
    // k (the band's dy and x rows stay in L1 across the tiles of its taps
    // and channel blocks). One tile statement covers every tap: the rows and
    // columns inside the image are computed per tap.
    const int64_t band = std::max<int64_t>(1, 128 / ow);
    Block perImage;
    {
      int th = newVar(), bi = newVar(), tw = newVar(), blk = newVar(), chunk = newVar();
      auto [rowLo, rowHi] = inside(index(th, kh), oh, h, win.stride[0], win.dilation[0], win.padBegin[0]);
      auto [colLo, colHi] = inside(index(tw, kw), ow, w, win.stride[1], win.dilation[1], win.padBegin[1]);
      ExprRef rows = addIdx(rowHi, mulIdx(rowLo, -1));
      ExprRef bands = divIdx(addIdx(nonNegative(rows), I(band - 1)), band);
      ExprRef outRow = addIdx(rowLo, mulIdx(index(bi), band));
      ExprRef count = minIdx(I(band), addIdx(rows, mulIdx(index(bi), -band)));
      ExprRef inRow = addIdx(mulIdx(outRow, win.stride[0]), addIdx(mulIdx(index(th, kh), win.dilation[0]), I(-win.padBegin[0])));
      ExprRef inCol = addIdx(mulIdx(colLo, win.stride[1]), addIdx(mulIdx(index(tw, kw), win.dilation[1]), I(-win.padBegin[1])));
      ExprRef o0 = minIdx(mulIdx(index(blk), mr), I(co - mr));
      ExprRef aAt = offset(dy, {image, o0, outRow, colLo});
      ExprRef bAt = offset(x, {image, mulIdx(index(chunk), nr), inRow, inCol});
      Tile tile{bufferOf_.at(dy), bufferOf_.at(x), aAt, bAt, addIdx(colHi, mulIdx(colLo, -1)), mr, nr, ldc, lanes, 1, co,
                win.stride[1] * ci, {{count, ow * co, win.stride[0] * w * ci}}, nullptr};
      ExprRef cAt = addIdx(base, addIdx(mulIdx(index(blk), mr * ldc),
                                        addIdx(mulIdx(addIdx(mulIdx(index(th, kh), kw), index(tw, kw)), ci), mulIdx(index(chunk), nr))));
      Stmt tiles = loop(tw, kw, LoopKind::Serial,
                        {loop(blk, blocks, LoopKind::Serial, {loop(chunk, ci / nr, LoopKind::Serial, {tileFma(pb, cAt, tile)})})});
      perImage.push_back(loop(th, kh, LoopKind::Serial, {loopUpTo(bi, (oh + band - 1) / band, bands, LoopKind::Serial, {tiles})}));
    }
    body.push_back(loopUpTo(b, perPart, minIdx(I(perPart), addIdx(I(batch), mulIdx(index(part), -perPart))),
                            LoopKind::Serial, std::move(perImage)));
    k_.body = {loop(part, parts, LoopKind::Parallel, std::move(body))};
    // finish: the parts' sums into the first, then the epilogue from it (the
    // last block of channels overlaps the one before; its rows already
    // stored are skipped)
    if (parts > 1) {
      int p = newVar(), e = newVar();
      k_.finish.push_back(loop(p, parts - 1, LoopKind::Serial,
                               {loop(e, partSize, LoopKind::Vector,
                                     {store(pb, index(e), op(OpKind::Add, t, {load(pb, t, index(e)),
                                                                              load(pb, t, addIdx(mulIdx(addIdx(index(p), I(1)), partSize), index(e)))}))})}));
    }
    {
      int blk = newVar(), i = newVar(), th = newVar(), tw = newVar(), c = newVar();
      ExprRef start = mulIdx(index(blk), mr), o0 = minIdx(start, I(co - mr)), skip = addIdx(start, mulIdx(o0, -1));
      Coords cw = {addIdx(o0, addIdx(skip, index(i))), index(c), index(th), index(tw)};
      anchorValue_ = load(pb, t, addIdx(mulIdx(addIdx(start, addIdx(skip, index(i))), ldc),
                                        addIdx(mulIdx(addIdx(mulIdx(index(th), kw), index(tw)), ci), index(c))));
      Block st;
      for (size_t y = 0; y < r_.outputs().size(); ++y)
        st.push_back(storeYield(y, cw));
      k_.finish.push_back(loop(blk, blocks, LoopKind::Serial,
                               {loopUpTo(i, mr, addIdx(I(mr), mulIdx(skip, -1)), LoopKind::Serial,
                                         {loop(th, kh, LoopKind::Serial,
                                               {loop(tw, kw, LoopKind::Serial, {loop(c, ci, LoopKind::Vector, std::move(st))})})})}));
    }
    return true;
  }

  /// A 2-D weight gradient over NHWC images, directly: dw[o, c, th, tw] is
  /// the sum over output pixels of dy[b, o, p] x[b, c, p * s - pad + t * dil].
  /// The parallel loop runs over (tap row, block of 6 output channels); each
  /// task walks every output row: it copies the input row its tap row reads
  /// (zero padding included), then runs the tile with A read in place from
  /// dy (6 output channels of a pixel, pixels as k) and B from that row (16
  /// input channels at a tap column, pixels as k; channels past the last read
  /// neighbours and land in discarded columns), accumulating its block of dw;
  /// the epilogue (the optimizer's update, fused) stores it.
  bool lowerDirectWeightGrad(const Node &n, const Window &win) {
    DType t = r_.type(n.results[0]).dtype;
    ValueId x = n.operands[0], dy = n.operands[1];
    if (win.kernel.size() != 2 || r_.type(x).layout.kind != Layout::NHWC || r_.type(dy).layout.kind != Layout::NHWC ||
        (t != DType::F32 && t != DType::F64))
      return false;
    for (ValueId y : r_.outputs())
      if (bufferOf_.count(y) || nodeOf_.at(y) < anchor_)
        return false;
    if (lowerWeightGradByParts(n, win))
      return true;
    const int64_t lanes = std::max<int64_t>(1, vectorBytes_ / static_cast<int64_t>(dtypeSize(t)));
    const int64_t mr = 6, nr = 2 * lanes;
    auto ceilDiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
    const Sizes &xs = sizes_[x], &dys = sizes_[dy];
    if (dys[1] < mr || xs[1] < lanes)
      return false; // a block would read past dy's last pixel; most columns would be wasted
    const int64_t batch = dys[0], co = dys[1], oh = dys[2], ow = dys[3], ci = xs[1];
    const int64_t kh = win.kernel[0], kw = win.kernel[1];
    const int64_t chunks = ceilDiv(ci, nr), ldc = kw * chunks * nr, blocks = ceilDiv(co, mr);
    const int64_t wp = (ow - 1) * win.stride[1] + (kw - 1) * win.dilation[1] + 1;
    int rowBuf = scratch("input_row", t, wp * ci + nr), cb = scratch("c_block", t, mr * ldc);
    auto I = [](int64_t v) { return imm(static_cast<double>(v), DType::I64); };
    int task = newVar();
    // The last block ends at the last channel (overlapping the one before,
    // whose rows it does not store again), so every block reads 6 channels.
    ExprRef th = divIdx(index(task), blocks), start = mulIdx(remIdx(index(task), blocks), mr);
    ExprRef o0 = minIdx(start, I(co - mr)), skip = addIdx(start, mulIdx(o0, -1));
    Block body;
    {
      int i = newVar(), j = newVar();
      body.push_back(loop(i, mr, LoopKind::Serial,
                          {loop(j, ldc, LoopKind::Vector, {store(cb, addIdx(mulIdx(index(i), ldc), index(j)), imm(0, t))})}));
    }
    int b = newVar(), r = newVar();
    Block rowBody;
    { // the input row of tap row th, zero outside the image (and past its end)
      int px = newVar(), c = newVar(), z = newVar();
      ExprRef ih = addIdx(mulIdx(index(r), win.stride[0]), addIdx(mulIdx(th, win.dilation[0]), I(-win.padBegin[0])));
      ExprRef iw = addIdx(index(px), I(-win.padBegin[1]));
      ExprRef value = imageLoad(x, {index(b), index(c), ih, iw});
      rowBody.push_back(loop(px, wp, LoopKind::Serial,
                             {loop(c, ci, LoopKind::Vector, {store(rowBuf, addIdx(mulIdx(index(px), ci), index(c)), value)})}));
      rowBody.push_back(loop(z, nr, LoopKind::Serial, {store(rowBuf, addIdx(I(wp * ci), index(z)), imm(0, t))}));
    }
    {
      int tw = newVar(), chunk = newVar();
      ExprRef aAt = offset(dy, {index(b), o0, index(r), I(0)});
      ExprRef bAt = addIdx(mulIdx(index(tw), win.dilation[1] * ci), mulIdx(index(chunk), nr));
      Tile tile{bufferOf_.at(dy), rowBuf, aAt, bAt, I(ow), mr, nr, ldc, lanes, 1, co, win.stride[1] * ci, {}, nullptr};
      ExprRef cAt = addIdx(mulIdx(index(tw), chunks * nr), mulIdx(index(chunk), nr));
      rowBody.push_back(loop(tw, kw, LoopKind::Serial, {loop(chunk, chunks, LoopKind::Serial, {tileFma(cb, cAt, tile)})}));
    }
    body.push_back(loop(b, batch, LoopKind::Serial, {loop(r, oh, LoopKind::Serial, std::move(rowBody))}));
    { // epilogue: the block's output channels (fewer in the last block)
      int i = newVar(), tw = newVar(), c = newVar();
      ExprRef rowInBlock = addIdx(skip, index(i));
      anchorValue_ = load(cb, t, addIdx(mulIdx(rowInBlock, ldc), addIdx(mulIdx(index(tw), chunks * nr), index(c))));
      Coords cw = {addIdx(o0, rowInBlock), index(c), th, index(tw)};
      Block st;
      for (size_t y = 0; y < r_.outputs().size(); ++y)
        st.push_back(storeYield(y, cw));
      body.push_back(loopUpTo(i, mr, addIdx(I(mr), mulIdx(skip, -1)), LoopKind::Serial,
                              {loop(tw, kw, LoopKind::Serial, {loop(c, ci, LoopKind::Vector, std::move(st))})}));
    }
    k_.body = {loop(task, kh * blocks, LoopKind::Parallel, std::move(body))};
    return true;
  }

  /// The direct form of a 2-D conv or stride-1 input gradient over an NHWC
  /// image, when it applies.
  std::optional<Direct> directConv(const Node &n, const Window &win) {
    DType t = r_.type(n.results[0]).dtype;
    ValueId x = n.operands[0], w = n.operands[1];
    if (win.kernel.size() != 2 || r_.type(x).layout.kind != Layout::NHWC || (t != DType::F32 && t != DType::F64))
      return std::nullopt;
    for (ValueId y : r_.outputs())
      if (bufferOf_.count(y) || nodeOf_.at(y) < anchor_)
        return std::nullopt;
    Direct d;
    d.x = x;
    d.out = sizes_[n.results[0]];
    d.kh = win.kernel[0], d.kw = win.kernel[1], d.dilH = win.dilation[0], d.dilW = win.dilation[1];
    int wb = bufferOf_.at(w);
    if (n.op == OpKind::Conv) {
      d.cin = sizes_[x][1], d.cout = d.out[1];
      d.strideH = win.stride[0], d.strideW = win.stride[1], d.padT = win.padBegin[0], d.padL = win.padBegin[1];
      d.w = [this, w, wb, t](const ExprRef &co, const ExprRef &ci, const ExprRef &th, const ExprRef &tw) {
        return load(wb, t, offset(w, {co, ci, th, tw}));
      };
      return d;
    }
    // dx is a stride-1 conv of dy with the taps reversed and the padding
    // mirrored: dy[i + pad - k * dil] = dy[i - ((K - 1) * dil - pad) + (K - 1 - k) * dil].
    if (n.op != OpKind::ConvGradInput || win.stride[0] != 1 || win.stride[1] != 1)
      return std::nullopt;
    d.cin = sizes_[x][1], d.cout = d.out[1];
    d.padT = (d.kh - 1) * d.dilH - win.padBegin[0], d.padL = (d.kw - 1) * d.dilW - win.padBegin[1];
    if (d.padT < 0 || d.padL < 0)
      return std::nullopt;
    int64_t kh = d.kh, kw = d.kw;
    d.w = [this, w, wb, t, kh, kw](const ExprRef &c, const ExprRef &o, const ExprRef &th, const ExprRef &tw) {
      ExprRef rh = addIdx(mulIdx(th, -1), imm(static_cast<double>(kh - 1), DType::I64));
      ExprRef rw = addIdx(mulIdx(tw, -1), imm(static_cast<double>(kw - 1), DType::I64));
      return load(wb, t, offset(w, {o, c, rh, rw}));
    };
    return d;
  }

  bool lowerConv(const Node &n, const Window &win) {
    if (auto direct = directConv(n, win))
      return lowerDirect(*direct);
    if (n.op == OpKind::ConvGradWeight && lowerDirectWeightGrad(n, win))
      return true;
    size_t spatial = win.kernel.size();
    ValueId res = n.results[0];
    const Sizes &out = sizes_[res];
    Sizes kern(win.kernel.begin(), win.kernel.end());
    auto with = [](Sizes s, int64_t c, bool inner) { // (taps, c) or (c, taps)
      inner ? s.push_back(c) : (void)s.insert(s.begin(), c);
      return s;
    };
    auto split = [&](const ExprRef &flat, int64_t c, bool inner, ExprRef &ch, Coords &taps) {
      Coords all = decompose(flat, with(kern, c, inner));
      ch = inner ? all.back() : all.front();
      taps.assign(inner ? all.begin() : all.begin() + 1, inner ? all.end() - 1 : all.end());
    };
    auto pixels = [&](const ExprRef &flat, const Sizes &image, ExprRef &b, Coords &p) { // (batch, pixel...)
      Sizes ext = {image[0]};
      ext.insert(ext.end(), image.begin() + 2, image.end());
      Coords all = decompose(flat, ext);
      b = all[0];
      p.assign(all.begin() + 1, all.end());
    };
    auto image = [&](const ExprRef &flat, const Sizes &sizes, const ExprRef &ch) { // [b, ch, pixel...]
      ExprRef b;
      Coords p;
      pixels(flat, sizes, b, p);
      Coords c = {b, ch};
      c.insert(c.end(), p.begin(), p.end());
      return c;
    };
    auto tap = [&](const ExprRef &pos, const ExprRef &k, size_t d) { // pos * stride - pad + k * dilation
      return addIdx(mulIdx(pos, win.stride[d]), addIdx(mulIdx(k, win.dilation[d]), imm(static_cast<double>(-win.padBegin[d]), DType::I64)));
    };
    DType t = r_.type(res).dtype;
    Gemm g;
    ValueId x = n.operands[0], w = n.operands[1];
    // The gradient's dy (the first operand of the input gradient, the second
    // of the weight gradient): here, so the closures outlive no local.
    ValueId dy = n.op == OpKind::ConvGradInput ? x : w;
    const Sizes &xs = sizes_[x], &ws = sizes_[w], &dys = sizes_[dy];
    if (n.op == OpKind::Conv) { // out[b, o, p] = sum over c, k of x[b, c, p * s - pad + k * dil] w[o, c, k]
      bool inner = channelsInner(x);
      g.m = product(out) / out[1], g.n = out[1], g.k = product(ws) / ws[0];
      g.a = [&, inner](const ExprRef &m, const ExprRef &k) {
        ExprRef b, c;
        Coords p, taps;
        pixels(m, out, b, p);
        split(k, xs[1], inner, c, taps);
        Coords cx = {b, c};
        for (size_t d = 0; d < spatial; ++d)
          cx.push_back(tap(p[d], taps[d], d));
        return windowLoad(x, cx, {}, win, imm(0, t));
      };
      g.b = [&, inner](const ExprRef &k, const ExprRef &o) {
        ExprRef c;
        Coords taps;
        split(k, xs[1], inner, c, taps);
        Coords cw = {o, c};
        cw.insert(cw.end(), taps.begin(), taps.end());
        return load(bufferOf_.at(w), t, offset(w, cw));
      };
      g.out = [&](const ExprRef &m, const ExprRef &o) { return image(m, out, o); };
      g.aKInner = true;
      g.bNInner = false;
      g.kStep = inner ? xs[1] : 1;
    } else if (n.op == OpKind::ConvGradInput) { // dx[b, c, i] = sum over o, k of dy[b, o, (i + pad - k * dil) / s] w[o, c, k]
      bool inner = channelsInner(dy);
      g.m = product(out) / out[1], g.n = out[1], g.k = ws[0] * product(kern);
      g.a = [&, inner](const ExprRef &m, const ExprRef &k) {
        ExprRef b, o;
        Coords p, taps;
        pixels(m, out, b, p);
        split(k, dys[1], inner, o, taps);
        Coords cdy = {b, o};
        for (size_t d = 0; d < spatial; ++d)
          cdy.push_back(addIdx(p[d], addIdx(mulIdx(taps[d], -win.dilation[d]), imm(static_cast<double>(win.padBegin[d]), DType::I64))));
        return windowLoad(dy, cdy, win.stride, win, imm(0, t));
      };
      g.b = [&, inner](const ExprRef &k, const ExprRef &c) {
        ExprRef o;
        Coords taps;
        split(k, dys[1], inner, o, taps);
        Coords cw = {o, c};
        cw.insert(cw.end(), taps.begin(), taps.end());
        return load(bufferOf_.at(w), t, offset(w, cw));
      };
      g.out = [&](const ExprRef &m, const ExprRef &c) { return image(m, out, c); };
      g.aKInner = true;
      g.bNInner = channelsInner(w);
      g.kStep = inner ? dys[1] : 1;
    } else { // dw[o, c, k] = sum over b, p of dy[b, o, p] x[b, c, p * s - pad + k * dil]
      // Rows are output channels and columns (taps, channels): both panels
      // then read their sources along contiguous channels.
      bool inner = channelsInner(x);
      g.m = out[0], g.n = product(out) / out[0], g.k = product(dys) / dys[1];
      g.a = [&](const ExprRef &o, const ExprRef &k) { return load(bufferOf_.at(dy), t, offset(dy, image(k, dys, o))); };
      g.b = [&, inner](const ExprRef &k, const ExprRef &col) {
        ExprRef b, c;
        Coords p, taps;
        pixels(k, dys, b, p);
        split(col, xs[1], inner, c, taps);
        Coords cx = {b, c};
        for (size_t d = 0; d < spatial; ++d)
          cx.push_back(tap(p[d], taps[d], d));
        return windowLoad(x, cx, {}, win, imm(0, t));
      };
      g.out = [&, inner](const ExprRef &o, const ExprRef &col) {
        ExprRef c;
        Coords taps;
        split(col, xs[1], inner, c, taps);
        Coords co = {o, c};
        co.insert(co.end(), taps.begin(), taps.end());
        return co;
      };
      g.aKInner = !channelsInner(dy);
      g.bNInner = inner;
      g.nStep = inner ? xs[1] : 1;
    }
    return lowerGemm(g);
  }

  /// Value v (a buffer argument) at image coordinates c whose spatial ones
  /// are first divided by `divisors` (the input gradient's stride; empty for
  /// none): `fill` where one falls in the padding or between strides (the
  /// index is then clamped so the load stays inside the buffer).
  ExprRef windowLoad(ValueId v, Coords c, const std::vector<int64_t> &divisors, const Window &win, ExprRef fill) {
    ExprRef inside;
    auto both = [&](ExprRef a, ExprRef b) { return a ? op(OpKind::And, DType::Bool, {std::move(a), std::move(b)}) : b; };
    for (size_t s = 0; s + 2 < c.size(); ++s) {
      bool leaves = !divisors.empty() || win.padBegin[s] > 0 || win.padEnd[s] > 0 || win.ceilMode;
      if (!leaves)
        continue;
      ExprRef num = c[s + 2];
      int64_t div = divisors.empty() ? 1 : divisors[s];
      if (div > 1) {
        inside = both(inside, op(OpKind::Equal, DType::Bool, {remIdx(num, div), imm(0, DType::I64)}));
        c[s + 2] = divIdx(num, div);
      }
      inside = both(inside, op(OpKind::Greater, DType::Bool, {num, imm(-1, DType::I64)}));
      inside = both(inside, op(OpKind::Less, DType::Bool, {c[s + 2], imm(static_cast<double>(sizes_[v][s + 2]), DType::I64)}));
    }
    return loadInside(v, c, inside, std::move(fill));
  }

  /// Value v (a buffer argument) at image coordinates c where `inside`,
  /// `fill` elsewhere. Each spatial coordinate is clamped into the image (not
  /// the index as a whole), so the index stays affine in the channel: a
  /// vector loop over channels loads contiguously and selects.
  ExprRef loadInside(ValueId v, const Coords &c, const ExprRef &inside, ExprRef fill) {
    DType t = r_.type(v).dtype;
    if (!inside)
      return load(bufferOf_.at(v), t, offset(v, c));
    Coords clamped = c;
    for (size_t d = 2; d < c.size(); ++d)
      if (sizes_[v][d] > 1)
        clamped[d] = op(OpKind::Min, DType::I64, {op(OpKind::Max, DType::I64, {c[d], imm(0, DType::I64)}),
                                                  imm(static_cast<double>(sizes_[v][d] - 1), DType::I64)});
    return op(OpKind::Select, t, {inside, load(bufferOf_.at(v), t, offset(v, clamped)), std::move(fill)});
  }

  /// Image v at coordinates c, zero wherever a spatial one leaves the image.
  ExprRef imageLoad(ValueId v, const Coords &c) {
    ExprRef inside;
    for (size_t d = 2; d < c.size(); ++d) {
      ExprRef ok = op(OpKind::And, DType::Bool,
                      {op(OpKind::Greater, DType::Bool, {c[d], imm(-1, DType::I64)}),
                       op(OpKind::Less, DType::Bool, {c[d], imm(static_cast<double>(sizes_[v][d]), DType::I64)})});
      inside = inside ? op(OpKind::And, DType::Bool, {inside, ok}) : ok;
    }
    return loadInside(v, c, inside, imm(0, r_.type(v).dtype));
  }

  /// Conv, its two gradients (contractions) and max pooling (a maximum over
  /// taps). The anchor's operands must be the kernel's arguments (no
  /// prologue).
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
  int vectorBytes_, threads_;
  Kernel k_;
  std::vector<Sizes> sizes_;
  std::map<ValueId, int> nodeOf_, bufferOf_;
  std::map<std::string, ExprRef> memo_;
  int anchor_ = -1;
  ExprRef anchorValue_;
};

} // namespace

std::optional<Kernel> lowerNode(const Graph &g, const Node &n, const std::map<std::string, int64_t> &dims,
                            const std::string &name, const Machine &machine) {
  std::shared_ptr<const Graph> region = n.body ? n.body : asRegion(g, n);
  if (!region)
    return std::nullopt;
  std::vector<std::string> args, results;
  for (ValueId o : n.operands)
    args.push_back(g.nameOf(o));
  for (ValueId r : n.results)
    results.push_back(g.nameOf(r));
  return Lowerer(*region, dims, machine).run(name, args, results);
}

} // namespace kiln::lower
