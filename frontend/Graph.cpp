//===- frontend/Graph.cpp - The graph-building API: graphs and tensors ----===//
#include "kiln/kiln.h"

namespace kiln {

ir::Type Tensor::type() const { return valid() ? graph_->ir().type(id_) : ir::Type{}; }

const std::string &Tensor::name() const {
  static const std::string invalid = "<invalid>";
  return valid() ? graph_->ir().nameOf(id_) : invalid;
}

Tensor Tensor::named(std::string name) const {
  if (!valid())
    return *this;
  if (auto s = graph_->ir().rename(id_, std::move(name)); !s)
    graph_->fail(s.error());
  return *this;
}

namespace {
template <typename T> Tensor record(Graph *g, Expected<T> v) {
  if (!v) {
    g->fail(v.error());
    return {};
  }
  return Tensor(g, *v);
}
} // namespace

Tensor Graph::input(std::string name, DType dtype, const Shape &shape) {
  return record(this, ir_.addInput(std::move(name), ir::Type{dtype, shape, {}}));
}

DType floatX() {
  const auto &c = config();
  return c ? c->floatX : DType::F32;
}

Tensor Graph::param(std::string name, const std::vector<int64_t> &shape, const ir::Initializer &init,
                    std::optional<DType> dtype) {
  ir::Type t{dtype.value_or(floatX()), {}, {}};
  for (int64_t d : shape) {
    if (d < 0) {
      fail(makeError("parameter %{}: negative dim {}", name, d));
      return {};
    }
    t.shape.push_back(Dim::of(d));
  }
  return record(this, ir_.addParam(std::move(name), t, init));
}

Tensor Graph::param(std::string name, HostTensor value) { return record(this, ir_.addParam(std::move(name), std::move(value))); }

Tensor Graph::constant(HostTensor value, std::string name) {
  if (name.empty())
    name = ir_.freshName(fmt::format("c{}", constCount_++));
  return record(this, ir_.addConst(std::move(name), std::move(value)));
}

Tensor Graph::scalar(double value, std::optional<DType> dtype) {
  return constant(HostTensor::scalar(dtype.value_or(floatX()), value));
}

void Graph::output(Tensor t) {
  if (!t.valid())
    return;
  if (t.graph() != this)
    return fail(makeError("output %{} belongs to another graph", t.name()));
  if (auto s = ir_.addOutput(t.id()); !s)
    fail(s.error());
}

void Graph::update(Tensor param, Tensor value) {
  if (!param.valid() || !value.valid())
    return;
  if (param.graph() != this || value.graph() != this)
    return fail(makeError("update of %{}: both tensors must belong to graph @{}", param.name(), ir_.name()));
  if (auto s = ir_.addUpdate(param.id(), value.id()); !s)
    fail(s.error());
}

std::vector<std::pair<Tensor, Tensor>> Graph::updates() {
  std::vector<std::pair<Tensor, Tensor>> out;
  for (const ir::Update &u : ir_.updates())
    out.emplace_back(Tensor(this, u.param), Tensor(this, u.value));
  return out;
}

const std::shared_ptr<SharedVariables> &Graph::shared() {
  if (!shared_)
    shared_ = std::make_shared<SharedVariables>();
  return shared_;
}

namespace {
/// The parameter `t` is, registered in its graph's storage.
Expected<std::string> sharedName(const Tensor &t) {
  if (!t.valid())
    return makeError("get_value/set_value of an invalid tensor (an op that failed to build)");
  const ir::Graph &g = t.graph()->ir();
  if (g.value(t.id()).kind != ir::ValueKind::Param)
    return makeError("%{} is not a parameter: only parameters (shared variables) have a value", t.name());
  const ir::Param &p = g.params()[static_cast<size_t>(g.value(t.id()).owner)];
  KILN_TRY(t.graph()->shared()->add(t.name(), p));
  return t.name();
}
} // namespace

Expected<HostTensor> Tensor::get_value() const {
  KILN_ASSIGN(std::string name, sharedName(*this));
  return graph_->shared()->read(name);
}

Status Tensor::set_value(const HostTensor &value) const {
  KILN_ASSIGN(std::string name, sharedName(*this));
  return graph_->shared()->write(name, value);
}

Status Graph::status() const {
  if (errors_.empty())
    return {};
  std::string msg;
  for (const Error &e : errors_)
    msg += (msg.empty() ? "" : "\n") + e.message;
  return Error{msg};
}

std::vector<Tensor> Graph::apply(ir::OpKind op, const std::vector<Tensor> &operands, const ir::AttrList &attrs) {
  const ir::OpInfo &info = ir::opInfo(op);
  std::vector<Tensor> invalid(static_cast<size_t>(info.numResults));
  std::vector<ir::ValueId> ids;
  for (const Tensor &t : operands) {
    if (!t.valid())
      return invalid; // the error that made it invalid is already recorded
    if (t.graph() != this) {
      fail(makeError("{}: operand %{} belongs to another graph", info.name, t.name()));
      return invalid;
    }
    ids.push_back(t.id());
  }
  auto results = ir_.addNode(op, ids, attrs);
  if (!results) {
    fail(results.error());
    return invalid;
  }
  std::vector<Tensor> out;
  for (ir::ValueId v : *results)
    out.emplace_back(this, v);
  return out;
}

} // namespace kiln
