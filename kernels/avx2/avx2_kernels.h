// The AVX2 kernels (avx2_kernels.cpp, the one file compiled with -mavx2 -mbmi2 -mpopcnt) and the
// plain-data description of the search index and the category table they walk. Only POD types and
// <cstddef>/<cstdint> here: the kernel file must not instantiate any inline function or template that
// other files also instantiate, or the linker could keep the AVX2 copy for the whole binary (see
// avx2_kernels.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace enrichd::avx2 {

// The index over one sorted array of range starts S[0..n): a static search tree (S+ tree: every node one
// or two cache lines of keys, B keys and B+1 children, layers stored root first) over the "fence keys"
// F[i] = S[c(i+1)], the first key of every leaf block after the first. Leaf blocks are cache-line aligned
// in memory: block b >= 1 starts at index c(b) = b*kBlock - mis, block 0 is [0, c(1)).
//
// The tree only says which leaf block to read; the kernel then counts the keys <= x in that block of the
// view's own array and checks the answer against it (S[p] <= x < S[p+1]). A query whose check fails (an
// index built for another array at the same address and size) goes to the fallback, so a stale index can
// cost time but never give a wrong answer.
struct TreeIndex {
  const void* nodes = nullptr;            // all layers, root first, 64-byte aligned
  const uint32_t* layer_begin = nullptr;  // first node of each layer (root = layer 0)
  const uint32_t* layer_nodes = nullptr;  // node count of each layer
  uint32_t layers = 0;                    // 0 when there are no fence keys (n <= one block)
  uint64_t fences = 0;                    // m: number of fence keys; a query's block is in [0, m]
  uint64_t mis = 0;                       // index of S's base within its aligned leaf block
  bool wide = false;                      // v6 only: nodes hold hi and lo words (else hi only, lo == 0)
  // Jump table over the top bits of the key (v6: of its hi word), which skips the upper layers:
  // jump[bucket(x)] is x's node in layer jump_layer; or, when the bucket spans more than one node of that
  // layer, kJumpWalk | layer << kJumpLayerShift | node, the bucket's node in the deepest layer where it
  // spans one, from which the query walks down. jump_layer 0: no table.
  // bucket(x) = min((max(x, jump_base) - jump_base) >> jump_shift, jump_last).
  const uint16_t* jump = nullptr;
  uint32_t jump_layer = 0;
  uint32_t jump_shift = 0;
  uint64_t jump_base = 0;
  uint64_t jump_last = 0;
};

inline constexpr uint16_t kJumpWalk = 0x8000;
inline constexpr int kJumpLayerShift = 11;  // a walk's start: node in bits 0-10, layer in bits 11-14

// Called for each query whose answer the kernel could not confirm, with the query's key (v4: one
// uint32_t; v6: {hi, lo} uint64s), taken from the kernel's own copy so that `out` may overwrite `addrs`;
// returns the answer.
using Fallback = uint32_t (*)(const void* ctx, const void* key);

// v4: S is uint32_t starts; nodes are 16 int32 keys (x ^ 0x80000000), 17 children; leaf blocks 16 keys.
inline constexpr uint32_t kV4NodeKeys = 16;
inline constexpr uint64_t kV4Block = 16;
// v6: S is {hi, lo} uint64 pairs; nodes are 8 int64 hi keys (hi ^ 2^63) [then 8 lo keys when wide],
// 9 children; leaf blocks 8 addresses (128 bytes).
inline constexpr uint32_t kV6NodeKeys = 8;
inline constexpr uint64_t kV6Block = 8;
// v6, 64-bit form (every start /64-aligned, only hi words kept): S is uint64 hi words; nodes as the
// narrow v6 nodes (wide is false); leaf blocks 8 hi words, one cache line. Queries are still {hi, lo}
// pairs; a query is >= a start {h, 0} exactly when its hi >= h, so lo never decides.
inline constexpr uint64_t kV6x64Block = 8;

// Returns the number of fallback calls made.
size_t lookup_v4(const TreeIndex& index, const uint32_t* starts, const uint32_t* records, size_t n,
                 const uint32_t* addrs, uint32_t* out, size_t count, Fallback fallback, const void* ctx);
// `starts` and `addrs` point at {hi, lo} pairs (enrichd::Ipv6).
size_t lookup_v6(const TreeIndex& index, const uint64_t* starts, const uint32_t* records, size_t n,
                 const uint64_t* addrs, uint32_t* out, size_t count, Fallback fallback, const void* ctx);
// `starts` points at n hi words, `addrs` at {hi, lo} pairs (enrichd::Ipv6).
size_t lookup_v6_64(const TreeIndex& index, const uint64_t* starts, const uint32_t* records, size_t n,
                    const uint64_t* addrs, uint32_t* out, size_t count, Fallback fallback, const void* ctx);

// ---- category join ----

// A bucket of the category table: host/category_table.h's CategoryBucket (avx2_backend.cpp checks that
// the two agree), repeated here because this header must stay free of host code.
struct alignas(64) JoinBucket {
  uint64_t codes[5];
  uint32_t values[6];  // 5 values, then CategoryBucket::unused (so that values[5] is in bounds)
};

struct JoinTable {
  const JoinBucket* buckets = nullptr;  // at least two: home buckets, then tail buckets, the last empty
  uint64_t bucket_count = 0;
  uint64_t home_buckets = 0;
  bool has_empty_key = false;  // the key UINT64_MAX, kept out of the buckets
  uint32_t empty_key_value = UINT32_MAX;
};

// out[i] = the category of keys[i], UINT32_MAX (kNoRecord) when absent. Keys are hashed kAhead queries
// before they are probed and their home bucket prefetched; a bucket is probed with one 256-bit compare
// of its first four codes and a scalar compare of the fifth. The hash must be host/category_table.h's
// category_code (the unit tests compare every answer with the scalar backend's).
void category_join(const JoinTable& table, const uint64_t* keys, uint32_t* out, size_t count);

}  // namespace enrichd::avx2
