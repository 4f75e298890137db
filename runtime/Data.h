//===- runtime/Data.h - Datasets and mini-batches --------------*- C++ -*-===//
//
// Datasets of images and integer labels, read from IDX files (the MNIST and
// Fashion-MNIST format, plain or gzip-compressed, through zlib) or from .npy
// arrays, and a DataLoader that yields seeded, shuffled mini-batches with a
// partial last batch. A missing dataset is one error naming the path and the
// Debian package that provides it.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Error.h"
#include "ir/HostTensor.h"

#include <string>
#include <vector>

namespace kiln::data {

struct Dataset {
  ir::HostTensor images; ///< f32 [N, C, H, W], normalized
  ir::HostTensor labels; ///< i64 [N]
  int64_t size() const { return labels.numElements(); }
};

/// Reads an IDX file (plain or .gz): u8 images [N, rows, cols] or labels [N].
Expected<ir::HostTensor> readIdx(const std::string &path);

/// Where Debian's dataset-fashion-mnist puts the data.
inline constexpr const char *kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

/// The Fashion-MNIST training (train = true) or test split from `dir`, its
/// first `limit` examples if limit > 0, scaled to [0, 1] and standardized with
/// the training set's mean 0.2860 and standard deviation 0.3530.
Expected<Dataset> loadFashionMnist(const std::string &dir, bool train, int64_t limit = 0);
/// A dataset from .npy files: images f32 [N, ...] (used as they are) and integer labels [N].
Expected<Dataset> loadNpy(const std::string &imagesPath, const std::string &labelsPath);

/// `n` random images of `dims` (standard normal, seeded) with labels
/// cycling through 0..classes-1: a dataset for timing a model's step where
/// its real data is not at hand (`kiln train --synthetic`).
Dataset synthetic(int64_t n, const std::vector<int64_t> &dims, int64_t classes, uint64_t seed);

struct Batch {
  ir::HostTensor images;
  ir::HostTensor labels;
};

/// Mini-batches in an order shuffled per epoch from a seed (the same seed and
/// epoch always give the same order); the last batch holds what remains.
class DataLoader {
public:
  DataLoader(const Dataset &data, int64_t batchSize, bool shuffle, uint64_t seed);
  int64_t numBatches() const;
  /// Fixes the order of this epoch's examples.
  void startEpoch(int64_t epoch);
  Batch batch(int64_t index) const;

private:
  const Dataset &data_;
  int64_t batchSize_;
  bool shuffle_;
  uint64_t seed_;
  std::vector<int64_t> order_;
};

} // namespace kiln::data
