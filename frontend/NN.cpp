//===- frontend/NN.cpp - Keras-like layers and the model zoo --------------===//
#include "kiln/nn.h"

#include "frontend/Recurrent.h"
#include "runtime/Config.h"

#include <cmath>

namespace kiln::nn {

bool defaultChannelsLast() {
  const auto &c = config();
  return c && c->channelsLast;
}

Shape imageShape(const Context &ctx, const std::vector<int64_t> &dims) {
  Shape shape = {"N"};
  for (size_t i = ctx.channelsLast && dims.size() > 1 ? 1 : 0; i < dims.size(); ++i)
    shape.push_back(Dim::of(dims[i]));
  if (ctx.channelsLast && dims.size() > 1)
    shape.push_back(Dim::of(dims[0]));
  return shape;
}

std::string Context::name(const std::string &kind) { return fmt::format("{}{}", kind, ++layerCount); }

Tensor Context::param(const std::string &n, const std::vector<int64_t> &shape, const ir::Initializer &init,
                      bool trainable) {
  Tensor p = g.param(n, shape, init, floatX());
  (trainable ? params : stateParams).push_back(p);
  return p;
}

namespace {

Tensor activate(Tensor x, Activation a) {
  switch (a) {
  case Activation::None: return x;
  case Activation::Relu: return relu(x);
  case Activation::Tanh: return tanh(x);
  case Activation::Sigmoid: return sigmoid(x);
  case Activation::Softmax: return softmax(x);
  }
  return x;
}

/// With channels last, x[N, spatial..., C] as x[N, C, spatial...] for the
/// ops, and their result back (toFirst false).
Tensor channelsFirst(const Context &ctx, Tensor x, bool toFirst) {
  if (!ctx.channelsLast || !x.valid() || x.type().rank() < 3)
    return x;
  int64_t r = x.type().rank();
  std::vector<int64_t> perm = {0};
  if (toFirst)
    perm.push_back(r - 1);
  for (int64_t d = toFirst ? 1 : 2; d < (toFirst ? r - 1 : r); ++d)
    perm.push_back(d);
  if (!toFirst)
    perm.push_back(1);
  return transpose(x, perm);
}

/// The constant size of dim i of x, or an error recorded in the graph.
int64_t constDim(Tensor x, int i, const char *layer) {
  const Dim d = x.type().shape[static_cast<size_t>(i)];
  if (!d.isConst()) {
    x.graph()->fail(makeError("{}: dim {} of its input {} must be known when the model is built", layer, i,
                              ir::toString(x.type())));
    return 1;
  }
  return d.value;
}

class Dense : public Layer {
public:
  Dense(int64_t units, Activation act) : units_(units), act_(act) {}
  Tensor forward(Context &ctx, Tensor x) override {
    if (!x.valid())
      return x;
    if (x.type().rank() != 2) {
      x.graph()->fail(makeError("dense: input {} must be [batch, features]; add a flatten layer", ir::toString(x.type())));
      return {};
    }
    std::string n = ctx.name("dense");
    int64_t in = constDim(x, 1, "dense");
    Tensor w = ctx.param(n + ".w", {in, units_}, act_ == Activation::Relu ? init::he_normal(ctx.seed++) : init::glorot_uniform(ctx.seed++));
    Tensor b = ctx.param(n + ".b", {units_}, init::zeros());
    return activate(matmul(x, w) + b, act_);
  }

private:
  int64_t units_;
  Activation act_;
};

/// An LSTM or GRU over x[N, T, I], batch first as in Keras and PyTorch's
/// batch_first: the last hidden state [N, units], or with `sequences` every
/// step's [N, T, units]. The steps are unrolled (T must be known); weights
/// are stored as ONNX stores them (W [1, G*units, I], R [1, G*units,
/// units], B [1, 2*G*units]), initialized as PyTorch does (uniform in
/// +-1/sqrt(units)), the LSTM's forget bias plus 1.
class RecurrentLayer : public Layer {
public:
  RecurrentLayer(recurrent::Cell cell, int64_t units, bool sequences)
      : cell_(cell), units_(units), sequences_(sequences) {}
  Tensor forward(Context &ctx, Tensor x) override {
    if (!x.valid())
      return x;
    const char *kind = cell_ == recurrent::Cell::Lstm ? "lstm" : "gru";
    if (x.type().rank() != 3) {
      x.graph()->fail(makeError("{}: input {} must be [batch, steps, features]", kind, ir::toString(x.type())));
      return {};
    }
    std::string n = ctx.name(kind);
    int64_t steps = constDim(x, 1, kind), in = constDim(x, 2, kind), gh = recurrent::gates(cell_) * units_;
    double bound = 1 / std::sqrt(static_cast<double>(units_));
    Tensor w = ctx.param(n + ".w", {1, gh, in}, init::uniform(-bound, bound, ctx.seed++));
    Tensor r = ctx.param(n + ".r", {1, gh, units_}, init::uniform(-bound, bound, ctx.seed++));
    // The LSTM's forget gate starts biased open (+1, Keras's unit_forget_bias,
    // Jozefowicz et al. 2015), so what it has seen is not halved every step.
    HostTensor bias = ir::materialize(init::uniform(-bound, bound, ctx.seed++), floatX(), {1, 2 * gh});
    if (cell_ == recurrent::Cell::Lstm)
      for (int64_t k = 2 * units_; k < 3 * units_; ++k)
        bias.set(k, bias.get(k) + 1);
    Tensor b = ctx.g.param(n + ".b", bias);
    ctx.params.push_back(b);
    Tensor timeMajor = transpose(x, {1, 0, 2});
    if (!timeMajor.valid() || !w.valid() || !r.valid() || !b.valid())
      return {};
    recurrent::Operands ops;
    ops.x = timeMajor.id(), ops.w = w.id(), ops.r = r.id(), ops.b = b.id();
    recurrent::Spec spec;
    spec.cell = cell_;
    spec.hidden = units_;
    spec.prefix = n;
    auto built = recurrent::build(ctx.g.ir(), ops, spec);
    if (!built) {
      ctx.g.fail(makeError("{}: {}", n, built.error().message));
      return {};
    }
    if (!sequences_)
      return reshape(Tensor(&ctx.g, built->yh), {-1, units_}); // [1, N, H] -> [N, H]
    Tensor y = reshape(Tensor(&ctx.g, built->y), {steps, -1, units_}); // [T, 1, N, H] -> [T, N, H]
    return transpose(y, {1, 0, 2});
  }

private:
  recurrent::Cell cell_;
  int64_t units_;
  bool sequences_;
};

class Conv : public Layer {
public:
  Conv(int64_t filters, std::vector<int64_t> kernel, Activation act, std::string padding, std::vector<int64_t> stride)
      : filters_(filters), kernel_(std::move(kernel)), act_(act), padding_(std::move(padding)), stride_(std::move(stride)) {}
  Tensor forward(Context &ctx, Tensor x) override {
    if (!x.valid())
      return x;
    x = channelsFirst(ctx, x, true);
    std::string n = ctx.name("conv");
    int64_t channels = constDim(x, 1, "conv");
    std::vector<int64_t> wshape = {filters_, channels};
    wshape.insert(wshape.end(), kernel_.begin(), kernel_.end());
    Tensor w = ctx.param(n + ".w", wshape, init::he_normal(ctx.seed++));
    std::vector<int64_t> bshape = {filters_};
    bshape.resize(kernel_.size() + 1, 1);
    Tensor b = ctx.param(n + ".b", bshape, init::zeros());
    ConvOptions o{.stride = stride_};
    if (padding_ == "same") { // for stride 1: (k - 1) / 2 before, the rest after
      std::vector<int64_t> begin, end;
      for (int64_t k : kernel_) {
        begin.push_back((k - 1) / 2);
        end.push_back(k - 1 - (k - 1) / 2);
      }
      o.pad = begin;
      o.pad.insert(o.pad.end(), end.begin(), end.end());
    }
    return channelsFirst(ctx, activate(kiln::conv(x, w, o) + b, act_), false);
  }

private:
  int64_t filters_;
  std::vector<int64_t> kernel_;
  Activation act_;
  std::string padding_;
  std::vector<int64_t> stride_;
};

class Pool : public Layer {
public:
  Pool(bool isMax, std::vector<int64_t> kernel, std::vector<int64_t> stride)
      : isMax_(isMax), kernel_(std::move(kernel)), stride_(stride.empty() ? kernel_ : std::move(stride)) {}
  Tensor forward(Context &ctx, Tensor x) override {
    PoolOptions o{.stride = stride_};
    x = channelsFirst(ctx, x, true);
    return channelsFirst(ctx, isMax_ ? max_pool(x, kernel_, o) : avg_pool(x, kernel_, o), false);
  }

private:
  bool isMax_;
  std::vector<int64_t> kernel_, stride_;
};

class Fn : public Layer {
public:
  explicit Fn(std::function<Tensor(Context &, Tensor)> f) : f_(std::move(f)) {}
  Tensor forward(Context &ctx, Tensor x) override { return f_(ctx, x); }

private:
  std::function<Tensor(Context &, Tensor)> f_;
};

class BatchNorm : public Layer {
public:
  BatchNorm(double momentum, double eps) : momentum_(momentum), eps_(eps) {}
  Tensor forward(Context &ctx, Tensor x) override {
    if (!x.valid())
      return x;
    x = channelsFirst(ctx, x, true);
    std::string n = ctx.name("batchnorm");
    int64_t c = constDim(x, 1, "batch_norm");
    Tensor scale = ctx.param(n + ".scale", {c}, init::constant(1));
    Tensor bias = ctx.param(n + ".bias", {c}, init::zeros());
    Tensor mean = ctx.param(n + ".running_mean", {c}, init::zeros(), false);
    Tensor var = ctx.param(n + ".running_var", {c}, init::constant(1), false);
    if (!ctx.training)
      return channelsFirst(ctx, batch_norm_infer(x, scale, bias, mean, var, eps_), false);
    auto r = batch_norm_train(x, scale, bias, eps_);
    ctx.g.update(mean, mean * momentum_ + r.mean * (1 - momentum_));
    ctx.g.update(var, var * momentum_ + r.var * (1 - momentum_));
    return channelsFirst(ctx, r.y, false);
  }

private:
  double momentum_, eps_;
};

class Dropout : public Layer {
public:
  explicit Dropout(double rate) : rate_(rate) {}
  Tensor forward(Context &ctx, Tensor x) override {
    if (!ctx.training || rate_ == 0)
      return x;
    // A step counter makes each step draw a new mask from the same seed.
    std::string n = ctx.name("dropout");
    Tensor step = ctx.g.param(n + ".step", {}, init::zeros(), i64);
    ctx.stateParams.push_back(step);
    ctx.g.update(step, step + 1.0);
    auto r = ctx.g.apply(ir::OpKind::Dropout, {x, step},
                         {{"ratio", rate_}, {"seed", static_cast<int64_t>(ctx.seed++ * 7919)}});
    return r[0];
  }

private:
  double rate_;
};

} // namespace

LayerPtr dense(int64_t units, Activation act) { return std::make_shared<Dense>(units, act); }
LayerPtr lstm(int64_t units, bool returnSequences) {
  return std::make_shared<RecurrentLayer>(recurrent::Cell::Lstm, units, returnSequences);
}
LayerPtr gru(int64_t units, bool returnSequences) {
  return std::make_shared<RecurrentLayer>(recurrent::Cell::Gru, units, returnSequences);
}
LayerPtr conv(int64_t filters, std::vector<int64_t> kernel, Activation act, const std::string &padding,
              std::vector<int64_t> stride) {
  return std::make_shared<Conv>(filters, std::move(kernel), act, padding, std::move(stride));
}
LayerPtr maxPool(std::vector<int64_t> kernel, std::vector<int64_t> stride) {
  return std::make_shared<Pool>(true, std::move(kernel), std::move(stride));
}
LayerPtr avgPool(std::vector<int64_t> kernel, std::vector<int64_t> stride) {
  return std::make_shared<Pool>(false, std::move(kernel), std::move(stride));
}
LayerPtr globalAvgPool() {
  return std::make_shared<Fn>(
      [](Context &ctx, Tensor x) { return reshape(global_avg_pool(channelsFirst(ctx, x, true)), {0, -1}); });
}
LayerPtr flatten() {
  return std::make_shared<Fn>([](Context &, Tensor x) { return reshape(x, {0, -1}); });
}
LayerPtr dropout(double rate) { return std::make_shared<Dropout>(rate); }
LayerPtr batchNorm(double momentum, double epsilon) { return std::make_shared<BatchNorm>(momentum, epsilon); }
LayerPtr activation(Activation act) {
  return std::make_shared<Fn>([act](Context &, Tensor x) { return activate(x, act); });
}

Tensor Sequential::forward(Context &ctx, Tensor x) {
  for (const LayerPtr &l : layers_)
    x = l->forward(ctx, x);
  return x;
}

namespace zoo {

Sequential mlp() {
  return {flatten(), dense(512, Activation::Relu), dense(256, Activation::Relu), dense(10)};
}

Sequential lenet5() {
  return {conv(6, {5, 5}, Activation::Relu, "same"), maxPool({2, 2}),
          conv(16, {5, 5}, Activation::Relu, "valid"), maxPool({2, 2}),
          flatten(), dense(120, Activation::Relu), dense(84, Activation::Relu), dense(10)};
}

Sequential vgg() {
  return {conv(32, {3, 3}, Activation::Relu), conv(32, {3, 3}, Activation::Relu), maxPool({2, 2}),
          conv(64, {3, 3}, Activation::Relu), conv(64, {3, 3}, Activation::Relu), maxPool({2, 2}),
          flatten(), dense(256, Activation::Relu), dense(10)};
}

Sequential vgg16() {
  Sequential s;
  for (auto [convs, filters] : {std::pair{2, 64}, {2, 128}, {3, 256}, {3, 512}, {3, 512}}) {
    for (int i = 0; i < convs; ++i)
      s.add(conv(filters, {3, 3}, Activation::Relu));
    s.add(maxPool({2, 2}));
  }
  s.add(flatten());
  s.add(dense(4096, Activation::Relu));
  s.add(dense(4096, Activation::Relu));
  s.add(dense(1000));
  return s;
}

std::vector<int64_t> inputDims(const std::string &name) {
  if (name == "vgg16")
    return {3, 224, 224};
  return {1, 28, 28};
}

Expected<Sequential> byName(const std::string &name) {
  if (name == "mlp")
    return mlp();
  if (name == "lenet" || name == "lenet5")
    return lenet5();
  if (name == "vgg")
    return vgg();
  if (name == "vgg16")
    return vgg16();
  return makeError("unknown model '{}' (the zoo has mlp, lenet, vgg, vgg16)", name);
}

} // namespace zoo
} // namespace kiln::nn
