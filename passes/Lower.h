//===- passes/Lower.h - Graph nodes to kernels ------------------*- C++ -*-===//
//
// Lowers one node of an optimized graph, plain or fused, to a kernel of the
// kernel IR (ir/kernel) for concrete sizes. The region's values are built as
// expressions at logical coordinates: elementwise ops over the kernel's
// domain; a reduction's producers inside its reduced loops, its epilogue
// after them; a matmul's operands (prologues included) inside its k loop and
// its epilogue after it. Loops follow the output's storage order, the
// innermost marked vector, the outermost parallel; loads and stores go
// through each buffer's physical strides (row-major or channels last).
//
// What is not lowered yet (convolutions, pooling, data movement, opaque ops,
// blocked or flat layouts, dtypes other than f32, f64 and bool) gives nullopt,
// not an error: the runtime runs such a node on the reference interpreter.
//
// Needs: a verified graph whose symbols are bound in `dims`. Keeps: the
// node's meaning, as the reference interpreter defines it.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"
#include "ir/kernel/Kernel.h"

#include <map>
#include <optional>

namespace kiln::passes {

/// The kernel of node `n` of `g` named `name`, its buffers the node's operands
/// then its results; nullopt if the node is not lowerable yet.
std::optional<kernel::Kernel> lower(const ir::Graph &g, const ir::Node &n, const std::map<std::string, int64_t> &dims,
                                    const std::string &name);

} // namespace kiln::passes
