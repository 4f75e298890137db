//===- runtime/Shared.h - Shared variables ---------------------*- C++ -*-===//
//
// Theano's shared variables: one storage for the parameters of a graph that
// every Function compiled from it reads and updates. A parameter's newest
// value may be resident in an executable (on the CPU or the GPU) that ran an
// update of it; it is brought back only when someone else needs it (a
// read, another Function's call), so a training loop pays nothing for the
// sharing. Every write bumps the parameter's version; a Function pushes a
// parameter into its executable only when the version it pushed last is old.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <map>
#include <memory>
#include <string>

namespace kiln {

class Executable;

class SharedVariables {
public:
  /// Registers parameter `name` with its initial value (`p.data`), unless it
  /// is already here; one already here of another dtype or shape is an error.
  Status add(const std::string &name, const ir::Param &p);
  bool has(const std::string &name) const { return slots_.count(name) != 0; }

  /// The newest value (brought back from the executable holding it).
  const ir::HostTensor &read(const std::string &name);
  /// Sets the value (its type must match) and bumps the version.
  Status write(const std::string &name, ir::HostTensor value);
  /// `exe` ran an update of `name`: it holds the newest value now.
  /// Returns the new version.
  uint64_t heldBy(const std::string &name, std::shared_ptr<Executable> exe);
  /// The version of `name` (1: its initial value, never written).
  uint64_t version(const std::string &name) const { return slots_.at(name).version; }
  /// Whether `exe` holds the newest value of `name`.
  bool isHeldBy(const std::string &name, const Executable *exe) const { return slots_.at(name).holder.get() == exe; }

private:
  struct Slot {
    ir::HostTensor value;                ///< current unless `holder` is set
    uint64_t version = 1;
    std::shared_ptr<Executable> holder; ///< holds the newest value, if set
  };
  std::map<std::string, Slot> slots_;
};

} // namespace kiln
