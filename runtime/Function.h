//===- runtime/Function.h - Theano's `function` ----------------*- C++ -*-===//
//
// A Function is a compiled callable over a Graph: it takes the listed inputs,
// returns the listed outputs and applies the updates (`param <- value`, all
// computed from the old values, applied together after the call). Its
// parameters live in the Function and persist between calls. On the LLVM
// backend (the default), or CUDA's on a GPU, the graph is optimized (-O2) and compiled
// once per distinct input shape; the parameters stay resident in the
// executable that ran last and move to another only when the input shape
// changes. The reference backend evaluates the graph as it is (the oracle).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"
#include "runtime/Executable.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

enum class Backend { Llvm, Reference, Cuda };
/// `llvm`, `reference` or `cuda` (native kernels on the GPU).
std::optional<Backend> parseBackend(std::string_view name);

class Function {
public:
  /// Builds a callable: `inputs` in call order, `outputs` returned in order,
  /// `updates` applied after each call (the graph's own updates too).
  static Expected<Function> compile(const ir::Graph &g, const std::vector<ir::ValueId> &inputs,
                                    const std::vector<ir::ValueId> &outputs,
                                    const std::vector<ir::Update> &updates = {});

  /// Runs one call; a missing input or one of the wrong dtype or shape is an
  /// error naming it, and then nothing is updated.
  Expected<std::vector<ir::HostTensor>> operator()(const std::vector<ir::HostTensor> &args);

  /// The current value of a parameter, by name (nullptr if there is none).
  /// Not const: it brings the newest values back from the executable. A
  /// Function is used by one thread at a time; two Functions are
  /// independent (tests/unit/test_threads.cpp).
  const ir::HostTensor *param(const std::string &name);
  /// Replaces a parameter's value; its dtype and shape must match.
  Status setParam(const std::string &name, const ir::HostTensor &value);
  /// Every parameter, by name.
  std::map<std::string, const ir::HostTensor *> params();
  /// The graph, its parameters up to date.
  const ir::Graph &graph() {
    syncParams();
    return graph_;
  }
  /// Runs on `b` from the next call on (parameters carry over).
  void setBackend(Backend b);
  Backend backend() const { return backend_; }
  /// The executable of the last call on the LLVM backend, if any (for dumps).
  const Executable *lastExecutable() const { return current_; }

private:
  Expected<std::vector<ir::HostTensor>> runReference(const std::vector<ir::HostTensor> &args);
  Expected<std::vector<ir::HostTensor>> runLlvm(const std::vector<ir::HostTensor> &args);
  /// Brings the parameters the current executable holds back into graph_.
  void syncParams();

  ir::Graph graph_; ///< parameters up to date unless current_ holds newer ones
  std::vector<std::string> inputNames_;
  Backend backend_ = Backend::Llvm;
  std::map<std::vector<ir::Sizes>, std::shared_ptr<Executable>> executables_;
  Executable *current_ = nullptr;     ///< holds the newest parameters when set
  bool paramsStale_ = false;  ///< graph_'s parameters are older than current_'s
};

} // namespace kiln
