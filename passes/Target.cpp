//===- passes/Target.cpp - What the passes compile for ---------------------===//
#include "passes/Target.h"

namespace kiln::passes {

std::optional<Device> parseDevice(std::string_view name) {
  if (name == "cpu")
    return Device::Cpu;
  if (name == "cuda")
    return Device::Cuda;
  return std::nullopt;
}

std::string_view deviceName(Device d) { return d == Device::Cpu ? "cpu" : "cuda"; }

} // namespace kiln::passes
