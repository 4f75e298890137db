//===- frontend/Optim.cpp - Optimizers as graph updates -------------------===//
#include "kiln/optim.h"

#include "passes/Autodiff.h"

#include <cmath>
#include <numbers>

namespace kiln::optim {

Expected<Method> parseMethod(const std::string &name) {
  if (name == "sgd") return Method::SGD;
  if (name == "momentum") return Method::Momentum;
  if (name == "nesterov") return Method::Nesterov;
  if (name == "adam") return Method::Adam;
  if (name == "adamw") return Method::AdamW;
  if (name == "rmsprop") return Method::RMSprop;
  return makeError("unknown optimizer '{}' (expected sgd, momentum, nesterov, adam, adamw or rmsprop)", name);
}

namespace {

/// A zero-initialized state parameter shaped like p.
Tensor stateLike(Graph &g, Tensor p, const std::string &suffix) {
  std::vector<int64_t> shape;
  for (const Dim &d : p.type().shape)
    shape.push_back(d.value);
  return g.param(p.name() + "." + suffix, shape, init::zeros(), p.type().dtype);
}

/// The learning rate at step t (a scalar tensor of the parameters' dtype).
Tensor learningRate(Graph &g, Tensor t, const Options &o, DType dt) {
  const Schedule &s = o.schedule;
  switch (s.kind) {
  case Schedule::Constant: return g.scalar(o.lr, dt);
  case Schedule::Step: {
    Tensor k = floor(t / static_cast<double>(s.stepSize));
    return pow(g.scalar(s.gamma, dt), k) * o.lr;
  }
  case Schedule::Cosine: {
    Tensor frac = minimum(t, g.scalar(static_cast<double>(s.totalSteps), dt)) / static_cast<double>(s.totalSteps);
    return (cos(frac * std::numbers::pi) + 1.0) * (0.5 * (o.lr - s.minLr)) + s.minLr;
  }
  case Schedule::Input: return g.input("lr", dt, Shape{});
  }
  return g.scalar(o.lr, dt);
}

} // namespace

Status minimize(Graph &g, Tensor cost, const std::vector<Tensor> &params, const Options &o) {
  KILN_TRY(g.status());
  if (params.empty())
    return makeError("optimizer: no parameters to train");
  std::vector<ir::ValueId> wrt;
  for (const Tensor &p : params) {
    if (!p.valid() || p.graph() != &g || g.ir().value(p.id()).kind != ir::ValueKind::Param)
      return makeError("optimizer: %{} is not a parameter of graph @{}", p.name(), g.ir().name());
    wrt.push_back(p.id());
  }
  auto grads = passes::grad(g.ir(), cost.id(), wrt);
  if (!grads)
    return grads.error();
  DType dt = params[0].type().dtype;
  std::vector<Tensor> gs;
  for (ir::ValueId v : *grads)
    gs.emplace_back(&g, v);

  if (o.clipNorm > 0) { // g *= min(1, clipNorm / (||g|| + 1e-6)) over all gradients together
    Tensor total = g.scalar(0, dt);
    for (Tensor &gr : gs)
      total = total + reduce_sum(gr * gr);
    Tensor scale = minimum(g.scalar(1, dt), g.scalar(o.clipNorm, dt) / (sqrt(total) + 1e-6));
    for (Tensor &gr : gs)
      gr = gr * scale;
  }

  Tensor step = g.param("optim.step", {}, init::zeros(), dt);
  Tensor next = step + 1.0;
  g.update(step, next);
  Tensor lr = learningRate(g, step, o, dt);

  for (size_t i = 0; i < params.size(); ++i) {
    Tensor w = params[i], gr = gs[i];
    if (o.weightDecay > 0 && o.method != Method::AdamW)
      gr = gr + w * o.weightDecay;
    Tensor updated;
    switch (o.method) {
    case Method::SGD: updated = w - lr * gr; break;
    case Method::Momentum:
    case Method::Nesterov: {
      Tensor v = stateLike(g, w, "velocity");
      Tensor vNew = v * o.momentum + gr;
      if (o.dampening != 0) { // no dampening on the first step (PyTorch, ONNX)
        Tensor first = equal(step, g.scalar(0, dt));
        vNew = v * o.momentum + gr * select(first, g.scalar(1, dt), g.scalar(1 - o.dampening, dt));
      }
      g.update(v, vNew);
      updated = w - lr * (o.method == Method::Nesterov ? gr + vNew * o.momentum : vNew);
      break;
    }
    case Method::Adam:
    case Method::AdamW: {
      Tensor m = stateLike(g, w, "m"), v = stateLike(g, w, "v");
      Tensor mNew = m * o.beta1 + gr * (1 - o.beta1);
      Tensor vNew = v * o.beta2 + gr * gr * (1 - o.beta2);
      g.update(m, mNew);
      g.update(v, vNew);
      Tensor mHat = mNew / (1.0 - pow(g.scalar(o.beta1, dt), next));
      Tensor vHat = vNew / (1.0 - pow(g.scalar(o.beta2, dt), next));
      Tensor base = o.method == Method::AdamW && o.weightDecay > 0 ? w - lr * w * o.weightDecay : w;
      updated = base - lr * mHat / (sqrt(vHat) + o.eps);
      break;
    }
    case Method::RMSprop: {
      Tensor s = stateLike(g, w, "square_avg");
      Tensor sNew = s * o.rho + gr * gr * (1 - o.rho);
      g.update(s, sNew);
      updated = w - lr * gr / (sqrt(sNew) + o.eps);
      break;
    }
    }
    g.update(w, updated);
  }
  return g.status();
}

} // namespace kiln::optim
