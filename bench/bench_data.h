// Deterministic synthetic data for the micro-benchmarks: geo tables, category tables, addresses, join keys
// and engagement events. Every generator takes a seed and gives the same data on every run and platform
// (its own SplitMix64, not <random>'s implementation-defined distributions).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "host/category_table.h"
#include "host/event_batch.h"
#include "host/geo_table.h"
#include "host/raw_batch.h"
#include "kernels/backend.h"

namespace enrichd::bench {

// Queries per kernel call, and events per parse/encode batch.
inline constexpr size_t kBatchSize = 64 * 1024;

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    return hash_key(state_);  // splitmix64's finaliser
  }
  // Uniform in [0, n) (n > 0; the modulo bias is negligible for the n used here).
  uint64_t below(uint64_t n) { return next() % n; }
  // True with probability `p`.
  bool chance(double p) { return static_cast<double>(next() >> 11) * 0x1.0p-53 < p; }

 private:
  uint64_t state_;
};

struct GeoTableSpec {
  size_t v4_ranges = 0;  // the IPv4 table has exactly this many entries (gaps included), all of 0..2^32-1
  size_t v6_ranges = 0;  // IPv6 ranges with /64-aligned bounds inside 2000::/3 (plus the two outer gaps)
  // Give the IPv6 bounds random low 64 bits: the table then keeps 128-bit starts (GeoTableView::v6_starts)
  // instead of the 64-bit hi words that /64-aligned tables such as GeoLite2-City get.
  bool v6_low_bits = false;
  size_t records = 1000;
  double gap_fraction = 0.1;      // share of ranges that map to kNoRecord
  bool realistic_records = true;  // country/region/city/lat/lon/timezone text; else empty records
  uint64_t seed = 1;
};
GeoTable make_geo_table(const GeoTableSpec& spec);

// Uniform over the whole IPv4 space.
std::vector<uint32_t> random_v4_addrs(size_t n, uint64_t seed);
// Uniform over 2000::/3, where make_geo_table puts its IPv6 ranges.
std::vector<Ipv6> random_v6_addrs(size_t n, uint64_t seed);
// Addresses that mostly hit, as real traffic does on a real table: a range of `table` picked uniformly
// (gap ranges included), then a random address inside it (for the 64-bit IPv6 form, a random low half).
// Empty when the table has no range of that family.
std::vector<IpAddress> addresses_in_ranges(const GeoTable& table, bool v6, size_t n, uint64_t seed);

// The join keys of a category table of `size` keys: key(i) for i in [0, size), 18-digit numbers spread
// over [1e17, 1e18) like real pin ids.
struct CategoryKeys {
  static constexpr uint64_t kMin = 100000000000000000ULL;
  static constexpr uint64_t kSpan = 900000000000000000ULL;
  uint64_t seed = 1;
  uint64_t key(uint64_t i) const { return kMin + hash_key(seed * 0x9e3779b97f4a7c15ULL + i) % kSpan; }
};
CategoryTable make_category_table(const CategoryKeys& keys, size_t size, uint32_t categories,
                                  bool with_names);
// `n` probe keys of which about `hit_rate` are in the table (the others are checked to be absent).
std::vector<uint64_t> make_probe_keys(const CategoryTable& table, const CategoryKeys& keys, size_t size,
                                      size_t n, double hit_rate, uint64_t seed);
// Every key of `table`, in slot order.
std::vector<uint64_t> table_keys(const CategoryTable& table);

// Synthetic engagement events, about 190 bytes each:
// {"event_id":..,"ts":..,"user_id":..,"pin_id":..,"action":"..","ip":"..","app":"..","ua":".."}.
// About 90% IPv4 (uniform) and 10% IPv6 (in 2000::/3); pin ids come from `pins` for `pin_hit_rate` of
// events (pin_universe keys), other ids are absent from any table built from the same `pins`.
// Event i (from 0) has event_id 1e12 + first + i and position (partition (first + i) % 8, offset
// (first + i) / 8), so that consecutive calls with `first` advanced by `count` continue one stream.
struct EventSpec {
  size_t count = kBatchSize;
  double v6_fraction = 0.1;
  CategoryKeys pins;
  size_t pin_universe = 100000;
  double pin_hit_rate = 0.8;
  uint64_t seed = 1;
  size_t first = 0;
  // When not empty, addresses of the family are drawn from these (e.g. addresses_in_ranges of a real
  // table) instead of uniformly, and table hits from `pin_keys` instead of `pins` (e.g. table_keys of a
  // table read from CSV; misses are then ids the table is checked not to hold).
  std::span<const IpAddress> v4_addrs{};
  std::span<const IpAddress> v6_addrs{};
  std::span<const uint64_t> pin_keys{};
  const CategoryTable* pin_table = nullptr;  // with pin_keys: the table misses are checked against
};
RawBatch make_events(const EventSpec& spec);

}  // namespace enrichd::bench
