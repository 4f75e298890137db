//===- ir/TypeRules.h - Type inference rules of the op table ---*- C++ -*-===//
//
// The type rules named by ir/Ops.def, and the shape helpers they share with
// the reference interpreter (window sizes of conv and pooling, broadcasting,
// axis normalization), so that static and run-time shapes agree by
// construction.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Op.h"

#include <optional>

namespace kiln::ir {

#define KILN_RULE(name)                                                        \
  Expected<std::vector<Type>> name(std::span<const Type> operands, const AttrView &attrs);
KILN_RULE(inferUnaryNumeric)
KILN_RULE(inferUnaryFloat)
KILN_RULE(inferBinaryArith)
KILN_RULE(inferCompare)
KILN_RULE(inferLogical)
KILN_RULE(inferSelect)
KILN_RULE(inferCast)
KILN_RULE(inferReduce)
KILN_RULE(inferArgReduce)
KILN_RULE(inferMatMul)
KILN_RULE(inferConv)
KILN_RULE(inferConvTranspose)
KILN_RULE(inferConvGradInput)
KILN_RULE(inferConvGradWeight)
KILN_RULE(inferPool)
KILN_RULE(inferGlobalPool)
KILN_RULE(inferMaxPoolGrad)
KILN_RULE(inferAvgPoolGrad)
KILN_RULE(inferIdentity)
KILN_RULE(inferReshape)
KILN_RULE(inferTranspose)
KILN_RULE(inferBroadcastTo)
KILN_RULE(inferConcat)
KILN_RULE(inferSlice)
KILN_RULE(inferPad)
KILN_RULE(inferGather)
KILN_RULE(inferGatherElements)
KILN_RULE(inferOneHot)
KILN_RULE(inferLayoutConvert)
KILN_RULE(inferFused)
KILN_RULE(inferSoftmaxCrossEntropy)
KILN_RULE(inferBatchNormTrain)
KILN_RULE(inferBatchNormInfer)
KILN_RULE(inferBatchNormGrad)
KILN_RULE(inferDropout)
KILN_RULE(inferTopK)
KILN_RULE(inferScatterElements)
KILN_RULE(inferCumSum)
KILN_RULE(inferResize)
KILN_RULE(inferGatherND)
KILN_RULE(inferScatterND)
#undef KILN_RULE

/// The check of every op that is not layout-aware: each operand is stored as
/// a row-major tensor would be (else the error asks for a layout_convert).
Status checkRowMajorOperands(const OpInfo &op, std::span<const Type> operands);

/// The window geometry of conv and pooling ops, every list expanded to one
/// entry per spatial dim.
struct Window {
  std::vector<int64_t> kernel, stride, dilation, padBegin, padEnd;
  bool ceilMode = false;
  int spatialRank() const { return static_cast<int>(kernel.size()); }
};

/// Reads stride/pad/dilation (and ceil_mode where declared) for `spatial`
/// dims with the given kernel sizes, checking list lengths and signs.
Expected<Window> readWindow(const AttrView &attrs, std::vector<int64_t> kernel);
/// Output size of a window sliding over `in` (ONNX/PyTorch rule, ceil mode
/// dropping a last window that would start in the end padding). Error when
/// the window is larger than the padded input.
Expected<int64_t> windowOutput(const Window &w, int dim, int64_t in);

/// Output size of a transposed convolution (conv_transpose) in spatial dim i.
inline int64_t transposedOutput(const Window &w, int i, int64_t in, int64_t outputPadding) {
  return w.stride[i] * (in - 1) + outputPadding + w.dilation[i] * (w.kernel[i] - 1) + 1 - w.padBegin[i] - w.padEnd[i];
}

/// The `shape` attribute of a reshape from `from` to `to`: constant sizes as
/// they are, a dim equal to the input's at the same index as 0 (copy), and at
/// most one other dim as -1 (inferred at run time).
Expected<std::vector<int64_t>> reshapeSpec(const Shape &from, const Shape &to);

/// Merges two broadcast dims; error if both are constants that differ and
/// neither is 1.
Expected<Dim> broadcastDim(const Dim &a, const Dim &b);
Expected<Shape> broadcastShapes(const Shape &a, const Shape &b);
/// Sizes version of the same rule, for run time.
Expected<Sizes> broadcastSizes(const Sizes &a, const Sizes &b);
/// Normalizes a possibly negative axis; error if out of [-rank, rank).
Expected<int> normalizeAxis(int64_t axis, int rank);
/// Normalizes a list of axes (empty: all), sorted, without repeats.
Expected<std::vector<int>> normalizeAxes(const std::vector<int64_t> &axes, int rank);
/// The concrete slice bounds of ONNX Slice for one axis of size `dim`.
struct SliceBounds {
  int64_t start, step, count;
};
SliceBounds sliceBounds(int64_t start, int64_t end, int64_t step, int64_t dim);

} // namespace kiln::ir
