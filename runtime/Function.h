//===- runtime/Function.h - Theano's `function` ----------------*- C++ -*-===//
//
// A Function is a compiled callable over a Graph: it takes the listed inputs,
// returns the listed outputs and applies the updates (`param <- value`, all
// computed from the old values, applied together after the call). Its
// parameters are shared variables (runtime/Shared.h): Functions compiled
// with the same SharedVariables read and update one storage, as Theano's
// functions over `shared` do; one compiled without gets a storage of its own.
// On the LLVM backend (the default), or CUDA's on a GPU, the graph is
// optimized and compiled once per distinct input shape; the parameters stay
// resident in the executable that ran last and move only when another
// Function, another input shape or a read needs them. The reference backend
// evaluates the graph as it is (the oracle).
//
// The defaults of FunctionOptions come from the configuration
// (runtime/Config.h: device, optimizer, mode); options set here win.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"
#include "runtime/Config.h"
#include "runtime/Executable.h"
#include "runtime/Shared.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace kiln {

enum class Backend { Llvm, Reference, Cuda };
/// `llvm`, `reference` or `cuda` (native kernels on the GPU).
std::optional<Backend> parseBackend(std::string_view name);

struct FunctionOptions {
  /// Where it runs; unset: the config's device (cpu: LLVM, cuda: CUDA).
  std::optional<Backend> backend = std::nullopt;
  /// The optimization level (0-2); unset: the config's optimizer.
  std::optional<int> optLevel = std::nullopt;
  /// FAST_RUN, DebugMode or NanGuardMode; unset: the config's mode.
  std::optional<Mode> mode = std::nullopt;
  /// The storage of the parameters; unset: one of the Function's own.
  std::shared_ptr<SharedVariables> shared = nullptr;
};

class Function {
public:
  /// Builds a callable: `inputs` in call order, `outputs` returned in order,
  /// and `updates` applied after each call. A graph input left out must be
  /// one that nothing computed needs. With `ownUpdates` the graph's own
  /// updates (a training step's graph, a .kir file's) are applied too;
  /// without, only those given. A bad configuration is an error here.
  static Expected<Function> compile(const ir::Graph &g, const std::vector<ir::ValueId> &inputs,
                                    const std::vector<ir::ValueId> &outputs,
                                    const std::vector<ir::Update> &updates = {}, const FunctionOptions &options = {},
                                    bool ownUpdates = true);

  /// Runs one call; a missing input or one of the wrong dtype or shape is an
  /// error naming it, and then nothing is updated.
  Expected<std::vector<ir::HostTensor>> operator()(const std::vector<ir::HostTensor> &args);

  /// The current value of a parameter, by name (nullptr if there is none).
  /// Not const: it brings the newest value back from the executable holding
  /// it. A Function is used by one thread at a time; two Functions with
  /// storages of their own are independent (tests/unit/test_threads.cpp).
  const ir::HostTensor *param(const std::string &name);
  /// Replaces a parameter's value; its dtype and shape must match.
  Status setParam(const std::string &name, const ir::HostTensor &value);
  /// Every parameter, by name.
  std::map<std::string, const ir::HostTensor *> params();
  /// The graph, its parameters up to date.
  const ir::Graph &graph();
  /// The storage of the parameters (shared with the Functions given it).
  const std::shared_ptr<SharedVariables> &shared() const { return shared_; }
  /// The dtype and shape of input `i`.
  ir::Type inputType(size_t i) const { return graph_.type(graph_.lookup(inputNames_[i])); }
  /// Runs on `b` from the next call on (parameters carry over).
  void setBackend(Backend b) { backend_ = b; }
  Backend backend() const { return backend_; }
  Mode mode() const { return mode_; }
  /// The executable of the last call on a native backend, if any (for dumps).
  const Executable *lastExecutable() const { return last_; }

private:
  /// A compiled executable and the version of each parameter it was given.
  struct Compiled {
    std::shared_ptr<Executable> exe;
    std::map<std::string, uint64_t> versions;
  };
  Expected<std::vector<ir::HostTensor>> runReference(const ref::TensorMap &feeds);
  Expected<ref::RunResult> runNative(const ref::TensorMap &feeds, bool wantUpdates);
  /// Brings graph_'s parameters up to the newest values.
  void refreshGraph();
  /// DebugMode's check: the reference's outputs and updates against these.
  Status checkAgainstReference(const ref::TensorMap &feeds, const ref::RunResult &native);

  ir::Graph graph_; ///< the parameters as of refreshGraph
  std::map<std::string, uint64_t> graphVersions_;
  std::vector<std::string> inputNames_;
  std::vector<std::string> unused_; ///< graph inputs not given: nothing computed reads them
  std::shared_ptr<SharedVariables> shared_;
  Backend backend_ = Backend::Llvm;
  Mode mode_ = Mode::FastRun;
  int optLevel_ = 2;
  std::string dumpDir_;
  std::map<std::vector<ir::Sizes>, Compiled> executables_;
  const Executable *last_ = nullptr;
};

/// NanGuardMode's check: an error naming the first of `values` (named by
/// `names`) holding a NaN or an infinity, and where.
Status checkFinite(const std::vector<ir::HostTensor> &values, const std::vector<std::string> &names,
                   const std::string &what);

} // namespace kiln
