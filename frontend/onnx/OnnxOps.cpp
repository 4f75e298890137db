//===- frontend/onnx/OnnxOps.cpp - ONNX ops onto kiln's op table ----------===//
//
// One converter per ONNX op type, and the table that names them. ONNX ops
// that are compositions (Gemm, Flatten, LRN, LayerNormalization, ...) become
// several kiln nodes; shape operands (Reshape's shape, Pad's pads, ...) must
// be known at import time and are folded through the reference interpreter.
//
//===----------------------------------------------------------------------===//
#include "frontend/onnx/Importer.h"
#include "frontend/Recurrent.h"
#include "ir/DimExpr.h"
#include "ir/TypeRules.h"

#include <cmath>
#include <limits>
#include <numeric>

namespace kiln::onnximport {

using namespace ir;



namespace {

using Ints = std::vector<int64_t>;

// --- Elementwise ----------------------------------------------------------------------

template <OpKind K> Status unary(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(ValueId y, c.emit(K, {x}));
  return c.bind(0, y);
}

template <OpKind K> Status binary(NodeCtx &c) {
  KILN_ASSIGN(auto ab, c.binaryIn());
  auto [a, b] = ab;
  if (K == OpKind::Pow && c.typeOf(a).dtype != c.typeOf(b).dtype) {
    // ONNX Pow takes an exponent of any numeric type; the result has the base's.
    KILN_ASSIGN(b, c.emit(OpKind::Cast, {b}, {{"to", c.typeOf(a).dtype}}));
  }
  KILN_ASSIGN(ValueId y, c.emit(K, {a, b}));
  return c.bind(0, y);
}

/// a <= b as less or equal, a >= b as greater or equal.
template <OpKind K> Status compareOrEqual(NodeCtx &c) {
  KILN_ASSIGN(ValueId a, c.in(0));
  KILN_ASSIGN(ValueId b, c.in(1));
  KILN_ASSIGN(ValueId strict, c.emit(K, {a, b}));
  KILN_ASSIGN(ValueId eq, c.emit(OpKind::Equal, {a, b}));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Or, {strict, eq}));
  return c.bind(0, y);
}

Expected<ValueId> logicalNot(NodeCtx &c, ValueId x) {
  KILN_ASSIGN(ValueId f, c.scalar(0, DType::Bool));
  return c.emit(OpKind::Equal, {x, f});
}

Status convNot(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(ValueId y, logicalNot(c, x));
  return c.bind(0, y);
}

Status convXor(NodeCtx &c) {
  KILN_ASSIGN(auto ab, c.binaryIn());
  auto [a, b] = ab;
  KILN_ASSIGN(ValueId eq, c.emit(OpKind::Equal, {a, b}));
  KILN_ASSIGN(ValueId y, logicalNot(c, eq));
  return c.bind(0, y);
}

Status convIsNaN(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(ValueId eq, c.emit(OpKind::Equal, {x, x}));
  KILN_ASSIGN(ValueId y, logicalNot(c, eq));
  return c.bind(0, y);
}

Status convIsInf(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  DType dt = c.typeOf(x).dtype;
  bool pos = c.attrInt("detect_positive", 1), neg = c.attrInt("detect_negative", 1);
  KILN_ASSIGN(ValueId pinf, c.scalar(INFINITY, dt));
  KILN_ASSIGN(ValueId ninf, c.scalar(-INFINITY, dt));
  KILN_ASSIGN(ValueId isPos, c.emit(OpKind::Equal, {x, pinf}));
  KILN_ASSIGN(ValueId isNeg, c.emit(OpKind::Equal, {x, ninf}));
  KILN_ASSIGN(ValueId none, c.emit(OpKind::Less, {x, x})); // all false, of x's shape
  ValueId a = pos ? isPos : none, b = neg ? isNeg : none;
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Or, {a, b}));
  return c.bind(0, y);
}

Status convWhere(NodeCtx &c) {
  KILN_ASSIGN(ValueId cond, c.in(0));
  KILN_ASSIGN(ValueId a, c.in(1));
  KILN_ASSIGN(ValueId b, c.in(2));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Select, {cond, a, b}));
  return c.bind(0, y);
}

Status convCast(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  auto to = dtypeFromOnnx(static_cast<int32_t>(c.attrInt("to", 0)));
  if (!to)
    return c.unsupported(to.error().message);
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Cast, {x}, {{"to", *to}}));
  return c.bind(0, y);
}

Status convCastLike(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(ValueId like, c.in(1));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Cast, {x}, {{"to", c.typeOf(like).dtype}}));
  return c.bind(0, y);
}

Status convIdentity(NodeCtx &c) { return unary<OpKind::Identity>(c); }

Status convLeakyRelu(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::LeakyRelu, {x}, {{"alpha", c.attrFloat("alpha", 0.01)}}));
  return c.bind(0, y);
}

Status convElu(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Elu, {x}, {{"alpha", c.attrFloat("alpha", 1.0)}}));
  return c.bind(0, y);
}

Status convSelu(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Selu, {x},
                           {{"alpha", c.attrFloat("alpha", 1.67326319217681884765625)},
                            {"gamma", c.attrFloat("gamma", 1.05070102214813232421875)}}));
  return c.bind(0, y);
}

/// clip(alpha * x + beta, 0, 1)
Expected<ValueId> hardSigmoid(NodeCtx &c, ValueId x, double alpha, double beta) {
  DType dt = c.typeOf(x).dtype;
  KILN_ASSIGN(ValueId a, c.scalar(alpha, dt));
  KILN_ASSIGN(ValueId b, c.scalar(beta, dt));
  KILN_ASSIGN(ValueId ax, c.emit(OpKind::Mul, {x, a}));
  KILN_ASSIGN(ValueId axb, c.emit(OpKind::Add, {ax, b}));
  return c.emit(OpKind::Clip, {axb}, {{"min", 0.0}, {"max", 1.0}});
}

Status convHardSigmoid(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(ValueId y, hardSigmoid(c, x, c.attrFloat("alpha", 0.2), c.attrFloat("beta", 0.5)));
  return c.bind(0, y);
}

Status convHardSwish(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(ValueId h, hardSigmoid(c, x, 1.0 / 6, 0.5));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Mul, {x, h}));
  return c.bind(0, y);
}

Status convPRelu(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(ValueId slope, c.in(1));
  // Before opset 7 a slope of C values is per channel (dim 1), as PyTorch's
  // PReLU(num_parameters=C) exported.
  if (const Shape xs = c.typeOf(x).shape, ss = c.typeOf(slope).shape;
      c.opset() < 7 && ss.size() == 1 && xs.size() >= 2 && ss[0] == xs[1]) {
    Shape perChannel(xs.size() - 1, Dim::of(1));
    perChannel[0] = ss[0];
    KILN_ASSIGN(slope, c.reshapeTo(slope, perChannel));
  }
  KILN_ASSIGN(ValueId zero, c.scalar(0, c.typeOf(x).dtype));
  KILN_ASSIGN(ValueId neg, c.emit(OpKind::Less, {x, zero}));
  KILN_ASSIGN(ValueId scaled, c.emit(OpKind::Mul, {x, slope}));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Select, {neg, scaled, x}));
  return c.bind(0, y);
}

Status convThresholdedRelu(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  DType dt = c.typeOf(x).dtype;
  KILN_ASSIGN(ValueId alpha, c.scalar(c.attrFloat("alpha", 1.0), dt));
  KILN_ASSIGN(ValueId zero, c.scalar(0, dt));
  KILN_ASSIGN(ValueId above, c.emit(OpKind::Greater, {x, alpha}));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Select, {above, x, zero}));
  return c.bind(0, y);
}

Status convCelu(NodeCtx &c) {
  // max(0, x) + min(0, alpha * (exp(x / alpha) - 1)) = elu(x / alpha) * alpha
  KILN_ASSIGN(ValueId x, c.in(0));
  double alpha = c.attrFloat("alpha", 1.0);
  KILN_ASSIGN(ValueId a, c.scalar(alpha, c.typeOf(x).dtype));
  KILN_ASSIGN(ValueId scaled, c.emit(OpKind::Div, {x, a}));
  KILN_ASSIGN(ValueId e, c.emit(OpKind::Elu, {scaled}, {{"alpha", 1.0}}));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Mul, {e, a}));
  return c.bind(0, y);
}

Status convClip(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  if (c.opset() < 11) {
    KILN_ASSIGN(ValueId y, c.emit(OpKind::Clip, {x},
                             {{"min", c.attrFloat("min", -INFINITY)}, {"max", c.attrFloat("max", INFINITY)}}));
    return c.bind(0, y);
  }
  ValueId y = x;
  if (c.hasInput(1)) {
    KILN_ASSIGN(ValueId lo, c.in(1));
    KILN_ASSIGN(y, c.emit(OpKind::Max, {y, lo}));
  }
  if (c.hasInput(2)) {
    KILN_ASSIGN(ValueId hi, c.in(2));
    KILN_ASSIGN(y, c.emit(OpKind::Min, {y, hi}));
  }
  if (y == x) {
    KILN_ASSIGN(y, c.emit(OpKind::Identity, {x}));
  }
  return c.bind(0, y);
}

/// Max, Min, Sum and Mean of any number of inputs.
template <OpKind K> Status variadic(NodeCtx &c) {
  KILN_ASSIGN(ValueId acc, c.in(0));
  int n = c.numInputs();
  for (int i = 1; i < n; ++i) {
    KILN_ASSIGN(ValueId x, c.in(i));
    KILN_ASSIGN(acc, c.emit(K == OpKind::ReduceMean ? OpKind::Add : K, {acc, x}));
  }
  if (K == OpKind::ReduceMean && n > 1) {
    KILN_ASSIGN(ValueId count, c.scalar(n, c.typeOf(acc).dtype));
    KILN_ASSIGN(acc, c.emit(OpKind::Div, {acc, count}));
  }
  if (n == 1) {
    KILN_ASSIGN(acc, c.emit(OpKind::Identity, {acc}));
  }
  return c.bind(0, acc);
}

// --- Softmax and losses ----------------------------------------------------------------

/// Opsets < 13 define softmax over the input flattened to 2-D at `axis`.
template <OpKind K> Status convSoftmax(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  const Type &t = c.typeOf(x);
  if (c.opset() >= 13) {
    KILN_ASSIGN(ValueId y, c.emit(K, {x}, {{"axis", c.attrInt("axis", -1)}}));
    return c.bind(0, y);
  }
  auto axis = normalizeAxis(c.attrInt("axis", 1), std::max(t.rank(), 1));
  if (!axis)
    return c.error(axis.error().message);
  if (*axis == t.rank() - 1) {
    KILN_ASSIGN(ValueId y, c.emit(K, {x}, {{"axis", int64_t{-1}}}));
    return c.bind(0, y);
  }
  Dim outer = Dim::of(1), inner = Dim::of(1);
  for (int i = 0; i < t.rank(); ++i) {
    Dim &d = i < *axis ? outer : inner;
    d = d.isConst() && t.shape[i].isConst() ? Dim::of(d.value * t.shape[i].value) : Dim::unknown();
  }
  KILN_ASSIGN(ValueId flat, c.reshapeTo(x, {outer, inner}));
  KILN_ASSIGN(ValueId s, c.emit(K, {flat}, {{"axis", int64_t{1}}}));
  KILN_ASSIGN(ValueId y, c.reshapeTo(s, t.shape));
  return c.bind(0, y);
}

Status convSoftmaxCrossEntropy(NodeCtx &c) {
  KILN_ASSIGN(ValueId scores, c.in(0));
  KILN_ASSIGN(ValueId labels, c.in(1));
  std::vector<ValueId> operands = {scores, labels};
  if (c.hasInput(2)) {
    KILN_ASSIGN(ValueId w, c.in(2));
    operands.push_back(w);
  }
  AttrList attrs = {{"reduction", c.attrString("reduction", "mean")}};
  if (c.hasAttr("ignore_index"))
    attrs.emplace_back("ignore_index", c.attrInt("ignore_index", 0));
  KILN_ASSIGN(ValueId loss, c.emit(OpKind::SoftmaxCrossEntropy, operands, attrs));
  KILN_TRY(c.bind(0, loss));
  if (c.node().output_size() > 1 && !c.node().output(1).empty()) {
    KILN_ASSIGN(ValueId logp, c.emit(OpKind::LogSoftmax, {scores}, {{"axis", int64_t{1}}}));
    KILN_TRY(c.bind(1, logp));
  }
  return {};
}

Status convNLLLoss(NodeCtx &c) {
  KILN_ASSIGN(ValueId input, c.in(0));
  KILN_ASSIGN(ValueId target, c.in(1));
  const Type &it = c.typeOf(input);
  if (it.rank() < 2 || !it.shape[1].isConst())
    return c.unsupported("NegativeLogLikelihoodLoss needs a constant number of classes (dim 1)");
  DType dt = it.dtype;
  DType tt = c.typeOf(target).dtype;
  std::optional<ValueId> keep; // 1 where the target is not ignored
  ValueId safe = target;
  if (c.hasAttr("ignore_index")) {
    KILN_ASSIGN(ValueId ii, c.scalar(static_cast<double>(c.attrInt("ignore_index", 0)), tt));
    KILN_ASSIGN(ValueId ignored, c.emit(OpKind::Equal, {target, ii}));
    KILN_ASSIGN(ValueId zero, c.scalar(0, tt));
    KILN_ASSIGN(safe, c.emit(OpKind::Select, {ignored, zero, target}));
    KILN_ASSIGN(ValueId f0, c.scalar(0, dt));
    KILN_ASSIGN(ValueId f1, c.scalar(1, dt));
    KILN_ASSIGN(keep, c.emit(OpKind::Select, {ignored, f0, f1}));
  }
  KILN_ASSIGN(ValueId oh, c.emit(OpKind::OneHot, {safe}, {{"depth", it.shape[1].value}, {"axis", int64_t{1}}, {"dtype", dt}}));
  KILN_ASSIGN(ValueId prod, c.emit(OpKind::Mul, {input, oh}));
  KILN_ASSIGN(ValueId picked, c.emit(OpKind::ReduceSum, {prod}, {{"axes", Ints{1}}, {"keepdims", false}}));
  KILN_ASSIGN(ValueId loss, c.emit(OpKind::Neg, {picked}));
  std::optional<ValueId> weight = keep;
  if (c.hasInput(2)) {
    KILN_ASSIGN(ValueId w, c.in(2));
    KILN_ASSIGN(ValueId wt, c.emit(OpKind::Gather, {w, safe}));
    if (keep) {
      KILN_ASSIGN(wt, c.emit(OpKind::Mul, {wt, *keep}));
    }
    weight = wt;
  }
  if (weight) {
    KILN_ASSIGN(loss, c.emit(OpKind::Mul, {loss, *weight}));
  }
  std::string red = c.attrString("reduction", "mean");
  AttrList all = {{"keepdims", false}};
  if (red == "none")
    return c.bind(0, loss);
  if (red == "sum") {
    KILN_ASSIGN(ValueId y, c.emit(OpKind::ReduceSum, {loss}, all));
    return c.bind(0, y);
  }
  if (red != "mean")
    return c.error(fmt::format("reduction must be none, sum or mean, got \"{}\"", red));
  if (!weight) {
    KILN_ASSIGN(ValueId y, c.emit(OpKind::ReduceMean, {loss}, all));
    return c.bind(0, y);
  }
  KILN_ASSIGN(ValueId total, c.emit(OpKind::ReduceSum, {loss}, all));
  KILN_ASSIGN(ValueId wsum, c.emit(OpKind::ReduceSum, {*weight}, all));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Div, {total, wsum}));
  return c.bind(0, y);
}

// --- Contractions and pooling --------------------------------------------------------

Status convMatMul(NodeCtx &c) { return binary<OpKind::MatMul>(c); }

Status convGemm(NodeCtx &c) {
  // Before opset 7, C broadcasts only with broadcast=1; numpy's rules, which
  // kiln applies, accept every C that either spelling accepts.
  KILN_ASSIGN(ValueId a, c.in(0));
  KILN_ASSIGN(ValueId b, c.in(1));
  DType dt = c.typeOf(a).dtype;
  KILN_ASSIGN(ValueId y, c.emit(OpKind::MatMul, {a, b},
                           {{"transpose_a", c.attrInt("transA", 0) != 0}, {"transpose_b", c.attrInt("transB", 0) != 0}}));
  double alpha = c.attrFloat("alpha", 1.0), beta = c.attrFloat("beta", 1.0);
  if (alpha != 1.0) {
    KILN_ASSIGN(ValueId s, c.scalar(alpha, dt));
    KILN_ASSIGN(y, c.emit(OpKind::Mul, {y, s}));
  }
  if (c.hasInput(2) && beta != 0.0) {
    KILN_ASSIGN(ValueId bias, c.in(2));
    if (beta != 1.0) {
      KILN_ASSIGN(ValueId s, c.scalar(beta, dt));
      KILN_ASSIGN(bias, c.emit(OpKind::Mul, {bias, s}));
    }
    KILN_ASSIGN(y, c.emit(OpKind::Add, {y, bias}));
  }
  return c.bind(0, y);
}

/// Explicit pads from `pads` or `auto_pad`, for a window over x's spatial dims.
Expected<Ints> windowPads(NodeCtx &c, const Type &x, const Ints &kernel, const Ints &strides, const Ints &dilations) {
  size_t n = kernel.size();
  if (x.rank() != static_cast<int>(n) + 2)
    return c.error(fmt::format("kernel_shape [{}] does not fit {}", fmt::join(kernel, ","), toString(x)));
  if ((!strides.empty() && strides.size() != n) || (!dilations.empty() && dilations.size() != n))
    return c.error("strides and dilations need one entry per spatial dim");
  for (int64_t v : strides)
    if (v < 1)
      return c.error(fmt::format("strides [{}] must be >= 1", fmt::join(strides, ",")));
  for (int64_t v : dilations)
    if (v < 1)
      return c.error(fmt::format("dilations [{}] must be >= 1", fmt::join(dilations, ",")));
  for (int64_t v : kernel)
    if (v < 1 || v > (int64_t{1} << 31))
      return c.error(fmt::format("kernel_shape [{}] must be >= 1 and at most 2^31", fmt::join(kernel, ",")));
  std::string mode = c.attrString("auto_pad", "NOTSET");
  if (mode == "NOTSET") {
    Ints pads = c.attrInts("pads");
    return pads.empty() ? Ints(2 * n, 0) : pads;
  }
  if (mode == "VALID")
    return Ints(2 * n, 0);
  if (mode != "SAME_UPPER" && mode != "SAME_LOWER")
    return c.error(fmt::format("auto_pad must be NOTSET, VALID, SAME_UPPER or SAME_LOWER, got {}", mode));
  Ints pads(2 * n);
  for (size_t i = 0; i < n; ++i) {
    const Dim &in = x.shape[i + 2];
    if (!in.isConst())
      return c.unsupported("auto_pad SAME over a spatial dim unknown at import");
    int64_t s = strides.empty() ? 1 : strides[i], d = dilations.empty() ? 1 : dilations[i];
    int64_t out = (in.value + s - 1) / s;
    int64_t total = std::max<int64_t>(0, (out - 1) * s + (kernel[i] - 1) * d + 1 - in.value);
    int64_t small = total / 2;
    pads[i] = mode == "SAME_UPPER" ? small : total - small;
    pads[i + n] = total - pads[i];
  }
  return pads;
}

Expected<ValueId> addChannelBias(NodeCtx &c, ValueId y, int biasInput) {
  if (!c.hasInput(biasInput))
    return y;
  KILN_ASSIGN(ValueId b, c.in(biasInput));
  Shape s = {c.typeOf(b).shape.empty() ? Dim::of(1) : c.typeOf(b).shape[0]};
  s.resize(static_cast<size_t>(c.typeOf(y).rank() - 1), Dim::of(1));
  KILN_ASSIGN(ValueId shaped, c.reshapeTo(b, s));
  return c.emit(OpKind::Add, {y, shaped});
}

/// The kernel's spatial size: the weight's, which a `kernel_shape`
/// attribute must agree with.
Expected<Ints> kernelOf(NodeCtx &c, ValueId w) {
  Ints given = c.attrInts("kernel_shape"), kernel;
  const Type &wt = c.typeOf(w);
  for (int i = 2; i < wt.rank(); ++i) {
    if (!wt.shape[i].isConst())
      return given.empty() ? c.unsupported("a kernel whose size is unknown at import") : Expected<Ints>(given);
    kernel.push_back(wt.shape[i].value);
  }
  if (!given.empty() && given != kernel)
    return c.error(fmt::format("kernel_shape [{}] does not match the weight's spatial dims [{}] ({})",
                               fmt::join(given, ","), fmt::join(kernel, ","), toString(wt)));
  return kernel;
}

Status convConv(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(ValueId w, c.in(1));
  KILN_ASSIGN(Ints kernel, kernelOf(c, w));
  Ints strides = c.attrInts("strides"), dilations = c.attrInts("dilations");
  KILN_ASSIGN(Ints pads, windowPads(c, c.typeOf(x), kernel, strides, dilations));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Conv, {x, w},
                           {{"stride", strides}, {"pad", pads}, {"dilation", dilations}, {"groups", c.attrInt("group", 1)}}));
  KILN_ASSIGN(y, addChannelBias(c, y, 2));
  return c.bind(0, y);
}

Status convConvTranspose(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(ValueId w, c.in(1));
  KILN_ASSIGN(Ints kernel, kernelOf(c, w));
  const Type xt = c.typeOf(x);
  size_t n = kernel.size();
  if (xt.rank() != static_cast<int>(n) + 2)
    return c.error(fmt::format("kernel_shape [{}] does not fit {}", fmt::join(kernel, ","), toString(xt)));
  Ints strides = c.attrInts("strides"), dilations = c.attrInts("dilations"), outPad = c.attrInts("output_padding");
  if (strides.empty())
    strides.assign(n, 1);
  if (dilations.empty())
    dilations.assign(n, 1);
  if (outPad.empty())
    outPad.assign(n, 0);
  Ints pads = c.attrInts("pads");
  if (pads.empty())
    pads.assign(2 * n, 0);
  if (strides.size() != n || dilations.size() != n || outPad.size() != n || pads.size() != 2 * n)
    return c.error("strides, dilations, output_padding and pads need one entry per spatial dim (pads two)");
  Ints outShape = c.attrInts("output_shape");
  std::string mode = c.attrString("auto_pad", "NOTSET");
  if (!outShape.empty() || mode == "SAME_UPPER" || mode == "SAME_LOWER") {
    if (outShape.size() > n) // output_shape may list N and C too
      outShape.erase(outShape.begin(), outShape.begin() + static_cast<long>(outShape.size() - n));
    if (!outShape.empty() && outShape.size() != n)
      return c.error("output_shape needs one entry per spatial dim");
    for (size_t i = 0; i < n; ++i) {
      const Dim &in = xt.shape[i + 2];
      if (!in.isConst())
        return c.unsupported("ConvTranspose with output_shape or auto_pad over a dim unknown at import");
      int64_t want = outShape.empty() ? in.value * strides[i] : outShape[i];
      int64_t total = strides[i] * (in.value - 1) + outPad[i] + (kernel[i] - 1) * dilations[i] + 1 - want;
      if (total < 0) { // the output is larger than the window covers: widen it at the end
        outPad[i] -= total;
        total = 0;
      }
      bool upper = mode != "SAME_LOWER";
      pads[i] = upper ? total / 2 : total - total / 2;
      pads[i + n] = total - pads[i];
    }
  }
  KILN_ASSIGN(ValueId y, c.emit(OpKind::ConvTranspose, {x, w},
                           {{"stride", strides},
                            {"pad", pads},
                            {"dilation", dilations},
                            {"groups", c.attrInt("group", 1)},
                            {"output_padding", outPad}}));
  KILN_ASSIGN(y, addChannelBias(c, y, 2));
  return c.bind(0, y);
}

template <OpKind K> Status convPool(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  if (c.node().output_size() > 1 && !c.node().output(1).empty())
    return c.unsupported("MaxPool's Indices output");
  if (c.attrInt("storage_order", 0) != 0)
    return c.unsupported("MaxPool with storage_order=1");
  Ints kernel = c.attrInts("kernel_shape");
  Ints strides = c.attrInts("strides"), dilations = c.attrInts("dilations");
  if (strides.empty()) // ONNX's default stride is 1; kiln's pools default to the kernel
    strides.assign(kernel.size(), 1);
  KILN_ASSIGN(Ints pads, windowPads(c, c.typeOf(x), kernel, strides, dilations));
  AttrList attrs = {{"kernel", kernel}, {"stride", strides}, {"pad", pads},
                    {"dilation", dilations}, {"ceil_mode", c.attrInt("ceil_mode", 0) != 0}};
  if (K == OpKind::AvgPool)
    attrs.emplace_back("count_include_pad", c.attrInt("count_include_pad", 0) != 0);
  KILN_ASSIGN(ValueId y, c.emit(K, {x}, attrs));
  return c.bind(0, y);
}

// --- Normalization --------------------------------------------------------------------

Status convBatchNorm(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(ValueId scale, c.in(1));
  KILN_ASSIGN(ValueId bias, c.in(2));
  KILN_ASSIGN(ValueId mean, c.in(3));
  KILN_ASSIGN(ValueId var, c.in(4));
  double eps = c.attrFloat("epsilon", 1e-5);
  // Opsets 1-6 say test mode with is_test (default 0: the batch's
  // statistics); 7-13 by the outputs asked for; 14 on with training_mode.
  bool training = c.opset() < 7    ? c.attrInt("is_test", 0) == 0
                  : c.opset() < 14 ? c.node().output_size() > 1
                                   : c.attrInt("training_mode", 0) != 0;
  if (c.opset() < 9 && c.attrInt("spatial", 1) == 0) {
    // Statistics per activation (scale and the rest of x's shape past N).
    if (training)
      return c.unsupported("BatchNormalization with spatial=0 in training mode");
    Shape rest = c.typeOf(x).shape;
    rest.erase(rest.begin());
    DType dt = c.typeOf(x).dtype;
    std::vector<ValueId> params;
    for (ValueId p : {scale, bias, mean, var}) {
      KILN_ASSIGN(ValueId r, c.reshapeTo(p, rest));
      params.push_back(r);
    }
    KILN_ASSIGN(ValueId e, c.scalar(eps, dt));
    KILN_ASSIGN(ValueId centered, c.emit(OpKind::Sub, {x, params[2]}));
    KILN_ASSIGN(ValueId ve, c.emit(OpKind::Add, {params[3], e}));
    KILN_ASSIGN(ValueId sd, c.emit(OpKind::Sqrt, {ve}));
    KILN_ASSIGN(ValueId norm, c.emit(OpKind::Div, {centered, sd}));
    KILN_ASSIGN(ValueId scaled, c.emit(OpKind::Mul, {norm, params[0]}));
    KILN_ASSIGN(ValueId y, c.emit(OpKind::Add, {scaled, params[1]}));
    return c.bind(0, y);
  }
  if (!training) {
    for (int i = 1; i < c.node().output_size(); ++i)
      if (!c.node().output(i).empty())
        return c.unsupported("BatchNormalization's statistics outputs outside training mode");
    KILN_ASSIGN(ValueId y, c.emit(OpKind::BatchNormInfer, {x, scale, bias, mean, var}, {{"epsilon", eps}}));
    return c.bind(0, y);
  }
  KILN_ASSIGN(auto r, c.emitMulti(OpKind::BatchNormTrain, {x, scale, bias}, {{"epsilon", eps}}));
  KILN_TRY(c.bind(0, r[0]));
  // running = running * momentum + batch * (1 - momentum)
  double m = c.attrFloat("momentum", 0.9);
  DType dt = c.typeOf(x).dtype;
  KILN_ASSIGN(ValueId mk, c.scalar(m, dt));
  KILN_ASSIGN(ValueId mk1, c.scalar(1 - m, dt));
  for (int i = 0; i < 2; ++i) {
    ValueId running = i == 0 ? mean : var;
    KILN_ASSIGN(ValueId a, c.emit(OpKind::Mul, {running, mk}));
    KILN_ASSIGN(ValueId b, c.emit(OpKind::Mul, {r[1 + i], mk1}));
    KILN_ASSIGN(ValueId updated, c.emit(OpKind::Add, {a, b}));
    KILN_TRY(c.bind(1 + i, updated));
  }
  return {};
}

/// (x - mean) / sqrt(var + eps) over `axes`; also returns mean and 1/std (keepdims).
struct Normalized {
  ValueId y, mean, invStd;
};
Expected<Normalized> normalize(NodeCtx &c, ValueId x, const Ints &axes, double eps) {
  AttrList keep = {{"axes", axes}, {"keepdims", true}};
  KILN_ASSIGN(ValueId mean, c.emit(OpKind::ReduceMean, {x}, keep));
  KILN_ASSIGN(ValueId d, c.emit(OpKind::Sub, {x, mean}));
  KILN_ASSIGN(ValueId d2, c.emit(OpKind::Mul, {d, d}));
  KILN_ASSIGN(ValueId var, c.emit(OpKind::ReduceMean, {d2}, keep));
  KILN_ASSIGN(ValueId e, c.scalar(eps, c.typeOf(x).dtype));
  KILN_ASSIGN(ValueId ve, c.emit(OpKind::Add, {var, e}));
  KILN_ASSIGN(ValueId inv, c.emit(OpKind::Rsqrt, {ve}));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Mul, {d, inv}));
  return Normalized{y, mean, inv};
}

Status convInstanceNorm(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(ValueId scale, c.in(1));
  KILN_ASSIGN(ValueId bias, c.in(2));
  int r = c.typeOf(x).rank();
  Ints axes;
  for (int i = 2; i < r; ++i)
    axes.push_back(i);
  KILN_ASSIGN(Normalized n, normalize(c, x, axes, c.attrFloat("epsilon", 1e-5)));
  Shape s = {c.typeOf(scale).shape[0]};
  s.resize(static_cast<size_t>(r - 1), Dim::of(1));
  KILN_ASSIGN(ValueId sc, c.reshapeTo(scale, s));
  KILN_ASSIGN(ValueId bc, c.reshapeTo(bias, s));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Mul, {n.y, sc}));
  KILN_ASSIGN(y, c.emit(OpKind::Add, {y, bc}));
  return c.bind(0, y);
}

Status convLayerNorm(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(ValueId scale, c.in(1));
  int r = c.typeOf(x).rank();
  auto axis = normalizeAxis(c.attrInt("axis", -1), r);
  if (!axis)
    return c.error(axis.error().message);
  Ints axes;
  for (int i = *axis; i < r; ++i)
    axes.push_back(i);
  KILN_ASSIGN(Normalized n, normalize(c, x, axes, c.attrFloat("epsilon", 1e-5)));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Mul, {n.y, scale}));
  if (c.hasInput(2)) {
    KILN_ASSIGN(ValueId b, c.in(2));
    KILN_ASSIGN(y, c.emit(OpKind::Add, {y, b}));
  }
  KILN_TRY(c.bind(0, y));
  KILN_TRY(c.bind(1, n.mean));
  return c.bind(2, n.invStd);
}

Status convLRN(NodeCtx &c) {
  // y = x / (bias + alpha * mean of x^2 over `size` neighbouring channels)^beta,
  // the window mean taken by an average pool over channels (padding counted).
  KILN_ASSIGN(ValueId x, c.in(0));
  const Type &t = c.typeOf(x);
  if (t.rank() < 3 || !t.shape[1].isConst())
    return c.unsupported("LRN over a tensor of rank < 3 or with channels unknown at import");
  int64_t size = c.attrInt("size", 1), channels = t.shape[1].value;
  if (size < 1)
    return c.error(fmt::format("size must be >= 1, got {}", size));
  // A window reaching past every channel on both sides sums them all: a
  // window of 2C - 1 with C - 1 of padding each side sums the same, and its
  // divisor is rescaled to `size` (so size 2^40 costs what size 2C - 1 does).
  int64_t window = size, before = (size - 1) / 2;
  double rescale = 1;
  if (before >= channels - 1 && channels > 0) {
    window = 2 * channels - 1;
    before = channels - 1;
    rescale = static_cast<double>(window) / static_cast<double>(size);
  }
  DType dt = t.dtype;
  KILN_ASSIGN(ValueId sq, c.emit(OpKind::Mul, {x, x}));
  KILN_ASSIGN(ValueId planes, c.reshapeTo(sq, {t.shape[0], Dim::of(1), t.shape[1], Dim::unknown()}));
  KILN_ASSIGN(ValueId avg, c.emit(OpKind::AvgPool, {planes},
                             {{"kernel", Ints{window, 1}}, {"stride", Ints{1, 1}},
                              {"pad", Ints{before, 0, window - 1 - before, 0}},
                              {"count_include_pad", true}}));
  if (rescale != 1) {
    KILN_ASSIGN(ValueId factor, c.scalar(rescale, dt));
    KILN_ASSIGN(avg, c.emit(OpKind::Mul, {avg, factor}));
  }
  KILN_ASSIGN(ValueId back, c.reshapeTo(avg, t.shape));
  KILN_ASSIGN(ValueId alpha, c.scalar(c.attrFloat("alpha", 1e-4), dt));
  KILN_ASSIGN(ValueId bias, c.scalar(c.attrFloat("bias", 1.0), dt));
  KILN_ASSIGN(ValueId beta, c.scalar(c.attrFloat("beta", 0.75), dt));
  KILN_ASSIGN(ValueId scaled, c.emit(OpKind::Mul, {back, alpha}));
  KILN_ASSIGN(ValueId base, c.emit(OpKind::Add, {scaled, bias}));
  KILN_ASSIGN(ValueId denom, c.emit(OpKind::Pow, {base, beta}));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Div, {x, denom}));
  return c.bind(0, y);
}

// --- Reductions ------------------------------------------------------------------------

enum class Reduce { Sum, Mean, Max, Min, Prod, L1, L2, LogSum, LogSumExp, SumSquare };

template <Reduce R> Status convReduce(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  Ints axes = c.attrInts("axes");
  if (R == Reduce::Sum && c.opset() >= 13) {
    axes.clear();
    if (c.hasInput(1)) {
      KILN_ASSIGN(axes, c.constInts(1));
    }
    if (axes.empty() && c.attrInt("noop_with_empty_axes", 0)) {
      KILN_ASSIGN(ValueId y, c.emit(OpKind::Identity, {x}));
      return c.bind(0, y);
    }
  }
  bool keep = c.attrInt("keepdims", 1) != 0;
  AttrList attrs = {{"axes", axes}, {"keepdims", keep}};
  ValueId y = x;
  switch (R) {
  case Reduce::Sum: {
    KILN_ASSIGN(y, c.emit(OpKind::ReduceSum, {x}, attrs));
    break;
  }
  case Reduce::Mean: {
    KILN_ASSIGN(y, c.emit(OpKind::ReduceMean, {x}, attrs));
    break;
  }
  case Reduce::Max: {
    KILN_ASSIGN(y, c.emit(OpKind::ReduceMax, {x}, attrs));
    break;
  }
  case Reduce::Min: {
    KILN_ASSIGN(y, c.emit(OpKind::ReduceMin, {x}, attrs));
    break;
  }
  case Reduce::Prod: {
    KILN_ASSIGN(y, c.emit(OpKind::ReduceProd, {x}, attrs));
    break;
  }
  case Reduce::L1: {
    KILN_ASSIGN(ValueId a, c.emit(OpKind::Abs, {x}));
    KILN_ASSIGN(y, c.emit(OpKind::ReduceSum, {a}, attrs));
    break;
  }
  case Reduce::L2:
  case Reduce::SumSquare: {
    KILN_ASSIGN(ValueId sq, c.emit(OpKind::Mul, {x, x}));
    KILN_ASSIGN(y, c.emit(OpKind::ReduceSum, {sq}, attrs));
    if (R == Reduce::L2) {
      KILN_ASSIGN(y, c.emit(OpKind::Sqrt, {y}));
    }
    break;
  }
  case Reduce::LogSum: {
    KILN_ASSIGN(ValueId s, c.emit(OpKind::ReduceSum, {x}, attrs));
    KILN_ASSIGN(y, c.emit(OpKind::Log, {s}));
    break;
  }
  case Reduce::LogSumExp: {
    // log(sum(exp(x - m))) + m with m the maximum: no overflow.
    AttrList kept = {{"axes", axes}, {"keepdims", true}};
    KILN_ASSIGN(ValueId m, c.emit(OpKind::ReduceMax, {x}, kept));
    KILN_ASSIGN(ValueId d, c.emit(OpKind::Sub, {x, m}));
    KILN_ASSIGN(ValueId e, c.emit(OpKind::Exp, {d}));
    KILN_ASSIGN(ValueId s, c.emit(OpKind::ReduceSum, {e}, kept));
    KILN_ASSIGN(ValueId l, c.emit(OpKind::Log, {s}));
    KILN_ASSIGN(y, c.emit(OpKind::Add, {l, m}));
    if (!keep) { // drop the reduced size-1 dims
      KILN_ASSIGN(y, c.emit(OpKind::ReduceSum, {y}, attrs));
    }
    break;
  }
  }
  return c.bind(0, y);
}

template <OpKind K> Status convArg(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(ValueId y, c.emit(K, {x},
                           {{"axis", c.attrInt("axis", 0)},
                            {"keepdims", c.attrInt("keepdims", 1) != 0},
                            {"select_last_index", c.attrInt("select_last_index", 0) != 0}}));
  return c.bind(0, y);
}

// --- Data movement -------------------------------------------------------------------------

Status convFlatten(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  const Type &t = c.typeOf(x);
  int64_t axis = c.attrInt("axis", 1);
  if (axis < 0)
    axis += t.rank();
  if (axis < 0 || axis > t.rank())
    return c.error(fmt::format("axis {} is out of range for rank {}", c.attrInt("axis", 1), t.rank()));
  Dim outer = Dim::of(1), inner = Dim::of(1);
  for (int i = 0; i < t.rank(); ++i) {
    Dim &d = i < axis ? outer : inner;
    const Dim &s = t.shape[i];
    if (d.isConst() && s.isConst())
      d = Dim::of(d.value * s.value);
    else if (d.isConst() && d.value == 1 && s.isSymbol())
      d = s;
    else
      d = Dim::unknown();
  }
  KILN_ASSIGN(ValueId y, c.reshapeTo(x, {outer, inner}));
  return c.bind(0, y);
}

/// ONNX Reshape's target as kiln dims: 0 copies x's dim, -1 is the rest
/// of x's elements (a dim expression where x is symbolic).
Expected<Shape> reshapeTarget(NodeCtx &c, const Shape &x, const ShapeElems &target) {
  Shape out;
  int inferAt = -1;
  Dim known = Dim::of(1);
  for (size_t i = 0; i < target.size(); ++i) {
    const ShapeElem &e = target[i];
    Dim d = e.symbolic() ? e.dim : e.value == 0 && i < x.size() ? x[i] : Dim::of(e.value);
    if (!e.symbolic() && e.value == -1 && inferAt < 0) {
      inferAt = static_cast<int>(i);
      out.push_back(Dim::unknown());
      continue;
    }
    if (d.isUnknown())
      return c.error(fmt::format("Reshape to {}: a size is negative or copies a dim x lacks", shapeText(target)));
    known = dimMul(known, d);
    out.push_back(d);
  }
  if (inferAt >= 0)
    out[static_cast<size_t>(inferAt)] = dimFloorDiv(dimProduct(x), known);
  return out;
}

Status convReshape(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(ShapeElems target, c.shapeIn(1));
  bool symbolic = false, zero = false;
  Ints spec;
  for (const ShapeElem &e : target) {
    symbolic |= e.symbolic();
    zero |= !e.symbolic() && e.value == 0;
    spec.push_back(e.value);
  }
  if (c.attrInt("allowzero", 0) && zero)
    return c.unsupported("Reshape with allowzero=1 and a literal 0 in the shape");
  if (!symbolic) {
    KILN_ASSIGN(ValueId y, c.emit(OpKind::Reshape, {x}, {{"shape", spec}}));
    return c.bind(0, y);
  }
  KILN_ASSIGN(Shape shape, reshapeTarget(c, c.typeOf(x).shape, target));
  KILN_ASSIGN(ValueId y, c.reshapeTo(x, shape));
  return c.bind(0, y);
}

Status convTranspose(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Transpose, {x}, {{"perm", c.attrInts("perm")}}));
  return c.bind(0, y);
}

Status convConcat(NodeCtx &c) {
  std::vector<ValueId> xs;
  for (int i = 0; i < c.numInputs(); ++i) {
    KILN_ASSIGN(ValueId x, c.in(i));
    xs.push_back(x);
  }
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Concat, xs, {{"axis", c.attrInt("axis", 0)}}));
  return c.bind(0, y);
}

Expected<Ints> axesOf(NodeCtx &c, int input) {
  if (c.opset() >= 13)
    return c.hasInput(input) ? c.constInts(input) : Expected<Ints>(Ints{});
  return c.attrInts("axes");
}

Status convSqueeze(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  const Type &t = c.typeOf(x);
  KILN_ASSIGN(Ints axes, axesOf(c, 1));
  std::vector<bool> drop(static_cast<size_t>(t.rank()));
  for (int64_t a : axes) {
    auto n = normalizeAxis(a, t.rank());
    if (!n)
      return c.error(n.error().message);
    drop[*n] = true;
  }
  Shape s;
  for (int i = 0; i < t.rank(); ++i) {
    bool one = t.shape[i].isConst() && t.shape[i].value == 1;
    if (axes.empty() ? one : drop[i]) {
      if (!one && t.shape[i].isConst())
        return c.error(fmt::format("cannot squeeze dim {} of size {}", i, t.shape[i].value));
      continue;
    }
    s.push_back(t.shape[i]);
  }
  KILN_ASSIGN(ValueId y, c.reshapeTo(x, s));
  return c.bind(0, y);
}

Status convUnsqueeze(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  const Type &t = c.typeOf(x);
  KILN_ASSIGN(Ints axes, axesOf(c, 1));
  int rank = t.rank() + static_cast<int>(axes.size());
  std::vector<bool> inserted(static_cast<size_t>(rank));
  for (int64_t a : axes) {
    auto n = normalizeAxis(a, rank);
    if (!n)
      return c.error(n.error().message);
    if (inserted[*n])
      return c.error(fmt::format("axis {} is repeated", a));
    inserted[*n] = true;
  }
  Shape s;
  size_t next = 0;
  for (int i = 0; i < rank; ++i)
    s.push_back(inserted[i] ? Dim::of(1) : t.shape[next++]);
  KILN_ASSIGN(ValueId y, c.reshapeTo(x, s));
  return c.bind(0, y);
}

Status convGather(NodeCtx &c) {
  KILN_ASSIGN(ValueId data, c.in(0));
  KILN_ASSIGN(ValueId idx, c.in(1));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Gather, {data, idx}, {{"axis", c.attrInt("axis", 0)}}));
  return c.bind(0, y);
}

Status convGatherElements(NodeCtx &c) {
  KILN_ASSIGN(ValueId data, c.in(0));
  KILN_ASSIGN(ValueId idx, c.in(1));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::GatherElements, {data, idx}, {{"axis", c.attrInt("axis", 0)}}));
  return c.bind(0, y);
}

Status convSlice(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  Ints starts, ends, axes, steps;
  if (c.opset() < 10) {
    starts = c.attrInts("starts");
    ends = c.attrInts("ends");
    axes = c.attrInts("axes");
  } else {
    KILN_ASSIGN(starts, c.constInts(1));
    KILN_ASSIGN(ends, c.constInts(2));
    if (c.hasInput(3)) {
      KILN_ASSIGN(axes, c.constInts(3));
    }
    if (c.hasInput(4)) {
      KILN_ASSIGN(steps, c.constInts(4));
    }
  }
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Slice, {x}, {{"starts", starts}, {"ends", ends}, {"axes", axes}, {"steps", steps}}));
  return c.bind(0, y);
}

Status convSplit(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  const Type &t = c.typeOf(x);
  auto axis = normalizeAxis(c.attrInt("axis", 0), t.rank());
  if (!axis)
    return c.error(axis.error().message);
  Ints split = c.attrInts("split");
  if (c.opset() >= 13) {
    split.clear();
    if (c.hasInput(1)) {
      KILN_ASSIGN(split, c.constInts(1));
    }
  }
  int outputs = c.node().output_size();
  if (outputs < 1)
    return c.error("Split needs at least one output");
  if (split.empty()) {
    if (!t.shape[*axis].isConst())
      return c.unsupported("Split of a dim unknown at import into equal parts");
    int64_t total = t.shape[*axis].value;
    if (total % outputs)
      return c.error(fmt::format("dim {} of size {} does not split into {} equal parts", *axis, total, outputs));
    split.assign(static_cast<size_t>(outputs), total / outputs);
  }
  if (static_cast<int>(split.size()) != outputs)
    return c.error(fmt::format("split has {} sizes for {} outputs", split.size(), outputs));
  int64_t start = 0;
  for (int i = 0; i < outputs; ++i) {
    KILN_ASSIGN(ValueId part, c.emit(OpKind::Slice, {x},
                                {{"starts", Ints{start}}, {"ends", Ints{start + split[i]}}, {"axes", Ints{*axis}}}));
    KILN_TRY(c.bind(i, part));
    start += split[i];
  }
  return {};
}

Status convPad(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  std::string mode = c.attrString("mode", "constant");
  Ints pads;
  double value = 0;
  if (c.opset() < 11) {
    pads = c.attrInts("pads");
    value = c.attrFloat("value", 0.0);
  } else {
    KILN_ASSIGN(pads, c.constInts(1));
    if (c.hasInput(2)) {
      KILN_ASSIGN(HostTensor v, c.constIn(2));
      if (v.numElements() != 1)
        return c.error("constant_value must be a scalar");
      value = v.get(0);
    }
    if (c.hasInput(3))
      return c.unsupported("Pad's axes input");
  }
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Pad, {x}, {{"pads", pads}, {"mode", mode}, {"value", value}}));
  return c.bind(0, y);
}

Status convConstant(NodeCtx &c) {
  const auto &n = c.node();
  if (n.attribute_size() != 1)
    return c.error("Constant needs exactly one attribute");
  const auto &a = n.attribute(0);
  HostTensor t;
  if (a.name() == "value") {
    auto r = tensorFromProto(a.t());
    if (!r)
      return c.unsupported(r.error().message);
    t = r.take();
  } else if (a.name() == "value_float") {
    t = HostTensor::scalar(DType::F32, a.f());
  } else if (a.name() == "value_int") {
    t = HostTensor(DType::I64, {});
    t.setInt(0, a.i());
  } else if (a.name() == "value_floats") {
    t = HostTensor(DType::F32, {a.floats_size()});
    for (int i = 0; i < a.floats_size(); ++i)
      t.set(i, a.floats(i));
  } else if (a.name() == "value_ints") {
    t = HostTensor(DType::I64, {a.ints_size()});
    for (int i = 0; i < a.ints_size(); ++i)
      t.setInt(i, a.ints(i));
  } else {
    return c.unsupported(fmt::format("Constant with attribute '{}'", a.name()));
  }
  KILN_ASSIGN(ValueId v, c.constant(std::move(t)));
  return c.bind(0, v);
}

Status convDropout(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  double ratio = c.attrFloat("ratio", 0.5);
  bool training = false;
  if (c.opset() >= 12) {
    ratio = 0.5;
    if (c.hasInput(1)) {
      KILN_ASSIGN(HostTensor r, c.constIn(1));
      ratio = r.get(0);
    }
    if (c.hasInput(2)) {
      KILN_ASSIGN(HostTensor t, c.constIn(2));
      training = t.get(0) != 0;
    }
  }
  if (training && ratio > 0 && c.madeByKiln()) { // kiln's export of its own dropout
    KILN_ASSIGN(std::vector<ValueId> r, c.emitMulti(OpKind::Dropout, {x}, {{"ratio", ratio},
                                                                           {"seed", c.attrInt("seed", 0)}}));
    KILN_TRY(c.bind(0, r[0]));
    return c.bind(1, r[1]);
  }
  if (training && ratio > 0)
    return c.unsupported("Dropout in training mode (its random mask cannot match another framework's)");
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Identity, {x}));
  KILN_TRY(c.bind(0, y));
  if (c.node().output_size() > 1 && !c.node().output(1).empty()) {
    // An all-true mask of x's shape: x == x or not (x == x) holds for NaN too.
    KILN_ASSIGN(ValueId eq, c.emit(OpKind::Equal, {x, x}));
    KILN_ASSIGN(ValueId ne, logicalNot(c, eq));
    KILN_ASSIGN(ValueId mask, c.emit(OpKind::Or, {eq, ne}));
    KILN_TRY(c.bind(1, mask));
  }
  return {};
}

Expected<Shape> shapeFromElems(NodeCtx &c, const ShapeElems &v) {
  Shape s;
  for (const ShapeElem &e : v) {
    if (e.asDim().isUnknown())
      return c.error(fmt::format("shape {} has a negative size", shapeText(v)));
    s.push_back(e.asDim());
  }
  return s;
}

Status convExpand(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(ShapeElems shape, c.shapeIn(1));
  KILN_ASSIGN(Shape s, shapeFromElems(c, shape));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::BroadcastTo, {x}, {{"shape", s}}));
  return c.bind(0, y);
}

Status convTile(NodeCtx &c) {
  // x[d0, d1, ...] -> [1, d0, 1, d1, ...] -> broadcast [r0, d0, r1, d1, ...] -> [r0 d0, r1 d1, ...]
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(Ints repeats, c.constInts(1));
  const Type &t = c.typeOf(x);
  if (static_cast<int>(repeats.size()) != t.rank())
    return c.error(fmt::format("repeats has {} entries for rank {}", repeats.size(), t.rank()));
  Shape spread, wide, out;
  for (int i = 0; i < t.rank(); ++i) {
    if (!t.shape[i].isConst())
      return c.unsupported("Tile of a dim unknown at import");
    if (repeats[i] < 0)
      return c.error("repeats must not be negative");
    spread.insert(spread.end(), {Dim::of(1), t.shape[i]});
    wide.insert(wide.end(), {Dim::of(repeats[i]), t.shape[i]});
    out.push_back(Dim::of(repeats[i] * t.shape[i].value));
  }
  KILN_ASSIGN(ValueId a, c.reshapeTo(x, spread));
  KILN_ASSIGN(ValueId b, c.emit(OpKind::BroadcastTo, {a}, {{"shape", wide}}));
  KILN_ASSIGN(ValueId y, c.reshapeTo(b, out));
  return c.bind(0, y);
}

Expected<Ints> staticSizes(NodeCtx &c, ValueId x, std::string_view op) {
  Ints sizes;
  for (const Dim &d : c.typeOf(x).shape) {
    if (!d.isConst())
      return c.unsupported(fmt::format("{} of a tensor whose shape is not known at import", op));
    sizes.push_back(d.value);
  }
  return sizes;
}

/// x's size along `axis` computed at run time, as i64[1]: the count of a
/// slice of x that keeps only that axis (a sum of ones; less(x, x) is false
/// for every value, NaN included).
Expected<ValueId> runtimeDim(NodeCtx &c, ValueId x, int axis) {
  const Type t = c.typeOf(x);
  Ints starts, ends, axes;
  for (int i = 0; i < t.rank(); ++i)
    if (i != axis)
      starts.push_back(0), ends.push_back(1), axes.push_back(i);
  ValueId line = x;
  if (!axes.empty()) {
    KILN_ASSIGN(line, c.emit(OpKind::Slice, {x}, {{"starts", starts}, {"ends", ends}, {"axes", axes}}));
  }
  KILN_ASSIGN(ValueId no, c.emit(OpKind::Less, {line, line}));
  KILN_ASSIGN(ValueId zeros, c.emit(OpKind::Cast, {no}, {{"to", DType::I64}}));
  KILN_ASSIGN(ValueId one, c.scalar(1, DType::I64));
  KILN_ASSIGN(ValueId ones, c.emit(OpKind::Add, {zeros, one}));
  KILN_ASSIGN(ValueId n, c.emit(OpKind::ReduceSum, {ones}, {{"axes", Ints{}}, {"keepdims", false}}));
  return c.reshapeTo(n, {Dim::of(1)});
}

/// ONNX Shape: a constant where x's dims are; where they are symbolic, the
/// sizes computed at run time, and the dims themselves recorded for the
/// shape computations that follow (ShapeValues.cpp).
Status convShape(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  const Shape shape = c.typeOf(x).shape;
  auto r = static_cast<int64_t>(shape.size());
  auto clampAxis = [r](int64_t a) { return std::clamp(a < 0 ? a + r : a, int64_t{0}, r); };
  int64_t start = clampAxis(c.attrInt("start", 0)), end = std::max(start, clampAxis(c.attrInt("end", r)));
  ShapeElems part;
  bool symbolic = false;
  for (int64_t i = start; i < end; ++i) {
    const Dim &d = shape[static_cast<size_t>(i)];
    if (d.isUnknown())
      return c.unsupported("Shape of a tensor with a dim unknown until run time (give the input a dim_param)");
    symbolic |= d.isSymbol();
    part.push_back(d.isConst() ? ShapeElem{d.value, {}} : ShapeElem{0, d});
  }
  if (!symbolic) {
    HostTensor t(DType::I64, {static_cast<int64_t>(part.size())});
    for (size_t i = 0; i < part.size(); ++i)
      t.setInt(static_cast<int64_t>(i), part[i].value);
    KILN_ASSIGN(ValueId y, c.constant(std::move(t)));
    return c.bind(0, y);
  }
  std::vector<ValueId> pieces;
  for (int64_t i = start; i < end; ++i) {
    const Dim &d = shape[static_cast<size_t>(i)];
    HostTensor k(DType::I64, {1});
    k.setInt(0, d.isConst() ? d.value : 0);
    KILN_ASSIGN(ValueId v, d.isConst() ? c.constant(std::move(k)) : runtimeDim(c, x, static_cast<int>(i)));
    pieces.push_back(v);
  }
  KILN_ASSIGN(ValueId y, pieces.size() == 1 ? Expected<ValueId>(pieces[0])
                                            : c.emit(OpKind::Concat, pieces, {{"axis", int64_t{0}}}));
  c.setShapeElems(y, part);
  return c.bind(0, y);
}

Status convSize(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(Ints sizes, staticSizes(c, x, "Size"));
  HostTensor t(DType::I64, {});
  t.setInt(0, product(sizes));
  KILN_ASSIGN(ValueId y, c.constant(std::move(t)));
  return c.bind(0, y);
}

Status convConstantOfShape(NodeCtx &c) {
  KILN_ASSIGN(ShapeElems elems, c.shapeIn(0));
  HostTensor fill = HostTensor::scalar(DType::F32, 0);
  if (const auto *a = c.attr("value")) {
    auto v = tensorFromProto(a->t());
    if (!v)
      return c.unsupported(v.error().message);
    fill = v.take();
  }
  Ints shape;
  bool symbolic = false;
  for (const ShapeElem &e : elems)
    symbolic |= e.symbolic(), shape.push_back(e.value);
  if (symbolic) { // the fill broadcast to the symbolic shape at run time
    KILN_ASSIGN(Shape s, shapeFromElems(c, elems));
    HostTensor one(fill.dtype(), {});
    std::copy(fill.data(), fill.data() + dtypeSize(fill.dtype()), one.data());
    KILN_ASSIGN(ValueId k, c.constant(std::move(one)));
    KILN_ASSIGN(ValueId y, c.emit(OpKind::BroadcastTo, {k}, {{"shape", s}}));
    return c.bind(0, y);
  }
  int64_t count = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(count, d, &count))
      return c.error(fmt::format("shape [{}] has a negative or huge size", fmt::join(shape, ",")));
  KILN_TRY(c.checkConstantSize(count));
  HostTensor t(fill.dtype(), shape);
  std::vector<std::byte> one(fill.data(), fill.data() + dtypeSize(fill.dtype()));
  for (int64_t i = 0; i < t.numElements(); ++i)
    std::copy(one.begin(), one.end(), t.data() + i * static_cast<int64_t>(one.size()));
  KILN_ASSIGN(ValueId y, c.constant(std::move(t)));
  return c.bind(0, y);
}

Status convOneHot(NodeCtx &c) {
  KILN_ASSIGN(ValueId idx, c.in(0));
  KILN_ASSIGN(HostTensor depthT, c.constIn(1));
  KILN_ASSIGN(HostTensor values, c.constIn(2));
  if (values.numElements() != 2)
    return c.error("values must hold [off, on]");
  if (!isInteger(c.typeOf(idx).dtype)) {
    KILN_ASSIGN(idx, c.emit(OpKind::Cast, {idx}, {{"to", DType::I64}}));
  }
  auto depth = static_cast<int64_t>(depthT.get(0));
  DType dt = values.dtype();
  KILN_ASSIGN(ValueId oh, c.emit(OpKind::OneHot, {idx}, {{"depth", depth}, {"axis", c.attrInt("axis", -1)}, {"dtype", dt}}));
  double off = values.get(0), on = values.get(1);
  KILN_ASSIGN(ValueId scale, c.scalar(on - off, dt));
  KILN_ASSIGN(ValueId shift, c.scalar(off, dt));
  KILN_ASSIGN(ValueId scaled, c.emit(OpKind::Mul, {oh, scale}));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Add, {scaled, shift}));
  return c.bind(0, y);
}

Status convRange(NodeCtx &c) {
  KILN_ASSIGN(HostTensor start, c.constIn(0));
  KILN_ASSIGN(HostTensor limit, c.constIn(1));
  KILN_ASSIGN(HostTensor delta, c.constIn(2));
  double s = start.get(0), l = limit.get(0), d = delta.get(0);
  if (d == 0)
    return c.error("delta must not be 0");
  auto n = static_cast<int64_t>(std::max(std::ceil((l - s) / d), 0.0));
  KILN_TRY(c.checkConstantSize(n));
  HostTensor t(start.dtype(), {n});
  for (int64_t i = 0; i < n; ++i)
    t.set(i, s + static_cast<double>(i) * d);
  KILN_ASSIGN(ValueId y, c.constant(std::move(t)));
  return c.bind(0, y);
}


// --- Further compositions ------------------------------------------------------------

Status convTrilu(NodeCtx &c) {
  // y = x where the element is on the kept side of diagonal k, else 0.
  KILN_ASSIGN(ValueId x, c.in(0));
  const Type t = c.typeOf(x);
  if (t.rank() < 2 || !t.shape[t.rank() - 1].isConst() || !t.shape[t.rank() - 2].isConst())
    return c.unsupported("Trilu of a matrix whose size is unknown at import");
  int64_t k = 0;
  if (c.hasInput(1)) {
    KILN_ASSIGN(HostTensor kt, c.constIn(1));
    k = kt.getInt(0);
  }
  bool upper = c.attrInt("upper", 1) != 0;
  int64_t rows = t.shape[t.rank() - 2].value, cols = t.shape[t.rank() - 1].value;
  KILN_TRY(c.checkConstantSize(rows * cols));
  HostTensor mask(DType::Bool, {rows, cols});
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      mask.setInt(i * cols + j, upper ? j - i >= k : j - i <= k);
  KILN_ASSIGN(ValueId m, c.constant(std::move(mask)));
  KILN_ASSIGN(ValueId zero, c.scalar(0, t.dtype));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Select, {m, x, zero}));
  return c.bind(0, y);
}

Status convHardmax(NodeCtx &c) {
  // one_hot(argmax(x, axis)) along axis; opsets < 13 flatten at axis first.
  KILN_ASSIGN(ValueId x, c.in(0));
  const Type t = c.typeOf(x);
  int64_t axis = c.attrInt("axis", c.opset() >= 13 ? -1 : 1);
  auto a = normalizeAxis(axis, t.rank());
  if (!a)
    return c.error(a.error().message);
  if (c.opset() < 13 && *a != t.rank() - 1)
    return c.unsupported("Hardmax before opset 13 over an axis other than the last");
  if (!t.shape[*a].isConst())
    return c.unsupported("Hardmax over an axis whose size is unknown at import");
  KILN_ASSIGN(ValueId idx, c.emit(OpKind::ArgMax, {x}, {{"axis", int64_t{*a}}, {"keepdims", false}}));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::OneHot, {idx}, {{"depth", t.shape[*a].value}, {"axis", int64_t{*a}}, {"dtype", t.dtype}}));
  return c.bind(0, y);
}

Status convShrink(NodeCtx &c) {
  // x + bias where x < -lambd, x - bias where x > lambd, else 0.
  KILN_ASSIGN(ValueId x, c.in(0));
  DType dt = c.typeOf(x).dtype;
  double lambd = c.attrFloat("lambd", 0.5), bias = c.attrFloat("bias", 0.0);
  KILN_ASSIGN(ValueId lo, c.scalar(-lambd, dt));
  KILN_ASSIGN(ValueId hi, c.scalar(lambd, dt));
  KILN_ASSIGN(ValueId b, c.scalar(bias, dt));
  KILN_ASSIGN(ValueId zero, c.scalar(0, dt));
  KILN_ASSIGN(ValueId below, c.emit(OpKind::Less, {x, lo}));
  KILN_ASSIGN(ValueId above, c.emit(OpKind::Greater, {x, hi}));
  KILN_ASSIGN(ValueId plus, c.emit(OpKind::Add, {x, b}));
  KILN_ASSIGN(ValueId minus, c.emit(OpKind::Sub, {x, b}));
  KILN_ASSIGN(ValueId upper, c.emit(OpKind::Select, {above, minus, zero}));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Select, {below, plus, upper}));
  return c.bind(0, y);
}

Status convMeanVarianceNormalization(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  Ints axes = c.attrInts("axes");
  if (axes.empty())
    axes = {0, 2, 3};
  KILN_ASSIGN(Normalized n, normalize(c, x, axes, 1e-9));
  return c.bind(0, n.y);
}

/// DepthToSpace and SpaceToDepth: a reshape, a transpose and a reshape.
template <bool ToSpace> Status convDepthSpace(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  const Type t = c.typeOf(x);
  if (t.rank() != 4 || !t.shape[1].isConst() || !t.shape[2].isConst() || !t.shape[3].isConst())
    return c.unsupported("DepthToSpace or SpaceToDepth of a tensor not 4-D with known C, H, W");
  int64_t b = c.attrInt("blocksize", 1), ch = t.shape[1].value, h = t.shape[2].value, w = t.shape[3].value;
  if (b < 1 || (ToSpace ? ch % (b * b) != 0 : h % b != 0 || w % b != 0))
    return c.error(fmt::format("blocksize {} does not divide {}", b, toString(t)));
  Dim n = t.shape[0];
  Shape first, last;
  Ints perm;
  if (ToSpace) {
    bool crd = c.attrString("mode", "DCR") == "CRD";
    if (crd)
      first = {n, Dim::of(ch / (b * b)), Dim::of(b), Dim::of(b), Dim::of(h), Dim::of(w)}, perm = {0, 1, 4, 2, 5, 3};
    else
      first = {n, Dim::of(b), Dim::of(b), Dim::of(ch / (b * b)), Dim::of(h), Dim::of(w)}, perm = {0, 3, 4, 1, 5, 2};
    last = {n, Dim::of(ch / (b * b)), Dim::of(h * b), Dim::of(w * b)};
  } else {
    first = {n, Dim::of(ch), Dim::of(h / b), Dim::of(b), Dim::of(w / b), Dim::of(b)};
    perm = {0, 3, 5, 1, 2, 4};
    last = {n, Dim::of(ch * b * b), Dim::of(h / b), Dim::of(w / b)};
  }
  KILN_ASSIGN(ValueId r, c.reshapeTo(x, first));
  KILN_ASSIGN(ValueId p, c.emit(OpKind::Transpose, {r}, {{"perm", perm}}));
  KILN_ASSIGN(ValueId y, c.reshapeTo(p, last));
  return c.bind(0, y);
}

/// sinh = (e^x - e^-x) / 2, cosh = (e^x + e^-x) / 2.
template <OpKind Combine> Status convHyperbolic(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(ValueId ex, c.emit(OpKind::Exp, {x}));
  KILN_ASSIGN(ValueId nx, c.emit(OpKind::Neg, {x}));
  KILN_ASSIGN(ValueId enx, c.emit(OpKind::Exp, {nx}));
  KILN_ASSIGN(ValueId s, c.emit(Combine, {ex, enx}));
  KILN_ASSIGN(ValueId two, c.scalar(2, c.typeOf(x).dtype));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Div, {s, two}));
  return c.bind(0, y);
}

Status convTan(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(ValueId s, c.emit(OpKind::Sin, {x}));
  KILN_ASSIGN(ValueId co, c.emit(OpKind::Cos, {x}));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Div, {s, co}));
  return c.bind(0, y);
}

/// ONNX TopK: the indices by kiln's top_k, the values gathered with them
/// (so they have gather_elements's gradient).
Status convTopK(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  int64_t k = c.attrInt("k", 0);
  if (c.opset() >= 10) {
    KILN_ASSIGN(Ints ks, c.constInts(1));
    if (ks.size() != 1)
      return c.error(fmt::format("K must hold one value, got {}", ks.size()));
    k = ks[0];
  }
  int64_t axis = c.attrInt("axis", -1);
  KILN_ASSIGN(ValueId idx, c.emit(OpKind::TopK, {x}, {{"k", k}, {"axis", axis}, {"largest", c.attrInt("largest", 1) != 0}}));
  KILN_ASSIGN(ValueId values, c.emit(OpKind::GatherElements, {x, idx}, {{"axis", axis}}));
  KILN_TRY(c.bind(0, values));
  return c.bind(1, idx);
}

/// ONNX ScatterElements and its older name Scatter.
Status convScatterElements(NodeCtx &c) {
  KILN_ASSIGN(ValueId data, c.in(0));
  KILN_ASSIGN(ValueId idx, c.in(1));
  KILN_ASSIGN(ValueId upd, c.in(2));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::ScatterElements, {data, idx, upd},
                               {{"axis", c.attrInt("axis", 0)}, {"reduction", c.attrString("reduction", "none")}}));
  return c.bind(0, y);
}

/// The floats of a constant input (Resize's roi and scales); empty when the
/// input is absent or empty.
Expected<std::vector<double>> constFloats(NodeCtx &c, int i) {
  if (!c.hasInput(i))
    return std::vector<double>{};
  KILN_ASSIGN(HostTensor t, c.constIn(i));
  std::vector<double> out;
  for (int64_t k = 0; k < t.numElements(); ++k)
    out.push_back(t.get(k));
  return out;
}

/// ONNX Resize (opset 10: scales only, asymmetric; 11 on: roi, scales or
/// sizes and the coordinate modes) and Upsample (scales as attributes
/// before opset 9, width_scale/height_scale before 7).
Status convResize(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  bool upsample = c.node().op_type() == "Upsample";
  bool legacy = upsample || c.opset() < 11; // asymmetric coordinates, nearest rounds down
  std::vector<double> roi, scales;
  Ints sizes;
  std::string mode = c.attrString("mode", "nearest");
  if (mode == "bilinear") // Upsample before opset 7
    mode = "linear";
  if (upsample && c.opset() < 7) {
    int rank = c.typeOf(x).rank();
    scales.assign(static_cast<size_t>(rank), 1.0);
    if (rank < 2)
      return c.error("Upsample before opset 7 scales the last two dims of a tensor of rank >= 2");
    scales[static_cast<size_t>(rank - 2)] = c.attrFloat("height_scale", 1.0);
    scales[static_cast<size_t>(rank - 1)] = c.attrFloat("width_scale", 1.0);
  } else if (upsample && c.opset() < 9) {
    if (const auto *a = c.attr("scales"))
      scales.assign(a->floats().begin(), a->floats().end());
  } else if (legacy) {
    KILN_ASSIGN(scales, constFloats(c, 1));
  } else {
    KILN_ASSIGN(roi, constFloats(c, 1));
    KILN_ASSIGN(scales, constFloats(c, 2));
    if (c.hasInput(3)) {
      KILN_ASSIGN(sizes, c.constInts(3));
    }
  }
  std::string ct = legacy ? "asymmetric" : c.attrString("coordinate_transformation_mode", "half_pixel");
  if (ct != "tf_crop_and_resize")
    roi.clear();
  AttrList attrs = {{"scales", scales},
                    {"sizes", sizes},
                    {"mode", mode},
                    {"coordinate_transformation_mode", ct},
                    {"nearest_mode", legacy ? std::string("floor") : c.attrString("nearest_mode", "round_prefer_floor")},
                    {"cubic_coeff_a", c.attrFloat("cubic_coeff_a", -0.75)},
                    {"exclude_outside", c.attrInt("exclude_outside", 0) != 0},
                    {"extrapolation_value", c.attrFloat("extrapolation_value", 0.0)},
                    {"roi", roi}};
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Resize, {x}, attrs));
  return c.bind(0, y);
}

Status convGatherND(NodeCtx &c) {
  KILN_ASSIGN(ValueId data, c.in(0));
  KILN_ASSIGN(ValueId idx, c.in(1));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::GatherND, {data, idx}, {{"batch_dims", c.attrInt("batch_dims", 0)}}));
  return c.bind(0, y);
}

Status convScatterND(NodeCtx &c) {
  KILN_ASSIGN(ValueId data, c.in(0));
  KILN_ASSIGN(ValueId idx, c.in(1));
  KILN_ASSIGN(ValueId upd, c.in(2));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::ScatterND, {data, idx, upd}, {{"reduction", c.attrString("reduction", "none")}}));
  return c.bind(0, y);
}

Status convCumSum(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  KILN_ASSIGN(Ints axis, c.constInts(1));
  if (axis.size() != 1)
    return c.error(fmt::format("axis must hold one value, got {}", axis.size()));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::CumSum, {x}, {{"axis", axis[0]}, {"exclusive", c.attrInt("exclusive", 0) != 0},
                                                      {"reverse", c.attrInt("reverse", 0) != 0}}));
  return c.bind(0, y);
}

/// ONNX Mod: fmod=1 is C's fmod; fmod=0 (integers) takes the divisor's
/// sign, as Python's %: fmod's remainder plus b where the two signs differ.
Status convMod(NodeCtx &c) {
  KILN_ASSIGN(ValueId a, c.in(0));
  KILN_ASSIGN(ValueId b, c.in(1));
  bool cMod = c.attrInt("fmod", 0) != 0;
  DType dt = c.typeOf(a).dtype;
  if (!cMod && isFloat(dt))
    return c.error("Mod of floating-point values needs fmod=1 (ONNX's rule)");
  KILN_ASSIGN(ValueId r, c.emit(OpKind::Fmod, {a, b}));
  if (cMod || dt == DType::U8 || dt == DType::Bool)
    return c.bind(0, r);
  KILN_ASSIGN(ValueId zero, c.scalar(0, dt));
  KILN_ASSIGN(ValueId rNeg, c.emit(OpKind::Less, {r, zero}));
  KILN_ASSIGN(ValueId bNeg, c.emit(OpKind::Less, {b, zero}));
  KILN_ASSIGN(ValueId same, c.emit(OpKind::Equal, {rNeg, bNeg}));
  KILN_ASSIGN(ValueId differ, logicalNot(c, same));
  KILN_ASSIGN(ValueId isZero, c.emit(OpKind::Equal, {r, zero}));
  KILN_ASSIGN(ValueId nonzero, logicalNot(c, isZero));
  KILN_ASSIGN(ValueId fix, c.emit(OpKind::And, {differ, nonzero}));
  KILN_ASSIGN(ValueId shifted, c.emit(OpKind::Add, {r, b}));
  KILN_ASSIGN(ValueId y, c.emit(OpKind::Select, {fix, shifted, r}));
  return c.bind(0, y);
}

/// ONNX's RNN, GRU and LSTM, unrolled over the steps (frontend/Recurrent.h).
template <recurrent::Cell Cell> Status convRecurrent(NodeCtx &c) {
  recurrent::Spec spec;
  spec.cell = Cell;
  spec.hidden = c.attrInt("hidden_size", 0);
  spec.direction = c.attrString("direction", "forward");
  spec.clip = c.attrFloat("clip", 0);
  spec.linearBeforeReset = c.attrInt("linear_before_reset", 0) != 0;
  spec.inputForget = c.attrInt("input_forget", 0) != 0;
  spec.prefix = c.node().output_size() && !c.node().output(0).empty() ? c.node().output(0) : c.node().name();
  std::vector<double> alphas, betas;
  if (const auto *a = c.attr("activation_alpha"))
    alphas.assign(a->floats().begin(), a->floats().end());
  if (const auto *a = c.attr("activation_beta"))
    betas.assign(a->floats().begin(), a->floats().end());
  size_t ai = 0, bi = 0;
  if (const auto *a = c.attr("activations"))
    for (const std::string &name : a->strings()) {
      auto act = recurrent::activation(name, alphas, ai, betas, bi);
      if (!act)
        return c.unsupported(act.error().message);
      spec.activations.push_back(*act);
    }
  bool batchFirst = c.attrInt("layout", 0) != 0;
  recurrent::Operands ops;
  auto optional = [&c](int i) -> Expected<ValueId> { return c.hasInput(i) ? c.in(i) : Expected<ValueId>(kNoValue); };
  KILN_ASSIGN(ops.x, c.in(0));
  KILN_ASSIGN(ops.w, c.in(1));
  KILN_ASSIGN(ops.r, c.in(2));
  KILN_ASSIGN(ops.b, optional(3));
  KILN_ASSIGN(ops.seqLens, optional(4));
  KILN_ASSIGN(ops.h0, optional(5));
  if (Cell == recurrent::Cell::Lstm) {
    KILN_ASSIGN(ops.c0, optional(6));
    KILN_ASSIGN(ops.p, optional(7));
  }
  // layout=1: X [B, T, I] and the states [B, D, H]; kiln's order is time first.
  auto swap01 = [&c](ValueId v) -> Expected<ValueId> {
    if (v == kNoValue)
      return v;
    return c.emit(OpKind::Transpose, {v}, {{"perm", Ints{1, 0, 2}}});
  };
  if (batchFirst) {
    KILN_ASSIGN(ops.x, swap01(ops.x));
    KILN_ASSIGN(ops.h0, swap01(ops.h0));
    KILN_ASSIGN(ops.c0, swap01(ops.c0));
  }
  auto r = recurrent::build(c.graph(), ops, spec);
  if (!r)
    return c.error(r.error().message);
  ValueId y = r->y, yh = r->yh, yc = r->yc;
  if (batchFirst) { // Y [T, D, B, H] -> [B, T, D, H]; the states [D, B, H] -> [B, D, H]
    KILN_ASSIGN(y, c.emit(OpKind::Transpose, {y}, {{"perm", Ints{2, 0, 1, 3}}}));
    KILN_ASSIGN(yh, swap01(yh));
    KILN_ASSIGN(yc, swap01(yc));
  }
  KILN_TRY(c.bind(0, y));
  KILN_TRY(c.bind(1, yh));
  if (Cell == recurrent::Cell::Lstm)
    KILN_TRY(c.bind(2, yc));
  return {};
}

Status convEyeLike(NodeCtx &c) {
  KILN_ASSIGN(ValueId x, c.in(0));
  const Type t = c.typeOf(x);
  if (t.rank() != 2 || !t.shape[0].isConst() || !t.shape[1].isConst())
    return c.unsupported("EyeLike of a tensor whose 2-D shape is unknown at import");
  DType dt = t.dtype;
  if (c.hasAttr("dtype")) {
    auto d = dtypeFromOnnx(static_cast<int32_t>(c.attrInt("dtype", 1)));
    if (!d)
      return c.unsupported(d.error().message);
    dt = *d;
  }
  int64_t rows = t.shape[0].value, cols = t.shape[1].value, k = c.attrInt("k", 0);
  KILN_TRY(c.checkConstantSize(rows * cols));
  HostTensor eye(dt, {rows, cols});
  for (int64_t i = 0; i < rows; ++i)
    if (i + k >= 0 && i + k < cols)
      eye.set(i * cols + i + k, 1);
  KILN_ASSIGN(ValueId y, c.constant(std::move(eye)));
  return c.bind(0, y);
}

// clang-format off
const std::vector<OnnxOp> kOps = {
  {"Abs", unary<OpKind::Abs>, {}},
  {"Neg", unary<OpKind::Neg>, {}},
  {"Exp", unary<OpKind::Exp>, {}},
  {"Log", unary<OpKind::Log>, {}},
  {"Sqrt", unary<OpKind::Sqrt>, {}},
  {"Reciprocal", unary<OpKind::Reciprocal>, {}},
  {"Floor", unary<OpKind::Floor>, {}},
  {"Ceil", unary<OpKind::Ceil>, {}},
  {"Round", unary<OpKind::Round>, {}},
  {"Sign", unary<OpKind::Sign>, {}},
  {"Erf", unary<OpKind::Erf>, {}},
  {"Sin", unary<OpKind::Sin>, {}},
  {"Cos", unary<OpKind::Cos>, {}},
  {"Relu", unary<OpKind::Relu>, {}},
  {"Sigmoid", unary<OpKind::Sigmoid>, {}},
  {"Tanh", unary<OpKind::Tanh>, {}},
  {"Softplus", unary<OpKind::Softplus>, {}},
  {"Softsign", unary<OpKind::Softsign>, {}},
  {"LeakyRelu", convLeakyRelu, {}},
  {"Elu", convElu, {}},
  {"Selu", convSelu, {}},
  {"Celu", convCelu, {}},
  {"HardSigmoid", convHardSigmoid, {}},
  {"HardSwish", convHardSwish, {}},
  {"PRelu", convPRelu, {}},
  {"ThresholdedRelu", convThresholdedRelu, {}},
  {"Clip", convClip, {}},
  {"Add", binary<OpKind::Add>, {}},
  {"Sub", binary<OpKind::Sub>, {}},
  {"Mul", binary<OpKind::Mul>, {}},
  {"Div", binary<OpKind::Div>, {}},
  {"Pow", binary<OpKind::Pow>, {}},
  {"Equal", binary<OpKind::Equal>, {}},
  {"Less", binary<OpKind::Less>, {}},
  {"Greater", binary<OpKind::Greater>, {}},
  {"LessOrEqual", compareOrEqual<OpKind::Less>, {}},
  {"GreaterOrEqual", compareOrEqual<OpKind::Greater>, {}},
  {"And", binary<OpKind::And>, {}},
  {"Or", binary<OpKind::Or>, {}},
  {"Xor", convXor, {}},
  {"Not", convNot, {}},
  {"IsNaN", convIsNaN, {}},
  {"IsInf", convIsInf, {}},
  {"Where", convWhere, {}},
  {"Cast", convCast, {}},
  {"CastLike", convCastLike, {}},
  {"Identity", convIdentity, {}},
  {"Max", variadic<OpKind::Max>, {}},
  {"Min", variadic<OpKind::Min>, {}},
  {"Sum", variadic<OpKind::Add>, {}},
  {"Mean", variadic<OpKind::ReduceMean>, {}},
  {"Softmax", convSoftmax<OpKind::Softmax>, {}},
  {"LogSoftmax", convSoftmax<OpKind::LogSoftmax>, {}},
  {"SoftmaxCrossEntropyLoss", convSoftmaxCrossEntropy, {}},
  {"NegativeLogLikelihoodLoss", convNLLLoss, {}},
  {"MatMul", convMatMul, {}},
  {"Gemm", convGemm, {}},
  {"Conv", convConv, {}},
  {"ConvTranspose", convConvTranspose, {}},
  {"MaxPool", convPool<OpKind::MaxPool>, {}},
  {"AveragePool", convPool<OpKind::AvgPool>, {}},
  {"GlobalAveragePool", unary<OpKind::GlobalAvgPool>, {}},
  {"GlobalMaxPool", unary<OpKind::GlobalMaxPool>, {}},
  {"BatchNormalization", convBatchNorm, {}},
  {"InstanceNormalization", convInstanceNorm, {}},
  {"LayerNormalization", convLayerNorm, {}},
  {"LRN", convLRN, {}},
  {"ReduceSum", convReduce<Reduce::Sum>, {1}},
  {"ReduceMean", convReduce<Reduce::Mean>, {}},
  {"ReduceMax", convReduce<Reduce::Max>, {}},
  {"ReduceMin", convReduce<Reduce::Min>, {}},
  {"ReduceProd", convReduce<Reduce::Prod>, {}},
  {"ReduceL1", convReduce<Reduce::L1>, {}},
  {"ReduceL2", convReduce<Reduce::L2>, {}},
  {"ReduceLogSum", convReduce<Reduce::LogSum>, {}},
  {"ReduceLogSumExp", convReduce<Reduce::LogSumExp>, {}},
  {"ReduceSumSquare", convReduce<Reduce::SumSquare>, {}},
  {"ArgMax", convArg<OpKind::ArgMax>, {}},
  {"ArgMin", convArg<OpKind::ArgMin>, {}},
  {"Flatten", convFlatten, {}},
  {"Reshape", convReshape, {1}},
  {"Transpose", convTranspose, {}},
  {"Concat", convConcat, {}},
  {"Squeeze", convSqueeze, {1}},
  {"Unsqueeze", convUnsqueeze, {1}},
  {"Gather", convGather, {}},
  {"GatherElements", convGatherElements, {}},
  {"Slice", convSlice, {1, 2, 3, 4}},
  {"Split", convSplit, {1}},
  {"Pad", convPad, {1, 2, 3}},
  {"Constant", convConstant, {}},
  {"Dropout", convDropout, {1, 2}},
  {"Expand", convExpand, {1}},
  {"Mod", convMod, {}},
  {"TopK", convTopK, {1}},
  {"ScatterElements", convScatterElements, {}},
  {"Scatter", convScatterElements, {}},
  {"CumSum", convCumSum, {1}},
  {"GatherND", convGatherND, {}},
  {"Einsum", convEinsum, {}},
  {"Resize", convResize, {1, 2, 3}},
  {"Upsample", convResize, {1}},
  {"ScatterND", convScatterND, {}},
  {"RNN", convRecurrent<recurrent::Cell::Rnn>, {}},
  {"GRU", convRecurrent<recurrent::Cell::Gru>, {}},
  {"LSTM", convRecurrent<recurrent::Cell::Lstm>, {}},
  {"Tile", convTile, {1}},
  {"Shape", convShape, {}},
  {"Size", convSize, {}},
  {"ConstantOfShape", convConstantOfShape, {0}},
  {"OneHot", convOneHot, {1, 2}},
  {"Range", convRange, {0, 1, 2}},
  {"Trilu", convTrilu, {1}},
  {"Hardmax", convHardmax, {}},
  {"Shrink", convShrink, {}},
  {"MeanVarianceNormalization", convMeanVarianceNormalization, {}},
  {"DepthToSpace", convDepthSpace<true>, {}},
  {"SpaceToDepth", convDepthSpace<false>, {}},
  {"Sinh", convHyperbolic<OpKind::Sub>, {}},
  {"Cosh", convHyperbolic<OpKind::Add>, {}},
  {"Tan", convTan, {}},
  {"Atan", unary<OpKind::Atan>, {}},
  {"Asin", unary<OpKind::Asin>, {}},
  {"Acos", unary<OpKind::Acos>, {}},
  {"Asinh", unary<OpKind::Asinh>, {}},
  {"Acosh", unary<OpKind::Acosh>, {}},
  {"Atanh", unary<OpKind::Atanh>, {}},
  {"EyeLike", convEyeLike, {}},
};
// clang-format on

} // namespace

const OnnxOp *findOnnxOp(std::string_view opType) {
  for (const OnnxOp &op : kOps)
    if (op.name == opType)
      return &op;
  return nullptr;
}

} // namespace kiln::onnximport
