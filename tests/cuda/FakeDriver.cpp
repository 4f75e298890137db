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
#include "codegen/cuda/CudaDriver.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

// The driver's opaque types as kiln declares them (so that every entry has
// exactly the type kiln calls it through), defined here for the fake.
namespace kiln::codegen::cuda {
struct CUctx_st {};
struct CUstream_st {};
struct CUfunc_st {
  std::string name;
};
struct CUmod_st {
  std::vector<CUfunc_st *> functions;
};
struct Launch {
  CUfunc_st *f;
  std::vector<void *> buffers;
};
struct CUgraph_st {
  std::vector<Launch> launches;
};
struct CUgraphExec_st {
  std::vector<Launch> launches;
};
} // namespace kiln::codegen::cuda

using namespace kiln::codegen::cuda;

namespace {

using Launcher = int (*)(const char *name, void **buffers, int count);
Launcher gLauncher = nullptr;
CUctx_st gContext;
CUstream_st gStream;
bool gCapturing = false;
CUgraph_st *gCaptured = nullptr;
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
int cuDevicePrimaryCtxRetain(CUctx_st **ctx, int) { return *ctx = &gContext, 0; }
int cuCtxSetCurrent(CUctx_st *) { return 0; }
int cuCtxSynchronize() { return 0; }
int cuGetErrorString(int, const char **s) { return *s = "fake error", 0; }
int cuModuleLoadData(CUmod_st **m, const void *) { return *m = new CUmod_st, 0; }
int cuModuleUnload(CUmod_st *m) {
  for (CUfunc_st *f : m->functions)
    delete f;
  delete m;
  return 0;
}
int cuModuleGetFunction(CUfunc_st **f, CUmod_st *m, const char *name) {
  m->functions.push_back(new CUfunc_st{name});
  *f = m->functions.back();
  return 0;
}
int cuLaunchKernel(CUfunc_st *f, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream_st *,
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
int cuMemAlloc_v2(CUdeviceptr *p, size_t bytes) {
  void *m = std::aligned_alloc(256, (bytes + 255) / 256 * 256);
  if (!m)
    return 2; // out of memory
  std::memset(m, 0xcd, bytes); // not zero: a kernel must write what it reads
  *p = reinterpret_cast<CUdeviceptr>(m);
  return 0;
}
int cuMemFree_v2(CUdeviceptr p) { return std::free(reinterpret_cast<void *>(p)), 0; }
int cuMemcpyHtoD_v2(CUdeviceptr d, const void *h, size_t n) { return std::memcpy(reinterpret_cast<void *>(d), h, n), 0; }
int cuMemcpyDtoH_v2(void *h, CUdeviceptr d, size_t n) { return std::memcpy(h, reinterpret_cast<void *>(d), n), 0; }
int cuMemcpyDtoD_v2(CUdeviceptr d, CUdeviceptr s, size_t n) {
  return std::memmove(reinterpret_cast<void *>(d), reinterpret_cast<void *>(s), n), 0;
}
int cuMemsetD8_v2(CUdeviceptr d, unsigned char v, size_t n) { return std::memset(reinterpret_cast<void *>(d), v, n), 0; }
int cuStreamCreate(CUstream_st **s, unsigned) { return *s = &gStream, 0; }
int cuStreamSynchronize(CUstream_st *) { return 0; }
int cuStreamBeginCapture_v2(CUstream_st *, int) {
  gCapturing = true;
  gCaptured = new CUgraph_st;
  return 0;
}
int cuStreamEndCapture(CUstream_st *, CUgraph_st **g) {
  gCapturing = false;
  *g = gCaptured;
  gCaptured = nullptr;
  return 0;
}
int cuGraphInstantiateWithFlags(CUgraphExec_st **exec, CUgraph_st *g, unsigned long long) {
  *exec = new CUgraphExec_st{g->launches};
  return 0;
}
int cuGraphLaunch(CUgraphExec_st *exec, CUstream_st *) {
  ++gReplays;
  for (const Launch &l : exec->launches)
    if (int s = run(l); s != 0)
      return s;
  return 0;
}
int cuGraphExecDestroy(CUgraphExec_st *g) { return delete g, 0; }
int cuGraphDestroy(CUgraph_st *g) { return delete g, 0; }

} // extern "C"
