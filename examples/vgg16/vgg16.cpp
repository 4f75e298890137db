//===- examples/vgg16/vgg16.cpp - VGG16 and the course's fine-tuning -------===//
//
// fast.ai's first lesson fine-tunes VGG16 (Simonyan and Zisserman, 2014):
// keep the network, freeze its convolutions, replace the 1000-way top by a
// layer for the task's classes, and train only that. This is that workflow
// on a CPU-sized variant: the zoo's VGG16 (13 conv3x3 layers in 5 blocks,
// dense 4096, 4096, 1000), fed Fashion-MNIST images padded to 32x32 and
// repeated over 3 channels (the smallest input its five pools take), its
// dense(1000) popped and a dense(10) added; the gradient is taken only with
// respect to the new layer's weights (grad with a subset of wrt), so the
// backward pass stops there. There are no ImageNet weights here, so the
// frozen features are VGG16's seeded random initialization: the point is the
// workflow and its cost, not the accuracy.
//
//   vgg16 [--limit N] [--epochs E]
//
// The full-size VGG16 training step (224x224x3, every layer trained) is
// `kiln train --model vgg16 --synthetic 4 --steps 2 --batch-size 2`.
// Built as build/examples/vgg16; ctest runs it on 256 images.
//
//===----------------------------------------------------------------------===//
#include <kiln/kiln.h>
#include <kiln/nn.h>
#include <kiln/optim.h>

#include "runtime/Data.h"

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <string>

using namespace kiln;

/// Fashion-MNIST's [N, 1, 28, 28] as [N, 3, 32, 32]: padded by 2 with the
/// background's value and the gray repeated over three channels.
HostTensor toVggInput(const HostTensor &images) {
  int64_t n = images.sizes()[0];
  HostTensor out(f32, {n, 3, 32, 32});
  double background = images.get(0 * 784); // a corner pixel: the standardized 0
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t y = 0; y < 32; ++y)
        for (int64_t x = 0; x < 32; ++x) {
          bool inside = y >= 2 && y < 30 && x >= 2 && x < 30;
          out.set(((i * 3 + c) * 32 + y) * 32 + x,
                  inside ? images.get(i * 784 + (y - 2) * 28 + (x - 2)) : background);
        }
  return out;
}

int main(int argc, char **argv) {
  int64_t limit = 1024, epochs = 1;
  CLI::App app{"vgg16"};
  app.add_option("--limit", limit, "Train on the first N Fashion-MNIST images")->check(CLI::PositiveNumber);
  app.add_option("--epochs", epochs, "Epochs")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  auto train = data::loadFashionMnist(data::kFashionMnistDir, true, limit);
  auto test = data::loadFashionMnist(data::kFashionMnistDir, false, 500);
  if (!train || !test) {
    std::fprintf(stderr, "vgg16: %s\n", (!train ? train : test).error().message.c_str());
    return 1;
  }

  // VGG16, its top replaced: pop dense(1000), add dense(10).
  nn::Sequential net = nn::zoo::vgg16();
  net.pop();
  net.add(nn::dense(10));
  Graph g("vgg16_finetune");
  Tensor images = g.input("images", f32, {"N", 3, 32, 32});
  Tensor labels = g.input("labels", i64, {"N"});
  nn::Context ctx{g, /*training=*/true, /*seed=*/16};
  Tensor logits = net.forward(ctx, images).named("logits");
  Tensor loss = softmax_cross_entropy(logits, labels).named("loss");
  Tensor correct = reduce_sum(cast(equal(argmax(logits, 1), labels), f32)).named("correct");

  // Frozen: every parameter but the new layer's weight and bias.
  std::vector<Tensor> trainable(ctx.params.end() - 2, ctx.params.end());
  std::printf("VGG16: %zu parameter tensors, training %s and %s only\n", ctx.params.size(),
              trainable[0].name().c_str(), trainable[1].name().c_str());
  if (auto s = optim::minimize(g, loss, trainable, {.method = optim::Method::Adam, .lr = 1e-3}); !s) {
    std::fprintf(stderr, "vgg16: %s\n", s.error().message.c_str());
    return 1;
  }
  auto step = function({images, labels}, {loss, correct}, g.updates());
  auto evaluate = function({images, labels}, {loss, correct});
  if (!step || !evaluate) {
    std::fprintf(stderr, "vgg16: %s\n", (!step ? step.error() : evaluate.error()).message.c_str());
    return 1;
  }
  HostTensor testImages = toVggInput(test->images);
  for (int64_t epoch = 0; epoch < epochs; ++epoch) {
    data::DataLoader loader(*train, 32, true, 1);
    loader.startEpoch(epoch);
    double lossSum = 0, right = 0;
    auto t0 = std::chrono::steady_clock::now();
    for (int64_t b = 0; b < loader.numBatches(); ++b) {
      data::Batch batch = loader.batch(b);
      auto out = (*step)({toVggInput(batch.images), batch.labels});
      if (!out) {
        std::fprintf(stderr, "vgg16: %s\n", out.error().message.c_str());
        return 1;
      }
      lossSum += (*out)[0].get(0) * static_cast<double>(batch.labels.numElements());
      right += (*out)[1].get(0);
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto eval = (*evaluate)({testImages, test->labels});
    if (!eval) {
      std::fprintf(stderr, "vgg16: %s\n", eval.error().message.c_str());
      return 1;
    }
    std::printf("epoch %lld: train loss %.4f, train accuracy %.2f%%, test accuracy %.2f%%, %.0f images/s\n",
                static_cast<long long>(epoch + 1), lossSum / static_cast<double>(train->size()),
                100 * right / static_cast<double>(train->size()),
                100 * (*eval)[1].get(0) / static_cast<double>(test->size()),
                static_cast<double>(train->size()) / seconds);
  }
  return 0;
}
