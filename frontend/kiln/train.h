//===- kiln/train.h - Classifier training functions ------------*- C++ -*-===//
//
// Builds the two Functions a Trainer runs for an image classifier: the
// training step (images, labels) -> (loss, correct) whose updates are one
// optimizer step, and the evaluation (same signature, inference mode, no
// updates). The model is a zoo network or a graph loaded from a .kir or ONNX
// file whose first input takes the images and whose first output is the
// logits.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "kiln/nn.h"
#include "kiln/optim.h"
#include "runtime/Function.h"

namespace kiln {

/// The training step and the evaluation, over one storage of parameters.
struct ClassifierFunctions {
  Function train;
  Function eval;
  /// Set when the logits are already probabilities (a softmax or sigmoid
  /// ends the model): the loss would apply softmax twice.
  std::string warning;
};

/// The op (`softmax`, `sigmoid`) that makes `v` a probability, looking
/// through identity and reshape; nullopt for anything else.
std::optional<std::string> probabilityOutput(const ir::Graph &g, ir::ValueId v);

/// For a zoo model on images of shape [N, dims...] (symbolic batch N).
/// The graph of one step of a classifier on images of `imageDims` (without
/// the batch): inputs images and labels, outputs loss and correct (the count
/// of right predictions), and when `training` the optimizer's updates.
Expected<ir::Graph> classifierStep(nn::Sequential &model, const std::vector<int64_t> &imageDims,
                                   const optim::Options &options, uint64_t seed, bool training);

Expected<ClassifierFunctions> buildClassifier(nn::Sequential &model, const std::vector<int64_t> &imageDims,
                                              const optim::Options &options, uint64_t seed);
/// For a model graph: first input images, first output logits [N, classes].
Expected<ClassifierFunctions> buildClassifier(const ir::Graph &model, const optim::Options &options);

/// The step graph of a model graph (first input images, first output logits
/// [N, classes]), as classifierStep above: inputs images, labels (and `lr`
/// with optim::Schedule::Input), outputs loss and correct.
Expected<ir::Graph> classifierStep(const ir::Graph &model, const optim::Options &options, bool training);

/// A zoo model's inference graph: images [N, imageDims...] -> logits, its
/// parameters named and initialized as classifierStep's.
Expected<ir::Graph> classifierForward(nn::Sequential &model, const std::vector<int64_t> &imageDims, uint64_t seed);

} // namespace kiln
