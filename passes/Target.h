//===- passes/Target.h - What the passes compile for -----------*- C++ -*-===//
//
// The device a pipeline compiles for. Target-aware passes (layout, fuse) read
// it; the others ignore it.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Type.h"

#include <optional>
#include <string_view>

namespace kiln::passes {

enum class Device { Cpu, Cuda };

struct Target {
  Device device = Device::Cpu;
  /// The layout of image tensors (rank >= 3) around convolutions: channels
  /// last (NHWC) on both devices by default, the layout kiln's CPU and CUDA
  /// kernels are written for; blocked channels (nchw8c) may be asked for.
  ir::Layout imageLayout{ir::Layout::NHWC, 0};
};

/// `cpu` or `cuda`.
std::optional<Device> parseDevice(std::string_view name);
std::string_view deviceName(Device d);

} // namespace kiln::passes
