//===- ir/kernel/Verifier.h - Checks of the kernel IR ----------*- C++ -*-===//
//
// What every kernel lowering makes must satisfy before codegen reads it
// (the driver runs this after lowering in tests and debug builds):
//
// - structure: buffer, loop and accumulator ids in range; a loop variable
//   used only inside its loop and bound once on any path; an accumulator
//   read or updated only after its declaration in an enclosing block; loop
//   extents non-negative, trip-count limits and indices i64;
// - ops: every Op expression a primitive of the op table (composites are
//   expanded by lowering) with its arity; selects on a bool condition;
// - indices in range where provable: an index built from loop variables of
//   loops without a limit, constants, sums and products by non-negative
//   constants lies in [0, elements) of its buffer; any other index is at
//   least not wholly outside it;
// - tiles: mr, nr and lanes positive, nr a multiple of lanes, ldc at least
//   nr, packed panels that fit their buffers when their depth is constant;
// - parallelism (the runtime splits the parallel loop that ends the body
//   across threads, with no barrier): no other parallel loop; the statements
//   before it write private scratch only; inside it, every write to a
//   buffer passed in (outputs, shared scratch) is indexed by the parallel
//   variable, so parts never write the same element; the finish block runs
//   once and has no parallel loop.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/kernel/Kernel.h"

namespace kiln::kernel {

/// The first violation, naming the kernel and what is wrong.
Status verify(const Kernel &k);

} // namespace kiln::kernel
