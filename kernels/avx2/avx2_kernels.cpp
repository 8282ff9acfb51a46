// The AVX2 kernels: geo lookups and the category join. This is the only file compiled with -mavx2 -mbmi2
// -mpopcnt (see kernels/CMakeLists.txt); it runs only after the registry has checked CPUID.
//
// Why the backend class lives in another file: an inline function or template that this file and a
// baseline file both instantiate (std::vector members, fmt, Status, even a constexpr helper at -O0) is
// emitted as a weak symbol by both, and the linker keeps one of them for the whole program. If it kept
// the copy compiled here, baseline code would run AVX2/BMI2 instructions on a CPU without them. So this
// file includes only <immintrin.h> and a POD header, and every helper has internal linkage;
// `nm -C avx2_kernels.cpp.o | grep ' [WVu] '` lists nothing.
//
// A query's path: the jump table names its node a few layers down (or it walks there from the root),
// then one node per layer down to the bottom, then the leaf block of the view's array, then its record.
// Groups of kGroup queries take each layer in lock-step, prefetching the node each goes to next, so that
// many cache misses are in flight instead of one; node ranks come from two 256-bit compares, a movemask
// and a popcount. Stages overlap across groups (run_pipeline).
#include "kernels/avx2/avx2_kernels.h"

#include <immintrin.h>

namespace enrichd::avx2 {
namespace {

constexpr int kGroup = 32;  // queries walked in lock-step (16, 24, 48, 64 measured no better)
static_assert(kGroup <= 64, "a group's failed checks are a 64-bit mask");
constexpr uint32_t kSign32 = 0x80000000U;
constexpr uint64_t kSign64 = 0x8000000000000000ULL;

inline void prefetch(const void* p) {
  _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T0);
}

inline uint64_t min_u64(uint64_t a, uint64_t b) {
  return a < b ? a : b;
}

inline uint64_t jump_bucket(const TreeIndex& ix, uint64_t key) {
  const uint64_t d = key > ix.jump_base ? key - ix.jump_base : 0;
  return min_u64(d >> ix.jump_shift, ix.jump_last);
}

inline int popcount32(uint32_t v) {
  return _mm_popcnt_u32(v);
}

inline __m256i load(const void* p) {
  return _mm256_load_si256(static_cast<const __m256i*>(p));
}
inline __m256i loadu(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// ---- IPv4 -------------------------------------------------------------------------------------------

// Keys of a 16-key node that are greater than x (both sign-flipped so that a signed compare orders them
// as unsigned).
inline uint64_t v4_node_greater(const int32_t* node, __m256i x) {
  const __m256i a = _mm256_cmpgt_epi32(load(node), x);
  const __m256i b = _mm256_cmpgt_epi32(load(node + 8), x);
  const auto bits = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_packs_epi32(a, b)));
  return static_cast<uint64_t>(popcount32(bits) >> 1);
}

// Brings each query of a group to its node in layer jump_layer through the jump table. A query whose
// bucket spans several nodes there walks down from the layer its entry names; those queries walk
// together, layer by layer, without a branch per query. node_rank(l, k, q): query q's rank among the
// keys of node k of layer l.
template <typename NodeRank>
inline void jump(const TreeIndex& ix, const uint64_t* key, uint64_t* k, uint64_t fanout,
                 NodeRank&& node_rank) {
  const uint32_t top = ix.jump_layer;
  uint32_t from[kGroup];
  int walkers[kGroup];
  int n_walkers = 0;
  uint32_t first = top;
  for (int q = 0; q < kGroup; ++q) {
    const uint64_t e = ix.jump[jump_bucket(ix, key[q])];
    const bool walk = (e & kJumpWalk) != 0;
    k[q] = e & ((uint64_t{1} << kJumpLayerShift) - 1);
    from[q] = walk ? static_cast<uint32_t>((e & ~uint64_t{kJumpWalk}) >> kJumpLayerShift) : top;
    first = from[q] < first ? from[q] : first;
    walkers[n_walkers] = q;
    n_walkers += walk ? 1 : 0;
  }
  for (uint32_t l = first; l < top; ++l) {
    const uint64_t last = ix.layer_nodes[l + 1] - 1;
    for (int i = 0; i < n_walkers; ++i) {
      const int q = walkers[i];
      const bool active = from[q] <= l;
      const uint64_t node = active ? k[q] : 0;  // not started yet: rank against a node that exists
      const uint64_t next = min_u64(fanout * node + node_rank(l, node, q), last);
      k[q] = active ? next : k[q];
    }
  }
}

// Each query group moves through three stages, and three groups are in flight: while group t walks the
// tree, group t-1 reads its leaf block (prefetched one stage earlier) and group t-2 reads its records
// (prefetched one stage earlier), so the two cache misses that leave the tree have a whole stage to land.
template <typename Kernel>
size_t run_pipeline(Kernel& kernel, size_t count, Fallback fallback, const void* ctx) {
  typename Kernel::Group groups[3];
  const size_t n_groups = (count + kGroup - 1) / kGroup;
  size_t fallbacks = 0;
  for (size_t t = 0; t < n_groups + 2; ++t) {
    if (t >= 2) {
      auto& g = groups[(t - 2) % 3];
      for (size_t q = 0; q < g.size; ++q) kernel.out[g.first + q] = kernel.records[g.pos[q]];
      for (uint64_t bad = g.bad; bad != 0; bad &= bad - 1) {
        const int q = __builtin_ctzll(bad);
        kernel.out[g.first + static_cast<size_t>(q)] = fallback(ctx, g.key(q));
        ++fallbacks;
      }
    }
    if (t >= 1 && t <= n_groups) kernel.leaf(groups[(t - 1) % 3]);
    if (t < n_groups) {
      const size_t first = t * kGroup;
      const size_t size = count - first < static_cast<size_t>(kGroup) ? count - first : kGroup;
      kernel.descend(groups[t % 3], first, size);
    }
  }
  return fallbacks;
}

struct V4Kernel {
  struct Group {
    __m256i x[kGroup];  // addr ^ 2^31 in every lane
    uint32_t addr[kGroup];
    uint64_t start[kGroup];
    uint64_t pos[kGroup];
    uint64_t bad;
    size_t first;
    size_t size;
    const void* key(int q) const { return &addr[q]; }
  };

  const TreeIndex& index;
  const int32_t* nodes;
  const uint32_t* starts;
  const uint32_t* records;
  uint64_t n;
  const uint32_t* addrs;
  uint32_t* out;

  // Walks the tree to each query's leaf block and prefetches the block.
  void descend(Group& g, size_t first, size_t size) const {
    constexpr uint64_t kB = kV4NodeKeys;
    g.first = first;
    g.size = size;
    for (int q = 0; q < kGroup; ++q) {
      g.addr[q] = static_cast<size_t>(q) < size ? addrs[first + static_cast<size_t>(q)] : 0;
      g.x[q] = _mm256_set1_epi32(static_cast<int32_t>(g.addr[q] ^ kSign32));
    }
    if (index.layers == 0) {
      for (int q = 0; q < kGroup; ++q) g.start[q] = 0;
      return;
    }
    uint64_t k[kGroup];
    const uint32_t top = index.jump_layer;
    if (top == 0) {
      for (int q = 0; q < kGroup; ++q) k[q] = 0;
    } else {
      uint64_t key[kGroup];
      for (int q = 0; q < kGroup; ++q) key[q] = g.addr[q];
      jump(index, key, k, kB + 1, [&](uint32_t l, uint64_t node, int q) {
        return kB - v4_node_greater(nodes + kB * (index.layer_begin[l] + node), g.x[q]);
      });
      for (int q = 0; q < kGroup; ++q) prefetch(nodes + kB * (index.layer_begin[top] + k[q]));
    }
    for (uint32_t l = top; l + 1 < index.layers; ++l) {
      const int32_t* layer = nodes + kB * index.layer_begin[l];
      const int32_t* next = nodes + kB * index.layer_begin[l + 1];
      const uint64_t last = index.layer_nodes[l + 1] - 1;
      for (int q = 0; q < kGroup; ++q) {
        const uint64_t rank = kB - v4_node_greater(layer + kB * k[q], g.x[q]);
        k[q] = min_u64((kB + 1) * k[q] + rank, last);
        prefetch(next + kB * k[q]);
      }
    }
    const int32_t* bottom = nodes + kB * index.layer_begin[index.layers - 1];
    for (int q = 0; q < kGroup; ++q) {
      const uint64_t rank = kB - v4_node_greater(bottom + kB * k[q], g.x[q]);
      const uint64_t block = min_u64(kB * k[q] + rank, index.fences);
      g.start[q] = block == 0 ? 0 : block * kV4Block - index.mis;
      prefetch(starts + g.start[q]);
    }
  }

  // Counts the keys <= addr in the leaf block of the view's own array, confirms the answer and
  // prefetches its record.
  void leaf(Group& g) const {
    const __m256i sign = _mm256_set1_epi32(static_cast<int32_t>(kSign32));
    g.bad = 0;
    for (int q = 0; q < kGroup; ++q) {
      const uint64_t s = g.start[q];
      const uint32_t addr = g.addr[q];
      const uint64_t valid = min_u64(kV4Block, n - s);
      uint64_t le;
      if (valid == kV4Block) {
        const __m256i a = _mm256_cmpgt_epi32(_mm256_xor_si256(loadu(starts + s), sign), g.x[q]);
        const __m256i b = _mm256_cmpgt_epi32(_mm256_xor_si256(loadu(starts + s + 8), sign), g.x[q]);
        const auto bits = static_cast<uint32_t>(_mm256_movemask_epi8(_mm256_packs_epi32(a, b)));
        le = kV4Block - static_cast<uint64_t>(popcount32(bits) >> 1);
      } else {
        le = 0;
        for (uint64_t t = 0; t < valid; ++t) le += starts[s + t] <= addr ? 1 : 0;
      }
      // Keys are sorted, so S[s+le] > addr whenever le < valid; only a full block needs the next key.
      const bool ok = le != 0 && (le < valid || s + le == n || starts[s + kV4Block] > addr);
      g.pos[q] = ok ? s + le - 1 : 0;
      g.bad |= static_cast<uint64_t>(!ok && static_cast<size_t>(q) < g.size) << q;
      prefetch(records + g.pos[q]);
    }
  }
};

struct V6Query {
  __m256i hi;  // hi ^ 2^63 in every lane
  __m256i lo;  // lo ^ 2^63 in every lane
};

// Number of keys greater than x in an 8-key node; hi words only (lo of every fence is 0) or hi and lo.
template <bool kWide>
inline uint64_t v6_node_greater(const int64_t* node, const V6Query& x) {
  __m256i a = _mm256_cmpgt_epi64(load(node), x.hi);
  __m256i b = _mm256_cmpgt_epi64(load(node + 4), x.hi);
  if constexpr (kWide) {
    const __m256i ea = _mm256_cmpeq_epi64(load(node), x.hi);
    const __m256i eb = _mm256_cmpeq_epi64(load(node + 4), x.hi);
    a = _mm256_or_si256(a, _mm256_and_si256(ea, _mm256_cmpgt_epi64(load(node + 8), x.lo)));
    b = _mm256_or_si256(b, _mm256_and_si256(eb, _mm256_cmpgt_epi64(load(node + 12), x.lo)));
  }
  const auto bits = static_cast<uint32_t>(_mm256_movemask_pd(_mm256_castsi256_pd(a)) |
                                          (_mm256_movemask_pd(_mm256_castsi256_pd(b)) << 4));
  return static_cast<uint64_t>(popcount32(bits));
}

inline bool v6_less(uint64_t ahi, uint64_t alo, uint64_t bhi, uint64_t blo) {
  return ahi < bhi || (ahi == bhi && alo < blo);
}

// The v6 kernel over either form of the starts: {hi, lo} pairs (kHiOnly false; the tree wide or narrow)
// or hi words only (kHiOnly true, the 64-bit form; always a narrow tree). The descent is the same; only
// the leaf block differs: 8 pairs over two cache lines, or 8 hi words in one.
template <bool kWide, bool kHiOnly>
struct V6Kernel {
  static_assert(!(kWide && kHiOnly), "hi-only starts have no low bits, so their tree is narrow");
  static constexpr uint64_t kBlock = kHiOnly ? kV6x64Block : kV6Block;
  static constexpr uint64_t kStartWords = kHiOnly ? 1 : 2;  // uint64 words per start

  struct Group {
    V6Query x[kGroup];
    uint64_t hi[kGroup];
    uint64_t lo[kGroup];
    uint64_t pair[kGroup][2];  // {hi, lo} for the fallback
    uint64_t start[kGroup];
    uint64_t pos[kGroup];
    uint64_t bad;
    size_t first;
    size_t size;
    const void* key(int q) const { return pair[q]; }
  };

  const TreeIndex& index;
  const int64_t* nodes;
  const uint64_t* starts;  // {hi, lo} pairs, or hi words when kHiOnly
  const uint32_t* records;
  uint64_t n;
  const uint64_t* addrs;  // {hi, lo} pairs
  uint32_t* out;

  void descend(Group& g, size_t first, size_t size) const {
    constexpr uint64_t kB = kV6NodeKeys;
    constexpr uint64_t kNodeWords = kWide ? 2 * kB : kB;
    g.first = first;
    g.size = size;
    for (int q = 0; q < kGroup; ++q) {
      const size_t i = first + static_cast<size_t>(q);
      g.hi[q] = static_cast<size_t>(q) < size ? addrs[2 * i] : 0;
      g.lo[q] = static_cast<size_t>(q) < size ? addrs[2 * i + 1] : 0;
      g.pair[q][0] = g.hi[q];
      g.pair[q][1] = g.lo[q];
      g.x[q].hi = _mm256_set1_epi64x(static_cast<int64_t>(g.hi[q] ^ kSign64));
      // Only pair leaves look at lo (narrow nodes do not, and hi-only starts imply narrow nodes).
      if constexpr (!kHiOnly) g.x[q].lo = _mm256_set1_epi64x(static_cast<int64_t>(g.lo[q] ^ kSign64));
    }
    if (index.layers == 0) {
      for (int q = 0; q < kGroup; ++q) g.start[q] = 0;
      return;
    }
    uint64_t k[kGroup];
    const uint32_t top = index.jump_layer;
    if (top == 0) {
      for (int q = 0; q < kGroup; ++q) k[q] = 0;
    } else {
      jump(index, g.hi, k, kB + 1, [&](uint32_t l, uint64_t node, int q) {
        return kB - v6_node_greater<kWide>(nodes + kNodeWords * (index.layer_begin[l] + node), g.x[q]);
      });
      for (int q = 0; q < kGroup; ++q) {
        prefetch(nodes + kNodeWords * (index.layer_begin[top] + k[q]));
        if constexpr (kWide) prefetch(nodes + kNodeWords * (index.layer_begin[top] + k[q]) + kB);
      }
    }
    for (uint32_t l = top; l + 1 < index.layers; ++l) {
      const int64_t* layer = nodes + kNodeWords * index.layer_begin[l];
      const int64_t* next = nodes + kNodeWords * index.layer_begin[l + 1];
      const uint64_t last = index.layer_nodes[l + 1] - 1;
      for (int q = 0; q < kGroup; ++q) {
        const uint64_t rank = kB - v6_node_greater<kWide>(layer + kNodeWords * k[q], g.x[q]);
        k[q] = min_u64((kB + 1) * k[q] + rank, last);
        prefetch(next + kNodeWords * k[q]);
        if constexpr (kWide) prefetch(next + kNodeWords * k[q] + kB);
      }
    }
    const int64_t* bottom = nodes + kNodeWords * index.layer_begin[index.layers - 1];
    for (int q = 0; q < kGroup; ++q) {
      const uint64_t rank = kB - v6_node_greater<kWide>(bottom + kNodeWords * k[q], g.x[q]);
      const uint64_t block = min_u64(kB * k[q] + rank, index.fences);
      g.start[q] = block == 0 ? 0 : block * kBlock - index.mis;
      prefetch(starts + kStartWords * g.start[q]);
      if constexpr (!kHiOnly) prefetch(starts + kStartWords * g.start[q] + 8);
    }
  }

  // Keys of a full leaf block that are <= the query.
  static uint64_t block_le(const uint64_t* block, const V6Query& x) {
    const __m256i sign = _mm256_set1_epi64x(static_cast<int64_t>(kSign64));
    if constexpr (kHiOnly) {
      // Two vectors of 4 hi words against the query's hi.
      const __m256i a = _mm256_cmpgt_epi64(_mm256_xor_si256(loadu(block), sign), x.hi);
      const __m256i b = _mm256_cmpgt_epi64(_mm256_xor_si256(loadu(block + 4), sign), x.hi);
      const auto greater = static_cast<uint32_t>(_mm256_movemask_pd(_mm256_castsi256_pd(a)) |
                                                 (_mm256_movemask_pd(_mm256_castsi256_pd(b)) << 4));
      return kBlock - static_cast<uint64_t>(popcount32(greater));
    } else {
      // Four vectors of [hi, lo, hi, lo]: an address is greater than x when its hi is greater, or its
      // hi is equal and its lo is greater. Bit 2e of a movemask is address e's hi lane, bit 2e+1 its lo.
      const __m256i xf = _mm256_unpacklo_epi64(x.hi, x.lo);  // flipped [hi, lo, hi, lo]
      uint32_t gt = 0, eq = 0;
      for (int v = 0; v < 4; ++v) {
        const __m256i key = _mm256_xor_si256(loadu(block + 4 * static_cast<uint64_t>(v)), sign);
        gt |= static_cast<uint32_t>(_mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(key, xf))))
              << (4 * v);
        eq |= static_cast<uint32_t>(_mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpeq_epi64(key, xf))))
              << (4 * v);
      }
      const uint32_t greater = (gt | (eq & (gt >> 1))) & 0x5555U;
      return kBlock - static_cast<uint64_t>(popcount32(greater));
    }
  }

  // Whether start i is greater than the query.
  bool start_greater(uint64_t i, uint64_t hi, uint64_t lo) const {
    if constexpr (kHiOnly) {
      return starts[i] > hi;
    } else {
      return v6_less(hi, lo, starts[2 * i], starts[2 * i + 1]);
    }
  }

  // Counts the keys <= the query in the leaf block of the view's own array, confirms the answer
  // (S[p] <= x < S[p+1]) and prefetches its record.
  void leaf(Group& g) const {
    g.bad = 0;
    for (int q = 0; q < kGroup; ++q) {
      const uint64_t s = g.start[q];
      const uint64_t hi = g.hi[q];
      const uint64_t lo = g.lo[q];
      const uint64_t valid = min_u64(kBlock, n - s);
      uint64_t le;
      if (valid == kBlock) {
        le = block_le(starts + kStartWords * s, g.x[q]);
      } else {
        le = 0;
        for (uint64_t t = 0; t < valid; ++t) le += start_greater(s + t, hi, lo) ? 0 : 1;
      }
      // Keys are sorted, so S[s+le] > x whenever le < valid; only a full block needs the next key.
      const bool ok = le != 0 && (le < valid || s + le == n || start_greater(s + kBlock, hi, lo));
      g.pos[q] = ok ? s + le - 1 : 0;
      g.bad |= static_cast<uint64_t>(!ok && static_cast<size_t>(q) < g.size) << q;
      prefetch(records + g.pos[q]);
    }
  }
};

// ---- category join ----------------------------------------------------------------------------------

// host/category_table.h's category_code, repeated with internal linkage (see the top of this file).
constexpr uint64_t splitmix(uint64_t k) {
  k ^= k >> 30;
  k *= 0xbf58476d1ce4e5b9ULL;
  k ^= k >> 27;
  k *= 0x94d049bb133111ebULL;
  k ^= k >> 31;
  return k;
}
constexpr uint64_t kCodeXor = splitmix(UINT64_MAX) ^ UINT64_MAX;

inline uint64_t mul_hi(uint64_t a, uint64_t b) {
  __extension__ using wide = unsigned __int128;
  return static_cast<uint64_t>((static_cast<wide>(a) * b) >> 64);
}

// Bit s set when slot s of the bucket holds `code` (at most one: the codes of a table are distinct).
inline uint32_t match_slots(const JoinBucket& b, __m256i code_x4, uint64_t code) {
  const __m256i eq = _mm256_cmpeq_epi64(load(b.codes), code_x4);
  return static_cast<uint32_t>(_mm256_movemask_pd(_mm256_castsi256_pd(eq))) |
         static_cast<uint32_t>(b.codes[4] == code) << 4;
}

}  // namespace

void category_join(const JoinTable& t, const uint64_t* keys, uint32_t* out, size_t count) {
  // Hash kAhead keys ahead and prefetch their home buckets, so that that many misses are in flight.
  // (8 to 48 measured: 16 to 32 about equal, fewer is slower.)
  constexpr size_t kAhead = 16;
  constexpr uint32_t kAbsent = UINT32_MAX;
  const JoinBucket* buckets = t.buckets;
  const uint64_t last = t.bucket_count - 1;
  uint64_t code[kAhead];
  uint64_t home[kAhead];
  auto stage = [&](size_t i, size_t r) {
    const uint64_t key = keys[i];
    code[r] = splitmix(key) ^ kCodeXor;
    // The key UINT64_MAX has the empty code; send it to the last (empty) bucket, which stops it at once,
    // and answer it from the view below.
    home[r] = key == UINT64_MAX ? last : mul_hi(code[r], t.home_buckets);
    prefetch(buckets + home[r]);
  };
  for (size_t i = 0; i < count && i < kAhead; ++i) stage(i, i);
  const uint32_t aside = t.has_empty_key ? t.empty_key_value : kAbsent;
  for (size_t i = 0; i < count; ++i) {
    const size_t r = i % kAhead;
    const uint64_t c = code[r];
    uint64_t b = home[r];
    const bool reserved = keys[i] == UINT64_MAX;
    if (i + kAhead < count) stage(i + kAhead, r);
    // The codes ascend and the empty code is the largest, so the bucket whose last code is >= the key's
    // decides: it holds the key or nothing after it does. That is the home bucket but for about 1 lookup
    // in 3 at the maximum load (the home bucket full of smaller codes).
    while (buckets[b].codes[4] < c && b != last) ++b;
    const JoinBucket& bucket = buckets[b];
    const uint32_t hit = match_slots(bucket, _mm256_set1_epi64x(static_cast<long long>(c)), c);
    // No hit reads slot 5, the unused word inside the bucket, and answers all ones (kAbsent), without a
    // branch: hits and misses come in any order.
    const uint32_t value = bucket.values[__builtin_ctz(hit | 0x20)] | (0U - static_cast<uint32_t>(hit == 0));
    out[i] = reserved ? aside : value;
  }
}

size_t lookup_v4(const TreeIndex& index, const uint32_t* starts, const uint32_t* records, size_t n,
                 const uint32_t* addrs, uint32_t* out, size_t count, Fallback fallback, const void* ctx) {
  V4Kernel kernel{index, static_cast<const int32_t*>(index.nodes), starts, records, n, addrs, out};
  return run_pipeline(kernel, count, fallback, ctx);
}

size_t lookup_v6(const TreeIndex& index, const uint64_t* starts, const uint32_t* records, size_t n,
                 const uint64_t* addrs, uint32_t* out, size_t count, Fallback fallback, const void* ctx) {
  const auto* nodes = static_cast<const int64_t*>(index.nodes);
  if (index.wide) {
    V6Kernel<true, false> kernel{index, nodes, starts, records, n, addrs, out};
    return run_pipeline(kernel, count, fallback, ctx);
  }
  V6Kernel<false, false> kernel{index, nodes, starts, records, n, addrs, out};
  return run_pipeline(kernel, count, fallback, ctx);
}

size_t lookup_v6_64(const TreeIndex& index, const uint64_t* starts, const uint32_t* records, size_t n,
                    const uint64_t* addrs, uint32_t* out, size_t count, Fallback fallback, const void* ctx) {
  V6Kernel<false, true> kernel{index, static_cast<const int64_t*>(index.nodes), starts, records, n, addrs,
                               out};
  return run_pipeline(kernel, count, fallback, ctx);
}

}  // namespace enrichd::avx2
