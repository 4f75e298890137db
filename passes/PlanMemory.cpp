//===- passes/PlanMemory.cpp - Static memory planning ---------------------===//
#include "passes/PlanMemory.h"
#include "ir/DimExpr.h"

#include <algorithm>

namespace kiln::passes {

using namespace ir;

namespace {

Expected<int64_t> bytesOf(const Type &t, const std::map<std::string, int64_t> &dims) {
  int64_t n = static_cast<int64_t>(dtypeSize(t.dtype));
  for (const Dim &d : t.shape) {
    int64_t s = d.value;
    if (d.isSymbol()) {
      KILN_ASSIGN(std::optional<int64_t> v, evalDim(d, dims));
      if (!v) {
        std::string sym = *dimSymbols(d).begin();
        return makeError("plan_memory: dim {} has no size (give it, e.g. --dims {}=64)", sym, sym);
      }
      s = *v;
    } else if (d.isUnknown()) {
      return makeError("plan_memory: a dim of {} is unknown until run time", toString(t));
    }
    n *= s;
  }
  return n;
}

int64_t align(int64_t n) { return (n + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }

bool overlapsInTime(const MemoryPlan::Buffer &a, const MemoryPlan::Buffer &b) {
  return a.first <= b.last && b.first <= a.last;
}

} // namespace

Expected<MemoryPlan> planMemory(const Graph &g, const std::map<std::string, int64_t> &dims, bool inPlace) {
  int end = static_cast<int>(g.nodes().size());
  std::vector<int> lastUse(g.numValues(), -1);
  for (int i = 0; i < end; ++i)
    for (ValueId o : g.nodes()[static_cast<size_t>(i)].operands)
      lastUse[o] = i;
  for (ValueId v : g.outputs())
    lastUse[v] = end;
  for (const Update &u : g.updates())
    lastUse[u.value] = end;

  MemoryPlan plan;
  std::vector<int> bufferOf(g.numValues(), -1);
  // A reshape is a view of its operand's bytes (the driver runs it as
  // one): it has no buffer of its own, and keeps its operand's alive.
  // Walked backwards so a chain of views extends the first buffer.
  for (int i = end; i-- > 0;) {
    const Node &n = g.nodes()[static_cast<size_t>(i)];
    if (n.op == OpKind::Reshape)
      lastUse[n.operands[0]] = std::max(lastUse[n.operands[0]], std::max(lastUse[n.results[0]], i));
  }
  for (int i = 0; i < end; ++i) {
    const Node &n = g.nodes()[static_cast<size_t>(i)];
    if (n.op == OpKind::Reshape) {
      int b = bufferOf[n.operands[0]];
      bufferOf[n.results[0]] = b;
      if (b >= 0)
        plan.buffers[static_cast<size_t>(b)].values.push_back(n.results[0]);
      continue;
    }
    for (ValueId r : n.results) {
      KILN_ASSIGN(int64_t bytes, bytesOf(g.type(r), dims));
      plan.totalBytes += bytes;
      // In place: an elementwise node may write over an operand that dies here.
      int reuse = -1;
      if (inPlace && n.info().category == OpCategory::Elementwise && n.results.size() == 1)
        for (ValueId o : n.operands) {
          int b = bufferOf[o];
          if (b >= 0 && lastUse[o] == i && plan.buffers[static_cast<size_t>(b)].last == i &&
              plan.buffers[static_cast<size_t>(b)].bytes == bytes && g.type(o).dtype == g.type(r).dtype) {
            reuse = b;
            break;
          }
        }
      if (reuse >= 0) {
        auto &buf = plan.buffers[static_cast<size_t>(reuse)];
        buf.values.push_back(r);
        buf.last = std::max(lastUse[r], i);
        bufferOf[r] = reuse;
        ++plan.inPlace;
        continue;
      }
      bufferOf[r] = static_cast<int>(plan.buffers.size());
      plan.buffers.push_back({{r}, bytes, 0, i, std::max(lastUse[r], i)});
    }
  }
  // Greedy by size: the largest buffers first, each at the lowest free offset.
  std::vector<size_t> order(plan.buffers.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return plan.buffers[a].bytes != plan.buffers[b].bytes ? plan.buffers[a].bytes > plan.buffers[b].bytes : a < b;
  });
  std::vector<size_t> placed;
  for (size_t idx : order) {
    MemoryPlan::Buffer &buf = plan.buffers[idx];
    std::vector<std::pair<int64_t, int64_t>> taken; // [offset, offset + size) of live neighbours
    for (size_t p : placed)
      if (overlapsInTime(buf, plan.buffers[p]))
        taken.emplace_back(plan.buffers[p].offset, plan.buffers[p].offset + align(plan.buffers[p].bytes));
    std::sort(taken.begin(), taken.end());
    int64_t offset = 0;
    for (const auto &[b, e] : taken) {
      if (offset + align(buf.bytes) <= b)
        break;
      offset = std::max(offset, e);
    }
    buf.offset = offset;
    plan.peakBytes = std::max(plan.peakBytes, offset + align(buf.bytes));
    placed.push_back(idx);
  }
  return plan;
}

Status checkPlan(const MemoryPlan &plan) {
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const auto &a = plan.buffers[i];
    if (a.offset % kArenaAlignment != 0)
      return makeError("buffer {} is at offset {}, not {}-byte aligned", i, a.offset, kArenaAlignment);
    if (a.offset + a.bytes > plan.peakBytes)
      return makeError("buffer {} ends past the arena", i);
    for (size_t j = i + 1; j < plan.buffers.size(); ++j) {
      const auto &b = plan.buffers[j];
      if (overlapsInTime(a, b) && a.offset < b.offset + b.bytes && b.offset < a.offset + a.bytes)
        return makeError("buffers {} and {} are live together (nodes {}-{} and {}-{}) and overlap at offsets [{}, {}) "
                         "and [{}, {})",
                         i, j, a.first, a.last, b.first, b.last, a.offset, a.offset + a.bytes, b.offset,
                         b.offset + b.bytes);
    }
  }
  return {};
}

std::string formatPlan(const Graph &g, const MemoryPlan &plan) {
  std::string out = fmt::format("// memory plan: {} buffers, peak {} bytes (unplanned sum {} bytes), {} results in place\n",
                                plan.buffers.size(), plan.peakBytes, plan.totalBytes, plan.inPlace);
  for (const auto &b : plan.buffers) {
    std::string names;
    for (ValueId v : b.values)
      names += (names.empty() ? "%" : ", %") + g.nameOf(v);
    out += fmt::format("//   [{:>10}, {:>10})  nodes {:>4}-{:<4} {}\n", b.offset, b.offset + b.bytes, b.first, b.last, names);
  }
  return out;
}

} // namespace kiln::passes
