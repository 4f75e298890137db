//===- runtime/Trainer.h - Mini-batch training loops -----------*- C++ -*-===//
//
// Runs epochs of a training Function (images, labels) -> (loss, correct) whose
// updates perform one optimizer step, evaluates a second Function of the same
// signature on the test set after each epoch (its parameters copied from the
// training one by name), shows progress (a live line on a terminal, plain
// lines otherwise), writes checkpoints and resumes from them, and writes the
// training curve as CSV and SVG.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "runtime/Data.h"
#include "runtime/Function.h"

#include <map>
#include <string>
#include <vector>

namespace kiln {

struct TrainConfig {
  int epochs = 1;
  int64_t batchSize = 64;
  uint64_t seed = 1;
  std::string checkpoint; ///< written after every epoch when set
  std::string resume;     ///< a checkpoint to start from
  /// Written into the checkpoint's metadata too (the model it trains).
  std::map<std::string, std::string> checkpointMeta;
  std::string curve;      ///< path prefix of the curve: PREFIX.csv and PREFIX.svg
  bool quiet = false;
  int64_t maxSteps = 0; ///< > 0: stop after this many training steps (the epoch then ends there)
};

struct EpochStats {
  int epoch = 0;
  double trainLoss = 0, trainAccuracy = 0, testLoss = 0, testAccuracy = 0;
  double seconds = 0, imagesPerSecond = 0;
  double testImagesPerSecond = 0; ///< of the evaluation (batches of 256 or more)
};

class Trainer {
public:
  Trainer(Function &train, Function &eval, TrainConfig config)
      : train_(train), eval_(eval), config_(std::move(config)) {}
  /// Trains and returns the statistics of every epoch run.
  Expected<std::vector<EpochStats>> fit(const data::Dataset &train, const data::Dataset &test);
  /// Loss and accuracy of the eval Function (with the training parameters) on a dataset.
  Expected<std::pair<double, double>> evaluate(const data::Dataset &data);

private:
  Status syncEvalParams();
  Status saveCheckpoint(int epochsDone);
  Expected<int> resume();

  Function &train_;
  Function &eval_;
  TrainConfig config_;
};

/// Writes PREFIX.csv and PREFIX.svg (loss and accuracy per epoch).
Status writeCurve(const std::string &prefix, const std::vector<EpochStats> &stats);

} // namespace kiln
