//===- passes/Fuse.cpp - Grouping nodes into kernels ----------------------===//
#include "passes/Fuse.h"
#include "passes/Rebuild.h"

#include "ir/Definition.h"

#include <algorithm>
#include <set>

namespace kiln::passes {

using namespace ir;

namespace {

/// The most nodes one kernel holds (see Fuser::hasRoom).
constexpr size_t kMaxKernelNodes = 128;

/// What a kernel is built around; it decides what may join it.
enum class Kind { Elementwise, Reduction, Window, Contraction, Single };

std::string_view kindName(Kind k) {
  switch (k) {
  case Kind::Elementwise: return "elementwise";
  case Kind::Reduction: return "reduction";
  case Kind::Window: return "window";
  case Kind::Contraction: return "contraction";
  case Kind::Single: break;
  }
  return "single";
}

Kind kindOf(const Node &n) {
  const OpInfo &info = n.info();
  switch (info.category) {
  case OpCategory::Elementwise: return Kind::Elementwise;
  case OpCategory::Reduction: return info.has(trait::Windowed) ? Kind::Window : Kind::Reduction;
  case OpCategory::Contraction: return Kind::Contraction;
  case OpCategory::DataMovement:
  case OpCategory::Opaque: break;
  }
  return Kind::Single;
}

struct Group {
  Kind kind;
  Shape domain; ///< the shape its epilogue iterates: the anchor's result shape
  std::vector<int> members;
  bool cheap = true;
};

class Fuser {
public:
  explicit Fuser(const Graph &g)
      : g_(g), nodeOf_(g.numValues(), -1), uses_(g.numValues()), escapes_(g.numValues()), exprSize_(g.numValues(), 1) {
    const auto &nodes = g.nodes();
    for (size_t i = 0; i < nodes.size(); ++i) {
      for (ValueId r : nodes[i].results)
        nodeOf_[r] = static_cast<int>(i);
      for (ValueId o : nodes[i].operands)
        uses_[o].push_back(static_cast<int>(i));
    }
    for (ValueId v : g.outputs())
      escapes_[v] = true;
    for (const Update &u : g.updates())
      escapes_[u.value] = true;
    groupOf_.assign(nodes.size(), -1);
  }

  void formGroups() {
    for (size_t i = 0; i < g_.nodes().size(); ++i)
      visit(static_cast<int>(i));
  }

  Expected<Graph> emit();

private:
  const Shape &shapeOf(ValueId v) const { return g_.value(v).type.shape; }

  void visit(int i) {
    const Node &n = g_.nodes()[static_cast<size_t>(i)];
    Kind kind = kindOf(n);
    const Shape &out = shapeOf(n.results[0]);
    std::vector<int> join;
    Kind joinedKind = kind;
    if (kind == Kind::Elementwise) {
      // Join elementwise kernels over the same domain, and at most one anchor
      // (contraction, pooling or reduction) as its epilogue.
      bool anchored = false;
      for (ValueId o : n.operands) {
        int gid = producerGroup(o);
        if (gid < 0 || contains(join, gid))
          continue;
        const Group &grp = groups_[static_cast<size_t>(gid)];
        if (grp.kind == Kind::Single || !(grp.domain == out) || !(shapeOf(o) == out))
          continue;
        size_t joined = 1;
        for (int j : join)
          joined += groups_[static_cast<size_t>(j)].members.size();
        if (!hasRoom(gid, joined))
          continue;
        if (grp.kind != Kind::Elementwise && anchored)
          continue;
        join.push_back(gid);
        if (wouldCycle(join, i)) {
          join.pop_back();
          continue;
        }
        if (grp.kind != Kind::Elementwise) {
          anchored = true;
          joinedKind = grp.kind;
          std::swap(join.front(), join.back()); // the anchor's group is the one kept
        }
      }
    } else if (kind == Kind::Reduction) {
      // An elementwise producer over the reduction's input domain.
      int gid = producerGroup(n.operands[0]);
      if (gid >= 0 && groups_[static_cast<size_t>(gid)].kind == Kind::Elementwise &&
          groups_[static_cast<size_t>(gid)].domain == shapeOf(n.operands[0]) && hasRoom(gid)) {
        join.push_back(gid);
        if (wouldCycle(join, i))
          join.clear();
      }
    } else if (kind == Kind::Contraction && !n.info().has(ir::trait::Windowed)) {
      // Cheap elementwise prologues that only this matmul reads (the
      // window lowerings read their operands from buffers: a conv's
      // prologue, SE's x * sigmoid(s), stays a kernel of its own).
      for (ValueId o : n.operands) {
        int gid = producerGroup(o);
        if (gid < 0 || contains(join, gid))
          continue;
        const Group &grp = groups_[static_cast<size_t>(gid)];
        if (grp.kind != Kind::Elementwise || !grp.cheap || !(grp.domain == shapeOf(o)) || !hasRoom(gid) ||
            !onlyFeeds(gid, i))
          continue;
        join.push_back(gid);
        if (wouldCycle(join, i))
          join.pop_back();
      }
    }
    // The expression lowering builds for each result, counted as a tree:
    // an operand a composite's definition reads twice is printed, verified
    // and emitted twice, so a chain of selus grows as 2^length. A node whose
    // tree would pass kMaxExpressionSize starts a kernel of its own.
    if (kind == Kind::Elementwise) {
      double size = exprSize(n, join);
      if (size > kMaxExpressionSize) {
        join.clear();
        size = exprSize(n, join);
      }
      for (ValueId r : n.results)
        exprSize_[static_cast<size_t>(r)] = size;
    }
    if (join.empty()) {
      groups_.push_back(Group{kind, out, {i}, n.info().cheap()});
      succ_.emplace_back();
      pred_.emplace_back();
      groupOf_[static_cast<size_t>(i)] = static_cast<int>(groups_.size() - 1);
      addEdges(i);
      return;
    }
    Group &target = groups_[static_cast<size_t>(join[0])];
    for (size_t k = 1; k < join.size(); ++k) {
      Group &other = groups_[static_cast<size_t>(join[k])];
      for (int m : other.members) {
        groupOf_[static_cast<size_t>(m)] = join[0];
        target.members.push_back(m);
      }
      target.cheap = target.cheap && other.cheap;
      other.members.clear();
      mergeEdges(join[k], join[0]);
    }
    target.members.push_back(i);
    target.cheap = target.cheap && n.info().cheap();
    groupOf_[static_cast<size_t>(i)] = join[0];
    addEdges(i);
    if (kind != Kind::Elementwise) { // the node is the new anchor
      target.kind = kind;
      target.domain = out;
    } else {
      target.kind = joinedKind;
    }
  }

  int producerGroup(ValueId v) const {
    int p = nodeOf_[v];
    return p < 0 ? -1 : groupOf_[static_cast<size_t>(p)];
  }
  static bool contains(const std::vector<int> &v, int x) { return std::find(v.begin(), v.end(), x) != v.end(); }

  /// True if every value of the group is used only inside it or by node i.
  bool onlyFeeds(int gid, int i) const {
    for (int m : groups_[static_cast<size_t>(gid)].members)
      for (ValueId r : g_.nodes()[static_cast<size_t>(m)].results) {
        if (escapes_[r])
          return false;
        for (int u : uses_[r])
          if (u != i && groupOf_[static_cast<size_t>(u)] != gid)
            return false;
      }
    return true;
  }

  /// True if merging the groups and node i would make a path leave the new
  /// kernel and come back into it. Kernels run as wholes, so the paths are
  /// taken between kernels, not nodes: a kernel reached from the merged set
  /// must not feed it. The search runs over the kernel graph (succ_/pred_),
  /// never over a kernel's members, so a long chain costs O(1) per node.
  bool wouldCycle(const std::vector<int> &gids, int i) {
    auto inSet = [&](int gid) { return contains(gids, gid); };
    // The kernels that feed the merged set, outside it: the search's targets.
    ++stamp_;
    if (target_.size() < groups_.size())
      target_.resize(groups_.size(), 0), reached_.resize(groups_.size(), 0);
    auto mark = [&](int gid) {
      if (gid >= 0 && !inSet(gid))
        target_[static_cast<size_t>(gid)] = stamp_;
    };
    for (ValueId o : g_.nodes()[static_cast<size_t>(i)].operands)
      mark(producerGroup(o));
    for (int gid : gids)
      for (int p : pred_[static_cast<size_t>(gid)])
        mark(p);
    // Forward from the merged set's users outside it.
    std::vector<int> stack;
    for (int gid : gids)
      for (int u : succ_[static_cast<size_t>(gid)])
        if (!inSet(u) && reached_[static_cast<size_t>(u)] != stamp_) {
          reached_[static_cast<size_t>(u)] = stamp_;
          stack.push_back(u);
        }
    while (!stack.empty()) {
      int gid = stack.back();
      stack.pop_back();
      if (target_[static_cast<size_t>(gid)] == stamp_)
        return true;
      for (int u : succ_[static_cast<size_t>(gid)])
        if (!inSet(u) && reached_[static_cast<size_t>(u)] != stamp_) {
          reached_[static_cast<size_t>(u)] = stamp_;
          stack.push_back(u);
        }
    }
    return false;
  }

  /// The tree size of node n's expression when the kernels in `join` are
  /// its kernel: an operand made there counts its own tree, any other 1.
  double exprSize(const Node &n, const std::vector<int> &join) const {
    std::vector<double> sizes;
    for (ValueId o : n.operands) {
      int gid = producerGroup(o);
      sizes.push_back(gid >= 0 && contains(join, gid) ? exprSize_[static_cast<size_t>(o)] : 1.0);
    }
    return expressionSize(n.info(), n.attrView(), sizes);
  }

  /// Records the kernel-graph edges into node i's kernel from its operands'.
  void addEdges(int i) {
    int gid = groupOf_[static_cast<size_t>(i)];
    for (ValueId o : g_.nodes()[static_cast<size_t>(i)].operands) {
      int p = producerGroup(o);
      if (p >= 0 && p != gid) {
        succ_[static_cast<size_t>(p)].insert(gid);
        pred_[static_cast<size_t>(gid)].insert(p);
      }
    }
  }

  /// Moves kernel `from`'s edges to `into` (which absorbed its members).
  void mergeEdges(int from, int into) {
    auto f = static_cast<size_t>(from), t = static_cast<size_t>(into);
    for (int s : succ_[f]) {
      pred_[static_cast<size_t>(s)].erase(from);
      if (s != into) {
        pred_[static_cast<size_t>(s)].insert(into);
        succ_[t].insert(s);
      }
    }
    for (int p : pred_[f]) {
      succ_[static_cast<size_t>(p)].erase(from);
      if (p != into) {
        succ_[static_cast<size_t>(p)].insert(into);
        pred_[t].insert(p);
      }
    }
    succ_[t].erase(from);
    pred_[t].erase(from);
    succ_[f].clear();
    pred_[f].clear();
  }

  /// Whether kernel `gid` may take more nodes: a kernel's expressions nest as
  /// deep as its chains, and lowering, the verifier and the code generator
  /// walk them recursively, so a kernel holds at most kMaxKernelNodes nodes
  /// (a longer chain becomes several kernels).
  bool hasRoom(int gid, size_t adding = 1) const {
    return groups_[static_cast<size_t>(gid)].members.size() + adding <= kMaxKernelNodes;
  }

  Expected<std::vector<ValueId>> emitGroup(Graph &out, const Group &grp, std::vector<ValueId> &map);

  const Graph &g_;
  std::vector<int> nodeOf_;            ///< value -> producing node, or -1
  std::vector<std::vector<int>> uses_; ///< value -> consuming nodes
  std::vector<bool> escapes_;          ///< value is an output or an update
  std::vector<int> groupOf_;           ///< node -> group
  std::vector<Group> groups_;
  /// The kernel graph: the kernels each kernel feeds, and is fed by.
  std::vector<std::set<int>> succ_, pred_;
  /// wouldCycle's marks, valid where equal to stamp_ (no clearing per call).
  std::vector<unsigned> target_, reached_;
  unsigned stamp_ = 0;
  /// emitGroup's map from outer to region values, reset after each kernel.
  std::vector<ValueId> inner_;
  /// value -> the tree size of its expression in its kernel (1 outside one).
  std::vector<double> exprSize_;
};

Expected<std::vector<ValueId>> Fuser::emitGroup(Graph &out, const Group &grp, std::vector<ValueId> &map) {
  const auto &nodes = g_.nodes();
  if (grp.members.size() == 1) {
    const Node &n = nodes[static_cast<size_t>(grp.members[0])];
    std::vector<ValueId> operands;
    std::vector<std::string> names;
    for (ValueId o : n.operands)
      operands.push_back(map[o]);
    for (ValueId r : n.results)
      names.push_back(g_.nameOf(r));
    KILN_ASSIGN(std::vector<ValueId> results, copyNode(out, n, operands, names));
    for (size_t k = 0; k < results.size(); ++k)
      map[n.results[k]] = results[k];
    return results;
  }
  int gid = groupOf_[static_cast<size_t>(grp.members[0])];
  auto body = std::make_shared<Graph>("kernel");
  std::vector<ValueId> &inner = inner_, operands;
  if (inner.size() != g_.numValues())
    inner.assign(g_.numValues(), kNoValue);
  std::vector<ValueId> yielded, yieldedInner;
  for (int m : grp.members) {
    const Node &n = nodes[static_cast<size_t>(m)];
    std::vector<ValueId> args;
    for (ValueId o : n.operands) {
      if (inner[o] == kNoValue) { // made outside the kernel: an argument
        KILN_ASSIGN(inner[o], body->addInput(g_.nameOf(o), g_.type(o)));
        operands.push_back(map[o]);
      }
      args.push_back(inner[o]);
    }
    std::vector<std::string> names;
    for (ValueId r : n.results)
      names.push_back(g_.nameOf(r));
    KILN_ASSIGN(std::vector<ValueId> results, copyNode(*body, n, args, names));
    for (size_t k = 0; k < results.size(); ++k) {
      ValueId r = n.results[k];
      inner[r] = results[k];
      bool usedOutside = escapes_[r];
      for (int u : uses_[r])
        usedOutside = usedOutside || groupOf_[static_cast<size_t>(u)] != gid;
      if (usedOutside) {
        yielded.push_back(r);
        yieldedInner.push_back(results[k]);
      }
    }
  }
  for (int m : grp.members) { // back to all kNoValue for the next kernel
    for (ValueId o : nodes[static_cast<size_t>(m)].operands)
      inner[o] = kNoValue;
    for (ValueId r : nodes[static_cast<size_t>(m)].results)
      inner[r] = kNoValue;
  }
  if (yielded.empty()) // nothing of the kernel is used: dead code
    return std::vector<ValueId>{};
  std::vector<std::string> names;
  for (size_t k = 0; k < yielded.size(); ++k) {
    KILN_TRY(body->addOutput(yieldedInner[k]));
    names.push_back(g_.nameOf(yielded[k]));
  }
  KILN_ASSIGN(std::vector<ValueId> results, out.addFused(operands, body, std::string(kindName(grp.kind)), names));
  for (size_t k = 0; k < yielded.size(); ++k)
    map[yielded[k]] = results[k];
  return results;
}

Expected<Graph> Fuser::emit() {
  Graph out(g_.name());
  std::vector<ValueId> map(g_.numValues(), kNoValue);
  for (ValueId v : g_.inputs()) {
    KILN_ASSIGN(map[v], out.addInput(g_.nameOf(v), g_.type(v)));
  }
  for (const Param &p : g_.params()) {
    KILN_ASSIGN(map[p.value], out.addParam(g_.nameOf(p.value), p.data, p.init, g_.type(p.value).layout));
  }
  for (const Const &c : g_.consts()) {
    KILN_ASSIGN(map[c.value], out.addConst(g_.nameOf(c.value), c.data));
  }
  // Kernels in a topological order of the kernel graph, earliest node first.
  for (Group &grp : groups_)
    std::sort(grp.members.begin(), grp.members.end());
  std::vector<int> pending(groups_.size());
  std::vector<std::vector<int>> users(groups_.size());
  for (size_t gid = 0; gid < groups_.size(); ++gid)
    for (int m : groups_[gid].members)
      for (ValueId o : g_.nodes()[static_cast<size_t>(m)].operands) {
        int p = producerGroup(o);
        if (p >= 0 && p != static_cast<int>(gid)) {
          users[static_cast<size_t>(p)].push_back(static_cast<int>(gid));
          ++pending[gid];
        }
      }
  std::set<std::pair<int, int>> ready; // (first member, group)
  for (size_t gid = 0; gid < groups_.size(); ++gid)
    if (!groups_[gid].members.empty() && pending[gid] == 0)
      ready.emplace(groups_[gid].members[0], static_cast<int>(gid));
  size_t emitted = 0;
  while (!ready.empty()) {
    int gid = ready.begin()->second;
    ready.erase(ready.begin());
    ++emitted;
    KILN_TRY(emitGroup(out, groups_[static_cast<size_t>(gid)], map));
    for (int u : users[static_cast<size_t>(gid)])
      if (--pending[static_cast<size_t>(u)] == 0)
        ready.emplace(groups_[static_cast<size_t>(u)].members[0], u);
  }
  size_t live = 0;
  for (const Group &grp : groups_)
    live += !grp.members.empty();
  if (emitted != live)
    return makeError("the kernels form a cycle (a kiln bug)");
  for (ValueId v : g_.outputs())
    KILN_TRY(out.addOutput(map[v]));
  for (const Update &u : g_.updates())
    KILN_TRY(out.addUpdate(map[u.param], map[u.value]));
  return out;
}

} // namespace

Expected<Graph> fuse(const Graph &g) {
  Fuser f(g);
  f.formGroups();
  return f.emit();
}

size_t countKernels(const Graph &g) {
  size_t n = 0;
  for (const Node &node : g.nodes())
    n += node.op != OpKind::Reshape && node.op != OpKind::Identity;
  return n;
}

} // namespace kiln::passes
