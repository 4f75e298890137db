//===- examples/custom_loop/custom_loop.cpp - A training loop of your own ===//
//
// What a user writes when `kiln train` is not enough: the model (the zoo's
// VGG-style net, built here with the Keras-like Sequential), the loss, the
// gradients and the updates as graph nodes, two functions over one set of
// shared parameters (a training step and a prediction), and the loop.
//
//   custom_loop [--limit N] [--epochs E]     (Fashion-MNIST from Debian's dataset-fashion-mnist)
//
// Built as build/examples/custom-loop; ctest runs it on 512 images.
//
//===----------------------------------------------------------------------===//
#include <kiln/kiln.h>
#include <kiln/nn.h>

#include "runtime/Data.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

using namespace kiln;

/// The zoo's VGG-style net (nn::zoo::vgg()), layer by layer.
nn::Sequential vggStyle() {
  using nn::Activation;
  nn::Sequential net;
  for (int64_t filters : {32, 64}) {
    net.add(nn::conv(filters, {3, 3}, Activation::Relu));
    net.add(nn::conv(filters, {3, 3}, Activation::Relu));
    net.add(nn::maxPool({2, 2}));
  }
  net.add(nn::flatten());
  net.add(nn::dense(256, Activation::Relu));
  net.add(nn::dense(10)); // the logits
  return net;
}

int main(int argc, char **argv) {
  int64_t limit = 2048, epochs = 1;
  CLI::App app{"custom_loop"};
  app.add_option("--limit", limit, "Train on the first N Fashion-MNIST images")->check(CLI::PositiveNumber);
  app.add_option("--epochs", epochs, "Epochs")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  auto train = data::loadFashionMnist(data::kFashionMnistDir, true, limit);
  auto test = data::loadFashionMnist(data::kFashionMnistDir, false, 1000);
  if (!train || !test) {
    std::fprintf(stderr, "custom_loop: %s\n", (!train ? train : test).error().message.c_str());
    return 1;
  }

  // The model and its loss: the mean cross-entropy over a batch of any size N.
  Graph g("custom_loop");
  Tensor images = g.input("images", f32, {"N", 1, 28, 28});
  Tensor labels = g.input("labels", i64, {"N"});
  nn::Sequential net = vggStyle();
  nn::Context ctx{g, /*training=*/true, /*seed=*/1};
  Tensor logits = net.forward(ctx, images).named("logits");
  Tensor loss = softmax_cross_entropy(logits, labels).named("loss");
  Tensor correct = reduce_sum(cast(equal(argmax(logits, 1), labels), f32)).named("correct");

  // Plain momentum SGD, written out: v <- 0.9 v + g, w <- w - lr v.
  std::vector<Tensor> grads = grad(loss, ctx.params);
  Updates updates;
  for (size_t i = 0; i < ctx.params.size(); ++i) {
    Tensor w = ctx.params[i];
    std::vector<int64_t> shape;
    for (const Dim &d : w.type().shape)
      shape.push_back(d.value);
    Tensor v = g.param(w.name() + ".velocity", shape, init::zeros());
    Tensor vNew = 0.9 * v + grads[i];
    updates.push_back({v, vNew});
    updates.push_back({w, w - 0.01 * vNew});
  }
  // Two functions, one set of parameters: `evaluate` sees what `step` learned.
  auto step = function({images, labels}, {loss, correct}, updates);
  auto evaluate = function({images, labels}, {loss, correct});
  if (!step || !evaluate) {
    std::fprintf(stderr, "custom_loop: %s\n", (!step ? step.error() : evaluate.error()).message.c_str());
    return 1;
  }

  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    data::DataLoader loader(*train, 64, /*shuffle=*/true, /*seed=*/1);
    loader.startEpoch(epoch);
    double lossSum = 0, right = 0;
    for (int64_t b = 0; b < loader.numBatches(); ++b) {
      data::Batch batch = loader.batch(b);
      auto out = (*step)({batch.images, batch.labels});
      if (!out) {
        std::fprintf(stderr, "custom_loop: %s\n", out.error().message.c_str());
        return 1;
      }
      lossSum += (*out)[0].get(0) * static_cast<double>(batch.labels.numElements());
      right += (*out)[1].get(0);
    }
    auto eval = (*evaluate)({test->images, test->labels});
    if (!eval) {
      std::fprintf(stderr, "custom_loop: %s\n", eval.error().message.c_str());
      return 1;
    }
    std::printf("epoch %lld: train loss %.4f, train accuracy %.2f%%, test accuracy %.2f%%\n",
                static_cast<long long>(epoch + 1), lossSum / static_cast<double>(train->size()),
                100 * right / static_cast<double>(train->size()),
                100 * (*eval)[1].get(0) / static_cast<double>(test->size()));
  }
  // The weights are shared variables: read them like Theano's get_value().
  auto w = ctx.params[0].get_value();
  if (!w)
    return std::fprintf(stderr, "custom_loop: %s\n", w.error().message.c_str()), 1;
  std::printf("%s: %s, first weight %.6f\n", ctx.params[0].name().c_str(), ir::toString(w->type()).c_str(), w->get(0));
  return 0;
}
