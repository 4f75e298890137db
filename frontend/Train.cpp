//===- frontend/Train.cpp - Classifier training functions -----------------===//
#include "kiln/train.h"

namespace kiln {

namespace {

/// Adds labels, the loss and the count of correct predictions after `logits`.
struct Head {
  Tensor labels, loss, correct;
};
Head addHead(Graph &g, Tensor logits) {
  Head h;
  h.labels = g.input("labels", i64, {"N"});
  h.loss = softmax_cross_entropy(logits, h.labels).named("loss");
  h.correct = reduce_sum(cast(equal(argmax(logits, 1), h.labels), f32)).named("correct");
  return h;
}

Expected<ClassifierFunctions> pair(Expected<Function> train, Expected<Function> eval) {
  if (!train)
    return train.error();
  if (!eval)
    return eval.error();
  return ClassifierFunctions{train.take(), eval.take()};
}

} // namespace

Expected<ir::Graph> classifierStep(nn::Sequential &model, const std::vector<int64_t> &imageDims,
                                   const optim::Options &options, uint64_t seed, bool training) {
  Shape shape = {"N"};
  for (int64_t d : imageDims)
    shape.push_back(Dim::of(d));
  Graph g(training ? "train_step" : "evaluate");
  Tensor x = g.input("images", f32, shape);
  nn::Context ctx{g, training, seed};
  Tensor logits = model.forward(ctx, x).named("logits");
  Head h = addHead(g, logits);
  g.output(h.loss);
  g.output(h.correct);
  if (training)
    KILN_TRY(optim::minimize(g, h.loss, ctx.params, options));
  KILN_TRY(g.status());
  return std::move(g.ir());
}

Expected<ClassifierFunctions> buildClassifier(nn::Sequential &model, const std::vector<int64_t> &imageDims,
                                              const optim::Options &options, uint64_t seed) {
  auto build = [&](bool training) -> Expected<Function> {
    KILN_ASSIGN(ir::Graph g, classifierStep(model, imageDims, options, seed, training));
    // images, labels -> loss, correct (the head's outputs, in that order)
    return Function::compile(g, {g.inputs()[0], g.inputs()[1]}, g.outputs());
  };
  return pair(build(true), build(false));
}

Expected<ir::Graph> classifierStep(const ir::Graph &model, const optim::Options &options, bool training) {
  if (model.inputs().size() != 1 || model.outputs().empty())
    return makeError("model @{}: a classifier takes one input (the images) and gives the logits as its first output",
                     model.name());
  Graph g(model.name());
  g.ir() = model;
  g.ir().clearOutputs();
  Tensor logits(&g, model.outputs()[0]);
  if (logits.type().rank() != 2)
    return makeError("model @{}: the logits %{} must be [batch, classes], got {}", model.name(), logits.name(),
                     ir::toString(logits.type()));
  Head h = addHead(g, logits);
  g.output(h.loss);
  g.output(h.correct);
  if (training) {
    std::vector<Tensor> params;
    for (const ir::Param &p : model.params())
      if (ir::isFloat(model.type(p.value).dtype))
        params.emplace_back(&g, p.value);
    KILN_TRY(optim::minimize(g, h.loss, params, options));
  }
  KILN_TRY(g.status());
  return std::move(g.ir());
}

Expected<ir::Graph> classifierForward(nn::Sequential &model, const std::vector<int64_t> &imageDims, uint64_t seed) {
  Shape shape = {"N"};
  for (int64_t d : imageDims)
    shape.push_back(Dim::of(d));
  Graph g("forward");
  Tensor x = g.input("images", f32, shape);
  nn::Context ctx{g, false, seed};
  g.output(model.forward(ctx, x).named("logits"));
  KILN_TRY(g.status());
  return std::move(g.ir());
}

Expected<ClassifierFunctions> buildClassifier(const ir::Graph &model, const optim::Options &options) {
  auto build = [&](bool training) -> Expected<Function> {
    KILN_ASSIGN(ir::Graph g, classifierStep(model, options, training));
    // images, labels -> loss, correct
    return Function::compile(g, {g.inputs()[0], g.inputs()[1]}, g.outputs());
  };
  return pair(build(true), build(false));
}

} // namespace kiln
