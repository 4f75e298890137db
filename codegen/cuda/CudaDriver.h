//===- codegen/cuda/CudaDriver.h - The CUDA driver, opened at run time -*- C++ -*-===//
//
// The CUDA driver API (libcuda.so.1, installed with the NVIDIA driver, not
// the toolkit) is opened with dlopen the first time a GPU is asked for, and
// never linked: kiln runs on machines without it. What is missing is one
// error naming it: the library, a symbol, cuInit's failure, or no device.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "ir/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::codegen::cuda {

using CUdeviceptr = unsigned long long;
struct CUctx_st;
struct CUmod_st;
struct CUfunc_st;
struct CUstream_st;
struct CUgraph_st;
struct CUgraphExec_st;

/// What kiln asks of a GPU (lowering's GPU Machine is made from it).
struct DeviceInfo {
  std::string name;
  int ordinal = 0, sms = 0, warpSize = 32, sharedBytes = 0, major = 0, minor = 0;
  int arch() const { return major * 10 + minor; }
};

/// The driver's entry points kiln uses, resolved by name from libcuda.so.1.
struct DriverApi {
  int (*cuInit)(unsigned);
  int (*cuDeviceGetCount)(int *);
  int (*cuDeviceGet)(int *, int);
  int (*cuDeviceGetAttribute)(int *, int, int);
  int (*cuDeviceGetName)(char *, int, int);
  int (*cuDevicePrimaryCtxRetain)(CUctx_st **, int);
  int (*cuCtxSetCurrent)(CUctx_st *);
  int (*cuCtxSynchronize)();
  int (*cuGetErrorString)(int, const char **);
  int (*cuModuleLoadData)(CUmod_st **, const void *);
  int (*cuModuleUnload)(CUmod_st *);
  int (*cuModuleGetFunction)(CUfunc_st **, CUmod_st *, const char *);
  int (*cuLaunchKernel)(CUfunc_st *, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                        CUstream_st *, void **, void **);
  int (*cuMemAlloc_v2)(CUdeviceptr *, size_t);
  int (*cuMemFree_v2)(CUdeviceptr);
  int (*cuMemcpyHtoD_v2)(CUdeviceptr, const void *, size_t);
  int (*cuMemcpyDtoH_v2)(void *, CUdeviceptr, size_t);
  int (*cuMemcpyDtoD_v2)(CUdeviceptr, CUdeviceptr, size_t);
  int (*cuMemsetD8_v2)(CUdeviceptr, unsigned char, size_t);
  int (*cuStreamCreate)(CUstream_st **, unsigned);
  int (*cuStreamSynchronize)(CUstream_st *);
  int (*cuStreamBeginCapture_v2)(CUstream_st *, int);
  int (*cuStreamEndCapture)(CUstream_st *, CUgraph_st **);
  int (*cuGraphInstantiateWithFlags)(CUgraphExec_st **, CUgraph_st *, unsigned long long);
  int (*cuGraphLaunch)(CUgraphExec_st *, CUstream_st *);
  int (*cuGraphExecDestroy)(CUgraphExec_st *);
  int (*cuGraphDestroy)(CUgraph_st *);
};

/// The process's GPU: the driver opened, cuInit called, device 0's primary
/// context current on the calling thread. The first call opens it; an
/// error says what is missing (and is given again on later calls).
Expected<const DriverApi *> openDevice(DeviceInfo *info = nullptr);

/// Whether CUDA can run here: kiln built with NVRTC, libcuda.so.1 loads, a
/// GPU is there; else the error naming the first that is missing.
Status requireGpu();

/// `what` failed with driver status `status`: an error naming both.
Error driverError(const DriverApi &api, const char *what, int status);

} // namespace kiln::codegen::cuda
