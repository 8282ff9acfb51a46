#include <cuda_runtime.h>

#include <string>

#include "kernels/cuda/cuda_probe.h"

namespace enrichd::cuda {

DeviceProbe probe_devices() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    // cudaErrorInsufficientDriver / cudaErrorNoDevice on machines without a GPU: not a crash.
    (void)cudaGetLastError();
    return {0, std::string("no usable CUDA device: ") + cudaGetErrorName(err) + " (" +
                   cudaGetErrorString(err) + ")"};
  }
  if (count == 0) return {0, "no CUDA device"};
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    (void)cudaGetLastError();
    return {count, "device 0: properties unavailable"};
  }
  return {count, std::string(prop.name) + ", sm_" + std::to_string(prop.major) + std::to_string(prop.minor)};
}

}  // namespace enrichd::cuda
