// The CUDA backend's table layouts and the per-step logic of its lookups, as plain C++17 that both the
// device code (cuda_kernels.cu) and host code compile: cuda_backend.cpp plans and builds the layouts with
// it, and a test walks them on the CPU exactly as the kernels do, so that the layouts are checked against
// the scalar backend on machines without a GPU. No CUDA runtime types here.
//
// Geo search: the view's sorted starts ("level 0"), and above them levels 1..top where level j holds
// every F^j-th start (F = the fanout, keys per node). Every level is padded with the largest key to a
// whole number of F-key nodes and aligned to 128 bytes. A lookup binary-searches the top level (in shared
// memory when the batch is large enough to pay for loading it), then walks down one node per level:
// node p of level j is keys [p*F, p*F+F) of level j, which begins with key p of level j+1, so the
// predecessor in level j is p*F + (keys <= query in the node) - 1. With 32-byte nodes each level below
// the top costs one dependent 32-byte sector load, where a plain binary search costs a dependent load
// per bit of the index.
//
// Category join: the view's own table (host/category_table.h), uploaded as is: 64-byte buckets of 5
// codes and their 5 values, codes ascending across the table, home bucket = high word of code *
// home_buckets, then tail buckets of which the last is empty. About 15.6 bytes per key at the host
// table's maximum load (a 5 M key table: 75 MiB), so much of it stays in L2. A lookup reads its home
// bucket (two sectors) and the next one only when the home bucket is full of smaller codes.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define ENRICHD_HOST_DEVICE __host__ __device__
#else
#define ENRICHD_HOST_DEVICE
#endif
// Only the device pass knows the pragma (the host compiler would warn about it).
#if defined(__CUDA_ARCH__)
#define ENRICHD_UNROLL _Pragma("unroll")
#else
#define ENRICHD_UNROLL
#endif

namespace enrichd::cuda {

inline constexpr uint32_t kDeviceNoRecord = UINT32_MAX;  // == kNoRecord (static_assert in cuda_backend.cpp)
inline constexpr uint64_t kDeviceEmptyKey = UINT64_MAX;  // == CategoryTableView::kEmptyKey (likewise)

// host/category_table.h's hash_key and category_code, repeated here because host/ must not depend on
// CUDA; cuda_backend.cpp static_asserts that they agree, and a test compares them on random keys.
ENRICHD_HOST_DEVICE constexpr uint64_t splitmix_hash(uint64_t k) {
  k ^= k >> 30;
  k *= 0xbf58476d1ce4e5b9ULL;
  k ^= k >> 27;
  k *= 0x94d049bb133111ebULL;
  k ^= k >> 31;
  return k;
}
inline constexpr uint64_t kDeviceCodeXor = splitmix_hash(kDeviceEmptyKey) ^ kDeviceEmptyKey;
// The code a key is stored under; the key kDeviceEmptyKey, and only it, has the code kDeviceEmptyKey
// (the empty-slot marker).
ENRICHD_HOST_DEVICE constexpr uint64_t category_code(uint64_t key) {
  return splitmix_hash(key) ^ kDeviceCodeXor;
}

// The home bucket of a hash among `buckets`: the high word of hash * buckets, uniform for any count.
ENRICHD_HOST_DEVICE inline uint64_t bucket_of(uint64_t hash, uint64_t buckets) {
#if defined(__CUDA_ARCH__)
  return __umul64hi(hash, buckets);
#else
  __extension__ using wide = unsigned __int128;
  return static_cast<uint64_t>((static_cast<wide>(hash) * buckets) >> 64);
#endif
}

// An IPv6 start or query, laid out like enrichd::Ipv6 (hi first).
struct U128 {
  uint64_t hi;
  uint64_t lo;
};

ENRICHD_HOST_DEVICE inline bool key_le(uint32_t a, uint32_t b) {
  return a <= b;
}
ENRICHD_HOST_DEVICE inline bool key_le(uint64_t a, uint64_t b) {
  return a <= b;
}
ENRICHD_HOST_DEVICE inline bool key_le(const U128& a, const U128& b) {
  return a.hi < b.hi || (a.hi == b.hi && a.lo <= b.lo);
}

// ---- geo search ----

inline constexpr int kMaxLevels = 16;
inline constexpr size_t kLevelAlign = 128;

// Where each level of a search structure lives in one device allocation.
struct SearchPlan {
  int top = 0;
  int fanout = 8;
  uint64_t lengths[kMaxLevels] = {};  // real keys per level
  size_t offsets[kMaxLevels] = {};    // bytes from the start of the allocation
  size_t records_offset = 0;
  size_t bytes = 0;  // the whole allocation; [0, records_offset) is keys (padding included)
};

// Levels are added until the top level is at most `top_bytes` (or a single key, or the level limit);
// `plain` keeps only level 0 (a binary search over all starts).
inline SearchPlan plan_search(uint64_t n, size_t key_bytes, int fanout, size_t top_bytes, bool plain) {
  SearchPlan p;
  p.fanout = fanout;
  p.lengths[0] = n;
  while (!plain && p.top + 1 < kMaxLevels && p.lengths[p.top] * key_bytes > top_bytes &&
         p.lengths[p.top] > 1) {
    p.lengths[p.top + 1] = (p.lengths[p.top] + fanout - 1) / fanout;
    ++p.top;
  }
  size_t bytes = 0;
  for (int l = 0; l <= p.top; ++l) {
    p.offsets[l] = bytes;
    const uint64_t padded = (p.lengths[l] + fanout - 1) / fanout * fanout;
    bytes = (bytes + padded * key_bytes + kLevelAlign - 1) / kLevelAlign * kLevelAlign;
  }
  p.records_offset = bytes;
  p.bytes = bytes + n * sizeof(uint32_t);
  return p;
}

// One step of the top level's branch-free binary search: `pos` stays the last key <= query.
template <typename Key>
ENRICHD_HOST_DEVICE inline uint64_t top_step(uint64_t pos, uint64_t half, const Key& probe, const Key& key) {
  return key_le(probe, key) ? pos + half : pos;
}

// One step down: `node` is keys [pos*F, pos*F+F) of the level below the one where `pos` is the
// predecessor; returns the predecessor in that level, whose last real key is `last`. At least the node's
// first key is <= query (unless the query is below the first start, answered separately); the padding
// (the largest key) can count only for the largest query, and `last` caps both.
template <typename Key, int F>
ENRICHD_HOST_DEVICE inline uint64_t node_step(uint64_t pos, const Key (&node)[F], const Key& key,
                                              uint64_t last) {
  uint64_t count = 0;
  ENRICHD_UNROLL
  for (int s = 0; s < F; ++s) count += key_le(node[s], key) ? 1 : 0;
  const uint64_t below = pos * F + count - 1;
  return below < last ? below : last;
}

// The fanouts each key type is built for: 32- and 64-byte nodes (IPv6 keys: 64-byte nodes only).
template <typename Key>
constexpr bool fanout_supported(int fanout) {
  return fanout * sizeof(Key) == 32 ? sizeof(Key) < 16 : fanout * sizeof(Key) == 64;
}

// ---- category join ----

inline constexpr int kBucketSlots = 5;

// host/category_table.h's CategoryBucket: 5 codes, then their 5 values; empty slots hold kDeviceEmptyKey
// and come after the full ones, and the codes of a bucket ascend.
struct alignas(64) JoinBucket {
  uint64_t codes[kBucketSlots];
  uint32_t values[kBucketSlots];
  uint32_t unused;
};
static_assert(sizeof(JoinBucket) == 64, "a bucket is two sectors");

enum class Probe { kFound, kAbsent, kNext };

// One bucket of the probe for `code` (never kDeviceEmptyKey, which is out of band): found; or absent,
// when the bucket's last code is above it (the codes ascend, so it cannot come later); or on to the next
// bucket.
ENRICHD_HOST_DEVICE inline Probe probe_bucket(const JoinBucket& b, uint64_t code, uint32_t& value) {
  bool found = false;
  ENRICHD_UNROLL
  for (int s = 0; s < kBucketSlots; ++s) {
    if (b.codes[s] == code) {
      found = true;
      value = b.values[s];
    }
  }
  return found ? Probe::kFound : b.codes[kBucketSlots - 1] > code ? Probe::kAbsent : Probe::kNext;
}

}  // namespace enrichd::cuda
