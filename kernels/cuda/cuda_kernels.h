// The CUDA backend's kernel launchers and the device form of its tables, as plain C++17 (the .cu files
// are CUDA 17). Layouts and per-step logic: device_layout.h. Included by cuda_kernels.cu and by
// cuda_backend.cpp, never by code outside kernels/cuda/ (it brings in cuda_runtime.h).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "host/status.h"
#include "kernels/cuda/device_layout.h"

namespace enrichd::cuda {

// One family's search structure in device memory (device_layout.h). Passed to kernels by value.
template <typename Key>
struct SearchTable {
  const Key* levels[kMaxLevels] = {};  // levels[0] = starts; levels[j] = every fanout^j-th start
  uint64_t lengths[kMaxLevels] = {};   // real keys per level (each level is padded beyond this)
  int top = 0;                         // the level searched by binary search
  int fanout = 8;                      // keys per node below the top
  const uint32_t* records = nullptr;   // indexed like levels[0]
  uint64_t size = 0;                   // starts; 0 means every lookup answers kNoRecord
  Key first{};                         // starts[0]: queries below it answer kNoRecord
};

// How a geo search runs.
struct SearchLaunch {
  bool shared_top = false;  // copy the top level into shared memory (each block once per launch)
  int sm_count = 1;
};

// records[i] for the predecessor of queries[i] in t. `query_words`: 64-bit words per query for u64 keys
// (1: packed hi words, 2: whole Ipv6 values of which the kernel reads the hi word); 1 otherwise.
// Enqueued on `stream`; errors in the launch itself come back as Status.
template <typename Key>
Status launch_geo_search(const SearchTable<Key>& t, const void* queries, int query_words, uint32_t* records,
                         uint64_t n, const SearchLaunch& how, cudaStream_t stream);

// dst[i] = src[i * step] for i < count, elements of `elem_bytes` (4, 8 or 16) bytes: builds a level.
Status launch_gather(const void* src, void* dst, uint64_t count, uint64_t step, size_t elem_bytes,
                     cudaStream_t stream);

// out[i] = value for i < n.
Status launch_fill(uint32_t* out, uint64_t n, uint32_t value, cudaStream_t stream);

struct JoinTable {
  const JoinBucket* buckets = nullptr;  // the view's buckets (bucket_count 0: an empty table)
  uint64_t bucket_count = 0;            // home buckets, then tail buckets, the last empty
  uint64_t home_buckets = 0;
  bool slot_walk = false;      // probe slot by slot as the scalar backend does (the naive kernel)
  bool has_empty_key = false;  // the key kDeviceEmptyKey, kept out of band as in the view
  uint32_t empty_key_value = kDeviceNoRecord;
};

// values[i] = the value of keys[i], kDeviceNoRecord when absent. Whole buckets at a time, unless
// t.slot_walk.
Status launch_category_join(const JoinTable& t, const uint64_t* keys, uint32_t* values, uint64_t n,
                            int sm_count, cudaStream_t stream);

// A kernel that traps: a real device fault, for tests of the fallback (CudaOptions::fail_with_trap).
Status launch_trap(cudaStream_t stream);

// Checks that this binary holds kernels the current device can run (cudaFuncGetAttributes on each).
Status check_kernel_images();

}  // namespace enrichd::cuda
