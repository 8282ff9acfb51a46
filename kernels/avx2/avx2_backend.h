// The AVX2 backend: batched, prefetching lookups that give exactly the scalar answers. Only construct
// it on a CPU with AVX2, BMI2 and POPCNT (the registry checks CPUID); this header and avx2_backend.cpp
// are baseline x86-64, the AVX2 code is in avx2_kernels.cpp.
//
// Geo lookups walk a static search tree (S+ tree, cache-line nodes, plus a jump table over the top key
// bits) over the view's range starts; see avx2_kernels.h. A view only brings spans, so the backend builds
// that tree itself on first use and keeps one per form of starts array (IPv4, IPv6 128-bit pairs, IPv6
// 64-bit hi words), keyed on the array's address and size, rebuilding when either changes (a table
// reload: a few ms for GeoLite2 sizes). Every answer is checked against the view's own array, so a
// reload that reuses the same address and size cannot give a wrong answer: the failed checks fall back
// to the scalar search and drop the stale tree. A tree takes about 1/15 of its starts array (1/7 for
// IPv6 fences with low bits set, and for the 64-bit form, whose starts are half as big) plus a 32 KiB
// jump table. The category join needs no auxiliary data: it probes the view's own buckets (batched, with
// the home buckets prefetched; avx2_kernels.h). Safe to share between threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>

#include "kernels/backend.h"

namespace enrichd {

class Avx2Backend final : public EnrichBackend {
 public:
  Avx2Backend();
  ~Avx2Backend() override;
  std::string_view name() const override { return "avx2"; }
  Status geo_lookup_v4(const GeoTableView& table, std::span<const uint32_t> addrs,
                       std::span<uint32_t> records) override;
  Status geo_lookup_v6(const GeoTableView& table, std::span<const Ipv6> addrs,
                       std::span<uint32_t> records) override;
  Status category_join(const CategoryTableView& table, std::span<const uint64_t> keys,
                       std::span<uint32_t> values) override;

  // Counters for tests and metrics. A fallback is an answer the search tree got wrong and the scalar
  // search redid: it happens only after a table was rewritten at the same address and size.
  struct Stats {
    uint64_t tree_builds = 0;
    uint64_t fallbacks = 0;
  };
  Stats stats() const { return {tree_builds_.load(), fallbacks_.load()}; }

  struct Index;  // a built search tree (avx2_backend.cpp)

 private:
  // Which starts array a tree is built over: v4, v6 {hi, lo} pairs, or v6 hi words (the 64-bit form).
  enum class Form { kV4, kV6, kV6x64 };
  std::shared_ptr<const Index> index_for(std::shared_ptr<const Index>& cached, const void* starts, size_t n,
                                         Form form);
  void forget(std::shared_ptr<const Index>& cached, const std::shared_ptr<const Index>& stale);

  std::mutex mutex_;
  std::shared_ptr<const Index> v4_;
  std::shared_ptr<const Index> v6_;     // over v6_starts
  std::shared_ptr<const Index> v6_64_;  // over v6_starts64
  std::atomic<uint64_t> tree_builds_{0};
  std::atomic<uint64_t> fallbacks_{0};
};

}  // namespace enrichd
