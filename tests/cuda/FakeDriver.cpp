//===- tests/cuda/FakeDriver.cpp - A libcuda.so.1 for tests without a GPU ---===//
//
// The CUDA driver entry points kiln's runtime (runtime/Device) uses, over
// host memory, so that its arena, uploads, launches, views, updates and
// CUDA-graph replay are tested on the CPU. Built as `libcuda.so.1` in a
// directory of its own; a test puts that directory on LD_LIBRARY_PATH, and
// `kiln_fake_cuda_set_launcher` (found with dlsym) gives the fake the
// kernels: each launch calls it with the kernel's name and its buffers
// (the device pointers are host pointers). Cubins are accepted unread.
//
//===----------------------------------------------------------------------===//
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Launcher = int (*)(const char *name, void **buffers, int count);
Launcher gLauncher = nullptr;

struct Function {
  std::string name;
};
struct Module {
  std::vector<Function *> functions;
};
struct Launch {
  Function *f;
  std::vector<void *> buffers;
};
struct Graph {
  std::vector<Launch> launches;
};
bool gCapturing = false;
Graph *gCaptured = nullptr;
int gLaunches = 0, gReplays = 0;

int run(const Launch &l) {
  ++gLaunches;
  return gLauncher ? gLauncher(l.f->name.c_str(), const_cast<void **>(l.buffers.data()), static_cast<int>(l.buffers.size()))
                   : 999;
}

} // namespace

extern "C" {

void kiln_fake_cuda_set_launcher(Launcher l) { gLauncher = l; }
int kiln_fake_cuda_launches() { return gLaunches; }
int kiln_fake_cuda_replays() { return gReplays; }

int cuInit(unsigned) { return 0; }
int cuDeviceGetCount(int *n) { return *n = 1, 0; }
int cuDeviceGet(int *d, int) { return *d = 0, 0; }
int cuDeviceGetAttribute(int *v, int attr, int) {
  switch (attr) {
  case 8: *v = 48 * 1024; break; // shared memory per block
  case 10: *v = 32; break;       // warp size
  case 16: *v = 4; break;        // multiprocessors
  case 75: *v = 9; break;        // compute capability 9.0
  case 76: *v = 0; break;
  default: *v = 0; break;
  }
  return 0;
}
int cuDeviceGetName(char *name, int len, int) {
  std::strncpy(name, "kiln's fake GPU", static_cast<size_t>(len));
  return 0;
}
int cuDevicePrimaryCtxRetain(void **ctx, int) { return *ctx = reinterpret_cast<void *>(1), 0; }
int cuCtxSetCurrent(void *) { return 0; }
int cuCtxSynchronize() { return 0; }
int cuGetErrorString(int, const char **s) { return *s = "fake error", 0; }
int cuModuleLoadData(Module **m, const void *) { return *m = new Module, 0; }
int cuModuleUnload(Module *m) {
  for (Function *f : m->functions)
    delete f;
  delete m;
  return 0;
}
int cuModuleGetFunction(Function **f, Module *m, const char *name) {
  m->functions.push_back(new Function{name});
  *f = m->functions.back();
  return 0;
}
int cuLaunchKernel(Function *f, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void *,
                   void **params, void **) {
  Launch l{f, {}};
  // The parameters are pointers to device pointers (the fake's are host
  // ones), ended by a null pointer kiln adds for this fake (the driver reads
  // as many as the kernel takes).
  for (int i = 0; params && params[i]; ++i)
    l.buffers.push_back(*static_cast<void **>(params[i]));
  if (gCapturing) {
    gCaptured->launches.push_back(std::move(l));
    return 0;
  }
  return run(l);
}
int cuMemAlloc_v2(unsigned long long *p, size_t bytes) {
  void *m = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!m)
    return 2; // out of memory
  std::memset(m, 0xcd, bytes); // not zero: a kernel must write what it reads
  *p = reinterpret_cast<unsigned long long>(m);
  return 0;
}
int cuMemFree_v2(unsigned long long p) { return std::free(reinterpret_cast<void *>(p)), 0; }
int cuMemcpyHtoD_v2(unsigned long long d, const void *h, size_t n) { return std::memcpy(reinterpret_cast<void *>(d), h, n), 0; }
int cuMemcpyDtoH_v2(void *h, unsigned long long d, size_t n) { return std::memcpy(h, reinterpret_cast<void *>(d), n), 0; }
int cuMemcpyDtoD_v2(unsigned long long d, unsigned long long s, size_t n) {
  return std::memmove(reinterpret_cast<void *>(d), reinterpret_cast<void *>(s), n), 0;
}
int cuMemsetD8_v2(unsigned long long d, unsigned char v, size_t n) { return std::memset(reinterpret_cast<void *>(d), v, n), 0; }
int cuStreamCreate(void **s, unsigned) { return *s = reinterpret_cast<void *>(2), 0; }
int cuStreamSynchronize(void *) { return 0; }
int cuStreamBeginCapture_v2(void *, int) {
  gCapturing = true;
  gCaptured = new Graph;
  return 0;
}
int cuStreamEndCapture(void *, Graph **g) {
  gCapturing = false;
  *g = gCaptured;
  gCaptured = nullptr;
  return 0;
}
int cuGraphInstantiateWithFlags(Graph **exec, Graph *g, unsigned long long) {
  *exec = new Graph(*g);
  return 0;
}
int cuGraphLaunch(Graph *exec, void *) {
  ++gReplays;
  for (const Launch &l : exec->launches)
    if (int s = run(l); s != 0)
      return s;
  return 0;
}
int cuGraphExecDestroy(Graph *g) { return delete g, 0; }
int cuGraphDestroy(Graph *g) { return delete g, 0; }

} // extern "C"
