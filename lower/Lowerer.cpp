//===- lower/Lowerer.cpp - Values, loops, stores; the entry -----------------===//
#include "lower/Lowerer.h"
#include "ir/DimExpr.h"

#include "ir/Definition.h"
#include "passes/Rebuild.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace kiln::lower {

namespace detail {

bool isWindow(OpKind op) {
  return opInfo(op).has(trait::Windowed) && op != OpKind::AvgPoolGrad && op != OpKind::ConvTranspose;
}

bool isReduce(OpKind op) { return opInfo(op).has(trait::AxisReduce); }


std::optional<Kernel> Lowerer::run(const std::string &name, const std::vector<std::string> &argNames, const std::vector<std::string> &resultNames) {
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

/// Every value f32, f64 or bool of concrete sizes and strided layout; every node
/// elementwise but one reduction or 2-D matmul at most.
bool Lowerer::check() {
  sizes_.resize(r_.numValues());
  for (ValueId v = 0; v < static_cast<ValueId>(r_.numValues()); ++v) {
    const Type &t = r_.type(v);
    // u8 (unsigned arithmetic), f16 and bf16 are left to the reference.
    if (t.dtype == DType::U8 || t.dtype == DType::F16 || t.dtype == DType::BF16)
      return false;
    for (const Dim &d : t.shape) {
      std::optional<int64_t> size = dimValue(d, dims_);
      if (!size)
        return false;
      sizes_[v].push_back(*size);
    }
    if (!strides(v))
      return false;
  }
  // Expressions are walked as trees (here, by the verifier, the printer and
  // codegen): a region whose expressions would pass kMaxExpressionSize (a
  // long hand-written chain, or one of composites that read an operand twice)
  // is left to the reference interpreter. The fuser never makes one.
  std::vector<double> treeSize(r_.numValues(), 1.0);
  for (size_t i = 0; i < r_.nodes().size(); ++i) {
    const Node &n = r_.nodes()[i];
    for (ValueId res : n.results)
      nodeOf_[res] = static_cast<int>(i);
    // An empty result ([2,0,5]) has nothing to compute, and index
    // arithmetic over a zero extent folds a loop's variable away (parts of a
    // parallel loop would seem to race): the reference's loops do nothing.
    for (ValueId res : n.results)
      if (product(sizes_[res]) == 0)
        return false;
    // A kernel indexes a flat layout in stored order (strides()), so a
    // convert into or out of one moves elements no stride describes: the
    // reference interpreter does it.
    if (n.op == OpKind::LayoutConvert &&
        (r_.type(n.operands[0]).layout.isFlat() || r_.type(n.results[0]).layout.isFlat()) &&
        !(r_.type(n.operands[0]).layout == r_.type(n.results[0]).layout))
      return false;
    if (n.op == OpKind::LayoutConvert || n.op == OpKind::Identity)
      continue;
    if (isMovement(n.op)) {
      double size = 1;
      for (ValueId o : n.operands)
        size += treeSize[static_cast<size_t>(o)] + 4;
      if (size > kMaxExpressionSize)
        return false;
      for (ValueId res : n.results)
        treeSize[static_cast<size_t>(res)] = size;
      continue;
    }
    if (n.info().category == OpCategory::Elementwise) {
      if (!flatAgrees(n) || !integerSafe(n))
        return false;
      std::vector<double> operandSizes;
      for (ValueId o : n.operands)
        operandSizes.push_back(treeSize[static_cast<size_t>(o)]);
      double size = expressionSize(n.info(), n.attrView(), operandSizes);
      if (size > kMaxExpressionSize)
        return false;
      for (ValueId res : n.results)
        treeSize[static_cast<size_t>(res)] = size;
      continue;
    }
    bool matmul2d = n.op == OpKind::MatMul && r_.type(n.operands[0]).rank() == 2 && r_.type(n.operands[1]).rank() == 2;
    bool argReduce = n.op == OpKind::ArgMax || n.op == OpKind::ArgMin;
    // Integer contractions and reductions (but argmax's index) stay on the
    // reference: the schedules accumulate floats.
    if (!argReduce && (!isFloat(r_.type(n.results[0]).dtype) || !isFloat(r_.type(n.operands[0]).dtype)))
      return false;
    if ((!isReduce(n.op) && !argReduce && !matmul2d && !isWindow(n.op)) || anchor_ >= 0)
      return false;
    anchor_ = static_cast<int>(i);
    // A contraction, window or reduction over an empty operand (k = 0) has
    // no blocks for a schedule to divide: the reference fills the identity.
    for (ValueId v : n.operands)
      if (product(sizes_[v]) == 0)
        return false;
  }
  return !r_.consts().size(); // constants in regions are not lowered yet
}

/// Integer elementwise ops lower only where the machine's integer op means
/// what the reference computes: no division (a zero divisor traps), pow or
/// rounding on integers.
bool Lowerer::integerSafe(const Node &n) const {
  bool integer = !isFloat(r_.type(n.results[0]).dtype) && r_.type(n.results[0]).dtype != DType::Bool;
  for (ValueId o : n.operands)
    integer = integer || (!isFloat(r_.type(o).dtype) && r_.type(o).dtype != DType::Bool);
  if (!integer)
    return true;
  static constexpr OpKind kExact[] = {OpKind::Add,  OpKind::Sub,     OpKind::Mul,    OpKind::Max,
                                      OpKind::Min,  OpKind::Neg,     OpKind::Equal,  OpKind::Less,
                                      OpKind::Greater, OpKind::Select, OpKind::Cast};
  return std::find(std::begin(kExact), std::end(kExact), n.op) != std::end(kExact);
}

/// An elementwise result in a flat layout reads every operand that spans
/// its flat dim in the same layout (a vector broadcast along it would be
/// read in logical order).
bool Lowerer::flatAgrees(const Node &n) const {
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

/// One loop per dim of value v, in its storage order (outermost first):
/// `c` gets v's coordinates, `vars` the loops.
void Lowerer::loopsOver(ValueId v, Coords &c, std::vector<std::pair<int, int64_t>> &vars) {
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
std::optional<std::vector<int64_t>> Lowerer::strides(ValueId v) const {
  Layout l = r_.type(v).layout;
  return physicalStrides(sizes_[v], l.isFlat() ? Layout{} : l);
}

/// The physical offset of logical `c` in value v's storage.
ExprRef Lowerer::offset(ValueId v, const Coords &c) {
  auto strides = this->strides(v);
  ExprRef idx = imm(0, DType::I64);
  for (size_t d = 0; d < c.size(); ++d)
    if (sizes_[v][d] != 1)
      idx = addIdx(idx, mulIdx(c[d], (*strides)[d]));
  return idx;
}

/// `c` (coordinates of a result) as seen by an operand of `sizes`, which
/// broadcasts against it from the right.
Coords Lowerer::broadcastCoords(const Coords &c, const Sizes &sizes) {
  Coords out;
  size_t skip = c.size() - sizes.size();
  for (size_t d = 0; d < sizes.size(); ++d)
    out.push_back(sizes[d] == 1 ? imm(0, DType::I64) : c[d + skip]);
  return out;
}

/// Value v at logical coordinates c, built once per (value, coordinates).
ExprRef Lowerer::at(ValueId v, const Coords &c) {
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
  } else if (const Node &m = r_.nodes()[static_cast<size_t>(nodeOf_.at(v))]; isMovement(m.op)) {
    e = moved(m, c);
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

/// Loops over `vars` (outermost first) around `inner`: the innermost
/// vector, the outermost parallel unless they reduce (`reduction`).
Block Lowerer::nest(const std::vector<std::pair<int, int64_t>> &vars, Block inner, bool reduction) {
  for (size_t i = vars.size(); i-- > 0;) {
    LoopKind kind = i + 1 == vars.size()    ? LoopKind::Vector
                    : i == 0 && !reduction ? LoopKind::Parallel
                                           : LoopKind::Serial;
    inner = Block{loop(vars[i].first, vars[i].second, kind, std::move(inner))};
  }
  return inner;
}

Stmt Lowerer::storeYield(size_t i, const Coords &c) {
  ValueId y = r_.outputs()[i];
  return store(static_cast<int>(r_.inputs().size() + i), offset(y, c), at(y, c));
}

/// Splits the yields into those made before the anchor (stored inside its
/// inner loops, at `pre`) and after it (stored after them, at `post`).
void Lowerer::storeYields(Block &inner, Block &after, const Coords &pre, const Coords &post) {
  for (size_t i = 0; i < r_.outputs().size(); ++i) {
    ValueId y = r_.outputs()[i];
    bool before = bufferOf_.count(y) || nodeOf_.at(y) < anchor_;
    (before ? inner : after).push_back(storeYield(i, before ? pre : post));
  }
}

/// Value v (a buffer argument) at image coordinates c whose spatial ones
/// are first divided by `divisors` (the input gradient's stride; empty for
/// none): `fill` where one falls in the padding or between strides (the
/// index is then clamped so the load stays inside the buffer).
ExprRef Lowerer::windowLoad(ValueId v, Coords c, const std::vector<int64_t> &divisors, const Window &win, ExprRef fill) {
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
ExprRef Lowerer::loadInside(ValueId v, const Coords &c, const ExprRef &inside, ExprRef fill) {
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
ExprRef Lowerer::imageLoad(ValueId v, const Coords &c) {
  ExprRef inside;
  for (size_t d = 2; d < c.size(); ++d) {
    ExprRef ok = op(OpKind::And, DType::Bool,
                    {op(OpKind::Greater, DType::Bool, {c[d], imm(-1, DType::I64)}),
                     op(OpKind::Less, DType::Bool, {c[d], imm(static_cast<double>(sizes_[v][d]), DType::I64)})});
    inside = inside ? op(OpKind::And, DType::Bool, {inside, ok}) : ok;
  }
  return loadInside(v, c, inside, imm(0, r_.type(v).dtype));
}

} // namespace detail

namespace {

using namespace ir;
using namespace kernel;

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
  auto k = detail::Lowerer(*region, dims, machine).run(name, args, results);
  if (k && machine.gpu()) {
    detail::flattenParallelNest(*k);
    detail::blockReduceNest(*k);
  }
  return k;
}

} // namespace kiln::lower
