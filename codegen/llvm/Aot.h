//===- codegen/llvm/Aot.h - Kernels and tables into an object file -*- C++ -*-===//
//
// The object writer of `kiln compile`: the kernels of a model, the table
// that describes its programs (codegen/aot/AotAbi.h), the embedded state
// and constants, and the runtime (codegen/aot/Runtime.c, carried as
// bitcode) linked into one LLVM module, optimized at O3 for a named CPU and
// written as a relocatable, position-independent object. The runtime's
// kiln_aot_api_* functions become the model's entries (PREFIX_run, ...);
// every other symbol is internal, so objects of several models link into
// one program. The object needs libc, libm (and libmvec, which libm's
// linker script brings) and, unless compiled without, the OpenMP runtime.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Error.h"
#include "ir/kernel/Kernel.h"

#include <string>
#include <vector>

namespace kiln::codegen {

struct AotObject {
  std::string prefix;                  ///< a C identifier: the entries are PREFIX_run, PREFIX_init, ...
  std::vector<kernel::Kernel> kernels; ///< kernel k is entry 2k (and its finish block 2k+1) of the table
  std::vector<int64_t> table;          ///< codegen/aot/AotAbi.h
  std::string strings;                 ///< the names the table points into
  std::string stateInit;               ///< the state's initial bytes, in compute layouts (empty: none)
  std::string consts;                  ///< the constants' bytes
  std::string cpu;                     ///< an LLVM CPU name (x86-64-v3, znver3); empty or "native": this host
  bool openmp = true;                  ///< false: the runtime calls no OpenMP (one thread)
};

/// The CPU an object for `cpu` targets, and the width of its vector
/// registers in bytes (what lowering shapes the schedules for); an unknown
/// CPU is an error naming it.
struct AotTarget {
  std::string cpu;
  int vectorBytes = 16;
};
Expected<AotTarget> aotTarget(const std::string &cpu);

/// The object file's bytes.
Expected<std::string> emitObject(const AotObject &o);

} // namespace kiln::codegen
