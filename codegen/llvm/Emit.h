//===- codegen/llvm/Emit.h - Kernels into an LLVM module --------*- C++ -*-===//
//
// Internal to codegen/llvm: what the JIT (Jit.cpp) and the ahead-of-time
// object writer (Aot.cpp) share. A kernel becomes a function
// `int NAME(void **buffers, i64 begin, i64 end)` (and NAME.finish when it
// has a finish block); optimizeModule runs LLVM's O3 pipeline for a target.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Error.h"
#include "ir/kernel/Kernel.h"

namespace llvm {
class Module;
class TargetMachine;
} // namespace llvm

namespace kiln::codegen {

/// Emits kernel `k` into `m`; `vectorBytes` is the target's vector width
/// (which vector variants of libm's functions it may call).
Status emitKernel(llvm::Module &m, const kernel::Kernel &k, int vectorBytes);
/// The symbol of kernel k's finish block.
std::string finishSymbol(const kernel::Kernel &k);
/// LLVM's O3 pipeline (the new pass manager) for the target `tm`.
void optimizeModule(llvm::Module &m, llvm::TargetMachine &tm);

} // namespace kiln::codegen
