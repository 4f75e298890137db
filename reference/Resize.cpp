//===- reference/Resize.cpp - Reference kernel: resize ---------------------===//
//
// ONNX Resize as its reference implementation (onnx/reference/ops/op_resize)
// defines it, separable over the dims: each output coordinate maps back to
// an input coordinate by the coordinate transformation mode, and a 1-D
// kernel of 2 taps (nearest, linear) or 4 (cubic) around it, on the input
// padded by its edge, gives the weights. The output is the sum over the
// product of every dim's taps; a coordinate outside the crop of
// tf_crop_and_resize gives extrapolation_value.
//
//===----------------------------------------------------------------------===//
#include "reference/Kernels.h"

#include <algorithm>
#include <cmath>

namespace kiln::ref {

using namespace ir;

namespace {

struct Tap {
  int64_t index;
  double weight;
};

/// The taps of one output coordinate `x` along a dim of `in` input elements; empty when it falls outside the crop.
std::vector<Tap> taps(const AttrView &a, int64_t x, int64_t in, double scale, double roiStart, double roiEnd) {
  const std::string &mode = a.getString("mode"), &ct = a.getString("coordinate_transformation_mode");
  double outWidth = scale * static_cast<double>(in), xr = static_cast<double>(x), xo = 0;
  if (ct == "align_corners")
    xo = outWidth == 1 ? 0 : xr * static_cast<double>(in - 1) / (outWidth - 1);
  else if (ct == "asymmetric")
    xo = xr / scale;
  else if (ct == "tf_crop_and_resize") {
    xo = outWidth == 1 ? (roiEnd - roiStart) * static_cast<double>(in - 1) / 2
                       : xr * (roiEnd - roiStart) * static_cast<double>(in - 1) / (outWidth - 1);
    xo += roiStart * static_cast<double>(in - 1);
    if (xo < 0 || xo > static_cast<double>(in - 1))
      return {};
  } else if (ct == "pytorch_half_pixel")
    xo = outWidth == 1 ? -0.5 : (xr + 0.5) / scale - 0.5;
  else if (ct == "tf_half_pixel_for_nn")
    xo = (xr + 0.5) / scale;
  else // half_pixel
    xo = (xr + 0.5) / scale - 0.5;
  // The ratio in (0, 1]: an integer coordinate takes the pixel on its left.
  double fl = std::floor(xo);
  bool whole = xo == fl;
  double ratio = whole ? 1 : xo - fl;
  auto x0 = static_cast<int64_t>(fl) - (whole ? 1 : 0);
  std::vector<double> w;
  if (mode == "nearest") {
    const std::string &nm = a.getString("nearest_mode");
    if (whole)
      w = {0, 1};
    else if (nm == "round_prefer_ceil")
      w = {ratio < 0.5 ? 1.0 : 0.0, ratio >= 0.5 ? 1.0 : 0.0};
    else if (nm == "floor")
      w = {1, 0};
    else if (nm == "ceil")
      w = {0, 1};
    else // round_prefer_floor
      w = {ratio <= 0.5 ? 1.0 : 0.0, ratio > 0.5 ? 1.0 : 0.0};
  } else if (mode == "linear") {
    w = {1 - ratio, ratio};
  } else {
    double A = a.getFloat("cubic_coeff_a"), r = ratio, s = 1 - ratio;
    w = {((A * (r + 1) - 5 * A) * (r + 1) + 8 * A) * (r + 1) - 4 * A, ((A + 2) * r - (A + 3)) * r * r + 1,
         ((A + 2) * s - (A + 3)) * s * s + 1, ((A * (s + 1) - 5 * A) * (s + 1) + 8 * A) * (s + 1) - 4 * A};
  }
  auto n = static_cast<int64_t>(w.size());
  int64_t first = x0 - (n / 2 - 1);
  std::vector<Tap> out2;
  double sum = 0;
  for (int64_t t = 0; t < n; ++t) {
    int64_t i = first + t;
    if (a.getBool("exclude_outside") && (i < 0 || i >= in))
      w[static_cast<size_t>(t)] = 0;
    sum += w[static_cast<size_t>(t)];
  }
  for (int64_t t = 0; t < n; ++t) {
    double wt = w[static_cast<size_t>(t)] / (a.getBool("exclude_outside") && sum != 0 ? sum : 1);
    if (wt != 0) // the edge padding: indices clamp to the input
      out2.push_back({std::clamp<int64_t>(first + t, 0, in - 1), wt});
  }
  return out2;
}

/// Dim d's output size and scale for an input of `in` elements there.
Expected<std::pair<int64_t, double>> outputOf(const AttrView &a, int d, int64_t in) {
  const std::vector<double> &scales = a.getFloats("scales");
  const std::vector<int64_t> &sizes = a.getInts("sizes");
  auto du = static_cast<size_t>(d);
  int64_t out = 0;
  double scale = 1;
  if (!sizes.empty() && sizes[du] >= 0) {
    out = sizes[du];
    scale = in ? static_cast<double>(sizes[du]) / static_cast<double>(in) : 1;
  } else {
    scale = scales[du];
    out = static_cast<int64_t>(std::floor(static_cast<double>(in) * scales[du]));
  }
  if (!(scale > 0))
    return makeError("the scale of dim {} is {}, not positive", d, scale);
  return std::pair{out, scale};
}

/// Dim d's taps for each of its output coordinates.
Expected<std::vector<std::vector<Tap>>> dimTaps(const AttrView &a, int rank, int d, int64_t in) {
  KILN_ASSIGN(auto os, outputOf(a, d, in));
  const std::vector<double> &roi = a.getFloats("roi");
  auto du = static_cast<size_t>(d);
  double r0 = roi.empty() ? 0 : roi[du], r1 = roi.empty() ? 1 : roi[du + static_cast<size_t>(rank)];
  std::vector<std::vector<Tap>> out;
  for (int64_t o = 0; o < os.first; ++o)
    out.push_back(taps(a, o, in, os.second, r0, r1));
  return out;
}

} // namespace

Expected<HostTensor> resizeWeights(const AttrView &attrs, int dim, int64_t in) {
  int rank = static_cast<int>(std::max(attrs.getFloats("scales").size(), attrs.getInts("sizes").size()));
  if (dim < 0 || dim >= rank)
    return makeError("resize has no dim {}", dim);
  KILN_ASSIGN(auto perOut, dimTaps(attrs, rank, dim, in));
  HostTensor m(DType::F64, {static_cast<int64_t>(perOut.size()), in});
  for (size_t o = 0; o < perOut.size(); ++o)
    for (const Tap &t : perOut[o]) {
      int64_t at = static_cast<int64_t>(o) * in + t.index;
      m.set(at, m.get(at) + t.weight);
    }
  return m;
}

Results resize(const KernelCtx &ctx, Args args) {
  const Arr &x = *args[0];
  const AttrView &a = ctx.attrs;
  int rank = x.rank();
  Sizes shape(static_cast<size_t>(rank));
  // Each dim's taps for each of its output coordinates.
  std::vector<std::vector<std::vector<Tap>>> perDim(static_cast<size_t>(rank));
  for (int d = 0; d < rank; ++d) {
    auto du = static_cast<size_t>(d);
    KILN_ASSIGN(perDim[du], dimTaps(a, rank, d, x.shape[du]));
    shape[du] = static_cast<int64_t>(perDim[du].size());
  }
  Arr out(x.dtype, shape);
  Sizes strides = stridesOf(x.shape), index, pick(static_cast<size_t>(rank));
  double extrapolation = a.getFloat("extrapolation_value");
  for (int64_t i = 0; i < out.size(); ++i) {
    unravel(i, shape, index);
    bool outside = false;
    for (int d = 0; d < rank; ++d)
      outside |= perDim[static_cast<size_t>(d)][static_cast<size_t>(index[static_cast<size_t>(d)])].empty();
    if (outside) {
      out.v[static_cast<size_t>(i)] = extrapolation;
      continue;
    }
    // Every combination of the dims' taps (an odometer over them).
    double sum = 0;
    std::fill(pick.begin(), pick.end(), 0);
    for (;;) {
      double w = 1;
      int64_t at = 0;
      for (int d = 0; d < rank; ++d) {
        const Tap &t = perDim[static_cast<size_t>(d)][static_cast<size_t>(index[static_cast<size_t>(d)])]
                             [static_cast<size_t>(pick[static_cast<size_t>(d)])];
        w *= t.weight;
        at += t.index * strides[static_cast<size_t>(d)];
      }
      sum += w * x.v[static_cast<size_t>(at)];
      int d = rank - 1;
      for (; d >= 0; --d) {
        auto du = static_cast<size_t>(d);
        if (++pick[du] < static_cast<int64_t>(perDim[du][static_cast<size_t>(index[du])].size()))
          break;
        pick[du] = 0;
      }
      if (d < 0)
        break;
    }
    out.v[static_cast<size_t>(i)] = sum;
  }
  return std::vector<Arr>{std::move(out)};
}

} // namespace kiln::ref
