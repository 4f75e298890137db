//===- runtime/Data.cpp - Datasets and mini-batches -----------------------===//
#include "runtime/Data.h"

#include "ir/Limits.h"

#include <random>

#include "ir/Initializer.h"
#include "runtime/Npy.h"

#include <zlib.h>

#include <cstring>
#include <filesystem>

namespace kiln::data {

using namespace ir;

Expected<HostTensor> readIdx(const std::string &path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return makeError("{}: no such file", path);
  gzFile f = gzopen(path.c_str(), "rb"); // reads plain files too
  if (!f)
    return makeError("{}: cannot open the file", path);
  std::string bytes;
  char buf[1 << 16];
  int n;
  bool tooBig = false;
  while (!tooBig && (n = gzread(f, buf, sizeof buf)) > 0) {
    bytes.append(buf, static_cast<size_t>(n));
    tooBig = static_cast<int64_t>(bytes.size()) > ir::memoryLimit(); // a gzip bomb
  }
  bool failed = n < 0;
  gzclose(f);
  if (tooBig)
    return makeError("{}: it unpacks to more than the memory limit of {} (max_memory)", path,
                     ir::formatBytes(ir::memoryLimit()));
  if (failed)
    return makeError("{}: the gzip data is corrupt", path);
  auto fail = [&](const std::string &why) { return makeError("{}: not an IDX file: {}", path, why); };
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0)
    return fail("bad magic number");
  if (static_cast<unsigned char>(bytes[2]) != 0x08)
    return fail("only unsigned-byte data (type 0x08) is supported");
  int rank = static_cast<unsigned char>(bytes[3]);
  if (rank < 1 || bytes.size() < 4 + 4 * static_cast<size_t>(rank))
    return fail("truncated header");
  Sizes sizes;
  int64_t count = 1;
  for (int i = 0; i < rank; ++i) {
    const auto *p = reinterpret_cast<const unsigned char *>(bytes.data() + 4 + 4 * i);
    int64_t d = (int64_t{p[0]} << 24) | (int64_t{p[1]} << 16) | (int64_t{p[2]} << 8) | p[3];
    if (__builtin_mul_overflow(count, d, &count))
      return fail("the dims overflow");
    sizes.push_back(d);
  }
  size_t offset = 4 + 4 * static_cast<size_t>(rank);
  if (bytes.size() - offset != static_cast<size_t>(count))
    return fail(fmt::format("shape {} needs {} bytes of data, the file has {}", toString(sizes), count, bytes.size() - offset));
  HostTensor t(DType::U8, sizes);
  if (count)
    std::memcpy(t.data(), bytes.data() + offset, static_cast<size_t>(count));
  return t;
}

Expected<Dataset> loadFashionMnist(const std::string &dir, bool train, int64_t limit) {
  std::string prefix = train ? "train" : "t10k";
  std::string imagesPath = dir + "/" + prefix + "-images-idx3-ubyte.gz";
  std::string labelsPath = dir + "/" + prefix + "-labels-idx1-ubyte.gz";
  std::error_code ec;
  if (!std::filesystem::exists(imagesPath, ec))
    return makeError("the Fashion-MNIST data is missing: {} does not exist (apt-get install dataset-fashion-mnist "
                     "provides it in {})",
                     imagesPath, kFashionMnistDir);
  auto images = readIdx(imagesPath);
  if (!images)
    return images.error();
  auto labels = readIdx(labelsPath);
  if (!labels)
    return labels.error();
  if (images->rank() != 3 || labels->rank() != 1 || images->sizes()[0] != labels->sizes()[0])
    return makeError("{} and {} do not hold images [N, rows, cols] and N labels", imagesPath, labelsPath);
  int64_t n = images->sizes()[0];
  if (n == 0)
    return makeError("{} holds no images: there is nothing to {} on", imagesPath, train ? "train" : "test");
  if (limit > 0)
    n = std::min(n, limit);
  int64_t rows = images->sizes()[1], cols = images->sizes()[2], pixels = rows * cols;
  Dataset d{HostTensor(DType::F32, {n, 1, rows, cols}), HostTensor(DType::I64, {n})};
  auto *dst = reinterpret_cast<float *>(d.images.data());
  const auto *src = reinterpret_cast<const uint8_t *>(images->data());
  for (int64_t i = 0; i < n * pixels; ++i)
    dst[i] = (static_cast<float>(src[i]) / 255.0f - 0.2860f) / 0.3530f;
  for (int64_t i = 0; i < n; ++i)
    d.labels.setInt(i, labels->getInt(i));
  return d;
}

Dataset synthetic(int64_t n, const std::vector<int64_t> &dims, int64_t classes, uint64_t seed) {
  Sizes sizes = {n};
  sizes.insert(sizes.end(), dims.begin(), dims.end());
  Dataset d{HostTensor(DType::F32, sizes), HostTensor(DType::I64, {n})};
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto *px = reinterpret_cast<float *>(d.images.data());
  for (int64_t i = 0; i < d.images.numElements(); ++i)
    px[i] = normal(rng);
  for (int64_t i = 0; i < n; ++i)
    d.labels.setInt(i, i % std::max<int64_t>(classes, 1));
  return d;
}

Expected<Dataset> loadNpy(const std::string &imagesPath, const std::string &labelsPath) {
  auto images = npy::load(imagesPath);
  if (!images)
    return images.error();
  auto labels = npy::load(labelsPath);
  if (!labels)
    return labels.error();
  if (images->dtype() != DType::F32 || images->rank() < 2)
    return makeError("{}: images must be f32 [N, ...], got {}", imagesPath, toString(images->type()));
  if (!isInteger(labels->dtype()) || labels->rank() != 1 || labels->sizes()[0] != images->sizes()[0])
    return makeError("{}: labels must be integers [N] with N = {}, got {}", labelsPath, images->sizes()[0],
                     toString(labels->type()));
  Dataset d{images.take(), HostTensor(DType::I64, labels->sizes())};
  for (int64_t i = 0; i < d.labels.numElements(); ++i)
    d.labels.setInt(i, labels->getInt(i));
  return d;
}

DataLoader::DataLoader(const Dataset &data, int64_t batchSize, bool shuffle, uint64_t seed)
    : data_(data), batchSize_(std::max<int64_t>(batchSize, 1)), shuffle_(shuffle), seed_(seed) {
  startEpoch(0);
}

int64_t DataLoader::numBatches() const { return (data_.size() + batchSize_ - 1) / batchSize_; }

void DataLoader::startEpoch(int64_t epoch) {
  order_.resize(static_cast<size_t>(data_.size()));
  for (size_t i = 0; i < order_.size(); ++i)
    order_[i] = static_cast<int64_t>(i);
  if (!shuffle_)
    return;
  // Fisher-Yates with kiln's own counter-based stream: the same on every platform.
  uint64_t stream = mix64(seed_ ^ (static_cast<uint64_t>(epoch) * 0x9e3779b97f4a7c15ull));
  for (size_t i = order_.size(); i > 1; --i) {
    auto j = static_cast<size_t>(hashUniform(stream, i) * static_cast<double>(i));
    std::swap(order_[i - 1], order_[std::min(j, i - 1)]);
  }
}

Batch DataLoader::batch(int64_t index) const {
  int64_t begin = index * batchSize_, end = std::min(begin + batchSize_, data_.size()), n = end - begin;
  Sizes shape = data_.images.sizes();
  int64_t per = product(Sizes(shape.begin() + 1, shape.end()));
  shape[0] = n;
  Batch b{HostTensor(data_.images.dtype(), shape), HostTensor(DType::I64, {n})};
  size_t bytes = static_cast<size_t>(per) * dtypeSize(data_.images.dtype());
  for (int64_t i = 0; i < n; ++i) {
    int64_t src = order_[static_cast<size_t>(begin + i)];
    std::memcpy(b.images.data() + i * static_cast<int64_t>(bytes), data_.images.data() + src * static_cast<int64_t>(bytes), bytes);
    b.labels.setInt(i, data_.labels.getInt(src));
  }
  return b;
}

} // namespace kiln::data
