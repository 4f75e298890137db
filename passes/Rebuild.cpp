//===- passes/Rebuild.cpp - Rebuilding a graph node by node ---------------===//
#include "passes/Rebuild.h"

#include <string_view>
#include <unordered_map>

#include <algorithm>

namespace kiln::passes {

using namespace ir;

Expected<std::vector<ValueId>> copyNode(Graph &dst, const Node &n, std::vector<ValueId> operands,
                                        std::vector<std::string> names) {
  if (n.body)
    return dst.addFused(std::move(operands), n.body, n.attrView().getString("kind"), std::move(names));
  return dst.addNode(n.op, std::move(operands), Rebuilder::attrList(n), std::move(names));
}

Rebuilder::Rebuilder(const Graph &old) : old_(old), new_(old.name()), map_(old.numValues(), kNoValue) {}

AttrList Rebuilder::attrList(const Node &n) {
  AttrList out;
  const OpInfo &info = n.info();
  for (size_t i = 0; i < info.attrs.size(); ++i)
    if (!std::holds_alternative<std::monostate>(n.attrs[i]))
      out.emplace_back(std::string(info.attrs[i].name), n.attrs[i]);
  return out;
}

Expected<ValueId> Rebuilder::emit(OpKind op, std::vector<ValueId> operands, const AttrList &attrs) {
  auto r = new_.addNode(op, std::move(operands), attrs);
  if (!r)
    return r.error();
  return (*r)[0];
}

const Node *Rebuilder::producer(ValueId v) const {
  if (new_.value(v).kind != ValueKind::Result)
    return nullptr;
  return &new_.producer(v);
}

const HostTensor *Rebuilder::constant(ValueId v) const {
  const Value &val = new_.value(v);
  return val.kind == ValueKind::Const ? &new_.consts()[static_cast<size_t>(val.owner)].data : nullptr;
}

Expected<ValueId> Rebuilder::addConstant(HostTensor t, const std::string &base) {
  std::string name = base;
  for (int i = 1; new_.lookup(name) != kNoValue || old_.lookup(name) != kNoValue; ++i)
    name = fmt::format("{}_{}", base, i);
  return new_.addConst(name, std::move(t));
}

Expected<std::vector<ValueId>> Rebuilder::copy(const Node &mapped) {
  std::vector<std::string> names;
  for (ValueId r : mapped.results)
    names.push_back(old_.nameOf(r));
  // Results keep their old names unless a new value took the name already.
  for (std::string &n : names)
    if (new_.lookup(n) != kNoValue)
      n.clear();
  return copyNode(new_, mapped, mapped.operands, names);
}

Expected<Graph> Rebuilder::run(const std::function<Expected<Replacement>(Rebuilder &, const Node &)> &visit) {
  for (ValueId v : old_.inputs()) {
    KILN_ASSIGN(map_[v], new_.addInput(old_.nameOf(v), old_.type(v)));
  }
  for (const Param &p : old_.params()) {
    KILN_ASSIGN(map_[p.value], new_.addParam(old_.nameOf(p.value), p.data, p.init, old_.type(p.value).layout));
  }
  // Equal constants found by a hash of their bytes (a search of every
  // constant kept so far was quadratic in a graph of many constants).
  std::unordered_multimap<size_t, size_t> byHash; // hash -> index in new_.consts()
  auto hashOf = [](const HostTensor &t) {
    size_t h = std::hash<std::string_view>()(
        std::string_view(reinterpret_cast<const char *>(t.data()), t.byteSize()));
    for (int64_t d : t.sizes())
      h = h * 31 + static_cast<size_t>(d);
    return h * 31 + static_cast<size_t>(t.dtype());
  };
  for (const Const &c : old_.consts()) {
    size_t h = mergeConstants_ ? hashOf(c.data) : 0;
    if (mergeConstants_) {
      bool merged = false;
      for (auto [it, end] = byHash.equal_range(h); it != end && !merged; ++it)
        if (const Const &k = new_.consts()[it->second]; k.data == c.data) {
          map_[c.value] = k.value;
          merged = true;
        }
      if (merged)
        continue;
      byHash.emplace(h, new_.consts().size());
    }
    KILN_ASSIGN(map_[c.value], new_.addConst(old_.nameOf(c.value), c.data));
  }
  for (const Node &n : old_.nodes()) {
    Node mapped = n;
    for (ValueId &o : mapped.operands)
      o = map_[o];
    size_t valuesBefore = new_.numValues();
    KILN_ASSIGN(Replacement rep, visit(*this, mapped));
    // Values a rewrite made for this node take the names of the results they replace.
    if (rep)
      for (size_t i = 0; i < rep->size() && i < n.results.size(); ++i) {
        ValueId v = (*rep)[i];
        const std::string &oldName = old_.nameOf(n.results[i]);
        if (static_cast<size_t>(v) >= valuesBefore && new_.lookup(oldName) == kNoValue)
          KILN_TRY(new_.rename(v, oldName));
      }
    std::vector<ValueId> results;
    if (rep) {
      results = *rep;
    } else {
      KILN_ASSIGN(results, copy(mapped));
    }
    if (results.size() != n.results.size())
      return makeError("a rewrite of {} gave {} results for {}", old_.describe(n), results.size(), n.results.size());
    for (size_t i = 0; i < results.size(); ++i) {
      if (!(new_.type(results[i]) == old_.type(n.results[i])))
        return makeError("a rewrite of {} changed the type of %{} from {} to {}", old_.describe(n),
                         old_.nameOf(n.results[i]), toString(old_.type(n.results[i])), toString(new_.type(results[i])));
      map_[n.results[i]] = results[i];
    }
  }
  for (ValueId v : old_.outputs())
    KILN_TRY(new_.addOutput(map_[v]));
  for (const Update &u : old_.updates())
    KILN_TRY(new_.addUpdate(map_[u.param], map_[u.value]));
  return std::move(new_);
}

} // namespace kiln::passes

namespace kiln::passes {

Expected<ir::Graph> applyPatterns(const ir::Graph &g, std::span<const Pattern> patterns, int *changes, int maxRounds) {
  ir::Graph current = g;
  int total = 0;
  for (int round = 0; round < maxRounds; ++round) {
    int made = 0;
    Rebuilder rb(current);
    auto next = rb.run([&](Rebuilder &b, const ir::Node &n) -> Expected<Rebuilder::Replacement> {
      for (Pattern p : patterns) {
        KILN_ASSIGN(Rebuilder::Replacement r, p(b, n));
        if (r) {
          ++made;
          return r;
        }
      }
      return Rebuilder::Replacement{};
    });
    if (!next)
      return next.error();
    current = next.take();
    total += made;
    if (made == 0)
      break;
  }
  if (changes)
    *changes = total;
  return current;
}

} // namespace kiln::passes
