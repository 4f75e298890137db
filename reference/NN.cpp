//===- reference/NN.cpp - Reference composite nn ops --------------===//
#include "reference/Kernels.h"

#include "ir/Initializer.h"

#include <cmath>
#include <limits>

namespace kiln::ref {

using namespace ir;

namespace {

/// Calls f(base, stride, count) for every 1-D line along `axis`.
template <typename F> void forEachLine(const Sizes &shape, int axis, F f) {
  int64_t inner = 1, outer = 1;
  for (int i = axis + 1; i < static_cast<int>(shape.size()); ++i)
    inner *= shape[i];
  for (int i = 0; i < axis; ++i)
    outer *= shape[i];
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t in = 0; in < inner; ++in)
      f(o * shape[axis] * inner + in, inner, shape[axis]);
}

Results softmax(const KernelCtx &ctx, const Arr &x, bool log) {
  auto axis = normalizeAxis(ctx.attrs.getInt("axis"), x.rank());
  if (!axis)
    return axis.error();
  Arr out(x.dtype, x.shape);
  forEachLine(x.shape, *axis, [&](int64_t base, int64_t stride, int64_t n) {
    double mx = -std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < n; ++i)
      mx = std::max(mx, x.v[base + i * stride]);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i)
      sum += std::exp(x.v[base + i * stride] - mx);
    for (int64_t i = 0; i < n; ++i) {
      double z = x.v[base + i * stride] - mx;
      out.v[base + i * stride] = log ? z - std::log(sum) : std::exp(z) / sum;
    }
  });
  return std::vector<Arr>{std::move(out)};
}

Results softmaxCrossEntropy(const KernelCtx &ctx, Args args) {
  const Arr &logits = *args[0], &labels = *args[1];
  const Arr *weights = args.size() == 3 ? args[2] : nullptr;
  int64_t n = logits.shape[0], c = logits.shape[1];
  int64_t inner = product(Sizes(logits.shape.begin() + 2, logits.shape.end()));
  std::optional<int64_t> ignore;
  if (ctx.attrs.has("ignore_index"))
    ignore = ctx.attrs.getInt("ignore_index");
  Arr loss(logits.dtype, labels.shape);
  double weightSum = 0;
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t s = 0; s < inner; ++s) {
      int64_t item = b * inner + s;
      auto label = static_cast<int64_t>(labels.v[item]);
      if (ignore && label == *ignore)
        continue;
      if (label < 0 || label >= c)
        return makeError("label {} of item {} is out of range [0, {})", label, item, c);
      double mx = -std::numeric_limits<double>::infinity();
      for (int64_t k = 0; k < c; ++k)
        mx = std::max(mx, logits.v[(b * c + k) * inner + s]);
      double sum = 0;
      for (int64_t k = 0; k < c; ++k)
        sum += std::exp(logits.v[(b * c + k) * inner + s] - mx);
      double logp = logits.v[(b * c + label) * inner + s] - mx - std::log(sum);
      double w = weights ? weights->v[label] : 1.0;
      loss.v[item] = -w * logp;
      weightSum += w;
    }
  }
  const std::string &red = ctx.attrs.getString("reduction");
  if (red == "none")
    return std::vector<Arr>{std::move(loss)};
  double total = 0;
  for (double v : loss.v)
    total += v;
  Arr out(logits.dtype, {}, red == "sum" ? total : total / weightSum);
  return std::vector<Arr>{std::move(out)};
}

/// Per-channel statistics over every axis but 1.
struct ChannelIndex {
  int64_t channels, inner, count;
  explicit ChannelIndex(const Sizes &s)
      : channels(s[1]), inner(product(Sizes(s.begin() + 2, s.end()))), count(s[0] * inner) {}
  int64_t channelOf(int64_t flat) const { return (flat / inner) % channels; }
};

Results batchNorm(const KernelCtx &ctx, Args args) {
  const Arr &x = *args[0], &scale = *args[1], &bias = *args[2];
  double eps = ctx.attrs.getFloat("epsilon");
  ChannelIndex ci(x.shape);
  Arr mean(x.dtype, {ci.channels}), var(x.dtype, {ci.channels});
  if (ctx.node.op == OpKind::BatchNormInfer) {
    mean = *args[3];
    var = *args[4];
  } else {
    for (int64_t i = 0; i < x.size(); ++i)
      mean.v[ci.channelOf(i)] += x.v[i] / static_cast<double>(ci.count);
    for (int64_t i = 0; i < x.size(); ++i) {
      double d = x.v[i] - mean.v[ci.channelOf(i)];
      var.v[ci.channelOf(i)] += d * d / static_cast<double>(ci.count);
    }
  }
  Arr y(x.dtype, x.shape);
  for (int64_t i = 0; i < x.size(); ++i) {
    int64_t ch = ci.channelOf(i);
    y.v[i] = (x.v[i] - mean.v[ch]) / std::sqrt(var.v[ch] + eps) * scale.v[ch] + bias.v[ch];
  }
  if (ctx.node.op == OpKind::BatchNormInfer)
    return std::vector<Arr>{std::move(y)};
  return std::vector<Arr>{std::move(y), std::move(mean), std::move(var)};
}

Results batchNormGrad(const KernelCtx &ctx, Args args) {
  const Arr &dy = *args[0], &x = *args[1], &scale = *args[2], &mean = *args[3], &var = *args[4];
  double eps = ctx.attrs.getFloat("epsilon");
  ChannelIndex ci(x.shape);
  Arr dx(x.dtype, x.shape), dscale(x.dtype, {ci.channels}), dbias(x.dtype, {ci.channels});
  for (int64_t i = 0; i < x.size(); ++i) {
    int64_t ch = ci.channelOf(i);
    double xhat = (x.v[i] - mean.v[ch]) / std::sqrt(var.v[ch] + eps);
    dbias.v[ch] += dy.v[i];
    dscale.v[ch] += dy.v[i] * xhat;
  }
  auto m = static_cast<double>(ci.count);
  for (int64_t i = 0; i < x.size(); ++i) {
    int64_t ch = ci.channelOf(i);
    double inv = 1.0 / std::sqrt(var.v[ch] + eps);
    double xhat = (x.v[i] - mean.v[ch]) * inv;
    dx.v[i] = scale.v[ch] * inv / m * (m * dy.v[i] - dbias.v[ch] - xhat * dscale.v[ch]);
  }
  return std::vector<Arr>{std::move(dx), std::move(dscale), std::move(dbias)};
}

Results dropout(const KernelCtx &ctx, Args args) {
  const Arr &x = *args[0];
  double ratio = ctx.attrs.getFloat("ratio");
  auto seed = static_cast<uint64_t>(ctx.attrs.getInt("seed"));
  if (args.size() == 2)
    seed += static_cast<uint64_t>(static_cast<int64_t>(args[1]->v[0]));
  Arr y(x.dtype, x.shape), mask(DType::Bool, x.shape);
  for (int64_t i = 0; i < x.size(); ++i) {
    bool keep = hashUniform(seed, static_cast<uint64_t>(i)) >= ratio;
    mask.v[i] = keep;
    y.v[i] = keep ? x.v[i] / (1.0 - ratio) : 0.0;
  }
  return std::vector<Arr>{std::move(y), std::move(mask)};
}

} // namespace

Results evalNN(const KernelCtx &ctx, Args args) {
  switch (ctx.node.op) {
  case OpKind::Softmax: return softmax(ctx, *args[0], false);
  case OpKind::LogSoftmax: return softmax(ctx, *args[0], true);
  case OpKind::SoftmaxCrossEntropy: return softmaxCrossEntropy(ctx, args);
  case OpKind::BatchNormTrain:
  case OpKind::BatchNormInfer: return batchNorm(ctx, args);
  case OpKind::BatchNormGrad: return batchNormGrad(ctx, args);
  case OpKind::Dropout: return dropout(ctx, args);
  case OpKind::TopK: return topK(ctx, args);
  case OpKind::ScatterElements: return scatterElements(ctx, args);
  case OpKind::CumSum: return cumSum(ctx, args);
  case OpKind::GatherND: return gatherND(ctx, args);
  case OpKind::ScatterND: return scatterND(ctx, args);
  case OpKind::Resize: return resize(ctx, args);
  default: return makeError("no reference kernel");
  }
}

} // namespace kiln::ref
