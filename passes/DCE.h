//===- passes/DCE.h - Dead code elimination --------------------*- C++ -*-===//
//
// Removes the nodes whose results reach no output and no update, and the
// constants and parameters nothing live uses. Inputs stay: they are the
// graph's signature.
//
// Needs: a verified graph. Keeps: every live value, with its name and type.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Graph.h"

namespace kiln::passes {

Expected<ir::Graph> dce(const ir::Graph &g);

} // namespace kiln::passes
