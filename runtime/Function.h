//===- runtime/Function.h - Theano's `function` ----------------*- C++ -*-===//
//
// A Function is a compiled callable over a Graph: it takes the listed inputs,
// returns the listed outputs and applies the updates (`param <- value`, all
// computed from the old values, applied together after the call). Its
// parameters live in the Function and persist between calls. It runs on the
// reference interpreter until a faster backend lands; the interface stays.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

#include <map>
#include <string>
#include <vector>

namespace kiln {

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
  const ir::HostTensor *param(const std::string &name) const;
  /// Replaces a parameter's value; its dtype and shape must match.
  Status setParam(const std::string &name, const ir::HostTensor &value);
  /// Every parameter, by name.
  std::map<std::string, const ir::HostTensor *> params() const;
  const ir::Graph &graph() const { return graph_; }

private:
  ir::Graph graph_;
  std::vector<std::string> inputNames_;
};

} // namespace kiln
