//===- runtime/Trainer.cpp - Mini-batch training loops --------------------===//
#include "runtime/Trainer.h"

#include "ir/File.h"
#include "runtime/Checkpoint.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <unistd.h>

namespace kiln {

using namespace ir;
using Clock = std::chrono::steady_clock;

namespace {
/// Whether `want` is the channels-last order of images [N, C, spatial...].
bool isChannelsLast(const Shape &want, const Sizes &images) {
  size_t r = images.size();
  if (r < 3 || want.size() != r || !want[r - 1].isConst() || want[r - 1].value != images[1])
    return false;
  for (size_t d = 1; d + 1 < r; ++d)
    if (!want[d].isConst() || want[d].value != images[d + 1])
      return false;
  return true;
}

/// A batch of images as the function's first input takes it: in its dtype
/// (a floatX=float64 model reads the f32 dataset converted), and channels
/// last when it takes [N, H, W, C] (the config's image_data_format).
HostTensor asInput(const Function &f, const HostTensor &images) {
  Type want = f.inputType(0);
  HostTensor t = images;
  bool sameOrder = true;
  for (size_t d = 1; d < want.shape.size() && d < images.sizes().size(); ++d)
    sameOrder = sameOrder && want.shape[d].isConst() && want.shape[d].value == images.sizes()[d];
  if (!sameOrder && isChannelsLast(want.shape, images.sizes())) {
    const Sizes &s = images.sizes();
    int64_t n = s[0], c = s[1], plane = images.numElements() / std::max<int64_t>(n * c, 1);
    Sizes last = {n};
    last.insert(last.end(), s.begin() + 2, s.end());
    last.push_back(c);
    t = HostTensor(images.dtype(), last);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t p = 0; p < plane; ++p)
          t.set((i * plane + p) * c + ch, images.get((i * c + ch) * plane + p));
  }
  if (t.dtype() == want.dtype)
    return t;
  return HostTensor::fromDoubles(want.dtype, t.sizes(), t.toDoubles());
}
} // namespace

Status Trainer::syncEvalParams() {
  if (train_.shared() == eval_.shared())
    return {}; // one storage: nothing to copy
  for (const auto &[name, value] : train_.params())
    if (eval_.param(name))
      KILN_TRY(eval_.setParam(name, *value));
  return {};
}

Expected<std::pair<double, double>> Trainer::evaluate(const data::Dataset &data) {
  KILN_TRY(syncEvalParams());
  data::DataLoader loader(data, std::max<int64_t>(config_.batchSize, 256), false, 0);
  double loss = 0, correct = 0;
  for (int64_t b = 0; b < loader.numBatches(); ++b) {
    data::Batch batch = loader.batch(b);
    auto r = eval_({asInput(eval_, batch.images), batch.labels});
    if (!r)
      return r.error();
    loss += (*r)[0].get(0) * static_cast<double>(batch.labels.numElements());
    correct += (*r)[1].get(0);
  }
  double n = static_cast<double>(std::max<int64_t>(data.size(), 1));
  return std::pair{loss / n, correct / n};
}

Status Trainer::saveCheckpoint(int epochsDone) {
  checkpoint::Tensors tensors;
  for (const auto &[name, value] : train_.params())
    tensors.emplace(name, *value);
  checkpoint::Metadata meta = config_.checkpointMeta;
  meta["epochs_done"] = std::to_string(epochsDone);
  meta["seed"] = std::to_string(config_.seed);
  meta["format"] = "kiln training checkpoint";
  return checkpoint::save(config_.checkpoint, tensors, meta);
}

Expected<int> Trainer::resume() {
  auto loaded = checkpoint::load(config_.resume);
  if (!loaded)
    return loaded.error();
  for (const auto &[name, value] : train_.params()) {
    auto it = loaded->tensors.find(name);
    if (it == loaded->tensors.end())
      return makeError("{}: the checkpoint has no parameter '{}' of this model", config_.resume, name);
    if (auto s = train_.setParam(name, it->second); !s)
      return makeError("{}: {}", config_.resume, s.error().message);
  }
  int done = 0;
  if (auto it = loaded->meta.find("epochs_done"); it != loaded->meta.end()) {
    const std::string &text = it->second;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), done);
    if (ec != std::errc() || end != text.data() + text.size() || done < 0)
      return makeError("{}: the checkpoint's epochs_done is \"{}\", not a count of epochs (0 or more)",
                       config_.resume, text);
    if (done > config_.epochs)
      return makeError("{}: the checkpoint has done {} epochs, more than the {} asked for", config_.resume, done,
                       config_.epochs);
  }
  // A checkpoint of NaN or infinite weights would train on with a NaN loss.
  for (const auto &[name, t] : loaded->tensors)
    for (int64_t i = 0, n = t.numElements(); i < n; ++i)
      if (!std::isfinite(t.get(i)))
        return makeError("{}: parameter '{}' holds a non-finite value ({}) at element {}", config_.resume, name,
                         t.get(i), i);
  return done;
}

Expected<std::vector<EpochStats>> Trainer::fit(const data::Dataset &train, const data::Dataset &test) {
  if (train.size() == 0)
    return makeError("the training set holds no images: there is nothing to train on");
  if (test.size() == 0)
    return makeError("the test set holds no images: there is nothing to evaluate on");
  int start = 0;
  if (!config_.resume.empty()) {
    auto r = resume();
    if (!r)
      return r.error();
    start = *r;
  }
  bool live = !config_.quiet && isatty(fileno(stderr));
  data::DataLoader loader(train, config_.batchSize, true, config_.seed);
  std::vector<EpochStats> all;
  int64_t stepsDone = 0;
  for (int epoch = start; epoch < config_.epochs && (config_.maxSteps <= 0 || stepsDone < config_.maxSteps);
       ++epoch) {
    loader.startEpoch(epoch);
    auto t0 = Clock::now();
    double lossSum = 0, correct = 0;
    int64_t seen = 0, batches = loader.numBatches();
    if (config_.maxSteps > 0)
      batches = std::min(batches, config_.maxSteps - stepsDone);
    int64_t every = std::max<int64_t>(batches / 10, 1);
    for (int64_t b = 0; b < batches; ++b) {
      data::Batch batch = loader.batch(b);
      auto r = train_({asInput(train_, batch.images), batch.labels});
      ++stepsDone;
      if (!r)
        return r.error();
      int64_t n = batch.labels.numElements();
      if (double loss = (*r)[0].get(0); !std::isfinite(loss))
        return makeError("epoch {}, batch {}: the training loss is {}; training stops (a learning rate too large, "
                         "or NaN in the data or the weights)",
                         epoch + 1, b + 1, std::isnan(loss) ? std::string("NaN") : fmt::format("{}", loss));
      lossSum += (*r)[0].get(0) * static_cast<double>(n);
      correct += (*r)[1].get(0);
      seen += n;
      double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      double rate = static_cast<double>(seen) / std::max(secs, 1e-9);
      double eta = static_cast<double>(train.size() - seen) / std::max(rate, 1e-9);
      std::string line = fmt::format("epoch {}/{}  batch {}/{}  loss {:.4f}  accuracy {:.2f}%  {:.0f} images/s  ETA {:.0f}s",
                                     epoch + 1, config_.epochs, b + 1, batches, lossSum / static_cast<double>(seen),
                                     100 * correct / static_cast<double>(seen), rate, eta);
      if (live)
        fmt::print(stderr, "\r{}\x1b[K", line);
      else if (!config_.quiet && ((b + 1) % every == 0 || b + 1 == batches))
        fmt::print("{}\n", line);
    }
    if (live)
      fmt::print(stderr, "\n");
    EpochStats s;
    s.epoch = epoch + 1;
    s.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    s.trainLoss = lossSum / static_cast<double>(std::max<int64_t>(seen, 1));
    s.trainAccuracy = correct / static_cast<double>(std::max<int64_t>(seen, 1));
    s.imagesPerSecond = static_cast<double>(seen) / std::max(s.seconds, 1e-9);
    auto evalStart = Clock::now();
    auto ev = evaluate(test);
    if (!ev)
      return ev.error();
    s.testImagesPerSecond = static_cast<double>(test.size()) /
                            std::max(std::chrono::duration<double>(Clock::now() - evalStart).count(), 1e-9);
    s.testLoss = ev->first;
    s.testAccuracy = ev->second;
    all.push_back(s);
    if (!config_.quiet)
      fmt::print("epoch {}: train loss {:.4f}, train accuracy {:.2f}%, test loss {:.4f}, test accuracy {:.2f}%, "
                 "{:.1f}s, {:.0f} images/s\n",
                 s.epoch, s.trainLoss, 100 * s.trainAccuracy, s.testLoss, 100 * s.testAccuracy, s.seconds,
                 s.imagesPerSecond);
    if (!config_.quiet)
      fmt::print("  test pass: {} images at batch {}, {:.0f} images/s\n", test.size(),
                 std::max<int64_t>(config_.batchSize, 256), s.testImagesPerSecond);
    if (!config_.checkpoint.empty())
      KILN_TRY(saveCheckpoint(epoch + 1));
    if (!config_.curve.empty())
      KILN_TRY(writeCurve(config_.curve, all));
  }
  return all;
}

Status writeCurve(const std::string &prefix, const std::vector<EpochStats> &stats) {
  std::string csv = "epoch,train_loss,train_accuracy,test_loss,test_accuracy,seconds,images_per_second\n";
  for (const EpochStats &s : stats)
    csv += fmt::format("{},{:.6f},{:.6f},{:.6f},{:.6f},{:.3f},{:.1f}\n", s.epoch, s.trainLoss, s.trainAccuracy,
                       s.testLoss, s.testAccuracy, s.seconds, s.imagesPerSecond);
  KILN_TRY(writeFileAtomic(prefix + ".csv", csv));
  // Two panels, loss and accuracy, each a polyline per split.
  const double w = 360, h = 220, pad = 40;
  double maxLoss = 1e-9;
  for (const EpochStats &s : stats)
    maxLoss = std::max({maxLoss, s.trainLoss, s.testLoss});
  auto x = [&](size_t i) { return pad + (stats.size() > 1 ? (w - 2 * pad) * static_cast<double>(i) / static_cast<double>(stats.size() - 1) : (w - 2 * pad) / 2); };
  auto line = [&](auto value, double top, const char *color) {
    std::string pts;
    for (size_t i = 0; i < stats.size(); ++i)
      pts += fmt::format("{:.1f},{:.1f} ", x(i), top + pad + (h - 2 * pad) * (1 - value(stats[i])));
    return fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>\n", color, pts);
  };
  std::string svg = fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"12\">\n", w, 2 * h);
  for (int panel = 0; panel < 2; ++panel) {
    double top = panel * h;
    svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n", pad,
                       top + pad, w - 2 * pad, h - 2 * pad);
    svg += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", pad, top + pad - 8,
                       panel == 0 ? fmt::format("loss (0 to {:.3f}) per epoch", maxLoss) : std::string("accuracy (0 to 1) per epoch"));
  }
  svg += line([&](const EpochStats &s) { return s.trainLoss / maxLoss; }, 0, "#1f77b4");
  svg += line([&](const EpochStats &s) { return s.testLoss / maxLoss; }, 0, "#ff7f0e");
  svg += line([&](const EpochStats &s) { return s.trainAccuracy; }, h, "#1f77b4");
  svg += line([&](const EpochStats &s) { return s.testAccuracy; }, h, "#ff7f0e");
  svg += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#1f77b4\">train</text><text x=\"{}\" y=\"{}\" fill=\"#ff7f0e\">test</text>\n</svg>\n",
                     w - pad - 80, 2 * h - 10, w - pad - 35, 2 * h - 10);
  return writeFileAtomic(prefix + ".svg", svg);
}

} // namespace kiln
