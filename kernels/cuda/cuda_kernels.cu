// The CUDA backend's kernels: geo predecessor search (u32, u64 and 128-bit keys), the category join, and
// the small helpers that build levels and fill results. Layouts: cuda_kernels.h.
//
// Every kernel is a grid-stride loop in which each thread takes kIlp queries at a time, kThreads apart,
// so that each load of queries or store of results is coalesced across the warp and each thread has kIlp
// independent searches in flight. Queries are read and results written with streaming hints (.cs) so
// they do not push the tables out of L2; table reads go through the read-only path (__ldg).
#include <cstring>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"

namespace enrichd::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kIlp = 4;
constexpr uint64_t kPerBlockStep = static_cast<uint64_t>(kThreads) * kIlp;

// Table keys through the read-only cache.
__device__ __forceinline__ uint32_t load_key(const uint32_t* p) {
  return __ldg(p);
}
__device__ __forceinline__ uint64_t load_key(const uint64_t* p) {
  return __ldg(reinterpret_cast<const unsigned long long*>(p));
}
__device__ __forceinline__ U128 load_key(const U128* p) {
  const ulonglong2 v = __ldg(reinterpret_cast<const ulonglong2*>(p));
  return {v.x, v.y};
}

// One node of F keys (32 or 64 bytes, aligned) as independent 16-byte loads.
template <typename Key, int F>
__device__ __forceinline__ void load_node(const Key* p, Key (&node)[F]) {
  constexpr int kVecs = static_cast<int>(F * sizeof(Key) / 16);
  static_assert(F * sizeof(Key) % 16 == 0, "nodes are whole 16-byte vectors");
  uint4 v[kVecs];
  const uint4* src = reinterpret_cast<const uint4*>(p);
#pragma unroll
  for (int i = 0; i < kVecs; ++i) v[i] = __ldg(src + i);
  memcpy(node, v, sizeof(node));
}

// Query i, streamed (read once).
template <typename Key, int kWords>
__device__ __forceinline__ Key load_query(const void* q, uint64_t i);
template <>
__device__ __forceinline__ uint32_t load_query<uint32_t, 1>(const void* q, uint64_t i) {
  return __ldcs(static_cast<const unsigned int*>(q) + i);
}
template <>
__device__ __forceinline__ uint64_t load_query<uint64_t, 1>(const void* q, uint64_t i) {
  return __ldcs(static_cast<const unsigned long long*>(q) + i);
}
template <>
__device__ __forceinline__ uint64_t load_query<uint64_t, 2>(const void* q, uint64_t i) {
  return __ldcs(static_cast<const unsigned long long*>(q) + 2 * i);  // the hi word of an Ipv6
}
template <>
__device__ __forceinline__ U128 load_query<U128, 1>(const void* q, uint64_t i) {
  const ulonglong2 v = __ldcs(static_cast<const ulonglong2*>(q) + i);
  return {v.x, v.y};
}

template <typename Key, int F, int kWords, bool kSharedTop>
__global__ void __launch_bounds__(kThreads)
    geo_search_kernel(const SearchTable<Key> t, const void* __restrict__ queries, uint32_t* __restrict__ out,
                      uint64_t n) {
  extern __shared__ uint4 shared_top[];
  __shared__ const Key* levels[kMaxLevels];
  __shared__ uint64_t lengths[kMaxLevels];
  // Constant indices only, so that the parameter struct is never copied to local memory.
#pragma unroll
  for (int l = 0; l < kMaxLevels; ++l) {
    if (threadIdx.x == l) {
      levels[l] = t.levels[l];
      lengths[l] = t.lengths[l];
    }
  }
  const Key* top_global = t.levels[0];
  uint64_t top_length = t.lengths[0];
#pragma unroll
  for (int l = 1; l < kMaxLevels; ++l) {
    if (t.top == l) {
      top_global = t.levels[l];
      top_length = t.lengths[l];
    }
  }
  if constexpr (kSharedTop) {
    // The top level is padded to whole nodes (>= 32 bytes), so whole 16-byte vectors stay inside it.
    const uint64_t vecs = (top_length * sizeof(Key) + 15) / 16;
    const uint4* src = reinterpret_cast<const uint4*>(top_global);
    for (uint64_t v = threadIdx.x; v < vecs; v += kThreads) shared_top[v] = __ldg(src + v);
  }
  __syncthreads();
  const Key* shared_keys = reinterpret_cast<const Key*>(shared_top);

  for (uint64_t base = blockIdx.x * kPerBlockStep; base < n; base += gridDim.x * kPerBlockStep) {
    Key key[kIlp];
    uint64_t pos[kIlp];
#pragma unroll
    for (int j = 0; j < kIlp; ++j) {
      const uint64_t i = base + j * kThreads + threadIdx.x;
      key[j] = i < n ? load_query<Key, kWords>(queries, i) : Key{};
      pos[j] = 0;
    }
    // Binary search of the top level: pos = the last key <= query (branch-free, the same trip count for
    // every thread). Assumes top[0] <= query; queries below the first start are answered at the end.
    for (uint64_t len = top_length; len > 1;) {
      const uint64_t half = len / 2;
#pragma unroll
      for (int j = 0; j < kIlp; ++j) {
        Key probe;
        if constexpr (kSharedTop) {
          probe = shared_keys[pos[j] + half];
        } else {
          probe = load_key(top_global + pos[j] + half);
        }
        pos[j] = top_step(pos[j], half, probe, key[j]);
      }
      len -= half;
    }
    // One node per level below the top.
    for (int l = t.top - 1; l >= 0; --l) {
      const Key* level = levels[l];
      const uint64_t last = lengths[l] - 1;
      Key node[kIlp][F];
#pragma unroll
      for (int j = 0; j < kIlp; ++j) load_node<Key, F>(level + pos[j] * F, node[j]);
#pragma unroll
      for (int j = 0; j < kIlp; ++j) pos[j] = node_step<Key, F>(pos[j], node[j], key[j], last);
    }
#pragma unroll
    for (int j = 0; j < kIlp; ++j) {
      const uint64_t i = base + j * kThreads + threadIdx.x;
      if (i < n) {
        const uint32_t record = key_le(t.first, key[j]) ? __ldg(t.records + pos[j]) : kDeviceNoRecord;
        __stcs(out + i, record);
      }
    }
  }
}

template <typename Word>
__global__ void gather_kernel(const Word* __restrict__ src, Word* __restrict__ dst, uint64_t count,
                              uint64_t step) {
  for (uint64_t i = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<uint64_t>(gridDim.x) * blockDim.x) {
    dst[i] = src[i * step];
  }
}

__global__ void fill_kernel(uint32_t* out, uint64_t n, uint32_t value) {
  for (uint64_t i = blockIdx.x * static_cast<uint64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<uint64_t>(gridDim.x) * blockDim.x) {
    out[i] = value;
  }
}

__global__ void trap_kernel() {
  __trap();
}

__device__ __forceinline__ void load_bucket(const JoinBucket* p, JoinBucket& b) {
  uint4 v[4];
  const uint4* src = reinterpret_cast<const uint4*>(p);
#pragma unroll
  for (int i = 0; i < 4; ++i) v[i] = __ldg(src + i);
  memcpy(&b, v, sizeof(b));
}

// The home bucket of a key, or for the key kDeviceEmptyKey (whose code is the empty marker, answered out
// of band) the last bucket, which is empty and stops its probe at once.
__device__ __forceinline__ uint64_t join_home(const JoinTable& t, uint64_t key, uint64_t code) {
  return key == kDeviceEmptyKey ? t.bucket_count - 1 : bucket_of(code, t.home_buckets);
}

// Whole buckets: the home buckets of all kIlp keys are loaded together; the key whose home bucket is full
// of smaller codes walks on alone (bounded by the bucket count, so that even a corrupt table cannot hang
// the device).
__device__ __forceinline__ void join_buckets(const JoinTable& t, const uint64_t (&key)[kIlp],
                                             uint32_t (&value)[kIlp]) {
  uint64_t code[kIlp];
  uint64_t home[kIlp];
  JoinBucket bucket[kIlp];
#pragma unroll
  for (int j = 0; j < kIlp; ++j) {
    code[j] = category_code(key[j]);
    home[j] = join_home(t, key[j], code[j]);
    load_bucket(t.buckets + home[j], bucket[j]);
  }
#pragma unroll
  for (int j = 0; j < kIlp; ++j) {
    value[j] = kDeviceNoRecord;
    Probe state = probe_bucket(bucket[j], code[j], value[j]);
    for (uint64_t b = home[j]; state == Probe::kNext && b + 1 < t.bucket_count;) {
      ++b;
      JoinBucket next;
      load_bucket(t.buckets + b, next);
      state = probe_bucket(next, code[j], value[j]);
    }
    if (state != Probe::kFound) value[j] = kDeviceNoRecord;
  }
}

// Slot by slot, exactly as the scalar backend walks the view (bounded by the slot count): one 8-byte code
// per step, then the value next to the first code that is not smaller.
__device__ __forceinline__ uint32_t join_slots(const JoinTable& t, uint64_t key) {
  const uint64_t code = category_code(key);
  const uint64_t slots = t.bucket_count * kBucketSlots;
  for (uint64_t slot = join_home(t, key, code) * kBucketSlots; slot < slots; ++slot) {
    const JoinBucket* b = t.buckets + slot / kBucketSlots;
    const int s = static_cast<int>(slot % kBucketSlots);
    const uint64_t c = __ldg(reinterpret_cast<const unsigned long long*>(b->codes + s));
    if (c >= code) return c == code ? __ldg(b->values + s) : kDeviceNoRecord;
  }
  return kDeviceNoRecord;
}

template <bool kSlots>
__global__ void __launch_bounds__(kThreads) join_kernel(const JoinTable t, const uint64_t* __restrict__ keys,
                                                        uint32_t* __restrict__ values, uint64_t n) {
  for (uint64_t base = blockIdx.x * kPerBlockStep; base < n; base += gridDim.x * kPerBlockStep) {
    uint64_t key[kIlp];
    uint32_t value[kIlp];
#pragma unroll
    for (int j = 0; j < kIlp; ++j) {
      const uint64_t i = base + j * kThreads + threadIdx.x;
      // Lanes past the end probe for key 0 and store nothing.
      key[j] = i < n ? __ldcs(reinterpret_cast<const unsigned long long*>(keys) + i) : 0;
    }
    if (t.bucket_count == 0) {
#pragma unroll
      for (int j = 0; j < kIlp; ++j) value[j] = kDeviceNoRecord;
    } else if constexpr (kSlots) {
#pragma unroll
      for (int j = 0; j < kIlp; ++j) value[j] = join_slots(t, key[j]);
    } else {
      join_buckets(t, key, value);
    }
#pragma unroll
    for (int j = 0; j < kIlp; ++j) {
      const uint64_t i = base + j * kThreads + threadIdx.x;
      if (i < n) {
        // The one key whose code is the empty-slot marker lives out of band, as in the view.
        const uint32_t v =
            key[j] == kDeviceEmptyKey ? (t.has_empty_key ? t.empty_key_value : kDeviceNoRecord) : value[j];
        __stcs(values + i, v);
      }
    }
  }
}

// Blocks for a grid-stride launch over n items: no more than stay resident at once.
template <typename Kernel>
Result<unsigned> grid_size(Kernel kernel, uint64_t n, size_t shared_bytes, int sm_count) {
  int per_sm = 0;
  ENRICHD_CUDA_TRY(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, shared_bytes));
  if (per_sm < 1)
    return Status::errorf("cuda: a {}-thread block with {} bytes of shared memory does not fit", kThreads,
                          shared_bytes);
  const uint64_t wanted = (n + kPerBlockStep - 1) / kPerBlockStep;
  const uint64_t resident = static_cast<uint64_t>(per_sm) * static_cast<uint64_t>(sm_count);
  return static_cast<unsigned>(wanted < resident ? wanted : resident);
}

template <typename Key, int F, int kWords, bool kSharedTop>
Status launch_search(const SearchTable<Key>& t, const void* queries, uint32_t* records, uint64_t n,
                     const SearchLaunch& how, cudaStream_t stream) {
  auto kernel = geo_search_kernel<Key, F, kWords, kSharedTop>;
  size_t shared = 0;
  if constexpr (kSharedTop) {
    shared = (t.lengths[t.top] * sizeof(Key) + 15) / 16 * 16;
    if (shared > 48 * 1024) {
      ENRICHD_CUDA_TRY(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                            static_cast<int>(shared)));
    }
  }
  const Result<unsigned> blocks = grid_size(kernel, n, shared, how.sm_count);
  if (!blocks) return blocks.status();
  kernel<<<*blocks, kThreads, shared, stream>>>(t, queries, records, n);
  ENRICHD_CUDA_TRY(cudaGetLastError());
  return Status::ok();
}

template <typename Key, int F, int kWords>
Status launch_search_top(const SearchTable<Key>& t, const void* queries, uint32_t* records, uint64_t n,
                         const SearchLaunch& how, cudaStream_t stream) {
  if (how.shared_top) return launch_search<Key, F, kWords, true>(t, queries, records, n, how, stream);
  return launch_search<Key, F, kWords, false>(t, queries, records, n, how, stream);
}

template <typename Word>
Status launch_gather_words(const void* src, void* dst, uint64_t count, uint64_t step, cudaStream_t stream) {
  const uint64_t blocks = (count + kThreads - 1) / kThreads;
  gather_kernel<Word><<<static_cast<unsigned>(blocks < 65535 ? blocks : 65535), kThreads, 0, stream>>>(
      static_cast<const Word*>(src), static_cast<Word*>(dst), count, step);
  ENRICHD_CUDA_TRY(cudaGetLastError());
  return Status::ok();
}

}  // namespace

template <typename Key>
Status launch_geo_search(const SearchTable<Key>& t, const void* queries, int query_words, uint32_t* records,
                         uint64_t n, const SearchLaunch& how, cudaStream_t stream) {
  if (n == 0) return Status::ok();
  if (t.size == 0) return launch_fill(records, n, kDeviceNoRecord, stream);
  if (t.top < 0 || t.top >= kMaxLevels) return Status::errorf("cuda: search table top level {}", t.top);
  if (query_words != 1 && !(sizeof(Key) == 8 && query_words == 2)) {
    return Status::errorf("cuda: {} words per query for {}-byte keys", query_words, sizeof(Key));
  }
  if constexpr (sizeof(Key) == 4) {
    if (t.fanout == 8) return launch_search_top<Key, 8, 1>(t, queries, records, n, how, stream);
    if (t.fanout == 16) return launch_search_top<Key, 16, 1>(t, queries, records, n, how, stream);
  } else if constexpr (sizeof(Key) == 8) {
    if (t.fanout == 4 && query_words == 1)
      return launch_search_top<Key, 4, 1>(t, queries, records, n, how, stream);
    if (t.fanout == 4) return launch_search_top<Key, 4, 2>(t, queries, records, n, how, stream);
    if (t.fanout == 8 && query_words == 1)
      return launch_search_top<Key, 8, 1>(t, queries, records, n, how, stream);
    if (t.fanout == 8) return launch_search_top<Key, 8, 2>(t, queries, records, n, how, stream);
  } else {
    if (t.fanout == 4) return launch_search_top<Key, 4, 1>(t, queries, records, n, how, stream);
  }
  return Status::errorf("cuda: no search kernel for fanout {} with {}-byte keys", t.fanout, sizeof(Key));
}

template Status launch_geo_search<uint32_t>(const SearchTable<uint32_t>&, const void*, int, uint32_t*,
                                            uint64_t, const SearchLaunch&, cudaStream_t);
template Status launch_geo_search<uint64_t>(const SearchTable<uint64_t>&, const void*, int, uint32_t*,
                                            uint64_t, const SearchLaunch&, cudaStream_t);
template Status launch_geo_search<U128>(const SearchTable<U128>&, const void*, int, uint32_t*, uint64_t,
                                        const SearchLaunch&, cudaStream_t);

Status launch_gather(const void* src, void* dst, uint64_t count, uint64_t step, size_t elem_bytes,
                     cudaStream_t stream) {
  if (count == 0) return Status::ok();
  switch (elem_bytes) {
    case 4:
      return launch_gather_words<uint32_t>(src, dst, count, step, stream);
    case 8:
      return launch_gather_words<unsigned long long>(src, dst, count, step, stream);
    case 16:
      return launch_gather_words<ulonglong2>(src, dst, count, step, stream);
    default:
      return Status::errorf("cuda: gather of {}-byte elements", elem_bytes);
  }
}

Status launch_trap(cudaStream_t stream) {
  trap_kernel<<<1, 1, 0, stream>>>();
  ENRICHD_CUDA_TRY(cudaGetLastError());
  return Status::ok();
}

Status launch_fill(uint32_t* out, uint64_t n, uint32_t value, cudaStream_t stream) {
  if (n == 0) return Status::ok();
  const uint64_t blocks = (n + kThreads - 1) / kThreads;
  fill_kernel<<<static_cast<unsigned>(blocks < 65535 ? blocks : 65535), kThreads, 0, stream>>>(out, n, value);
  ENRICHD_CUDA_TRY(cudaGetLastError());
  return Status::ok();
}

Status launch_category_join(const JoinTable& t, const uint64_t* keys, uint32_t* values, uint64_t n,
                            int sm_count, cudaStream_t stream) {
  if (n == 0) return Status::ok();
  auto kernel = t.slot_walk ? join_kernel<true> : join_kernel<false>;
  const Result<unsigned> blocks = grid_size(kernel, n, 0, sm_count);
  if (!blocks) return blocks.status();
  kernel<<<*blocks, kThreads, 0, stream>>>(t, keys, values, n);
  ENRICHD_CUDA_TRY(cudaGetLastError());
  return Status::ok();
}

Status check_kernel_images() {
  // cudaErrorNoKernelImageForDevice / cudaErrorInvalidDeviceFunction when the device's architecture has
  // neither machine code nor PTX it can compile in this binary.
  cudaFuncAttributes attr{};
  ENRICHD_CUDA_TRY(cudaFuncGetAttributes(&attr, geo_search_kernel<uint32_t, 8, 1, true>));
  ENRICHD_CUDA_TRY(cudaFuncGetAttributes(&attr, geo_search_kernel<uint64_t, 4, 1, false>));
  ENRICHD_CUDA_TRY(cudaFuncGetAttributes(&attr, geo_search_kernel<U128, 4, 1, false>));
  ENRICHD_CUDA_TRY(cudaFuncGetAttributes(&attr, join_kernel<false>));
  ENRICHD_CUDA_TRY(cudaFuncGetAttributes(&attr, join_kernel<true>));
  ENRICHD_CUDA_TRY(cudaFuncGetAttributes(&attr, fill_kernel));
  return Status::ok();
}

}  // namespace enrichd::cuda
