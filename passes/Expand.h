//===- passes/Expand.h - Opaque ops over the ops lowering knows -*- C++ -*-===//
//
// Rewrites the opaque nn ops into reductions, elementwise ops and data
// movement, which lowering compiles to native kernels (tinygrad's way: a
// composite is defined once over simpler ops), with the max subtracted
// first so exp never overflows:
//
//   softmax(x, a)      e / reduce_sum(e, a)      e = exp(x - reduce_max(x, a))
//   log_softmax(x, a)  z - log(reduce_sum(exp(z), a))     z = x - reduce_max(x, a)
//   softmax_cross_entropy(logits [N, C, ...], labels [N, ...], [weights])
//                      the one-hot pick of lse - z over classes, weighted,
//                      an ignored label's row zero; its mean, sum or none
//   global_{avg,max}_pool    reduce_{mean,max} over the spatial dims
//   batch_norm_infer   (x - mean) * scale / sqrt(var + eps) + bias per channel
//   batch_norm_train   the same with the batch's mean and biased variance
//   conv_transpose     conv_grad_input at the result's sizes (the gradient of
//                      the conv it transposes)
//
// (axes kept). Everything else of the Opaque category (batch_norm_grad,
// dropout) stays opaque: the reference interpreter runs it. Labels out of
// [0, C) are an error on the reference interpreter; here their one-hot row
// is zero and their loss term is 0.
//
// Needs: a verified graph. Keeps: every value's type and meaning (up to
// rounding). Runs cse and dce after: the loss and its gradient's softmax
// share their max, exp and sum.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

namespace kiln::passes {

Expected<ir::Graph> expand(const ir::Graph &g);

} // namespace kiln::passes
