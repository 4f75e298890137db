//===- codegen/cuda/Emulator.cpp - CUDA kernels run on the host ------------===//
#include "codegen/cuda/Emulator.h"

#include "codegen/cuda/CudaSource.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <filesystem>
#include <fstream>
#include <unistd.h>

namespace kiln::codegen::cuda {

namespace {

/// What host C++ needs to compile CUDA C++ as kiln prints it. One OS
/// thread runs a whole grid, so the indices are plain variables of that
/// thread. A kernel of blocks (barriers, shared memory, shuffles) runs each
/// block's threads as fibers (ucontext): a barrier switches back to the
/// scheduler, which resumes every thread in turn until all have passed it;
/// `__shared__` is `static`, one block running at a time; a warp shuffle
/// trades values through a slot per thread between two barriers (the
/// generated code shuffles in every thread of the block alike).
constexpr const char *kShim = R"(// kiln's CUDA emulation shim.
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
struct kiln_emu_dim3 { unsigned x, y, z; };
static thread_local kiln_emu_dim3 blockIdx, threadIdx, blockDim, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
static inline float __int_as_float(unsigned x) { float f; memcpy(&f, &x, sizeof f); return f; }
static inline double __longlong_as_double(unsigned long long x) { double d; memcpy(&d, &x, sizeof d); return d; }
static ucontext_t kiln_emu_scheduler, kiln_emu_fiber[1024];
static unsigned kiln_emu_current;
static bool kiln_emu_in_fibers, kiln_emu_finished;
static void (*kiln_emu_entry)(void);
static inline void __syncthreads() {
  if (kiln_emu_in_fibers)
    swapcontext(&kiln_emu_fiber[kiln_emu_current], &kiln_emu_scheduler);
}
template <class T> static T __shfl_down_sync(unsigned, T v, int delta) {
  static unsigned long long slot[1024];
  unsigned long long bits = 0;
  memcpy(&bits, &v, sizeof v);
  slot[threadIdx.x] = bits;
  __syncthreads();
  T r = v;
  if ((threadIdx.x & 31u) + (unsigned)delta < 32u && threadIdx.x + (unsigned)delta < blockDim.x)
    memcpy(&r, &slot[threadIdx.x + delta], sizeof r);
  __syncthreads();
  return r;
}
static void kiln_emu_fiber_main() {
  kiln_emu_entry();
  kiln_emu_finished = true;
}
/// Runs `entry` as a grid of `blocks` blocks of `threads` fibers.
static int kiln_emu_run_blocks(unsigned blocks, unsigned threads, void (*entry)(void)) {
  const size_t stack = 64 * 1024;
  char *stacks = (char *)mmap(nullptr, stack * threads, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (stacks == (char *)MAP_FAILED || threads > 1024)
    return 1;
  static bool done[1024];
  kiln_emu_entry = entry;
  kiln_emu_in_fibers = true;
  gridDim = {blocks, 1u, 1u};
  blockDim = {threads, 1u, 1u};
  for (unsigned x = 0; x < blocks; ++x) {
    blockIdx = {x, 0u, 0u};
    for (unsigned t = 0; t < threads; ++t) {
      getcontext(&kiln_emu_fiber[t]);
      kiln_emu_fiber[t].uc_stack.ss_sp = stacks + t * stack;
      kiln_emu_fiber[t].uc_stack.ss_size = stack;
      kiln_emu_fiber[t].uc_link = &kiln_emu_scheduler;
      makecontext(&kiln_emu_fiber[t], kiln_emu_fiber_main, 0);
      done[t] = false;
    }
    for (unsigned left = threads; left > 0;)
      for (unsigned t = 0; t < threads; ++t) {
        if (done[t])
          continue;
        kiln_emu_current = t;
        threadIdx = {t, 0u, 0u};
        kiln_emu_finished = false;
        swapcontext(&kiln_emu_scheduler, &kiln_emu_fiber[t]);
        if (kiln_emu_finished)
          done[t] = true, --left;
      }
  }
  kiln_emu_in_fibers = false;
  munmap(stacks, stack * threads);
  return 0;
}
static void **kiln_emu_args;
)";

/// The launcher of kernel i (or its finish block): the grid as loops.
std::string launcher(const kernel::Kernel &k, size_t i, bool finish, int sms) {
  Launch l = finish ? Launch{} : launchOf(k, sms);
  std::string name = k.name, args;
  for (char &c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)))
      c = '_';
  if (std::isdigit(static_cast<unsigned char>(name[0])))
    name = "k" + name;
  auto argsFrom = [&k](const char *array) { // the buffers, typed, from a void *array[]
    std::string out;
    int a = 0;
    for (const kernel::Buffer &b : k.buffers)
      if (b.passedIn())
        out += fmt::format("{}({} *){}[{}]", a ? ", " : "", memoryTypeName(b.type), array, a), ++a;
    return out;
  };
  args = argsFrom("b");
  if (!finish && k.gpuBlocks().first > 0) {
    std::string fiberArgs = argsFrom("kiln_emu_args");
    return fmt::format(R"(
static void kiln_emu_entry_{}() {{ {}({}); }}
extern "C" int kiln_emu_{}(void **b) {{
  kiln_emu_args = b;
  return kiln_emu_run_blocks({}u, {}u, kiln_emu_entry_{});
}}
)",
                       i, name, fiberArgs, i, l.blocks, l.threads, i);
  }
  return fmt::format(R"(
extern "C" int kiln_emu_{}{}(void **b) {{
  gridDim = {{{}u, 1u, 1u}};
  blockDim = {{{}u, 1u, 1u}};
  for (unsigned x = 0; x < {}u; ++x)
    for (unsigned t = 0; t < {}u; ++t) {{
      blockIdx = {{x, 0u, 0u}};
      threadIdx = {{t, 0u, 0u}};
      {}{}({});
    }}
  return 0;
}}
)",
                     finish ? "finish_" : "", i, l.blocks, l.threads, l.blocks, l.threads, name,
                     finish ? "_finish" : "", args);
}

/// Runs `command`, its output in `out`; its exit status.
int run(const std::string &command, std::string &out) {
  FILE *p = popen((command + " 2>&1").c_str(), "r");
  if (!p)
    return -1;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p))
    out.append(buf, n);
  return pclose(p);
}

} // namespace

std::string emulationCompiler() { return KILN_EMULATION_CXX; }

Expected<std::unique_ptr<Emulator>> Emulator::compile(const std::vector<kernel::Kernel> &kernels, int sms) {
  KILN_ASSIGN(std::string source, printSource(kernels));
  std::string text = kShim + source;
  for (size_t i = 0; i < kernels.size(); ++i) {
    text += launcher(kernels[i], i, false, sms);
    if (!kernels[i].finish.empty())
      text += launcher(kernels[i], i, true, sms);
  }
  std::string dirTemplate = (std::filesystem::temp_directory_path() / "kiln-cuda-emu-XXXXXX").string();
  if (!mkdtemp(dirTemplate.data()))
    return makeError("CUDA emulation: cannot make a temporary directory under {}",
                     std::filesystem::temp_directory_path().string());
  std::filesystem::path dir = dirTemplate;
  std::filesystem::path cpp = dir / "kernels.cpp", so = dir / "kernels.so";
  {
    std::ofstream f(cpp);
    f << text;
    if (!f)
      return makeError("CUDA emulation: cannot write {}", cpp.string());
  }
  std::string log;
  int status = run(fmt::format("{} -x c++ -std=c++17 -O1 -fPIC -shared -fno-exceptions -fno-rtti -w -o {} {} -lm",
                               emulationCompiler(), so.string(), cpp.string()),
                   log);
  auto e = std::unique_ptr<Emulator>(new Emulator);
  if (status == 0)
    e->handle_ = dlopen(so.c_str(), RTLD_NOW | RTLD_LOCAL);
  std::error_code ec;
  if (status != 0) {
    // Keep the source for the bug report.
    return makeError("CUDA emulation: the host compiler rejects the generated CUDA C ({}):\n{}", cpp.string(), log);
  }
  std::filesystem::remove_all(dir, ec);
  if (!e->handle_)
    return makeError("CUDA emulation: cannot load the emulated kernels: {}", dlerror());
  for (size_t i = 0; i < kernels.size(); ++i) {
    e->calls_.push_back(reinterpret_cast<Entry>(dlsym(e->handle_, fmt::format("kiln_emu_{}", i).c_str())));
    e->finishes_.push_back(kernels[i].finish.empty() ? nullptr
                                                     : reinterpret_cast<Entry>(dlsym(
                                                           e->handle_, fmt::format("kiln_emu_finish_{}", i).c_str())));
    if (!e->calls_.back())
      return makeError("CUDA emulation: kernel {} has no launcher", kernels[i].name);
  }
  e->source_ = std::move(source);
  return e;
}

Emulator::~Emulator() {
  if (handle_)
    dlclose(handle_);
}

bool Emulator::call(size_t i, void **buffers, int64_t begin, int64_t) const {
  // The whole grid runs in the call that gets the first part.
  return begin != 0 || calls_[i](buffers) == 0;
}

bool Emulator::finish(size_t i, void **buffers) const { return !finishes_[i] || finishes_[i](buffers) == 0; }

} // namespace kiln::codegen::cuda
