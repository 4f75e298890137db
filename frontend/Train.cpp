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
  h.correct = reduce_sum(cast(equal(argmax(logits, 1), h.labels), floatX())).named("correct");
  return h;
}

/// The training and evaluation Functions of two step graphs, over one
/// storage of parameters (the evaluation sees the training's weights).
Expected<ClassifierFunctions> pair(const ir::Graph &train, const ir::Graph &eval) {
  FunctionOptions o;
  o.shared = std::make_shared<SharedVariables>();
  // images, labels -> loss, correct (the head's outputs, in that order)
  KILN_ASSIGN(Function t, Function::compile(train, {train.inputs()[0], train.inputs()[1]}, train.outputs(), {}, o));
  KILN_ASSIGN(Function e, Function::compile(eval, {eval.inputs()[0], eval.inputs()[1]}, eval.outputs(), {}, o));
  ClassifierFunctions f{std::move(t), std::move(e), ""};
  // What the loss reads as the logits: the head's softmax_cross_entropy operand.
  ir::ValueId loss = train.lookup("loss");
  if (loss == ir::kNoValue || train.value(loss).kind != ir::ValueKind::Result)
    return f;
  ir::ValueId logits = train.nodes()[static_cast<size_t>(train.value(loss).owner)].operands[0];
  if (auto what = probabilityOutput(train, logits))
    f.warning = fmt::format("warning: the logits %{} come from a {} (the model already ends in probabilities); "
                            "the loss applies softmax again (softmax_cross_entropy): drop the model's last {}",
                            train.nameOf(logits), *what, *what);
  return f;
}

} // namespace

Expected<ir::Graph> classifierStep(nn::Sequential &model, const std::vector<int64_t> &imageDims,
                                   const optim::Options &options, uint64_t seed, bool training) {
  Graph g(training ? "train_step" : "evaluate");
  nn::Context ctx{g, training, seed};
  Tensor x = g.input("images", floatX(), nn::imageShape(ctx, imageDims));
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
  KILN_ASSIGN(ir::Graph train, classifierStep(model, imageDims, options, seed, true));
  KILN_ASSIGN(ir::Graph eval, classifierStep(model, imageDims, options, seed, false));
  return pair(train, eval);
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
  Graph g("forward");
  nn::Context ctx{g, false, seed};
  Tensor x = g.input("images", floatX(), nn::imageShape(ctx, imageDims));
  g.output(model.forward(ctx, x).named("logits"));
  KILN_TRY(g.status());
  return std::move(g.ir());
}

Expected<ClassifierFunctions> buildClassifier(const ir::Graph &model, const optim::Options &options) {
  KILN_ASSIGN(ir::Graph train, classifierStep(model, options, true));
  KILN_ASSIGN(ir::Graph eval, classifierStep(model, options, false));
  return pair(train, eval);
}

std::optional<std::string> probabilityOutput(const ir::Graph &g, ir::ValueId v) {
  while (v != ir::kNoValue && g.value(v).kind == ir::ValueKind::Result) {
    const ir::Node &n = g.nodes()[static_cast<size_t>(g.value(v).owner)];
    if (n.op == ir::OpKind::Softmax || n.op == ir::OpKind::Sigmoid)
      return std::string(ir::opInfo(n.op).name);
    if (n.op != ir::OpKind::Identity && n.op != ir::OpKind::Reshape)
      return std::nullopt;
    v = n.operands[0]; // through what does not change the values
  }
  return std::nullopt;
}

} // namespace kiln
