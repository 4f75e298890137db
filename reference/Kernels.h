//===- reference/Kernels.h - Reference kernels, by op family -*- C++ -*-===//
//
// Internal to the reference interpreter. Every kernel computes in double on
// plain arrays, written for obvious correctness rather than speed; the driver
// (Reference.cpp) rounds results to their dtype and checks their shapes
// against the node's static types.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"
#include "ir/TypeRules.h"

#include <map>
#include <span>

namespace kiln::ref {

using ir::Sizes;

/// A concrete tensor in double precision.
struct Arr {
  ir::DType dtype = ir::DType::F64;
  Sizes shape;
  std::vector<double> v;

  Arr() = default;
  Arr(ir::DType dt, Sizes s, double fill = 0.0)
      : dtype(dt), shape(std::move(s)), v(static_cast<size_t>(ir::product(shape)), fill) {}
  int rank() const { return static_cast<int>(shape.size()); }
  int64_t size() const { return static_cast<int64_t>(v.size()); }
};

using SymbolEnv = std::map<std::string, int64_t>;

/// What a kernel sees: the node's attributes, its result dtypes and the
/// bound symbolic dims.
struct KernelCtx {
  const ir::Node &node;
  ir::AttrView attrs;
  std::vector<ir::DType> resultTypes;
  const SymbolEnv &env;
};

using Args = std::span<const Arr *const>;
using Results = Expected<std::vector<Arr>>;

// --- Index helpers ---------------------------------------------------------------------

/// Row-major strides of a shape.
Sizes stridesOf(const Sizes &shape);
/// Flat index -> multi-index.
void unravel(int64_t flat, const Sizes &shape, Sizes &index);
/// Strides of `shape` seen through a broadcast to `out` (0 where broadcast).
Sizes broadcastStrides(const Sizes &shape, const Sizes &out);

// --- Kernels, one function per family; each switches over the node's op ------------
Results evalElementwise(const KernelCtx &ctx, Args args);
Results evalReduction(const KernelCtx &ctx, Args args);
Results evalContraction(const KernelCtx &ctx, Args args);
Results evalPooling(const KernelCtx &ctx, Args args);
Results evalMovement(const KernelCtx &ctx, Args args);
Results evalNN(const KernelCtx &ctx, Args args);
/// Selection, scatter and scans (Indexing.cpp), reached through evalNN.
Results topK(const KernelCtx &ctx, Args args);
Results scatterElements(const KernelCtx &ctx, Args args);
Results cumSum(const KernelCtx &ctx, Args args);
Results gatherND(const KernelCtx &ctx, Args args);
Results scatterND(const KernelCtx &ctx, Args args);
Results resize(const KernelCtx &ctx, Args args); // Resize.cpp

} // namespace kiln::ref

namespace kiln::ref {

/// Visits every kernel tap of a window placed at output position `outPos`
/// over an input of spatial sizes `in`: f(kernelFlat, inFlat, inPadded),
/// where inFlat is -1 for a tap outside the input and inPadded says whether
/// the tap lies inside the explicitly padded input.
template <typename F>
void forEachTap(const ir::Window &w, const Sizes &in, const Sizes &outPos, F f) {
  int r = w.spatialRank();
  int64_t taps = ir::product(w.kernel);
  Sizes k;
  for (int64_t t = 0; t < taps; ++t) {
    unravel(t, w.kernel, k);
    int64_t flat = 0;
    bool inside = true, padded = true;
    for (int d = 0; d < r; ++d) {
      int64_t p = outPos[d] * w.stride[d] - w.padBegin[d] + k[d] * w.dilation[d];
      if (p < 0 || p >= in[d])
        inside = false;
      if (p < -w.padBegin[d] || p >= in[d] + w.padEnd[d])
        padded = false;
      flat = flat * in[d] + p;
    }
    f(t, inside ? flat : -1, padded);
  }
}

/// Visits every multiply of a convolution x[N,C,in...] * w[O,C/groups,k...]
/// -> y[N,O,out...]: f(xIndex, wIndex, yIndex), padding taps skipped. Conv,
/// its two gradients and the transposed conv are all this loop.
template <typename F>
void forEachConvTap(const Sizes &x, const Sizes &wt, const Sizes &y, const ir::Window &w, int64_t groups, F f) {
  int64_t n = x[0], cin = x[1], o = wt[0], cg = wt[1], og = o / groups;
  Sizes in(x.begin() + 2, x.end()), out(y.begin() + 2, y.end());
  int64_t inSize = ir::product(in), outSize = ir::product(out), kSize = ir::product(w.kernel);
  Sizes pos;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oc = 0; oc < o; ++oc) {
      int64_t g = oc / og;
      for (int64_t op = 0; op < outSize; ++op) {
        unravel(op, out, pos);
        int64_t yi = (b * o + oc) * outSize + op;
        forEachTap(w, in, pos, [&](int64_t kt, int64_t inFlat, bool) {
          if (inFlat < 0)
            return;
          for (int64_t c = 0; c < cg; ++c)
            f(((b * cin) + g * cg + c) * inSize + inFlat, (oc * cg + c) * kSize + kt, yi);
        });
      }
    }
}

} // namespace kiln::ref
