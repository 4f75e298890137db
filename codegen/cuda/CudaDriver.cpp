//===- codegen/cuda/CudaDriver.cpp - The CUDA driver, opened at run time ---===//
#include "codegen/cuda/CudaDriver.h"

#include "codegen/cuda/Nvrtc.h"

#include <dlfcn.h>
#include <mutex>

namespace kiln::codegen::cuda {

namespace {

constexpr int kAttrSharedPerBlock = 8, kAttrWarpSize = 10, kAttrSms = 16, kAttrMajor = 75, kAttrMinor = 76;

struct Opened {
  DriverApi api{};
  DeviceInfo info;
  std::string error; ///< why there is no device, when there is none
};

template <class F> bool resolve(void *lib, const char *name, F &slot, std::string &error) {
  slot = reinterpret_cast<F>(dlsym(lib, name));
  if (!slot && error.empty())
    error = std::string("libcuda.so.1 lacks ") + name + " (an NVIDIA driver older than CUDA 12's)";
  return slot != nullptr;
}

Opened open() {
  Opened o;
  void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    o.error = std::string("no CUDA driver: cannot load libcuda.so.1 (installed with the NVIDIA driver): ") +
              (why ? why : "not found");
    return o;
  }
  DriverApi &a = o.api;
  std::string &e = o.error;
#define KILN_RESOLVE(fn) resolve(lib, #fn, a.fn, e)
  KILN_RESOLVE(cuInit), KILN_RESOLVE(cuDeviceGetCount), KILN_RESOLVE(cuDeviceGet), KILN_RESOLVE(cuDeviceGetAttribute);
  KILN_RESOLVE(cuDeviceGetName), KILN_RESOLVE(cuDevicePrimaryCtxRetain), KILN_RESOLVE(cuCtxSetCurrent);
  KILN_RESOLVE(cuCtxSynchronize), KILN_RESOLVE(cuGetErrorString), KILN_RESOLVE(cuModuleLoadData);
  KILN_RESOLVE(cuModuleUnload), KILN_RESOLVE(cuModuleGetFunction), KILN_RESOLVE(cuLaunchKernel);
  KILN_RESOLVE(cuMemAlloc_v2), KILN_RESOLVE(cuMemFree_v2), KILN_RESOLVE(cuMemcpyHtoD_v2), KILN_RESOLVE(cuMemcpyDtoH_v2);
  KILN_RESOLVE(cuMemcpyDtoD_v2), KILN_RESOLVE(cuMemsetD8_v2), KILN_RESOLVE(cuStreamCreate);
  KILN_RESOLVE(cuStreamSynchronize), KILN_RESOLVE(cuStreamBeginCapture_v2), KILN_RESOLVE(cuStreamEndCapture);
  KILN_RESOLVE(cuGraphInstantiateWithFlags), KILN_RESOLVE(cuGraphLaunch), KILN_RESOLVE(cuGraphExecDestroy);
  KILN_RESOLVE(cuGraphDestroy);
#undef KILN_RESOLVE
  if (!e.empty())
    return o;
  if (int s = a.cuInit(0); s != 0) {
    o.error = "no CUDA device: " + driverError(a, "cuInit", s).message;
    return o;
  }
  int count = 0;
  if (a.cuDeviceGetCount(&count) != 0 || count == 0) {
    o.error = "no CUDA device: the driver is installed but sees no GPU";
    return o;
  }
  int dev = 0;
  CUctx_st *ctx = nullptr;
  if (int s = a.cuDeviceGet(&dev, 0); s != 0) {
    o.error = driverError(a, "cuDeviceGet", s).message;
    return o;
  }
  if (int s = a.cuDevicePrimaryCtxRetain(&ctx, dev); s != 0) {
    o.error = driverError(a, "cuDevicePrimaryCtxRetain", s).message;
    return o;
  }
  char name[256] = {};
  a.cuDeviceGetName(name, sizeof name - 1, dev);
  o.info.name = name;
  o.info.ordinal = 0;
  a.cuDeviceGetAttribute(&o.info.sms, kAttrSms, dev);
  a.cuDeviceGetAttribute(&o.info.warpSize, kAttrWarpSize, dev);
  a.cuDeviceGetAttribute(&o.info.sharedBytes, kAttrSharedPerBlock, dev);
  a.cuDeviceGetAttribute(&o.info.major, kAttrMajor, dev);
  a.cuDeviceGetAttribute(&o.info.minor, kAttrMinor, dev);
  // The primary context is made current on each thread that opens it.
  a.cuCtxSetCurrent(ctx);
  return o;
}

} // namespace

Error driverError(const DriverApi &api, const char *what, int status) {
  const char *text = nullptr;
  if (api.cuGetErrorString)
    api.cuGetErrorString(status, &text);
  return makeError("CUDA driver: {} failed: {} (status {})", what, text ? text : "unknown error", status);
}

Status requireGpu() {
  if (!haveNvrtc())
    return makeError("no CUDA backend: kiln was built without the CUDA toolkit (NVRTC); install it at /usr/local/cuda "
                     "and configure again");
  KILN_TRY(openDevice());
  return {};
}

Expected<const DriverApi *> openDevice(DeviceInfo *info) {
  static Opened opened = open();
  if (!opened.error.empty())
    return makeError("{}", opened.error);
  if (info)
    *info = opened.info;
  return &opened.api;
}

} // namespace kiln::codegen::cuda
