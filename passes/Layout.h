//===- passes/Layout.h - Choosing the layout of every tensor ----*- C++ -*-===//
//
// Chooses the physical layout of image tensors for the target: the conv
// family reads and writes its images (and conv weights, as O,kh,kw,I) in the
// target's image layout, channels last on the CPU and on CUDA. Layout-aware
// ops (elementwise, reductions, pooling, batch norm, dropout) take the layout
// of their full-shape operands and pass it on; every other op (matmul,
// reshape, softmax, gather, ...) reads row-major tensors. The pass walks the
// graph once, and a `layout_convert` is inserted only where a value reaches
// an op in a layout it does not take and the two layouts store the tensor
// differently (dims of size 1 do not count). Conversions are shared and a
// conversion back to a value's original layout is the original value, so
// chains cancel as they would if inserted eagerly and then moved.
//
// concat joins images in their common channels-last or blocked layout (a
// fire module's branches stay channels last for the next conv); a concat
// every use of which would read it row-major (an output, a channel
// shuffle's reshape) instead reads its operands as they are and writes
// row-major (`out_layout=row_major`), which costs no conversion either way.
//
// Parameters of a training graph live in their compute layout: a conv weight
// is declared in the image layout, and so is every parameter whose update is
// computed in a non-row-major layout (optimizer state such as momentum), so
// the update step converts nothing. A parameter's data stays its logical
// value (what checkpoints hold); the layout is how the device keeps it.
// Graph outputs are converted back to row-major.
//
// Needs: a verified graph. Keeps: every value's logical type and data; names
// of converted values get a `.nhwc`-style suffix.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"
#include "passes/Target.h"

namespace kiln::passes {

Expected<ir::Graph> assignLayouts(const ir::Graph &g, const Target &target = {});

/// The number of layout_convert nodes of a graph (regions included).
size_t countLayoutConverts(const ir::Graph &g);

} // namespace kiln::passes
