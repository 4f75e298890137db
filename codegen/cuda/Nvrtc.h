//===- codegen/cuda/Nvrtc.h - CUDA C++ to PTX and cubins --------*- C++ -*-===//
//
// NVRTC, the CUDA toolkit's runtime compiler, linked when the toolkit was
// found at build time (CMake's KILN_CUDA; without it every call is an error
// saying so). It needs no GPU: the CPU tests compile every kernel to cubins
// for sm_80 and sm_90 with it.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Error.h"
#include "ir/kernel/Kernel.h"

#include <string>
#include <vector>

namespace kiln::codegen::cuda {

/// Whether kiln was built with NVRTC.
bool haveNvrtc();
/// NVRTC's version, `13.0` (empty without it).
std::string nvrtcVersionString();

/// What kiln compiles for a GPU of compute capability `arch`: `arch` itself
/// (a cubin), or for a GPU newer than NVRTC knows, the newest architecture
/// it supports as PTX (`ptx` set), which the GPU's driver compiles.
int compiledArch(int arch, bool &ptx);

/// What NVRTC made of a translation unit.
struct Compiled {
  std::string image; ///< a cubin for sm_XX, or PTX text for compute_XX
  std::string log;   ///< NVRTC's warnings
};

/// Compiles `source` (named `name` in messages) for compute capability
/// `arch` (90 for sm_90): a cubin, or PTX when `ptx` (the form a newer GPU's
/// driver compiles itself). An error carries NVRTC's log.
Expected<Compiled> compileSource(const std::string &source, const std::string &name, int arch, bool ptx);

/// The kernels of one compiled graph for a GPU of compute capability
/// `arch`: their CUDA C++, and cubins of groups of them compiled in
/// parallel (`threads` NVRTC programs at most), each from the disk cache in
/// `cacheDir` (empty: none) when an entry is keyed by the same source,
/// NVRTC version, options and architecture.
struct Module {
  std::string source;              ///< every kernel, one translation unit (for dumps)
  std::vector<std::string> cubins; ///< one a group (PTX text for a GPU newer than NVRTC)
  std::vector<size_t> groupOf;     ///< per kernel, the cubin that holds it
  int arch = 0;
  size_t cachedGroups = 0;
};
Expected<Module> compileModule(const std::vector<kernel::Kernel> &kernels, int arch, const std::string &cacheDir,
                               int threads = 1);

} // namespace kiln::codegen::cuda
