//===- reference/Reference.cpp - The reference interpreter --------===//
#include "reference/Reference.h"
#include "ir/DimExpr.h"
#include "reference/Kernels.h"

#include "ir/Limits.h"

namespace kiln::ref {

using namespace ir;

namespace {

Arr toArr(const HostTensor &t) {
  Arr a;
  a.dtype = t.dtype();
  a.shape = t.sizes();
  a.v = t.toDoubles();
  return a;
}

HostTensor toHost(const Arr &a) { return HostTensor::fromDoubles(a.dtype, a.shape, a.v); }

/// Checks concrete sizes against a static shape, binding symbols in `env`.
Status bindShape(const Shape &shape, const Sizes &sizes, SymbolEnv &env, const std::string &what) {
  if (shape.size() != sizes.size())
    return makeError("{} has shape {} but rank {} was expected ({})", what, toString(sizes), shape.size(),
                     toString(shape));
  for (size_t i = 0; i < shape.size(); ++i) {
    const Dim &d = shape[i];
    if (d.isConst() && d.value != sizes[i])
      return makeError("{} has shape {} but {} was expected (dim {})", what, toString(sizes), toString(shape), i);
    if (d.isSymbol() && !isNamedSymbol(d)) { // an expression: checked where its symbols are bound
      if (auto v = dimValue(d, env); v && *v != sizes[i])
        return makeError("{} has shape {} but {} was expected (dim {} is {} at these sizes)", what, toString(sizes),
                         toString(shape), i, *v);
    } else if (d.isSymbol()) {
      auto [it, inserted] = env.emplace(d.sym, sizes[i]);
      if (!inserted && it->second != sizes[i])
        return makeError("{} has shape {}: dim {} is {} but {} is already bound to {}", what, toString(sizes), i,
                         sizes[i], d.sym, it->second);
    }
  }
  return {};
}

Results dispatch(const KernelCtx &ctx, Args args) {
  switch (ctx.node.info().category) {
  case OpCategory::Elementwise: return evalElementwise(ctx, args);
  case OpCategory::Contraction: return evalContraction(ctx, args);
  case OpCategory::DataMovement: return evalMovement(ctx, args);
  case OpCategory::Opaque: return evalNN(ctx, args);
  case OpCategory::Reduction: break;
  }
  switch (ctx.node.op) {
  case OpKind::MaxPool:
  case OpKind::AvgPool:
  case OpKind::GlobalAvgPool:
  case OpKind::GlobalMaxPool:
  case OpKind::MaxPoolGrad:
  case OpKind::AvgPoolGrad: return evalPooling(ctx, args);
  default: return evalReduction(ctx, args);
  }
}

Expected<std::vector<Arr>> runNode(const Graph &g, const Node &n, Args args, SymbolEnv &env, int64_t &budget);

/// Sizes a node's results before they are computed (the interpreter holds
/// every value as doubles until the run ends): each within the memory limit,
/// and all of a run's together within it. Dims bound in `env` are known; an
/// unknown dim (a reshape's -1) comes from data that already exists.
Status sizeResults(const Graph &g, const Node &n, const SymbolEnv &env, int64_t &budget) {
  if (!n.body)
    KILN_TRY(g.checkAtSizes(n, env));
  for (ValueId r : n.results) {
    Sizes known;
    for (const Dim &d : g.type(r).shape) {
      KILN_ASSIGN(std::optional<int64_t> size, evalDim(d, env));
      if (size)
        known.push_back(*size);
    }
    KILN_ASSIGN(int64_t bytes, checkedTensorBytes(DType::F64, known, fmt::format("result %{} of {}", g.nameOf(r),
                                                                                  g.describe(n))));
    KILN_TRY(addToBudget(budget, bytes, fmt::format("the values of a reference run (at {})", g.describe(n))));
  }
  return {};
}

/// Runs the nodes of `g` on `vals`, whose inputs, parameters and constants
/// are set; symbols bound so far are in `env`.
Status runNodes(const Graph &g, std::vector<Arr> &vals, SymbolEnv &env, int64_t &budget) {
  for (const Node &n : g.nodes()) {
    KILN_TRY(sizeResults(g, n, env, budget));
    std::vector<const Arr *> args;
    for (ValueId o : n.operands)
      args.push_back(&vals[o]);
    auto results = runNode(g, n, args, env, budget);
    if (!results)
      return results.error();
    for (size_t i = 0; i < n.results.size(); ++i)
      vals[n.results[i]] = std::move((*results)[i]);
  }
  return {};
}

/// A fused node: its region runs on the operands, as a graph of its own.
Results runRegion(const Graph &body, Args args, SymbolEnv &env, int64_t &budget) {
  std::vector<Arr> vals(body.numValues());
  for (size_t i = 0; i < args.size(); ++i)
    vals[body.inputs()[i]] = *args[i];
  for (const Const &c : body.consts())
    vals[c.value] = toArr(c.data);
  KILN_TRY(runNodes(body, vals, env, budget));
  std::vector<Arr> out;
  for (ValueId v : body.outputs())
    out.push_back(vals[v]);
  return out;
}

/// Runs one node: kernel, rounding to dtype, shape check.
Expected<std::vector<Arr>> runNode(const Graph &g, const Node &n, Args args, SymbolEnv &env, int64_t &budget) {
  KernelCtx ctx{n, n.attrView(), {}, env};
  for (ValueId r : n.results)
    ctx.resultTypes.push_back(g.type(r).dtype);
  auto results = n.body ? runRegion(*n.body, args, env, budget) : dispatch(ctx, args);
  if (!results)
    return makeError("{}: {}", g.describe(n), results.error().message);
  for (size_t i = 0; i < results->size(); ++i) {
    Arr &r = (*results)[i];
    r.dtype = ctx.resultTypes[i];
    for (double &x : r.v)
      x = roundToDType(r.dtype, x);
    KILN_TRY(bindShape(g.type(n.results[i]).shape, r.shape, env,
                       fmt::format("result %{} of {} (a kiln bug)", g.nameOf(n.results[i]), g.describe(n))));
  }
  return results;
}

} // namespace

Expected<RunResult> evaluate(const Graph &g, const TensorMap &inputs) {
  std::vector<Arr> vals(g.numValues());
  SymbolEnv env;
  for (const auto &[name, t] : inputs) {
    ValueId v = g.lookup(name);
    if (v == kNoValue || g.value(v).kind != ValueKind::Input)
      return makeError("graph @{} has no input named '{}'", g.name(), name);
  }
  for (ValueId v : g.inputs()) {
    const std::string &name = g.nameOf(v);
    auto it = inputs.find(name);
    if (it == inputs.end())
      return makeError("input '{}' ({}) is not given", name, toString(g.type(v)));
    if (it->second.dtype() != g.type(v).dtype)
      return makeError("input '{}' has dtype {} but the graph expects {}", name, dtypeName(it->second.dtype()),
                       toString(g.type(v)));
    KILN_TRY(bindShape(g.type(v).shape, it->second.sizes(), env, fmt::format("input '{}'", name)));
    vals[v] = toArr(it->second);
  }
  for (const Param &p : g.params())
    vals[p.value] = toArr(p.data);
  for (const Const &c : g.consts())
    vals[c.value] = toArr(c.data);
  int64_t budget = 0;
  KILN_TRY(runNodes(g, vals, env, budget));
  RunResult out;
  for (ValueId v : g.outputs())
    out.outputs.push_back(toHost(vals[v]));
  for (const Update &u : g.updates())
    out.updates.push_back(toHost(vals[u.value]));
  return out;
}

Expected<std::vector<HostTensor>> evaluateNode(const Graph &g, const Node &n, const std::vector<HostTensor> &operands,
                                               const std::map<std::string, int64_t> &dims) {
  if (operands.size() != n.operands.size())
    return makeError("{}: {} operands given, {} expected", g.describe(n), operands.size(), n.operands.size());
  SymbolEnv env(dims.begin(), dims.end());
  std::vector<Arr> arrs;
  for (size_t i = 0; i < operands.size(); ++i) {
    KILN_TRY(bindShape(g.type(n.operands[i]).shape, operands[i].sizes(), env,
                       fmt::format("operand %{}", g.nameOf(n.operands[i]))));
    arrs.push_back(toArr(operands[i]));
  }
  std::vector<const Arr *> args;
  for (const Arr &a : arrs)
    args.push_back(&a);
  int64_t budget = 0;
  KILN_TRY(sizeResults(g, n, env, budget));
  auto results = runNode(g, n, args, env, budget);
  if (!results)
    return results.error();
  std::vector<HostTensor> out;
  for (const Arr &a : *results)
    out.push_back(toHost(a));
  return out;
}

} // namespace kiln::ref
