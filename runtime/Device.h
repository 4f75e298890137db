//===- runtime/Device.h - A compiled graph resident on a GPU ----*- C++ -*-===//
//
// The CUDA side of an Executable. The driver's cubin is loaded into the
// device's primary context; every value lives in one device allocation
// made once per compiled graph: the parameters and optimizer state, the
// inputs, then the memory plan's arena (passes/PlanMemory, planned without
// in-place reuse, so every kernel's buffers are distinct) with views at
// their operand's offset, then the kernels' shared scratch. A run copies
// the inputs in, launches the kernels in order on one stream (each with
// launchOf's grid; a node left to the reference interpreter copies its
// operands out and its results back), copies the outputs out, and moves
// each update into its parameter's slot on the device: parameters never
// leave the GPU between steps, and are copied back only when asked
// (param(), checkpoints).
//
// When every node runs as a kernel, the first run captures the launches as
// a CUDA graph and every run replays it (one launch a step instead of one a
// kernel; KILN_CUDA_GRAPHS=0 turns it off). Not done yet: copying the next
// batch in from pinned memory while a step runs.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "driver/Driver.h"
#include "ir/Graph.h"
#include "reference/Reference.h"

#include <memory>

namespace kiln {

class DeviceProgram {
public:
  /// Loads what the driver compiled for CUDA (`c.cuda.cubins`) and places
  /// the graph's parameters on the device.
  static Expected<std::unique_ptr<DeviceProgram>> create(const driver::Compiled &c);
  ~DeviceProgram();

  /// One run: `physical` holds every input in its physical layout. With
  /// `stepSeconds` (one a launch-list step), each step's time is added to
  /// it: the stream is synchronized after every step (and the step is not
  /// replayed from a CUDA graph), so the times are the kernels' own plus a
  /// launch each (`KILN_CUDA_PROFILE=1`, which `--profile` sets).
  Expected<ref::RunResult> run(const std::map<ir::ValueId, ir::HostTensor> &physical, bool wantUpdates,
                               std::vector<double> *stepSeconds = nullptr);
  /// Value v's bytes copied from the device (physical layout).
  Expected<ir::HostTensor> download(ir::ValueId v) const;
  /// Replaces value v's bytes on the device (physical layout).
  Status upload(ir::ValueId v, const ir::HostTensor &t);

  struct State;

private:
  DeviceProgram() = default;
  /// Launches a kernel step on the stream.
  Status launch(const driver::Step &step);
  /// Runs a step of the launch list: a kernel launched, a view (nothing), or
  /// a node on the reference interpreter through the host.
  Status runStep(const driver::Step &step);
  std::unique_ptr<State> s_;
};

} // namespace kiln
