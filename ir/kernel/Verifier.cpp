//===- ir/kernel/Verifier.cpp - Checks of the kernel IR ------------------===//
#include "ir/kernel/Verifier.h"

#include <algorithm>
#include <optional>
#include <set>

namespace kiln::kernel {

namespace {

/// The range an index takes; `exact` when built only from loops without a
/// limit, constants, sums and non-negative multiples, where the bounds are
/// attained and so provable.
struct Range {
  int64_t lo = 0, hi = 0;
  bool exact = true;
};

struct LoopScope {
  int var;
  int64_t extent;
  bool limited;
};

class Verifier {
public:
  explicit Verifier(const Kernel &k) : k_(k) {}

  Status run() {
    if (k_.numVars < 0)
      return fail("numVars is negative");
    for (size_t i = 0; i < k_.body.size(); ++i) {
      const Stmt &s = k_.body[i];
      bool last = i + 1 == k_.body.size();
      if (s.kind == Stmt::Loop && s.loop == LoopKind::Parallel) {
        if (!last)
          return fail("a parallel loop that does not end the body (only the last one is split across threads)");
        parallelVar_ = s.var;
        parallelExtent_ = s.extent;
      }
    }
    before_ = parallelVar_ >= 0;
    KILN_TRY(block(k_.body, 0));
    before_ = false;
    parallelVar_ = -1; // the finish block runs once: a parallel loop there fails
    KILN_TRY(block(k_.finish, 0));
    return {};
  }

private:
  template <class... Args> Error fail(fmt::format_string<Args...> f, Args &&...args) const {
    return makeError("kernel {}: {}", k_.name, fmt::format(f, std::forward<Args>(args)...));
  }

  Status block(const Block &b, int depth) {
    size_t accs = declared_.size();
    for (const Stmt &s : b)
      KILN_TRY(stmt(s, depth));
    declared_.resize(accs);
    verified_.clear();
    return {};
  }

  Status checkBuffer(int b, const char *what) const {
    if (b < 0 || static_cast<size_t>(b) >= k_.buffers.size())
      return fail("{} names buffer {}, but the kernel has {}", what, b, k_.buffers.size());
    return {};
  }

  bool inParallel() const {
    return std::any_of(loops_.begin(), loops_.end(), [&](const LoopScope &l) { return l.var == parallelVar_; });
  }

  /// A write to buffer b at `index`: in range, and race-free across parts.
  Status write(int b, const ExprRef &index, const char *what) {
    KILN_TRY(checkBuffer(b, what));
    KILN_TRY(checkIndex(b, index, what));
    const Buffer &buf = k_.buffers[static_cast<size_t>(b)];
    if (buf.workgroup && !inBlockThreads())
      return fail("{} to workgroup buffer {} outside a thread loop", what, buf.name);
    if (!buf.passedIn())
      return {};
    if (before_ && !inParallel())
      return fail("{} to {} before the parallel loop: every part would write it", what, buf.name);
    if (inParallel() && parallelExtent_ > 1 && !mentions(index, parallelVar_))
      return fail("{} to {} inside the parallel loop is not indexed by its variable i{}: parts would race", what,
                  buf.name, parallelVar_);
    return {};
  }

  bool inBlockThreads() const {
    return loops_.size() >= 2 && k_.body.back().kind == Stmt::Loop && k_.body.back().loop == LoopKind::Block;
  }

  static bool mentions(const ExprRef &e, int var) {
    if (e->kind == Expr::Var && e->var == var)
      return true;
    return std::any_of(e->args.begin(), e->args.end(), [&](const ExprRef &a) { return mentions(a, var); });
  }

  Status stmt(const Stmt &s, int depth) {
    switch (s.kind) {
    case Stmt::Loop: {
      if (s.var < 0 || s.var >= k_.numVars)
        return fail("loop variable i{} is not below numVars {}", s.var, k_.numVars);
      if (bound_.count(s.var))
        return fail("loop variable i{} is bound twice on one path", s.var);
      if (s.extent < 0)
        return fail("loop i{} has a negative extent {}", s.var, s.extent);
      if (s.loop == LoopKind::Parallel && (depth != 0 || s.var != parallelVar_))
        return fail("parallel loop i{} is not the last statement of the body", s.var);
      KILN_TRY(gpuLoop(s, depth));
      if (s.limit)
        KILN_TRY(indexExpr(s.limit, "a loop's trip count"));
      bound_.insert(s.var);
      loops_.push_back(LoopScope{s.var, s.extent, s.limit != nullptr});
      verified_.clear();
      KILN_TRY(block(s.body, depth + 1));
      loops_.pop_back();
      bound_.erase(s.var);
      verified_.clear();
      return {};
    }
    case Stmt::Store:
      KILN_TRY(expr(s.value));
      KILN_TRY(indexExpr(s.index, "a store's index"));
      KILN_TRY(checkBuffer(s.buffer, "a store"));
      if (const Buffer &buf = k_.buffers[static_cast<size_t>(s.buffer)]; buf.type != s.value->type)
        return fail("a store of {} to {}, a buffer of {}", ir::dtypeName(s.value->type), buf.name,
                    ir::dtypeName(buf.type));
      return write(s.buffer, s.index, "a store");
    case Stmt::AccInit:
      if (s.var < 0 || s.var >= k_.numVars)
        return fail("accumulator a{} is not below numVars {}", s.var, k_.numVars);
      KILN_TRY(expr(s.value));
      declared_.push_back(s.var);
      verified_.clear();
      return {};
    case Stmt::AccUpdate:
      if (std::find(declared_.begin(), declared_.end(), s.var) == declared_.end())
        return fail("accumulator a{} is updated before its declaration", s.var);
      if (s.combine != ir::OpKind::Add && s.combine != ir::OpKind::Max && s.combine != ir::OpKind::Min &&
          s.combine != ir::OpKind::Mul)
        return fail("accumulator a{} combines with '{}' (add, max, min or mul)", s.var, ir::opInfo(s.combine).name);
      return expr(s.value);
    case Stmt::TileFma: return tile(s);
    case Stmt::Barrier:
      return uniformInBlock("a barrier");
    case Stmt::BlockReduce:
      KILN_TRY(uniformInBlock("a block reduction"));
      if (std::find(declared_.begin(), declared_.end(), s.var) == declared_.end())
        return fail("accumulator a{} is reduced over the block before its declaration", s.var);
      if (s.combine != ir::OpKind::Add && s.combine != ir::OpKind::Max && s.combine != ir::OpKind::Min &&
          s.combine != ir::OpKind::Mul)
        return fail("accumulator a{} is reduced over the block with '{}' (add, max, min or mul)", s.var,
                    ir::opInfo(s.combine).name);
      return {};
    }
    return fail("a statement of unknown kind {}", static_cast<int>(s.kind));
  }

  /// A Block loop ends the body and holds one Thread loop; a Thread loop is
  /// that one.
  Status gpuLoop(const Stmt &s, int depth) const {
    if (s.loop == LoopKind::Block) {
      bool last = depth == 0 && &s == &k_.body.back();
      bool oneThreadLoop = s.body.size() == 1 && s.body[0].kind == Stmt::Loop && s.body[0].loop == LoopKind::Thread;
      if (!last || !oneThreadLoop || s.limit)
        return fail("block loop i{} must end the body, without a trip count, around one thread loop", s.var);
    }
    if (s.loop == LoopKind::Thread) {
      bool inBlock = loops_.size() == 1 && k_.body.back().kind == Stmt::Loop && k_.body.back().loop == LoopKind::Block &&
                     loops_[0].var == k_.body.back().var;
      if (!inBlock || s.limit || s.extent < 1 || s.extent > 1024)
        return fail("thread loop i{} must be the body of the block loop, of 1 to 1024 threads", s.var);
    }
    return {};
  }

  /// Where every thread of a block passes alike: inside the thread loop,
  /// under loops without a computed trip count only.
  Status uniformInBlock(const char *what) const {
    bool inThreads = loops_.size() >= 2 && k_.body.back().kind == Stmt::Loop && k_.body.back().loop == LoopKind::Block;
    if (!inThreads)
      return fail("{} outside a thread loop", what);
    for (const LoopScope &l : loops_)
      if (l.limited)
        return fail("{} under loop i{}, whose trip count may differ between threads", what, l.var);
    return {};
  }

  Status tile(const Stmt &s) {
    const Tile &t = s.tile;
    if (t.mr <= 0 || t.nr <= 0 || t.lanes <= 0 || t.nr % t.lanes != 0)
      return fail("a tile of {} x {} with {} lanes (nr must be a positive multiple of lanes)", t.mr, t.nr, t.lanes);
    if (t.ldc < t.nr)
      return fail("a tile's ldc {} is smaller than its nr {}", t.ldc, t.nr);
    KILN_TRY(checkBuffer(t.a, "a tile's A"));
    KILN_TRY(checkBuffer(t.b, "a tile's B"));
    KILN_TRY(indexExpr(t.aIndex, "a tile's A offset"));
    KILN_TRY(indexExpr(t.bIndex, "a tile's B offset"));
    KILN_TRY(indexExpr(t.depth, "a tile's depth"));
    for (const Tile::Around &a : t.around)
      KILN_TRY(indexExpr(a.count, "a tile's loop around k"));
    if (t.fresh)
      KILN_TRY(indexExpr(t.fresh, "a tile's fresh flag"));
    if (t.depth->kind == Expr::Imm && t.around.empty()) {
      auto depth = static_cast<int64_t>(t.depth->imm);
      if (t.aK == 0 && t.mr * depth > k_.buffers[static_cast<size_t>(t.a)].elements)
        return fail("a tile's packed A panel of {} x {} does not fit {} ({} elements)", t.mr, depth,
                    k_.buffers[static_cast<size_t>(t.a)].name, k_.buffers[static_cast<size_t>(t.a)].elements);
      if (t.bK == 0 && t.nr * depth > k_.buffers[static_cast<size_t>(t.b)].elements)
        return fail("a tile's packed B panel of {} x {} does not fit {} ({} elements)", depth, t.nr,
                    k_.buffers[static_cast<size_t>(t.b)].name, k_.buffers[static_cast<size_t>(t.b)].elements);
    }
    KILN_TRY(indexExpr(s.index, "a tile's C offset"));
    return write(s.buffer, s.index, "a tile");
  }

  Status indexExpr(const ExprRef &e, const char *what) {
    if (!e)
      return fail("{} is missing", what);
    if (e->type != DType::I64)
      return fail("{} is {}, not i64", what, ir::dtypeName(e->type));
    return expr(e);
  }

  Status expr(const ExprRef &e) {
    if (!e)
      return fail("an expression is missing");
    if (verified_.count(e.get()))
      return {};
    for (const ExprRef &a : e->args)
      KILN_TRY(expr(a));
    switch (e->kind) {
    case Expr::Imm: break;
    case Expr::Var:
      if (!bound_.count(e->var))
        return fail("loop variable i{} is used outside its loop", e->var);
      return {};
    case Expr::Acc:
      if (std::find(declared_.begin(), declared_.end(), e->var) == declared_.end())
        return fail("accumulator a{} is read before its declaration", e->var);
      return {};
    case Expr::Load:
      KILN_TRY(checkBuffer(e->var, "a load"));
      if (e->args.size() != 1)
        return fail("a load takes one index");
      KILN_TRY(indexExpr(e->args[0], "a load's index"));
      KILN_TRY(checkIndex(e->var, e->args[0], "a load"));
      break;
    case Expr::Cast:
      if (e->args.size() != 1)
        return fail("a cast takes one operand");
      break;
    case Expr::Op: {
      const ir::OpInfo &op = ir::opInfo(e->op);
      if (!op.has(ir::trait::Primitive))
        return fail("op '{}' is not a primitive (lowering expands composites)", op.name);
      auto n = static_cast<int>(e->args.size());
      if (n < op.minOperands || n > op.maxOperands)
        return fail("op '{}' takes {} operands, not {}", op.name, op.minOperands, n);
      if (e->op == ir::OpKind::Select && e->args[0]->type != DType::Bool)
        return fail("select on a {} condition", ir::dtypeName(e->args[0]->type));
      break;
    }
    }
    verified_.insert(e.get());
    return {};
  }

  /// The range of index e, when every leaf has one.
  std::optional<Range> range(const ExprRef &e) const {
    switch (e->kind) {
    case Expr::Imm: {
      auto v = static_cast<int64_t>(e->imm);
      return Range{v, v, true};
    }
    case Expr::Var: {
      for (const LoopScope &l : loops_)
        if (l.var == e->var)
          return Range{0, std::max<int64_t>(l.extent - 1, 0), !l.limited && l.extent > 0};
      return std::nullopt;
    }
    case Expr::Op: break;
    case Expr::Load:
    case Expr::Acc:
    case Expr::Cast: return std::nullopt;
    }
    if (e->type != DType::I64 || e->args.size() != 2)
      return std::nullopt;
    auto a = range(e->args[0]), b = range(e->args[1]);
    if (!a || !b)
      return std::nullopt;
    switch (e->op) {
    case ir::OpKind::Add: return Range{a->lo + b->lo, a->hi + b->hi, a->exact && b->exact};
    case ir::OpKind::Sub: return Range{a->lo - b->hi, a->hi - b->lo, false};
    case ir::OpKind::Mul: {
      int64_t c[4] = {a->lo * b->lo, a->lo * b->hi, a->hi * b->lo, a->hi * b->hi};
      bool constant = b->lo == b->hi && b->lo >= 0 && b->exact;
      return Range{*std::min_element(c, c + 4), *std::max_element(c, c + 4), a->exact && constant};
    }
    case ir::OpKind::Div:
      if (b->lo <= 0 || b->lo != b->hi || a->lo < 0)
        return std::nullopt;
      return Range{a->lo / b->lo, a->hi / b->lo, false};
    case ir::OpKind::Min: return Range{std::min(a->lo, b->lo), std::min(a->hi, b->hi), false};
    case ir::OpKind::Max: return Range{std::max(a->lo, b->lo), std::max(a->hi, b->hi), false};
    default: return std::nullopt; // other ops do not make indices
    }
  }

  Status checkIndex(int b, const ExprRef &index, const char *what) const {
    auto r = range(index);
    if (!r)
      return {};
    const Buffer &buf = k_.buffers[static_cast<size_t>(b)];
    bool outside = r->exact ? (r->lo < 0 || r->hi >= buf.elements) : (r->hi < 0 || r->lo >= buf.elements);
    if (outside && !(buf.elements == 0 && !r->exact))
      return fail("{} of {} ({} elements) at indices {}..{}", what, buf.name, buf.elements, r->lo, r->hi);
    return {};
  }

  const Kernel &k_;
  int parallelVar_ = -1;
  int64_t parallelExtent_ = 0;
  bool before_ = false;
  std::vector<LoopScope> loops_;
  std::set<int> bound_;
  std::vector<int> declared_;
  /// Expressions checked under the current scope (cleared when it changes).
  std::set<const Expr *> verified_;
};

} // namespace

Status verify(const Kernel &k) { return Verifier(k).run(); }

} // namespace kiln::kernel
