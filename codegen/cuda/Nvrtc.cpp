//===- codegen/cuda/Nvrtc.cpp - CUDA C++ to PTX and cubins -----------------===//
#include "codegen/cuda/Nvrtc.h"

#include "codegen/Balance.h"
#include "codegen/cuda/CudaSource.h"
#include "codegen/llvm/DiskCache.h"

#if KILN_HAVE_NVRTC
#include <nvrtc.h>
#endif

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace kiln::codegen::cuda {

#if KILN_HAVE_NVRTC

namespace {
/// IEEE division and square roots and no flush to zero (NVRTC's defaults),
/// so results agree with the reference interpreter's; FMA contraction on.
/// Part of every cache key.
constexpr const char *kOptions[] = {"-std=c++17", "--fmad=true", "-default-device"};
} // namespace

bool haveNvrtc() { return true; }

int compiledArch(int arch, bool &ptx) {
  int count = 0;
  ptx = false;
  if (nvrtcGetNumSupportedArchs(&count) != NVRTC_SUCCESS || count <= 0)
    return arch;
  std::vector<int> archs(static_cast<size_t>(count));
  if (nvrtcGetSupportedArchs(archs.data()) != NVRTC_SUCCESS)
    return arch;
  if (std::find(archs.begin(), archs.end(), arch) != archs.end())
    return arch;
  int newest = *std::max_element(archs.begin(), archs.end());
  if (arch > newest) { // a GPU newer than this NVRTC: PTX its driver compiles
    ptx = true;
    return newest;
  }
  return arch;
}

std::string nvrtcVersionString() {
  int major = 0, minor = 0;
  if (nvrtcVersion(&major, &minor) != NVRTC_SUCCESS)
    return "unknown";
  return fmt::format("{}.{}", major, minor);
}

Expected<Compiled> compileSource(const std::string &source, const std::string &name, int arch, bool ptx) {
  nvrtcProgram prog = nullptr;
  if (nvrtcResult r = nvrtcCreateProgram(&prog, source.c_str(), (name + ".cu").c_str(), 0, nullptr, nullptr);
      r != NVRTC_SUCCESS)
    return makeError("NVRTC: cannot create program {}: {}", name, nvrtcGetErrorString(r));
  std::string archOpt = fmt::format("--gpu-architecture={}_{}", ptx ? "compute" : "sm", arch);
  std::vector<const char *> opts = {archOpt.c_str()};
  opts.insert(opts.end(), std::begin(kOptions), std::end(kOptions));
  nvrtcResult r = nvrtcCompileProgram(prog, static_cast<int>(opts.size()), opts.data());
  size_t logSize = 0;
  std::string log;
  if (nvrtcGetProgramLogSize(prog, &logSize) == NVRTC_SUCCESS && logSize > 1) {
    log.resize(logSize);
    nvrtcGetProgramLog(prog, log.data());
    log.resize(logSize - 1);
  }
  if (r != NVRTC_SUCCESS) {
    nvrtcDestroyProgram(&prog);
    return makeError("NVRTC: {} does not compile for {}_{}: {}\n{}", name, ptx ? "compute" : "sm", arch,
                     nvrtcGetErrorString(r), log);
  }
  Compiled out;
  out.log = std::move(log);
  size_t size = 0;
  r = ptx ? nvrtcGetPTXSize(prog, &size) : nvrtcGetCUBINSize(prog, &size);
  if (r == NVRTC_SUCCESS) {
    out.image.resize(size);
    r = ptx ? nvrtcGetPTX(prog, out.image.data()) : nvrtcGetCUBIN(prog, out.image.data());
  }
  nvrtcDestroyProgram(&prog);
  if (r != NVRTC_SUCCESS)
    return makeError("NVRTC: no {} for {}: {}", ptx ? "PTX" : "cubin", name, nvrtcGetErrorString(r));
  if (ptx && !out.image.empty() && out.image.back() == '\0')
    out.image.pop_back();
  return out;
}

#else

bool haveNvrtc() { return false; }
int compiledArch(int arch, bool &ptx) { return ptx = false, arch; }
std::string nvrtcVersionString() { return ""; }

Expected<Compiled> compileSource(const std::string &, const std::string &name, int, bool) {
  return makeError("cannot compile {} for CUDA: kiln was built without the CUDA toolkit (NVRTC); install it at "
                   "/usr/local/cuda and configure again (KILN_CUDA=ON)",
                   name);
}

#endif

Expected<Module> compileModule(const std::vector<kernel::Kernel> &kernels, int arch, const std::string &cacheDir,
                               int threads) {
  Module m;
  m.arch = arch;
  KILN_ASSIGN(m.source, printSource(kernels));
  if (!haveNvrtc())
    return compileSource(m.source, "the kernels", arch, false).error();
  std::vector<size_t> sizes;
  for (const kernel::Kernel &k : kernels)
    sizes.push_back(kernel::print(k).size());
  std::vector<std::vector<size_t>> groups = balance(sizes, static_cast<size_t>(std::max(1, threads)));
  std::vector<std::string> sources;
  m.groupOf.assign(kernels.size(), 0);
  for (size_t g = 0; g < groups.size(); ++g) {
    std::vector<kernel::Kernel> members;
    for (size_t i : groups[g]) {
      members.push_back(kernels[i]);
      m.groupOf[i] = g;
    }
    KILN_ASSIGN(std::string source, printSource(members));
    sources.push_back(std::move(source));
  }
  bool ptx = false;
  const int target = compiledArch(arch, ptx);
  std::string options;
  for (const char *o : kOptions)
    options += std::string(o) + " ";
  m.cubins.resize(groups.size());
  std::vector<std::string> errors(groups.size());
  std::vector<char> hits(groups.size(), 0);
  DiskCache cache(cacheDir);
#pragma omp parallel for schedule(dynamic) num_threads(static_cast<int>(groups.size()))
  for (size_t g = 0; g < groups.size(); ++g) {
    std::string key = DiskCache::keyOf(fmt::format("{}\n{}\n{}\n{}\n{}", ptx ? "ptx" : "cubin", nvrtcVersionString(),
                                                   options, target, sources[g]));
    if (!cacheDir.empty())
      if (auto hit = cache.load(key)) {
        m.cubins[g] = std::move(*hit);
        hits[g] = 1;
        continue;
      }
    auto c = compileSource(sources[g], fmt::format("the kernels (group {})", g), target, ptx);
    if (!c) {
      errors[g] = c.error().message;
      continue;
    }
    m.cubins[g] = std::move(c->image);
    if (ptx)
      m.cubins[g].push_back('\0'); // the driver reads PTX as a C string
    if (!cacheDir.empty())
      cache.store(key, m.cubins[g]);
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    if (!errors[g].empty())
      return makeError("{}", errors[g]);
    m.cachedGroups += static_cast<size_t>(hits[g]);
  }
  return m;
}

} // namespace kiln::codegen::cuda
