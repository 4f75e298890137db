//===- passes/Fuse.h - Grouping nodes into kernels --------------*- C++ -*-===//
//
// Forms kernels by op category, as TVM's fusion does with its pattern kinds.
// Walking the graph in order, a node joins the kernel of an operand's
// producer when the kernel can take it:
//
//   - an elementwise node joins a kernel whose iteration domain (the shape of
//     its outputs) is its own result shape: an elementwise chain, or the
//     epilogue of a contraction, pooling or reduction (conv + bias + relu);
//   - a reduction takes an elementwise kernel over its input's shape as its
//     producer (the reduction iterates that domain once);
//   - a matmul takes, as its prologue, an elementwise kernel of cheap
//     ops (add, mul, select, compare, ...) whose only consumer it is (the
//     backward pass's activation gradient feeding the next contraction); a
//     packing kernel applies it once per element (the window lowerings,
//     conv and its gradients, read their operands from buffers: no prologue);
//   - data movement and opaque ops (softmax, batch norm, reshape, ...) stay
//     kernels of their own.
//
// A kernel holds at most 128 nodes, and no node whose expression, counted
// as a tree, would pass ir::kMaxExpressionSize (a longer elementwise chain,
// or a chain of composites that read an operand twice, becomes several
// kernels: lowering and codegen walk a kernel's expressions as trees and
// recursively, so their size and depth stay bounded). The cycle check searches the
// kernel graph, not the nodes, so fusing is near-linear in the nodes: a
// 100,000-node chain takes well under a second.
//
// A node joins at most one kernel and no join may create a cycle between
// kernels, so nothing is computed twice: a value made inside a kernel and
// used outside it becomes one more result of the kernel. A kernel of two or
// more nodes becomes one `fused` node holding them as its region; a kernel of
// one node stays that node.
//
// Needs: a verified graph. Keeps: every output, update and name; the region
// nodes keep their names, the fused node's results are the names of the
// values it yields.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

namespace kiln::passes {

Expected<ir::Graph> fuse(const ir::Graph &g);

/// The number of kernels the graph launches: every node except the views
/// (reshape and identity, which move no data).
size_t countKernels(const ir::Graph &g);

} // namespace kiln::passes
