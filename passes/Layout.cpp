//===- passes/Layout.cpp - Choosing the layout of every tensor ------------===//
#include "passes/Layout.h"
#include "passes/Rebuild.h"

#include "ir/TypeRules.h"

#include <map>

namespace kiln::passes {

using namespace ir;

namespace {

/// How an op wants its operands laid out.
enum class Want {
  Image,    ///< the conv family's images: exactly the target's image layout
  Any,      ///< as given (conv weights, layout_convert, fused nodes)
  Follow,   ///< layout-aware: one layout for all image operands, whichever comes
  RowMajor, ///< stored as a row-major tensor would be
};

/// From the op's traits: image operands of the conv family (its other
/// operands as given), AnyLayout ops (matmul, whose rule takes flat operands
/// and falls back to row-major on a mismatch; layout_convert; fused nodes),
/// layout-aware ops, and the rest, which read row-major.
std::vector<Want> wants(const Node &n) {
  const OpInfo &info = n.info();
  std::vector<Want> w(n.operands.size(), Want::Follow);
  if (info.has(trait::ImageOperand0)) {
    std::fill(w.begin(), w.end(), Want::Any);
    w[0] = Want::Image;
    if (info.has(trait::ImageOperand1))
      w[1] = Want::Image;
    return w;
  }
  if (info.has(trait::AnyLayout))
    std::fill(w.begin(), w.end(), Want::Any);
  else if (!info.layoutAware())
    std::fill(w.begin(), w.end(), Want::RowMajor);
  return w;
}

class Assigner {
public:
  Assigner(const Graph &g, const Target &t, const std::map<ValueId, Layout> &paramLayouts)
      : g_(g), target_(t), paramLayouts_(paramLayouts), out_(g.name()), map_(g.numValues(), kNoValue),
        users_(g.numValues()), updated_(g.numValues(), false) {
    for (const Node &n : g.nodes())
      for (size_t i = 0; i < n.operands.size(); ++i)
        users_[n.operands[i]].emplace_back(&n, i);
    for (const Update &u : g.updates())
      updated_[u.value] = true;
  }

  Expected<Graph> run() {
    for (ValueId v : g_.inputs()) {
      KILN_ASSIGN(map_[v], out_.addInput(g_.nameOf(v), g_.type(v)));
    }
    for (const Param &p : g_.params()) {
      auto it = paramLayouts_.find(p.value);
      Layout l = it != paramLayouts_.end() ? it->second : g_.type(p.value).layout;
      KILN_ASSIGN(map_[p.value], out_.addParam(g_.nameOf(p.value), p.data, p.init, l));
    }
    for (const Const &c : g_.consts()) {
      KILN_ASSIGN(map_[c.value], out_.addConst(g_.nameOf(c.value), c.data));
    }
    for (const Node &n : g_.nodes())
      KILN_TRY(place(n));
    for (ValueId v : g_.outputs()) {
      KILN_ASSIGN(ValueId o, convert(map_[v], Layout{}, false));
      KILN_TRY(out_.addOutput(o));
    }
    for (const Update &u : g_.updates()) {
      ValueId p = map_[u.param];
      KILN_ASSIGN(ValueId v, convert(map_[u.value], out_.type(p).layout, false));
      KILN_TRY(out_.addUpdate(p, v));
    }
    return std::move(out_);
  }

private:
  /// The target's image layout for a tensor of this type, or row-major when
  /// it does not apply (rank < 3, channels not divisible into blocks).
  Layout imageLayout(const Type &t) const {
    Layout l = target_.imageLayout;
    if (t.rank() < 3 || !blocksFit(l, t))
      return {};
    return l;
  }

  /// Whether every use of `v` would read it row-major were it stored in
  /// `l`: ops that read row-major, and layout-aware ops of one operand whose
  /// rule cannot keep `l` (a reshape that would reorder the elements). The
  /// outputs go back to row-major; an update keeps its parameter's layout.
  bool readRowMajor(ValueId v, Layout l) const {
    if (updated_[v])
      return false;
    Type probe = g_.type(v);
    probe.layout = l;
    for (auto [user, i] : users_[v]) {
      Want w = wants(*user)[i];
      if (w == Want::RowMajor)
        continue;
      if (w == Want::Follow && user->operands.size() == 1 &&
          !user->info().infer(std::span<const Type>(&probe, 1), user->attrView()))
        continue;
      return false;
    }
    return true;
  }

  /// Whether `t` can be stored in layout `l`: a channel-blocked layout
  /// needs a constant channel count that divides into its blocks.
  static bool blocksFit(Layout l, const Type &t) {
    return l.kind != Layout::Blocked || (t.rank() >= 3 && t.shape[1].isConst() && t.shape[1].value % l.block == 0);
  }

  /// The layout of conv weights: the image layout when it is channels last
  /// (weights stored O, kh, kw, I), else row-major.
  Layout weightLayout() const { return target_.imageLayout.kind == Layout::NHWC ? target_.imageLayout : Layout{}; }

  /// `v` in layout `l`: itself when already so (or, unless `exact`, when
  /// stored identically), else a shared layout_convert of its origin.
  Expected<ValueId> convert(ValueId v, Layout l, bool exact) {
    auto it = origin_.find(v);
    ValueId src = it != origin_.end() ? it->second : v;
    for (ValueId cand : {v, src}) {
      const Type &t = out_.type(cand);
      if (t.layout == l || (!exact && sameStorage(t.shape, t.layout, l)))
        return cand;
    }
    auto key = std::make_pair(src, static_cast<int>(l.kind) * 1024 + l.block);
    if (auto done = converted_.find(key); done != converted_.end())
      return done->second;
    std::string name = out_.freshName(fmt::format("{}.{}", out_.nameOf(src), layoutName(l)));
    KILN_ASSIGN(auto r, out_.addNode(OpKind::LayoutConvert, {src}, {{"layout", l}}, {name}));
    converted_.emplace(key, r[0]);
    origin_.emplace(r[0], src);
    return r[0];
  }

  Status place(const Node &n) {
    std::vector<Want> w = wants(n);
    // The layout the layout-aware operands follow: the first image or flat
    // operand's that is not row-major.
    Layout follow;
    std::optional<Shape> followShape; // a copy: converting operands adds values to out_
    for (size_t i = 0; i < n.operands.size(); ++i) {
      const Type &t = out_.type(map_[n.operands[i]]);
      if (w[i] == Want::Follow && (t.rank() >= 3 || t.layout.isFlat()) && t.layout.kind != Layout::RowMajor) {
        follow = t.layout;
        followShape = t.shape;
        break;
      }
    }
    // A concat read only row-major (by a channel shuffle's reshape) reads
    // its operands as they are and writes row-major, rather than joining
    // them in their layout and converting that.
    if (n.op == OpKind::Concat && follow.kind != Layout::RowMajor && readRowMajor(n.results[0], follow)) {
      std::vector<ValueId> operands;
      for (ValueId v : n.operands)
        operands.push_back(map_[v]);
      AttrList attrs = Rebuilder::attrList(n);
      attrs.emplace_back("out_layout", Layout{});
      KILN_ASSIGN(auto results, out_.addNode(n.op, operands, attrs, {g_.nameOf(n.results[0])}));
      map_[n.results[0]] = results[0];
      return {};
    }
    // Operands broadcast against the image (a bias of shape [C,1,1]) are
    // read through logical indices and stay as they are.
    auto broadcast = [&](const Type &t) {
      if (!followShape || t.rank() != static_cast<int>(followShape->size()))
        return true;
      for (size_t d = 0; d < t.shape.size(); ++d)
        if (t.shape[d] == Dim::of(1) && !((*followShape)[d] == Dim::of(1)))
          return true;
      return false;
    };
    std::vector<ValueId> operands;
    for (size_t i = 0; i < n.operands.size(); ++i) {
      ValueId v = map_[n.operands[i]];
      const Type t = out_.type(v); // a copy: converting adds values to out_
      switch (w[i]) {
      case Want::Image: {
        KILN_ASSIGN(v, convert(v, imageLayout(t), true));
        break;
      }
      case Want::Follow:
        // (Channels that do not divide into the blocks stay as they are: a
        // concat joins them row-major.)
        if ((t.rank() >= 3 || (follow.isFlat() && t.rank() == 2)) && !broadcast(t) && blocksFit(follow, t)) {
          KILN_ASSIGN(v, convert(v, follow, false));
        }
        break;
      case Want::RowMajor: {
        KILN_ASSIGN(v, convert(v, Layout{}, false));
        break;
      }
      case Want::Any: break;
      }
      operands.push_back(v);
    }
    std::vector<std::string> names;
    for (ValueId r : n.results)
      names.push_back(g_.nameOf(r));
    if (w[0] == Want::Image) { // the conv family writes the image (or weight) layout
      Layout want = n.op == OpKind::ConvGradWeight ? weightLayout() : imageLayout(g_.type(n.results[0]));
      if (!(want == out_.type(operands[0]).layout)) {
        AttrList attrs = Rebuilder::attrList(n);
        attrs.emplace_back("out_layout", want);
        KILN_ASSIGN(auto results, out_.addNode(n.op, operands, attrs, names));
        map_[n.results[0]] = results[0];
        return {};
      }
    }
    auto results = copyNode(out_, n, operands, names);
    if (!results) {
      // A layout-aware op that cannot keep the layout (a reduction dropping
      // dims in an order no layout names): give it row-major operands.
      for (ValueId &v : operands) {
        KILN_ASSIGN(v, convert(v, Layout{}, false));
      }
      results = copyNode(out_, n, operands, names);
      if (!results)
        return results.error();
    }
    for (size_t i = 0; i < n.results.size(); ++i)
      map_[n.results[i]] = (*results)[i];
    return {};
  }

  const Graph &g_;
  Target target_;
  const std::map<ValueId, Layout> &paramLayouts_; ///< old parameter -> its device layout
  Graph out_;
  std::vector<ValueId> map_;                              ///< old value -> new value
  std::vector<std::vector<std::pair<const Node *, size_t>>> users_; ///< old value -> (node, operand index)
  std::vector<bool> updated_;                                       ///< old value -> a parameter's update
  std::map<ValueId, ValueId> origin_;                     ///< conversion -> what it converts
  std::map<std::pair<ValueId, int>, ValueId> converted_; ///< (origin, layout) -> conversion
};

} // namespace

Expected<Graph> assignLayouts(const Graph &g, const Target &target) {
  // Conv weights held as parameters live in the image layout.
  std::map<ValueId, Layout> paramLayouts;
  if (target.imageLayout.kind == Layout::NHWC)
    for (const Node &n : g.nodes()) {
      bool convWeight = n.op == OpKind::Conv || n.op == OpKind::ConvTranspose || n.op == OpKind::ConvGradInput;
      if (convWeight && g.value(n.operands[1]).kind == ValueKind::Param && g.type(n.operands[1]).rank() >= 3)
        paramLayouts[n.operands[1]] = target.imageLayout;
    }
  // Then, until nothing changes: a dense weight read after a flattened image
  // stores its rows as the image is stored; every parameter takes the layout
  // its update is computed in (optimizer state follows its weight).
  auto source = [](const Graph &out, ValueId v) {
    if (out.value(v).kind == ValueKind::Result && out.producer(v).op == OpKind::LayoutConvert)
      return out.producer(v).operands[0];
    return v;
  };
  auto setLayout = [&](const Graph &out, ValueId param, Layout l) {
    ValueId old = g.lookup(out.nameOf(param));
    if (old == kNoValue || g.value(old).kind != ValueKind::Param)
      return false;
    auto it = paramLayouts.find(old);
    if (it != paramLayouts.end() && it->second == l)
      return false;
    paramLayouts[old] = l;
    return true;
  };
  for (int round = 0;; ++round) {
    KILN_ASSIGN(Graph out, Assigner(g, target, paramLayouts).run());
    bool changed = false;
    for (const Node &n : out.nodes()) {
      if (n.op != OpKind::MatMul || n.attrView().getBool("transpose_a"))
        continue;
      const Type &a = out.type(source(out, n.operands[0]));
      ValueId b = n.operands[1];
      // The weight's contracted dim (its rows, or its columns when it is
      // transposed, as ONNX's Gemm and PyTorch's Linear store it) is
      // stored as the flattened image is.
      Layout::Kind flat = n.attrView().getBool("transpose_b") ? Layout::FlatCols : Layout::FlatRows;
      if (a.layout.kind == Layout::FlatCols && out.value(b).kind == ValueKind::Param &&
          out.type(b).layout.kind == Layout::RowMajor)
        changed = setLayout(out, b, Layout{flat, a.layout.block}) || changed;
    }
    for (const Update &u : out.updates()) {
      Layout want = out.type(source(out, u.value)).layout;
      if (want.kind != Layout::RowMajor && !(want == out.type(u.param).layout))
        changed = setLayout(out, u.param, want) || changed;
    }
    if (!changed || round == 4)
      return out;
  }
}

size_t countLayoutConverts(const Graph &g) {
  size_t n = 0;
  for (const Node &node : g.nodes()) {
    n += node.op == OpKind::LayoutConvert;
    if (node.body)
      n += countLayoutConverts(*node.body);
  }
  return n;
}

} // namespace kiln::passes
