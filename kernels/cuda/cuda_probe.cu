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
    std::string detail =
        std::string("no usable CUDA device: ") + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")";
    if (err == cudaErrorInsufficientDriver) {
      // Name both versions: the usual cause is a driver older than the toolkit this binary was built with.
      int driver = 0;
      (void)cudaDriverGetVersion(&driver);
      auto version = [](int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); };
      if (driver == 0) {
        detail += "; no NVIDIA driver was found: install one for CUDA " + version(CUDART_VERSION) +
                  " or newer, or run --backend avx2";
      } else {
        detail += "; the driver supports CUDA " + version(driver) + " but this build's runtime is CUDA " +
                  version(CUDART_VERSION) + ": install a driver for CUDA " + version(CUDART_VERSION) +
                  " or newer, or run --backend avx2";
      }
    }
    return {0, detail};
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
