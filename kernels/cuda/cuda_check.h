// The one way CUDA calls are checked: ENRICHD_CUDA_TRY(call) returns a Status naming the call, the error
// and file:line from the enclosing function (which returns Status or Result<T>) when the call fails.
// Never aborts. Included by the CUDA backend's .cpp and .cu files only (it brings in cuda_runtime.h).
#pragma once

#include <cuda_runtime.h>

#include "host/status.h"

namespace enrichd::cuda {

// The Status for a failed call. Also clears the runtime's last-error slot, so that a non-sticky error
// (a bad argument, an allocation that failed) does not reappear at the next cudaGetLastError(); sticky
// errors (a kernel fault) keep failing every later call, and each of those becomes a Status too.
inline Status cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  (void)cudaGetLastError();
  return Status::errorf("CUDA error {} ({}) in {} at {}:{}", cudaGetErrorName(err), cudaGetErrorString(err),
                        call, file, line);
}

}  // namespace enrichd::cuda

#define ENRICHD_CUDA_TRY(call)                                                          \
  do {                                                                                  \
    const cudaError_t enrichd_cuda_err_ = (call);                                       \
    if (enrichd_cuda_err_ != cudaSuccess) {                                             \
      return ::enrichd::cuda::cuda_error(enrichd_cuda_err_, #call, __FILE__, __LINE__); \
    }                                                                                   \
  } while (0)
