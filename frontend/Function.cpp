//===- frontend/Function.cpp - grad and function on Tensors ---------------===//
//
// The user API's Theano pair: kiln::grad over passes::grad and
// kiln::function over runtime's Function, with the graph's shared variables.
//
//===----------------------------------------------------------------------===//
#include "kiln/kiln.h"

namespace kiln {

std::vector<Tensor> grad(Tensor cost, const std::vector<Tensor> &wrt, passes::Disconnected disconnected) {
  std::vector<Tensor> invalid(wrt.size());
  if (!cost.valid())
    return invalid;
  Graph &g = *cost.graph();
  std::vector<ir::ValueId> ids;
  for (const Tensor &t : wrt) {
    if (!t.valid())
      return invalid;
    if (t.graph() != &g) {
      g.fail(makeError("grad: %{} belongs to another graph than the cost %{}", t.name(), cost.name()));
      return invalid;
    }
    ids.push_back(t.id());
  }
  auto grads = passes::grad(g.ir(), cost.id(), ids, {disconnected});
  if (!grads) {
    g.fail(grads.error());
    return invalid;
  }
  std::vector<Tensor> out;
  for (ir::ValueId v : *grads)
    out.emplace_back(&g, v);
  return out;
}

Tensor grad(Tensor cost, Tensor wrt) { return grad(cost, std::vector<Tensor>{wrt})[0]; }

Expected<Function> function(const std::vector<Tensor> &inputs, const std::vector<Tensor> &outputs,
                            const Updates &updates, FunctionOptions options) {
  Graph *g = nullptr;
  // The graph's own build errors first: they say why a tensor is invalid.
  for (const std::vector<Tensor> *list : {&inputs, &outputs})
    for (const Tensor &t : *list)
      if (t.valid() && !t.graph()->status())
        return t.graph()->status().error();
  auto check = [&g](const Tensor &t, const char *what) -> Status {
    if (!t.valid())
      return makeError("function: an invalid {} (an op that failed to build; see the graph's status())", what);
    if (g && t.graph() != g)
      return makeError("function: {} %{} belongs to another graph", what, t.name());
    g = t.graph();
    return {};
  };
  for (const Tensor &t : inputs)
    KILN_TRY(check(t, "input"));
  for (const Tensor &t : outputs)
    KILN_TRY(check(t, "output"));
  for (const auto &[param, value] : updates) {
    KILN_TRY(check(param, "updated parameter"));
    KILN_TRY(check(value, "update value"));
  }
  if (!g)
    return makeError("function: no inputs and no outputs");
  KILN_TRY(g->status());
  std::vector<ir::ValueId> in, out;
  std::vector<ir::Update> ups;
  for (const Tensor &t : inputs)
    in.push_back(t.id());
  for (const Tensor &t : outputs)
    out.push_back(t.id());
  for (const auto &[param, value] : updates)
    ups.push_back({param.id(), value.id()});
  if (!options.shared)
    options.shared = g->shared();
  return Function::compile(g->ir(), in, out, ups, options, /*ownUpdates=*/false);
}

} // namespace kiln
