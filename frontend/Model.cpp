//===- frontend/Model.cpp - Loading model files ---------------------------===//
#include "Model.h"

#include "frontend/onnx/Onnx.h"
#include "ir/Parser.h"
#include "ir/Verifier.h"

#include <filesystem>

namespace kiln {

Expected<ir::Graph> loadModel(const std::string &path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    return makeError("{}: error: no such file", path);
  if (std::filesystem::is_directory(path, ec))
    return makeError("{}: error: is a directory, not a model file", path);
  std::string ext = std::filesystem::path(path).extension().string();
  if (ext != ".kir" && ext != ".onnx")
    return makeError("{}: error: unknown model format '{}' (expected a .kir or .onnx file)", path, ext);
  auto g = ext == ".onnx" ? importOnnx(path) : ir::parseFile(path);
  if (!g)
    return g.error();
  if (auto s = ir::verify(*g); !s)
    return makeError("{}: error: {}", path, s.error().message);
  return g;
}

} // namespace kiln
