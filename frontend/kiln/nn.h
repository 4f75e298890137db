//===- kiln/nn.h - Keras-like layers and the model zoo ---------*- C++ -*-===//
//
// Layers build graph nodes and create their parameters when they first see
// their input's shape (as Keras's `build`). A Sequential applies layers in
// order. Training and inference graphs are built from the same model: in
// training, BatchNorm normalizes with batch statistics and adds updates of its
// running statistics, and Dropout drops; in inference both are plain.
//
//   kiln::nn::Sequential net = kiln::nn::zoo::mlp();
//   kiln::nn::Context ctx{g, /*training=*/true, /*seed=*/1};
//   auto logits = net.forward(ctx, x);
//
//===----------------------------------------------------------------------===//
#pragma once

#include "kiln/kiln.h"

#include <functional>
#include <memory>
#include <vector>

namespace kiln::nn {

/// Whether images are x[N, spatial..., C] (Keras's `channels_last`), as the
/// config's `[nn] image_data_format` says; channels first by default.
bool defaultChannelsLast();

/// What layers need while building: the graph, the mode, a seed for their
/// initializers, and the parameters they made (in order).
struct Context {
  Graph &g;
  bool training = true;
  uint64_t seed = 1;
  std::vector<Tensor> params = {};      ///< trainable parameters
  std::vector<Tensor> stateParams = {}; ///< running statistics and counters
  int layerCount = 0;
  /// Images as x[N, spatial..., C]: conv, pooling, batch norm and the global
  /// pool take and give that order (the ops themselves are channels-first;
  /// the layers transpose around them, and the transposes between layers
  /// cancel). Weights keep their shapes, so both formats share checkpoints.
  bool channelsLast = defaultChannelsLast();

  /// A fresh layer name: `dense1`, `conv2`, ...
  std::string name(const std::string &kind);
  Tensor param(const std::string &name, const std::vector<int64_t> &shape, const ir::Initializer &init,
               bool trainable = true);
};

/// The image shape [N, dims...] of a zoo model's input, `dims` given
/// channels first (C, H, W), in the context's order.
Shape imageShape(const Context &ctx, const std::vector<int64_t> &dims);

class Layer {
public:
  virtual ~Layer() = default;
  virtual Tensor forward(Context &ctx, Tensor x) = 0;
};

using LayerPtr = std::shared_ptr<Layer>;

enum class Activation { None, Relu, Tanh, Sigmoid, Softmax };

LayerPtr dense(int64_t units, Activation act = Activation::None);
/// LSTM and GRU layers (ONNX's equations and weight layout) over x[N, T,
/// features] with T known: the last hidden state [N, units], or with
/// `returnSequences` every step's [N, T, units] (Keras's return_sequences).
/// The steps are unrolled into the graph; they train like any layer.
LayerPtr lstm(int64_t units, bool returnSequences = false);
LayerPtr gru(int64_t units, bool returnSequences = false);
/// N-d convolution over x[N, C, spatial...]; padding "same" (stride 1) or "valid".
LayerPtr conv(int64_t filters, std::vector<int64_t> kernel, Activation act = Activation::None,
              const std::string &padding = "same", std::vector<int64_t> stride = {});
LayerPtr maxPool(std::vector<int64_t> kernel, std::vector<int64_t> stride = {});
LayerPtr avgPool(std::vector<int64_t> kernel, std::vector<int64_t> stride = {});
LayerPtr globalAvgPool();
LayerPtr flatten();
LayerPtr dropout(double rate);
LayerPtr batchNorm(double momentum = 0.9, double epsilon = 1e-5);
LayerPtr activation(Activation act);

class Sequential : public Layer {
public:
  Sequential() = default;
  Sequential(std::initializer_list<LayerPtr> layers) : layers_(layers) {}
  void add(LayerPtr l) { layers_.push_back(std::move(l)); }
  /// Removes the last layer (Keras's `model.pop()`: replace the top).
  void pop() {
    if (!layers_.empty())
      layers_.pop_back();
  }
  const std::vector<LayerPtr> &layers() const { return layers_; }
  Tensor forward(Context &ctx, Tensor x) override;

private:
  std::vector<LayerPtr> layers_;
};

namespace zoo {
/// 784-512-256-10, ReLU.
Sequential mlp();
/// LeNet-5: conv5x5(6, same)-relu-maxpool, conv5x5(16)-relu-maxpool, 120, 84, 10.
Sequential lenet5();
/// Two blocks of [conv3x3-relu-conv3x3-relu-maxpool] with 32 then 64 channels, dense 256, dense 10.
Sequential vgg();
/// VGG16 (Simonyan and Zisserman's configuration D) for 224x224 images and
/// 1000 classes: 13 conv3x3-relu in five blocks of 64 to 512 channels, each
/// block ending in a 2x2 max pool, then dense 4096, 4096, 1000.
Sequential vgg16();
/// The image size a zoo model takes, without the batch: [3, 224, 224] for
/// vgg16, Fashion-MNIST's [1, 28, 28] for the others.
std::vector<int64_t> inputDims(const std::string &name);
/// The zoo model of that name (mlp, lenet, vgg, vgg16), or an error listing them.
Expected<Sequential> byName(const std::string &name);
} // namespace zoo

} // namespace kiln::nn
