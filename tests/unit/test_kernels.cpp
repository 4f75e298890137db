//===- tests/unit/test_kernels.cpp - Kernels of the zoo's training steps -===//
//
// The -O2 pipeline on the training step (forward, backward, momentum update)
// of LeNet-5 and the VGG-style net: the number of kernels after fusion and
// of layout conversions is what the reasoning below predicts, and the
// optimized step computes what the unoptimized one does (loss, accuracy and
// every updated parameter) on the reference interpreter.
//
//===----------------------------------------------------------------------===//
#include "Helpers.h"

#include "kiln/train.h"
#include "passes/Fuse.h"
#include "passes/Layout.h"
#include "passes/PassManager.h"

using namespace kiln;
using namespace kiln::test;

namespace {

ir::Graph trainStep(const char *name) {
  auto net = nn::zoo::byName(name);
  REQUIRE(net);
  optim::Options o;
  o.method = optim::Method::Momentum;
  auto g = classifierStep(*net, {1, 28, 28}, o, 1, true);
  REQUIRE(g);
  return g.take();
}

ir::Graph optimize(const ir::Graph &g) {
  passes::PassOptions o;
  o.verifyEach = true;
  auto r = passes::runPipeline(g, passes::pipelineFor(2), o);
  if (!r)
    FAIL(r.error().message);
  return std::move(r->graph);
}

/// The step before and after -O2 agree on a batch of 2 random images.
void checkSameStep(const ir::Graph &before, const ir::Graph &after) {
  ref::TensorMap feeds = {{"images", randomTensor({2, 1, 28, 28}, 5, ir::DType::F32)},
                          {"labels", tensor(ir::DType::I64, {2}, {3, 7})}};
  auto a = ref::evaluate(before, feeds);
  auto b = ref::evaluate(after, feeds);
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(a->updates.size() == b->updates.size());
  for (size_t i = 0; i < a->outputs.size(); ++i)
    checkClose(b->outputs[i], a->outputs[i].sizes(), a->outputs[i].toDoubles(), 1e-5, 1e-6);
  for (size_t i = 0; i < a->updates.size(); ++i) {
    INFO("update of %" << before.nameOf(before.updates()[i].param));
    checkClose(b->updates[i], a->updates[i].sizes(), a->updates[i].toDoubles(), 1e-5, 1e-6);
  }
}

} // namespace

TEST_CASE("LeNet-5's training step is 39 kernels after -O2", "[passes][fuse][layout]") {
  ir::Graph g = trainStep("lenet");
  ir::Graph opt = optimize(g);
  // Forward, 11: the input's conversion to NHWC; conv1 and conv2, each one
  // kernel with its bias, relu and relu mask (for the backward pass) as
  // epilogue; two max pools; the flatten, a view (dense3's weight stores its
  // rows channels last, as the flattened image is); the three dense layers,
  // each a matmul with its epilogue; the loss, 4 (passes/Expand: the max
  // of each row, exp and its sum, the one-hot pick of -log p summed over
  // classes, the mean); the correct count (argmax, equal and cast fused,
  // then the sum).
  // Loss gradient, 4: softmax (its division: the max, exp and sum are the
  // loss's, and so is one_hot), the broadcast count of the mean, its
  // reciprocal (fused), and softmax - onehot scaled and summed for the last
  // bias (one reduction kernel).
  // Dense layers, 2 + 3 + 3: the last layer's dx with the next relu mask as
  // epilogue and its dW with the momentum update as epilogue; dense4 adds
  // its bias gradient; dense3's dx has no mask (a reshape follows).
  // conv2, 4: max_pool_grad with the relu mask, the bias gradient, dx, dW
  // with its update. conv1, 3: the same without dx.
  // Optimizer, 6: the step counter and the five bias updates.
  CHECK(passes::countKernels(opt) == 14 + 4 + 8 + 4 + 3 + 6);
  CHECK(passes::countLayoutConverts(opt) == 1); // the input's, and only it
  checkSameStep(g, opt);
}

TEST_CASE("the VGG-style training step is 44 kernels after -O2", "[passes][fuse][layout]") {
  ir::Graph g = trainStep("vgg");
  ir::Graph opt = optimize(g);
  // Forward, 12: the input's conversion; four conv kernels (conv, bias,
  // relu, relu mask); two max pools; two dense kernels (the flatten is a
  // view); the loss (4, as LeNet's); the correct count (2).
  // Loss gradient, 4, as LeNet's. Dense layers, 2 + 3.
  // conv4, 4: max_pool_grad with the mask, bias gradient, dx with conv3's
  // mask, dW with its update. conv3, 3: bias gradient, dx (a max_pool_grad
  // follows, which takes conv2's mask), dW with update. conv2, 4: as conv4.
  // conv1, 2: bias gradient and dW with update (no dx for the images).
  // Optimizer, 7: the step counter and six bias updates.
  CHECK(passes::countKernels(opt) == 15 + 4 + 5 + 4 + 3 + 4 + 2 + 7);
  CHECK(passes::countLayoutConverts(opt) == 1);
  // Every conv weight and the dense weight after the flatten, and their
  // velocities, live in the compute layout.
  for (const ir::Param &p : opt.params()) {
    INFO(opt.nameOf(p.value));
    const ir::Type &t = opt.type(p.value);
    if (t.rank() == 4)
      CHECK(t.layout.kind == ir::Layout::NHWC);
    if (opt.nameOf(p.value).rfind("dense5.w", 0) == 0)
      CHECK(t.layout == ir::Layout{ir::Layout::FlatRows, 64});
  }
  checkSameStep(g, opt);
}
