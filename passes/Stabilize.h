//===- passes/Stabilize.h - Numerically stable forms -----------*- C++ -*-===//
//
// Theano's stabilization: log(softmax(x)) -> log_softmax(x); the mean (or
// sum) over a batch of -sum(onehot(labels) * log_softmax(x)) -> one
// softmax_cross_entropy op, whose gradient is softmax(x) - onehot; log(1 + x)
// and log(x + 1) -> log1p(x); log(sigmoid(x)) -> -softplus(-x); log(exp(x))
// -> x. (exp(log(x)) stays: it is NaN, not x, for negative x.)
//
// Needs: a verified graph. Keeps: types; replaced nodes become dead (for dce).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

namespace kiln::passes {

Expected<ir::Graph> stabilize(const ir::Graph &g);

} // namespace kiln::passes
