//===- frontend/onnx/ExportGrad.cpp - Gradient and training ops as ONNX ---===//
//
// The ops autodiff and training graphs use, which ONNX lacks, as
// compositions of opset-17 ops (each imports back into kiln):
//   conv_grad_input   ConvTranspose of dy by w, cropped or padded to input_size;
//   conv_grad_weight  a Conv of x (batch and channels swapped) by dy, its
//                     stride and dilation exchanged, sliced to kernel_size;
//   avg_pool_grad     dy over each window's divisor, spread by a grouped
//                     ConvTranspose of ones;
//   max_pool_grad     each window's taps gathered (Pad with -inf, strided
//                     Slices), the first maximum picked (Equal, CumSum), and
//                     dy scattered back by a ConvTranspose of one-hot kernels;
//   batch_norm_train, batch_norm_grad  their formulas over Reduce ops.
//
//===----------------------------------------------------------------------===//
#include "frontend/onnx/Exporter.h"

#include <limits>
#include <numeric>

namespace kiln::onnxexport {

using namespace ir;

namespace {

/// A window's attributes, defaults filled in, for `r` spatial dims.
struct Win {
  std::vector<int64_t> kernel, stride, dilation, padBegin, padEnd;
};

Win readWin(const AttrView &a, std::vector<int64_t> kernel) {
  size_t r = kernel.size();
  Win w{std::move(kernel), std::vector<int64_t>(r, 1), std::vector<int64_t>(r, 1), std::vector<int64_t>(r, 0),
        std::vector<int64_t>(r, 0)};
  if (!a.getInts("stride").empty())
    w.stride = a.getInts("stride");
  if (!a.getInts("dilation").empty())
    w.dilation = a.getInts("dilation");
  if (const auto &p = a.getInts("pad"); p.size() == 2 * r) {
    w.padBegin.assign(p.begin(), p.begin() + static_cast<long>(r));
    w.padEnd.assign(p.begin() + static_cast<long>(r), p.end());
  }
  return w;
}

/// Constant sizes of dims [from, end) of v, or an error naming the node.
Expected<std::vector<int64_t>> constDims(Emitter &e, const Node &n, ValueId v, size_t from) {
  const Shape &s = e.type(v).shape;
  std::vector<int64_t> out;
  for (size_t i = from; i < s.size(); ++i) {
    if (!s[i].isConst())
      return e.error(n, fmt::format("dim {} of %{} is {}: its ONNX form needs it known", i, e.graph().nameOf(v),
                                    toString(s[i])));
    out.push_back(s[i].value);
  }
  return out;
}

/// ConvTranspose's attributes spreading an output of sizes `out` back over
/// an input of sizes `in` through window w: the pads, grown at the end
/// where the windows overhang it (ceil_mode), and output_padding where
/// they fall short of it.
std::vector<OAttr> spreadAttrs(const Win &w, const std::vector<int64_t> &out, const std::vector<int64_t> &in,
                               int64_t groups) {
  std::vector<int64_t> pads = w.padBegin, padEnd = w.padEnd, extra(in.size(), 0);
  for (size_t i = 0; i < in.size(); ++i) {
    int64_t natural = w.stride[i] * (out[i] - 1) + (w.kernel[i] - 1) * w.dilation[i] + 1 - w.padBegin[i] - w.padEnd[i];
    if (natural < in[i])
      extra[i] = in[i] - natural;
    else
      padEnd[i] += natural - in[i];
  }
  pads.insert(pads.end(), padEnd.begin(), padEnd.end());
  return {{"strides", w.stride}, {"dilations", w.dilation}, {"pads", pads}, {"output_padding", extra},
          {"group", groups}};
}

std::vector<int64_t> iota(int64_t from, int64_t to) {
  std::vector<int64_t> v(static_cast<size_t>(to - from));
  std::iota(v.begin(), v.end(), from);
  return v;
}

/// The permutation swapping dims 0 and 1 of a rank-r tensor.
std::vector<int64_t> swap01(int r) {
  std::vector<int64_t> p = iota(0, r);
  std::swap(p[0], p[1]);
  return p;
}

} // namespace

Status exportConvGradInput(Emitter &e, const Node &n) {
  AttrView a = n.attrView();
  KILN_ASSIGN(std::vector<int64_t> k, constDims(e, n, n.operands[1], 2));
  KILN_ASSIGN(std::vector<int64_t> out, constDims(e, n, n.operands[0], 2));
  Win w = readWin(a, k);
  e.node("ConvTranspose", e.names(n.operands), e.names(n.results),
         spreadAttrs(w, out, a.getInts("input_size"), a.getInt("groups")));
  return {};
}

Status exportConvGradWeight(Emitter &e, const Node &n) {
  AttrView a = n.attrView();
  ValueId xv = n.operands[0], dyv = n.operands[1];
  int rank = e.type(xv).rank();
  int64_t groups = a.getInt("groups");
  KILN_ASSIGN(std::vector<int64_t> xDims, constDims(e, n, xv, 1)); // C, spatial...
  const std::vector<int64_t> &kernel = a.getInts("kernel_size");
  Win w = readWin(a, kernel);
  std::vector<int64_t> spatial(xDims.begin() + 1, xDims.end());
  // dw[o, c, k] = sum over n, p of x[n, g c, p s + k d - pad] dy[n, o, p]: a
  // conv whose batch is x's channels and whose channels are x's batch (per
  // group), by dy as the weight, with stride and dilation exchanged.
  std::string x = e.name(xv);
  if (groups == 1) {
    x = e.op("Transpose", {x}, {{"perm", swap01(rank)}});
  } else {
    int64_t cg = xDims[0] / groups;
    std::vector<int64_t> split = {0, groups, cg}, merged = {cg, -1}, perm = {2, 1, 0};
    for (size_t i = 0; i < spatial.size(); ++i) {
      split.push_back(spatial[i]);
      merged.push_back(spatial[i]);
      perm.push_back(static_cast<int64_t>(i) + 3);
    }
    x = e.op("Reshape", {x, e.ints(split)});
    x = e.op("Transpose", {x}, {{"perm", perm}});
    x = e.op("Reshape", {x, e.ints(merged)});
  }
  std::string dy = e.op("Transpose", {e.name(dyv)}, {{"perm", swap01(rank)}});
  std::vector<int64_t> pads = w.padBegin;
  pads.insert(pads.end(), w.padEnd.begin(), w.padEnd.end());
  std::string full = e.op("Conv", {x, dy},
                          {{"strides", w.dilation}, {"dilations", w.stride}, {"pads", pads}, {"group", groups}});
  std::string cut = e.op("Slice", {full, e.ints(std::vector<int64_t>(kernel.size(), 0)), e.ints(kernel),
                                   e.ints(iota(2, rank))});
  e.node("Transpose", {cut}, e.names(n.results), {{"perm", swap01(rank)}});
  return {};
}

Status exportAvgPoolGrad(Emitter &e, const Node &n) {
  AttrView a = n.attrView();
  ValueId dyv = n.operands[0];
  DType dt = e.type(dyv).dtype;
  KILN_ASSIGN(std::vector<int64_t> dyDims, constDims(e, n, dyv, 1)); // C, out...
  int64_t channels = dyDims[0];
  std::vector<int64_t> out(dyDims.begin() + 1, dyDims.end());
  const std::vector<int64_t> &in = a.getInts("input_size");
  Win w = readWin(a, a.getInts("kernel"));
  bool includePad = a.getBool("count_include_pad");
  // Each window's divisor, a product over the dims of its taps counted
  // along each (inside the input, or inside the padded input).
  std::vector<std::vector<double>> perDim(out.size());
  for (size_t d = 0; d < out.size(); ++d)
    for (int64_t o = 0; o < out[d]; ++o) {
      double count = 0;
      for (int64_t k = 0; k < w.kernel[d]; ++k) {
        int64_t p = o * w.stride[d] - w.padBegin[d] + k * w.dilation[d];
        count += includePad ? (p >= -w.padBegin[d] && p < in[d] + w.padEnd[d]) : (p >= 0 && p < in[d]);
      }
      perDim[d].push_back(count);
    }
  HostTensor inverse(dt, out);
  std::vector<int64_t> pos(out.size(), 0);
  for (int64_t i = 0, size = inverse.numElements(); i < size; ++i) {
    double count = 1;
    for (int64_t rem = i, d = static_cast<int64_t>(out.size()) - 1; d >= 0; --d) {
      count *= perDim[static_cast<size_t>(d)][static_cast<size_t>(rem % out[static_cast<size_t>(d)])];
      rem /= out[static_cast<size_t>(d)];
    }
    inverse.set(i, count > 0 ? 1.0 / count : 0.0);
  }
  std::vector<int64_t> onesShape = {channels, 1};
  onesShape.insert(onesShape.end(), w.kernel.begin(), w.kernel.end());
  HostTensor ones(dt, onesShape);
  for (int64_t i = 0; i < ones.numElements(); ++i)
    ones.set(i, 1);
  std::string share = e.op("Mul", {e.name(dyv), e.tensor(inverse, "divisors")});
  e.node("ConvTranspose", {share, e.tensor(ones, "ones")}, e.names(n.results), spreadAttrs(w, out, in, channels));
  return {};
}

Status exportMaxPoolGrad(Emitter &e, const Node &n) {
  AttrView a = n.attrView();
  ValueId dyv = n.operands[0], xv = n.operands[1];
  DType dt = e.type(xv).dtype;
  if (!isFloat(dt))
    return e.error(n, "the ONNX form of max_pool_grad pads with -inf: it needs a float x");
  int rank = e.type(xv).rank();
  KILN_ASSIGN(std::vector<int64_t> in, constDims(e, n, xv, 2));
  KILN_ASSIGN(std::vector<int64_t> out, constDims(e, n, dyv, 2));
  Win w = readWin(a, a.getInts("kernel"));
  std::vector<OAttr> poolAttrs = {{"kernel_shape", w.kernel}, {"strides", w.stride}, {"dilations", w.dilation},
                                  {"ceil_mode", int64_t{a.getBool("ceil_mode")}}};
  std::vector<int64_t> pads = w.padBegin, padded(static_cast<size_t>(rank) * 2, 0);
  pads.insert(pads.end(), w.padEnd.begin(), w.padEnd.end());
  poolAttrs.push_back({"pads", pads});
  std::string y = e.op("MaxPool", {e.name(xv)}, poolAttrs);
  // x padded with -inf far enough for every tap of every window.
  size_t r = in.size();
  for (size_t d = 0; d < r; ++d) {
    int64_t reach = (w.kernel[d] - 1) * w.dilation[d] + w.stride[d] * (out[d] - 1) + 1;
    padded[2 + d] = w.padBegin[d];
    padded[static_cast<size_t>(rank) + 2 + d] = std::max(w.padEnd[d], reach - in[d] - w.padBegin[d]);
  }
  std::string xp = e.op("Pad", {e.name(xv), e.ints(padded), e.scalar(-std::numeric_limits<double>::infinity(), dt)});
  // The taps of every window, stacked on a new axis 2 in row-major order.
  int64_t taps = 1;
  for (int64_t k : w.kernel)
    taps *= k;
  std::vector<std::string> tapValues;
  std::string axis2 = e.ints({2}), spatialAxes = e.ints(iota(2, rank)), steps = e.ints(w.stride);
  for (int64_t t = 0; t < taps; ++t) {
    std::vector<int64_t> starts(r), ends(r);
    for (int64_t rem = t, d = static_cast<int64_t>(r) - 1; d >= 0; --d) {
      auto ud = static_cast<size_t>(d);
      starts[ud] = (rem % w.kernel[ud]) * w.dilation[ud];
      ends[ud] = starts[ud] + w.stride[ud] * (out[ud] - 1) + 1;
      rem /= w.kernel[ud];
    }
    std::string tap = e.op("Slice", {xp, e.ints(starts), e.ints(ends), spatialAxes, steps});
    tapValues.push_back(e.op("Unsqueeze", {tap, axis2}));
  }
  std::string stacked = taps == 1 ? tapValues[0] : e.op("Concat", tapValues, {{"axis", int64_t{2}}});
  // The first tap equal to the window's maximum (a NaN equal to a NaN).
  std::string y2 = e.op("Unsqueeze", {y, axis2});
  std::string isMax = e.op("Or", {e.op("Equal", {stacked, y2}),
                                  e.op("And", {e.op("IsNaN", {stacked}), e.op("IsNaN", {y2})})});
  std::string before = e.op("CumSum", {e.op("Cast", {isMax}, {{"to", int64_t{onnxDType(dt)}}}),
                                       e.tensor([] {
                                         HostTensor t(DType::I64, {});
                                         t.setInt(0, 2);
                                         return t;
                                       }(), "axis")},
                            {{"exclusive", int64_t{1}}});
  std::string first = e.op("And", {isMax, e.op("Equal", {before, e.scalar(0, dt)})});
  std::string routed = e.op("Where", {first, e.op("Unsqueeze", {e.name(dyv), axis2}), e.scalar(0, dt)});
  // Planes [N*C, taps, out...] spread back by one-hot kernels [taps, 1, k...].
  std::vector<int64_t> planeShape = {-1, taps};
  planeShape.insert(planeShape.end(), out.begin(), out.end());
  std::string planes = e.op("Reshape", {routed, e.ints(planeShape)});
  std::vector<int64_t> oneHotShape = {taps, 1};
  oneHotShape.insert(oneHotShape.end(), w.kernel.begin(), w.kernel.end());
  HostTensor oneHot(dt, oneHotShape);
  for (int64_t t = 0; t < taps; ++t)
    oneHot.set(t * taps + t, 1);
  std::string spread = e.op("ConvTranspose", {planes, e.tensor(oneHot, "one_hot")}, spreadAttrs(w, out, in, 1));
  e.node("Reshape", {spread, e.op("Shape", {e.name(xv)})}, e.names(n.results));
  return {};
}

namespace {

/// The axes a batch norm reduces (all but 1) and a [C] tensor reshaped to
/// broadcast over x's channels.
std::vector<int64_t> bnAxes(int rank) {
  std::vector<int64_t> axes = {0};
  for (int64_t i = 2; i < rank; ++i)
    axes.push_back(i);
  return axes;
}

std::string perChannel(Emitter &e, const std::string &v, int rank) {
  std::vector<int64_t> shape(static_cast<size_t>(rank), 1);
  shape[1] = -1;
  return e.op("Reshape", {v, e.ints(shape)});
}

} // namespace

Status exportBatchNormTrain(Emitter &e, const Node &n) {
  AttrView a = n.attrView();
  ValueId xv = n.operands[0];
  int rank = e.type(xv).rank();
  DType dt = e.type(xv).dtype;
  std::vector<std::string> out = e.names(n.results);
  std::vector<OAttr> keep = {{"axes", bnAxes(rank)}, {"keepdims", int64_t{1}}};
  std::string mean = e.op("ReduceMean", {e.name(xv)}, keep);
  std::string centered = e.op("Sub", {e.name(xv), mean});
  std::string var = e.op("ReduceMean", {e.op("Mul", {centered, centered})}, keep);
  std::string inv = e.op("Reciprocal", {e.op("Sqrt", {e.op("Add", {var, e.scalar(a.getFloat("epsilon"), dt)})})});
  std::string scaled = e.op("Mul", {e.op("Mul", {centered, inv}), perChannel(e, e.name(n.operands[1]), rank)});
  e.node("Add", {scaled, perChannel(e, e.name(n.operands[2]), rank)}, {out[0]});
  std::string flat = e.ints({-1});
  e.node("Reshape", {mean, flat}, {out[1]});
  e.node("Reshape", {var, flat}, {out[2]});
  return {};
}

Status exportBatchNormGrad(Emitter &e, const Node &n) {
  AttrView a = n.attrView();
  std::vector<std::string> in = e.names(n.operands), out = e.names(n.results);
  int rank = e.type(n.operands[1]).rank();
  DType dt = e.type(n.operands[1]).dtype;
  std::vector<OAttr> keep = {{"axes", bnAxes(rank)}, {"keepdims", int64_t{1}}};
  std::string inv = e.op("Reciprocal", {e.op("Sqrt", {e.op("Add", {perChannel(e, in[4], rank),
                                                                   e.scalar(a.getFloat("epsilon"), dt)})})});
  std::string xhat = e.op("Mul", {e.op("Sub", {in[1], perChannel(e, in[3], rank)}), inv});
  std::string dyXhat = e.op("Mul", {in[0], xhat});
  // dx = scale inv (dy - mean(dy) - xhat mean(dy xhat)); dscale, dbias the sums.
  std::string centered = e.op("Sub", {e.op("Sub", {in[0], e.op("ReduceMean", {in[0]}, keep)}),
                                      e.op("Mul", {xhat, e.op("ReduceMean", {dyXhat}, keep)})});
  e.node("Mul", {e.op("Mul", {perChannel(e, in[2], rank), inv}), centered}, {out[0]});
  std::string axes = e.ints(bnAxes(rank));
  e.node("ReduceSum", {dyXhat, axes}, {out[1]}, {{"keepdims", int64_t{0}}});
  e.node("ReduceSum", {in[0], axes}, {out[2]}, {{"keepdims", int64_t{0}}});
  return {};
}

} // namespace kiln::onnxexport
