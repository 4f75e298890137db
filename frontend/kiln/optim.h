//===- kiln/optim.h - Optimizers as graph updates --------------*- C++ -*-===//
//
// An optimizer differentiates the cost (passes/autodiff) and adds to the graph
// the updates of one training step: new parameter values and new optimizer
// state (velocities, moments, the step count), all themselves parameters, so
// a step is one call of a Function, checkpoints hold the whole state, and the
// update nodes are optimized like any others.
//
//   kiln::optim::Options o{.method = kiln::optim::Method::Momentum, .lr = 0.05, .momentum = 0.9};
//   kiln::optim::minimize(g, loss, params, o);
//
// Formulas follow PyTorch's: weight decay adds wd * w to the gradient (AdamW
// decays the weight directly); momentum v = mu v + (1 - dampening) g (undamped
// on the first step), w -= lr v (Nesterov: w -= lr (g + mu v)); Adam with bias correction and eps outside the root;
// RMSprop s = rho s + (1 - rho) g^2, w -= lr g / (sqrt(s) + eps).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "kiln/kiln.h"

namespace kiln::optim {

enum class Method { SGD, Momentum, Nesterov, Adam, AdamW, RMSprop };
/// Parses sgd, momentum, nesterov, adam, adamw, rmsprop.
Expected<Method> parseMethod(const std::string &name);

/// Learning rate as a function of the step t (steps done before this one),
/// or (Input) a scalar graph input named `lr` that the caller feeds every
/// step, so the schedule is the caller's (`kiln compile --train`).
struct Schedule {
  enum Kind { Constant, Step, Cosine, Input } kind = Constant;
  int64_t stepSize = 1000; ///< Step: multiply by gamma every stepSize steps
  double gamma = 0.1;
  int64_t totalSteps = 1000; ///< Cosine: anneal from lr to minLr over totalSteps
  double minLr = 0.0;
};

struct Options {
  Method method = Method::SGD;
  double lr = 0.01;
  double momentum = 0.9;
  double dampening = 0.0; ///< momentum: v = mu v + (1 - dampening) g, undamped on the first step
  double weightDecay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8; ///< Adam, AdamW
  double rho = 0.99;                             ///< RMSprop
  double clipNorm = 0.0; ///< > 0: scale the gradients so that their global L2 norm is at most this
  Schedule schedule = {};
};

/// Adds the updates of one step minimizing `cost` over `params`. State
/// parameters are named after their parameter (`w.velocity`, `w.m`, `w.v`)
/// and `optim.step`.
Status minimize(Graph &g, Tensor cost, const std::vector<Tensor> &params, const Options &options);

} // namespace kiln::optim
