//===- frontend/Model.cpp - Loading model files ---------------------------===//
#include "Model.h"

#include "frontend/onnx/Onnx.h"
#include "ir/Parser.h"
#include "ir/Verifier.h"
#include "runtime/Checkpoint.h"

#include <filesystem>

namespace kiln {

Expected<ir::Graph> loadModel(const std::string &path, const std::string &weights,
                              const std::map<std::string, ir::HostTensor> *inputValues) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return makeError("{}: error: no such file", path);
  if (std::filesystem::is_directory(path, ec))
    return makeError("{}: error: is a directory, not a model file", path);
  std::string ext = std::filesystem::path(path).extension().string();
  if (ext != ".kir" && ext != ".onnx")
    return makeError("{}: error: unknown model format '{}' (expected a .kir or .onnx file)", path, ext);
  ir::ParseOptions options;
  std::optional<checkpoint::Loaded> loaded;
  if (!weights.empty()) {
    if (ext != ".kir")
      return makeError("{}: error: --load-weights gives the data of a .kir file's elided tensors; an ONNX model holds its own",
                       path);
    auto l = checkpoint::load(weights);
    if (!l)
      return makeError("{}: error: {}", weights, l.error().message);
    loaded = l.take();
    options.weights = &loaded->tensors;
  }
  OnnxImportOptions onnxOptions;
  if (inputValues)
    onnxOptions.knownInputs = *inputValues;
  auto g = ext == ".onnx" ? importOnnx(path, onnxOptions) : ir::parseFile(path, options);
  if (!g)
    return g.error();
  if (auto s = ir::verify(*g); !s)
    return makeError("{}: error: {}", path, s.error().message);
  return g;
}

} // namespace kiln
