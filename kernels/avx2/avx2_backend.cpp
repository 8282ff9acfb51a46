// The AVX2 backend's baseline half: the search-tree builder, the per-view cache and the Status plumbing.
// Compiled for baseline x86-64 like the rest of the binary; the AVX2 instructions are all in
// avx2_kernels.cpp.
#include "kernels/avx2/avx2_backend.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "kernels/avx2/avx2_kernels.h"
#include "kernels/scalar/scalar_backend.h"

namespace enrichd {

// The join kernel reads the view's buckets as its own POD copy of CategoryBucket.
static_assert(sizeof(avx2::JoinBucket) == sizeof(CategoryBucket) &&
                  alignof(avx2::JoinBucket) == alignof(CategoryBucket) &&
                  offsetof(avx2::JoinBucket, codes) == offsetof(CategoryBucket, codes) &&
                  offsetof(avx2::JoinBucket, values) == offsetof(CategoryBucket, values) &&
                  std::is_trivially_copyable_v<CategoryBucket>,
              "avx2::JoinBucket must be laid out like CategoryBucket");
static_assert(CategoryBucket::kSlots == 5 && CategoryTableView::kEmptyCode == UINT64_MAX &&
              kNoRecord == UINT32_MAX);

static_assert(sizeof(Ipv6) == 2 * sizeof(uint64_t) && std::is_standard_layout_v<Ipv6> &&
                  offsetof(Ipv6, hi) == 0 && offsetof(Ipv6, lo) == sizeof(uint64_t),
              "the v6 kernel reads Ipv6 arrays as {hi, lo} uint64 pairs");

namespace {

struct alignas(64) CacheLine {
  unsigned char bytes[64];
};

Status check_sizes(size_t in, size_t out) {
  if (in != out) return Status::errorf("backend: {} inputs but room for {} outputs", in, out);
  return Status::ok();
}

// The layers of a static search tree over m fence keys with B keys per node and B+1 children: the layer
// at height h (0 = bottom) has ceil(m / (B * (B+1)^h)) nodes; the root layer has one. Root first.
struct LayerPlan {
  std::vector<uint32_t> begin;  // first node of each layer
  std::vector<uint32_t> nodes;  // node count of each layer
  std::vector<uint64_t> span;   // fence keys under one node of each layer: B * (B+1)^h
  uint64_t total = 0;
};

LayerPlan plan_layers(uint64_t m, uint64_t b) {
  LayerPlan plan;
  if (m == 0) return plan;
  for (uint64_t span = b;; span *= b + 1) {
    const uint64_t count = (m + span - 1) / span;
    plan.nodes.push_back(static_cast<uint32_t>(count));
    plan.span.push_back(span);
    if (count == 1) break;
  }
  std::reverse(plan.nodes.begin(), plan.nodes.end());
  std::reverse(plan.span.begin(), plan.span.end());
  for (uint32_t count : plan.nodes) {
    plan.begin.push_back(static_cast<uint32_t>(plan.total));
    plan.total += count;
  }
  return plan;
}

// Slot t of node k in layer l holds the fence key that starts child t+1 (the bottom layer holds the
// fence keys themselves): its index, or m when that child does not exist (the slot is padding).
uint64_t slot_fence(const LayerPlan& plan, size_t l, uint64_t k, uint64_t t, uint64_t b, uint64_t m) {
  const bool bottom = l + 1 == plan.nodes.size();
  const uint64_t idx = bottom ? b * k + t : plan.span[l + 1] * ((b + 1) * k + t + 1);
  return std::min(idx, m);
}

}  // namespace

struct Avx2Backend::Index {
  const void* starts = nullptr;  // the view this was built for
  size_t n = 0;
  std::vector<CacheLine> lines;
  LayerPlan plan;
  std::vector<uint16_t> jump;
  avx2::TreeIndex tree;
};

namespace {

// Leaf block b >= 1 of a sorted array starts at b * block - mis, so that it begins a block-aligned run
// of memory; fence key i is the first key of block i+1.
uint64_t misalignment(const void* p, size_t elem_size, uint64_t block) {
  return (reinterpret_cast<uintptr_t>(p) / elem_size) % block;
}

uint64_t fence_count(uint64_t n, uint64_t mis, uint64_t block) {
  return (n + mis + block - 1) / block - 1;
}

// The jump table (see avx2::TreeIndex): 2^14 buckets (32 KiB) over [first fence, key_max] by the top bits
// of the key's hi word, each naming its node in the deepest layer that has at most 1/8 as many nodes as
// there are buckets, so that at most 1 bucket in 8 spans a node boundary and needs a walk (from the
// deepest layer where it spans one node).
// (2^12 to 2^18 buckets and 1/4 to 1/32 measured; this was fastest for both families.)
// `fence(i)` gives fence key i as an Ipv6 (v4 keys as {key, 0}).
constexpr int kJumpBits = 14;
constexpr uint64_t kJumpDensity = 8;
constexpr uint64_t kJumpMaxWalking = 4;  // no table when more than 1/4 of the fences are in walking buckets

template <typename Fence>
void build_jump(Avx2Backend::Index& ix, uint64_t m, uint64_t key_max, Fence fence) {
  constexpr uint64_t kBuckets = uint64_t{1} << kJumpBits;
  const LayerPlan& plan = ix.plan;
  size_t top = 0;
  for (size_t l = 1; l < plan.nodes.size(); ++l) {
    if (plan.nodes[l] <= kBuckets / kJumpDensity) top = l;
  }
  if (top == 0) return;
  // Walk starts above `top` fit their fields: fewer than 2^11 nodes, fewer than 16 layers.
  // Plain jump entries hold a node number in kJumpLayerShift bits.
  static_assert(kBuckets / kJumpDensity <= (1U << avx2::kJumpLayerShift));
  if (top >= 16 || plan.nodes[top - 1] >= (1U << avx2::kJumpLayerShift)) return;
  // x's node in layer l is the number of that layer's nodes after the first whose smallest key is <= x.
  std::vector<std::vector<Ipv6>> bounds(top + 1);
  for (size_t l = 0; l <= top; ++l) {
    for (uint64_t c = 1; c < plan.nodes[l]; ++c) bounds[l].push_back(fence(plan.span[l] * c));
  }
  auto node_of = [&](size_t l, const Ipv6& x) {
    return static_cast<uint64_t>(std::upper_bound(bounds[l].begin(), bounds[l].end(), x) - bounds[l].begin());
  };
  const uint64_t base = fence(0).hi;
  const uint64_t range = fence(m - 1).hi - base;
  uint32_t shift = 0;
  while ((range >> shift) >= kBuckets) ++shift;
  // Fence keys <= x: a bucket's share of the fences stands for its share of the queries (traffic goes
  // where the ranges are dense).
  auto fences_le = [&](const Ipv6& x) {
    uint64_t lo = 0, len = m;
    while (len > 0) {
      const uint64_t half = len / 2;
      if (fence(lo + half) <= x) {
        lo += half + 1;
        len -= half + 1;
      } else {
        len = half;
      }
    }
    return lo;
  };
  uint64_t walking = 0, counted = 0;
  ix.jump.assign(kBuckets, avx2::kJumpWalk);  // buckets no key reaches: walk from the root
  for (uint64_t b = 0; b < kBuckets; ++b) {
    // Bucket b holds the keys whose hi word is in [base + b << shift, base + (b+1) << shift), the first
    // bucket also those below and the last those above.
    const uint64_t offset = b << shift;
    if (offset > key_max - base) break;  // no key reaches this bucket or any after it
    const Ipv6 lo{b == 0 ? 0 : base + offset, 0};
    const bool to_end = b + 1 == kBuckets || ((b + 1) << shift) - 1 >= key_max - base;
    const Ipv6 hi{to_end ? key_max : base + ((b + 1) << shift) - 1, UINT64_MAX};
    size_t l = top;
    while (l > 0 && node_of(l, lo) != node_of(l, hi)) --l;
    const uint64_t node = node_of(l, lo);
    ix.jump[b] = static_cast<uint16_t>(l == top ? node : avx2::kJumpWalk | l << avx2::kJumpLayerShift | node);
    const uint64_t upto = fences_le(hi);
    if (l != top) walking += upto - counted;
    counted = upto;
  }
  // Where most fences sit in buckets that span several nodes (a lumpy table: most ranges in a few dense
  // prefixes), the table costs more than it saves; measured on such tables: IPv4 -20%, IPv6 -10%.
  if (walking * kJumpMaxWalking > m) {
    ix.jump.clear();
    return;
  }
  ix.tree.jump = ix.jump.data();
  ix.tree.jump_layer = static_cast<uint32_t>(top);
  ix.tree.jump_shift = shift;
  ix.tree.jump_base = base;
  ix.tree.jump_last = kBuckets - 1;
}

std::shared_ptr<Avx2Backend::Index> build_v4(const uint32_t* s, size_t n) {
  auto ix = std::make_shared<Avx2Backend::Index>();
  constexpr uint64_t kB = avx2::kV4NodeKeys;
  const uint64_t mis = misalignment(s, sizeof(uint32_t), avx2::kV4Block);
  const uint64_t m = fence_count(n, mis, avx2::kV4Block);
  ix->plan = plan_layers(m, kB);
  ix->lines.resize(ix->plan.total);  // one 16-key node per line
  for (size_t l = 0; l < ix->plan.nodes.size(); ++l) {
    for (uint64_t k = 0; k < ix->plan.nodes[l]; ++k) {
      int32_t keys[kB];
      for (uint64_t t = 0; t < kB; ++t) {
        const uint64_t f = slot_fence(ix->plan, l, k, t, kB, m);
        const uint32_t key = f < m ? s[(f + 1) * avx2::kV4Block - mis] : UINT32_MAX;
        keys[t] = static_cast<int32_t>(key ^ 0x80000000U);
      }
      std::memcpy(ix->lines[ix->plan.begin[l] + k].bytes, keys, sizeof keys);
    }
  }
  ix->tree.fences = m;
  ix->tree.mis = mis;
  if (m > 0) {
    build_jump(*ix, m, UINT32_MAX, [&](uint64_t f) { return Ipv6{s[(f + 1) * avx2::kV4Block - mis], 0}; });
  }
  return ix;
}

// A v6 tree over m fence keys, `fence(f)` giving fence key f as an Ipv6 (either form of the starts).
template <typename Fence>
std::shared_ptr<Avx2Backend::Index> build_v6_tree(uint64_t m, uint64_t mis, Fence fence) {
  auto ix = std::make_shared<Avx2Backend::Index>();
  constexpr uint64_t kB = avx2::kV6NodeKeys;
  // Narrow nodes (hi words only) order the fences exactly when none has low bits: true of /64-aligned
  // tables such as GeoLite2-City, and always of the 64-bit form.
  bool wide = false;
  for (uint64_t f = 0; f < m && !wide; ++f) wide = fence(f).lo != 0;
  ix->plan = plan_layers(m, kB);
  const size_t lines_per_node = wide ? 2 : 1;
  ix->lines.resize(ix->plan.total * lines_per_node);
  constexpr uint64_t kFlip = 0x8000000000000000ULL;
  for (size_t l = 0; l < ix->plan.nodes.size(); ++l) {
    for (uint64_t k = 0; k < ix->plan.nodes[l]; ++k) {
      int64_t keys[2 * kB];
      for (uint64_t t = 0; t < kB; ++t) {
        const uint64_t f = slot_fence(ix->plan, l, k, t, kB, m);
        const Ipv6 key = f < m ? fence(f) : Ipv6{UINT64_MAX, UINT64_MAX};
        keys[t] = static_cast<int64_t>(key.hi ^ kFlip);
        keys[kB + t] = static_cast<int64_t>(key.lo ^ kFlip);
      }
      std::memcpy(ix->lines[(ix->plan.begin[l] + k) * lines_per_node].bytes, keys,
                  lines_per_node * sizeof(CacheLine));
    }
  }
  ix->tree.fences = m;
  ix->tree.mis = mis;
  ix->tree.wide = wide;
  if (m > 0) build_jump(*ix, m, UINT64_MAX, fence);
  return ix;
}

std::shared_ptr<Avx2Backend::Index> build_v6(const Ipv6* s, size_t n) {
  const uint64_t mis = misalignment(s, sizeof(Ipv6), avx2::kV6Block);
  const uint64_t m = fence_count(n, mis, avx2::kV6Block);
  return build_v6_tree(m, mis, [&](uint64_t f) { return s[(f + 1) * avx2::kV6Block - mis]; });
}

// The 64-bit form: the same tree as a /64-aligned 128-bit table (narrow nodes), but leaf blocks of 8 hi
// words, so a block is one cache line instead of two.
std::shared_ptr<Avx2Backend::Index> build_v6_64(const uint64_t* s, size_t n) {
  const uint64_t mis = misalignment(s, sizeof(uint64_t), avx2::kV6x64Block);
  const uint64_t m = fence_count(n, mis, avx2::kV6x64Block);
  return build_v6_tree(m, mis, [&](uint64_t f) { return Ipv6{s[(f + 1) * avx2::kV6x64Block - mis], 0}; });
}

}  // namespace

Avx2Backend::Avx2Backend() = default;
Avx2Backend::~Avx2Backend() = default;

std::shared_ptr<const Avx2Backend::Index> Avx2Backend::index_for(std::shared_ptr<const Index>& cached,
                                                                 const void* starts, size_t n, Form form) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (cached && cached->starts == starts && cached->n == n) return cached;
  std::shared_ptr<Index> ix;
  switch (form) {
    case Form::kV4:
      ix = build_v4(static_cast<const uint32_t*>(starts), n);
      break;
    case Form::kV6:
      ix = build_v6(static_cast<const Ipv6*>(starts), n);
      break;
    case Form::kV6x64:
      ix = build_v6_64(static_cast<const uint64_t*>(starts), n);
      break;
  }
  tree_builds_.fetch_add(1, std::memory_order_relaxed);
  ix->starts = starts;
  ix->n = n;
  ix->tree.nodes = ix->lines.data();
  ix->tree.layer_begin = ix->plan.begin.data();
  ix->tree.layer_nodes = ix->plan.nodes.data();
  ix->tree.layers = static_cast<uint32_t>(ix->plan.nodes.size());
  cached = std::move(ix);
  return cached;
}

void Avx2Backend::forget(std::shared_ptr<const Index>& cached, const std::shared_ptr<const Index>& stale) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (cached == stale) cached.reset();
}

Status Avx2Backend::geo_lookup_v4(const GeoTableView& table, std::span<const uint32_t> addrs,
                                  std::span<uint32_t> records) {
  if (Status s = check_sizes(addrs.size(), records.size()); !s) return s;
  if (addrs.empty()) return Status::ok();
  if (table.v4_starts.empty()) {
    std::fill(records.begin(), records.end(), kNoRecord);
    return Status::ok();
  }
  const auto ix = index_for(v4_, table.v4_starts.data(), table.v4_starts.size(), Form::kV4);
  // The kernel's fallback: the scalar search (the reference), for answers the tree could not confirm.
  const size_t fallbacks = avx2::lookup_v4(
      ix->tree, table.v4_starts.data(), table.v4_records.data(), table.v4_starts.size(), addrs.data(),
      records.data(), addrs.size(),
      [](const void* view, const void* key) {
        return scalar_geo_lookup_v4(*static_cast<const GeoTableView*>(view),
                                    *static_cast<const uint32_t*>(key));
      },
      &table);
  if (fallbacks != 0) {
    fallbacks_.fetch_add(fallbacks, std::memory_order_relaxed);
    forget(v4_, ix);
  }
  return Status::ok();
}

Status Avx2Backend::geo_lookup_v6(const GeoTableView& table, std::span<const Ipv6> addrs,
                                  std::span<uint32_t> records) {
  if (Status s = check_sizes(addrs.size(), records.size()); !s) return s;
  if (addrs.empty()) return Status::ok();
  // The kernels' fallback, as for v4; the key is the kernel's {hi, lo} copy of the query.
  const avx2::Fallback fallback = [](const void* view, const void* key) {
    const auto* words = static_cast<const uint64_t*>(key);
    return scalar_geo_lookup_v6(*static_cast<const GeoTableView*>(view), Ipv6{words[0], words[1]});
  };
  if (!table.v6_starts64.empty()) {
    // The 64-bit form (every boundary /64-aligned). Its tree has its own cache slot: a 128-bit tree
    // found at the same address and size would describe a different array layout.
    const auto ix = index_for(v6_64_, table.v6_starts64.data(), table.v6_starts64.size(), Form::kV6x64);
    const size_t fallbacks = avx2::lookup_v6_64(ix->tree, table.v6_starts64.data(), table.v6_records.data(),
                                                table.v6_starts64.size(), &addrs.data()->hi, records.data(),
                                                addrs.size(), fallback, &table);
    if (fallbacks != 0) {
      fallbacks_.fetch_add(fallbacks, std::memory_order_relaxed);
      forget(v6_64_, ix);
    }
    return Status::ok();
  }
  if (table.v6_starts.empty()) {
    std::fill(records.begin(), records.end(), kNoRecord);
    return Status::ok();
  }
  const auto ix = index_for(v6_, table.v6_starts.data(), table.v6_starts.size(), Form::kV6);
  const size_t fallbacks =
      avx2::lookup_v6(ix->tree, &table.v6_starts.data()->hi, table.v6_records.data(), table.v6_starts.size(),
                      &addrs.data()->hi, records.data(), addrs.size(), fallback, &table);
  if (fallbacks != 0) {
    fallbacks_.fetch_add(fallbacks, std::memory_order_relaxed);
    forget(v6_, ix);
  }
  return Status::ok();
}

Status Avx2Backend::category_join(const CategoryTableView& table, std::span<const uint64_t> keys,
                                  std::span<uint32_t> values) {
  if (Status s = check_sizes(keys.size(), values.size()); !s) return s;
  const size_t n = keys.size();
  if (table.buckets.empty()) {
    for (size_t i = 0; i < n; ++i) values[i] = scalar_category_lookup(table, keys[i]);
    return Status::ok();
  }
  avx2::JoinTable t;
  t.buckets = reinterpret_cast<const avx2::JoinBucket*>(table.buckets.data());
  t.bucket_count = table.buckets.size();
  t.home_buckets = table.home_buckets;
  t.has_empty_key = table.has_empty_key;
  t.empty_key_value = table.empty_key_value;
  avx2::category_join(t, keys.data(), values.data(), n);
  return Status::ok();
}

}  // namespace enrichd
