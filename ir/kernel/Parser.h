//===- ir/kernel/Parser.h - Reading the kernel IR's text -------*- C++ -*-===//
//
// Parses what kernel::print writes (`kiln dump --stage kernels`, `kiln-opt
// --lower`): kernels with their buffers, loops, stores, accumulators, tiles
// and finish blocks; `//` lines (the launch list) are skipped. Printing
// what was parsed gives the same text back (tests/cli/kernel_roundtrip.sh
// checks it on every golden test of the schedules), so schedules can be
// written, diffed and verified as text.
//
// Types the text leaves implicit are inferred as the printer drops them:
// indices and trip counts are i64, a load has its buffer's type, an
// elementwise op its operands' (a comparison bool), a constant its
// context's. Errors name the line and column.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/kernel/Kernel.h"

#include <string_view>
#include <vector>

namespace kiln::kernel {

/// Every kernel of `text`, in order.
Expected<std::vector<Kernel>> parse(std::string_view text);

} // namespace kiln::kernel
