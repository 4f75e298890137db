//===- tools/Export.cpp - kiln export: a model out as ONNX ----------------===//
#include "tools/Export.h"

#include "Model.h"
#include "frontend/onnx/Export.h"
#include "kiln/train.h"
#include "runtime/Checkpoint.h"

#include <fmt/format.h>

#include <charconv>
#include <filesystem>
#include <iostream>

namespace kiln::tools {

using ir::HostTensor;
using ir::Param;

void ExportArgs::addTo(CLI::App &app) {
  app.add_option("source", source,
                 "A model file (.kir or .onnx), or a checkpoint of kiln train (.safetensors: the model it records, "
                 "with its weights)");
  app.add_option("--output,-o", output, "The ONNX file to write")->required();
  app.add_option("--model", zoo, "A model of the zoo: mlp, lenet, vgg or vgg16 (with --checkpoint: its weights)");
  app.add_option("--checkpoint", checkpoint, "Weights from this checkpoint (.safetensors of kiln train)");
  app.add_option("--load-weights", loadWeights, "The data of a .kir model's elided tensors (.safetensors)");
  app.add_option("--seed", seed, "Seed of a zoo model's initializers (and of the model a checkpoint records)");
}

Expected<ir::Graph> trainedInference(const std::string &zoo, const std::string &modelFile, uint64_t seed,
                                 const std::map<std::string, HostTensor> &params) {
  Expected<ir::Graph> g = makeError("no model");
  if (!zoo.empty()) {
    KILN_ASSIGN(nn::Sequential net, nn::zoo::byName(zoo));
    g = classifierForward(net, nn::zoo::inputDims(zoo), seed);
  } else {
    g = loadModel(modelFile);
  }
  if (!g)
    return g.error();
  for (Param &p : g->params()) {
    const std::string &name = g->nameOf(p.value);
    auto it = params.find(name);
    if (it == params.end())
      return makeError("the checkpoint has no parameter '{}' of the model", name);
    if (it->second.dtype() != p.data.dtype() || it->second.sizes() != p.data.sizes())
      return makeError("the checkpoint's parameter '{}' is {}, the model's is {}", name,
                       toString(it->second.type()), toString(p.data.type()));
    p.data = it->second;
    p.init.reset();
  }
  return g;
}

namespace {

int fail(const std::string &message) {
  std::cerr << "kiln export: " << message << "\n";
  return 1;
}

bool isCheckpoint(const std::string &path) { return std::filesystem::path(path).extension() == ".safetensors"; }

} // namespace

int exportCommand(const ExportArgs &a) {
  std::string checkpointPath = a.checkpoint, modelFile = a.source;
  if (!a.source.empty() && isCheckpoint(a.source)) {
    if (!checkpointPath.empty())
      return fail("give the checkpoint once: as SOURCE or as --checkpoint");
    checkpointPath = a.source;
    modelFile.clear();
  }
  if (!a.zoo.empty() && !modelFile.empty())
    return fail("give a model file or --model, not both");
  Expected<ir::Graph> g = makeError("no model");
  std::string what = !a.zoo.empty() ? "the " + a.zoo + " model" : modelFile.empty() ? checkpointPath : modelFile;
  if (!checkpointPath.empty()) {
    auto loaded = checkpoint::load(checkpointPath);
    if (!loaded)
      return fail(loaded.error().message);
    std::string zoo = a.zoo, file = modelFile;
    uint64_t seed = a.seed;
    if (zoo.empty() && file.empty()) { // the model the checkpoint records
      const auto &meta = loaded->meta;
      if (auto it = meta.find("model"); it != meta.end())
        zoo = it->second;
      else if (auto f = meta.find("model_file"); f != meta.end())
        file = f->second;
      else
        return fail(fmt::format("{}: the checkpoint records no model: give --model NAME or the model file",
                                checkpointPath));
      if (auto s = meta.find("seed"); s != meta.end()) {
        const std::string &v = s->second;
        auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seed);
        if (ec != std::errc() || end != v.data() + v.size())
          return fail(fmt::format("{}: the checkpoint's seed '{}' is not a number", checkpointPath, v));
      }
      what = zoo.empty() ? file : "the " + zoo + " model";
    }
    g = trainedInference(zoo, file, seed, loaded->tensors);
    if (!g)
      return fail(fmt::format("{}: {}", checkpointPath, g.error().message));
  } else if (!a.zoo.empty()) {
    auto net = nn::zoo::byName(a.zoo);
    if (!net)
      return fail(net.error().message);
    g = classifierForward(*net, nn::zoo::inputDims(a.zoo), a.seed);
  } else if (!modelFile.empty()) {
    g = loadModel(modelFile, a.loadWeights);
  } else {
    return fail("give a model file, a checkpoint or --model NAME");
  }
  if (!g)
    return fail(g.error().message);
  OnnxExportOptions o;
  o.docString = fmt::format("{} exported by kiln", what);
  if (auto s = exportOnnx(*g, a.output, o); !s)
    return fail(fmt::format("{}: {}", what, s.error().message));
  fmt::print("wrote {} ({} inputs, {} outputs, {} parameters; ONNX opset 17, checked)\n", a.output,
             g->inputs().size(), g->outputs().size(), g->params().size());
  return 0;
}

} // namespace kiln::tools
