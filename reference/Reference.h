//===- reference/Reference.h - The reference interpreter -*- C++ -*-===//
//
// Evaluates a Graph op by op on host tensors, computing in double and
// rounding every result to its dtype. It is written for obvious correctness,
// not speed: it is the oracle that every pass and backend of kiln is checked
// against. Symbolic dims are bound from the inputs' shapes; every result's
// shape is checked against the node's static type.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <map>
#include <string>
#include <vector>

namespace kiln::ref {

using TensorMap = std::map<std::string, ir::HostTensor>;

struct RunResult {
  std::vector<ir::HostTensor> outputs; ///< in the order of graph.outputs()
  std::vector<ir::HostTensor> updates; ///< new parameter values, in the order of graph.updates()
};

/// Evaluates the graph's outputs and updates. `inputs` maps every input name
/// to a tensor of its dtype and shape; a missing, extra or mis-shaped input is
/// an error naming it.
Expected<RunResult> evaluate(const ir::Graph &g, const TensorMap &inputs);

/// Evaluates one node on concrete operands (used by constant folding, by
/// executables for the nodes they do not compile, and by tests); `node` must
/// belong to `g`. `dims` binds symbols the operands do not (a broadcast to
/// [N] of a scalar).
Expected<std::vector<ir::HostTensor>> evaluateNode(const ir::Graph &g, const ir::Node &node,
                                                   const std::vector<ir::HostTensor> &operands,
                                                   const std::map<std::string, int64_t> &dims = {});

/// Resize is separable: its result is x contracted along each dim with one
/// matrix. This is dim `dim`'s, [out, in] in f64, for an input of `in`
/// elements there and the node's attributes (a row of zeros where
/// tf_crop_and_resize's coordinate falls outside the crop). Autodiff's rule
/// contracts dy with the transposes.
Expected<ir::HostTensor> resizeWeights(const ir::AttrView &attrs, int dim, int64_t in);

} // namespace kiln::ref
