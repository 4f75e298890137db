//===- lower/Movement.cpp - Data movement as index arithmetic -------------===//
//
// Data movement ops are injective (TVM's kind): each element of the result
// is one element of an operand (or a constant), so lowering builds it as
// that operand's value at computed coordinates, inside whatever loop nest
// reads it: broadcast_to, transpose, slice, pad (constant, edge, reflect),
// concat, gather, gather_elements and one_hot. Data-dependent coordinates
// (gather's indices) are normalized and clamped into the operand, so a
// load never leaves its buffer; an index out of range (an error on the
// reference interpreter) reads the nearest element.
//
//===----------------------------------------------------------------------===//
#include "lower/Lowerer.h"

#include <algorithm>

namespace kiln::lower::detail {

namespace {

ExprRef I(int64_t v) { return imm(static_cast<double>(v), DType::I64); }
ExprRef maxI(ExprRef a, ExprRef b) { return op(OpKind::Max, DType::I64, {std::move(a), std::move(b)}); }
ExprRef clampI(ExprRef v, int64_t lo, int64_t hi) { return minIdx(maxI(std::move(v), I(lo)), I(hi)); }
ExprRef lessI(ExprRef a, ExprRef b) { return op(OpKind::Less, DType::Bool, {std::move(a), std::move(b)}); }

/// An index value (any integer dtype) as i64, negative ones counted from
/// the end of a dim of size n, clamped into it.
ExprRef normalized(ExprRef idx, int64_t n) {
  ExprRef k = idx->type == DType::I64 ? idx : cast(idx, DType::I64);
  ExprRef wrapped = op(OpKind::Select, DType::I64, {lessI(k, I(0)), addIdx(k, I(n)), k});
  return clampI(wrapped, 0, n - 1);
}

} // namespace

bool isMovement(OpKind op) {
  static constexpr OpKind kInjective[] = {OpKind::BroadcastTo, OpKind::Transpose, OpKind::Slice,
                                         OpKind::Pad,         OpKind::Concat,    OpKind::Gather,
                                         OpKind::GatherElements, OpKind::OneHot};
  return std::find(std::begin(kInjective), std::end(kInjective), op) != std::end(kInjective);
}

ExprRef Lowerer::moved(const Node &n, const Coords &c) {
  AttrView a = n.attrView();
  ValueId x = n.operands[0];
  const Sizes &xs = sizes_[x];
  const int rank = static_cast<int>(xs.size());
  DType t = r_.type(n.results[0]).dtype;
  switch (n.op) {
  case OpKind::BroadcastTo: return at(x, broadcastCoords(c, xs));
  case OpKind::Transpose: {
    std::vector<int64_t> perm = a.getInts("perm");
    if (perm.empty())
      for (int d = rank; d-- > 0;)
        perm.push_back(d);
    Coords cin(xs.size());
    for (size_t d = 0; d < perm.size(); ++d)
      cin[static_cast<size_t>(perm[d])] = c[d];
    return at(x, cin);
  }
  case OpKind::Slice: {
    const auto &starts = a.getInts("starts"), &ends = a.getInts("ends");
    std::vector<int64_t> axes = a.getInts("axes"), steps = a.getInts("steps");
    Coords cin = c;
    for (size_t i = 0; i < starts.size(); ++i) {
      int ax = *normalizeAxis(axes.empty() ? static_cast<int64_t>(i) : axes[i], rank);
      SliceBounds b = sliceBounds(starts[i], ends[i], steps.empty() ? 1 : steps[i], xs[static_cast<size_t>(ax)]);
      cin[static_cast<size_t>(ax)] = addIdx(I(b.start), mulIdx(c[static_cast<size_t>(ax)], b.step));
    }
    return at(x, cin);
  }
  case OpKind::Pad: {
    const auto &pads = a.getInts("pads");
    const std::string &mode = a.getString("mode");
    Coords cin(xs.size());
    ExprRef inside;
    for (size_t d = 0; d < xs.size(); ++d) {
      int64_t size = xs[d];
      ExprRef p = addIdx(c[d], I(-pads[d]));
      if (pads[d] == 0 && pads[d + xs.size()] == 0) {
        cin[d] = c[d];
        continue;
      }
      if (mode == "reflect" && size > 1) { // min(|p|, 2(n-1) - |p|)
        ExprRef q = maxI(p, mulIdx(p, -1));
        cin[d] = clampI(minIdx(q, addIdx(I(2 * (size - 1)), mulIdx(q, -1))), 0, size - 1);
        continue;
      }
      cin[d] = clampI(p, 0, size - 1);
      if (mode == "constant") {
        ExprRef ok = op(OpKind::And, DType::Bool,
                        {op(OpKind::Greater, DType::Bool, {p, I(-1)}), lessI(p, I(size))});
        inside = inside ? op(OpKind::And, DType::Bool, {inside, ok}) : ok;
      }
    }
    ExprRef v = at(x, cin);
    return inside ? op(OpKind::Select, t, {inside, v, imm(a.getFloat("value"), t)}) : v;
  }
  case OpKind::Concat: {
    auto axis = static_cast<size_t>(*normalizeAxis(a.getInt("axis"), rank));
    // The last operand's value, then each earlier one where the coordinate
    // falls before its end; each read clamped into its own operand.
    std::vector<int64_t> begin;
    int64_t offset = 0;
    for (ValueId o : n.operands) {
      begin.push_back(offset);
      offset += sizes_[o][axis];
    }
    ExprRef v;
    for (size_t i = n.operands.size(); i-- > 0;) {
      ValueId o = n.operands[i];
      int64_t size = sizes_[o][axis];
      if (size == 0)
        continue;
      Coords ci = c;
      ci[axis] = clampI(addIdx(c[axis], I(-begin[i])), 0, size - 1);
      ExprRef here = at(o, ci);
      v = v ? op(OpKind::Select, t, {lessI(c[axis], I(begin[i] + size)), here, v}) : here;
    }
    return v;
  }
  case OpKind::Gather: {
    ValueId idx = n.operands[1];
    auto axis = static_cast<size_t>(*normalizeAxis(a.getInt("axis"), rank));
    size_t ir = sizes_[idx].size();
    Coords ci(c.begin() + static_cast<long>(axis), c.begin() + static_cast<long>(axis + ir));
    Coords cin(c.begin(), c.begin() + static_cast<long>(axis));
    cin.push_back(normalized(at(idx, ci), xs[axis]));
    cin.insert(cin.end(), c.begin() + static_cast<long>(axis + ir), c.end());
    return at(x, cin);
  }
  case OpKind::GatherElements: {
    auto axis = static_cast<size_t>(*normalizeAxis(a.getInt("axis"), rank));
    Coords cin = c;
    cin[axis] = normalized(at(n.operands[1], c), xs[axis]);
    return at(x, cin);
  }
  case OpKind::OneHot: {
    int64_t depth = a.getInt("depth"), axis = a.getInt("axis");
    auto where = static_cast<size_t>(axis < 0 ? axis + rank + 1 : axis);
    Coords ci = c;
    ci.erase(ci.begin() + static_cast<long>(where));
    ExprRef k = at(x, ci);
    k = k->type == DType::I64 ? k : cast(k, DType::I64);
    k = op(OpKind::Select, DType::I64, {lessI(k, I(0)), addIdx(k, I(depth)), k});
    return cast(op(OpKind::Equal, DType::Bool, {k, c[where]}), t);
  }
  default: return nullptr;
  }
}

} // namespace kiln::lower::detail
