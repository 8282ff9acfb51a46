#include "bench/bench_data.h"

#include "pipeline/synthetic_data.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace enrichd::bench {
namespace {

// `n` distinct values from `draw`, sorted.
template <typename Draw>
std::vector<uint64_t> distinct_sorted(size_t n, Draw&& draw) {
  std::vector<uint64_t> v;
  v.reserve(n);
  while (v.size() < n) {
    const size_t deficit = n - v.size();
    for (size_t i = 0; i < deficit; ++i) v.push_back(draw());
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
  }
  return v;
}

std::vector<GeoRecord> make_records(const GeoTableSpec& spec, SplitMix64& rng) {
  std::vector<GeoRecord> records(spec.records);
  if (!spec.realistic_records) return records;
  for (size_t i = 0; i < records.size(); ++i) {
    const SyntheticPlace& c = kSyntheticPlaces[i % kSyntheticPlaces.size()];
    GeoRecord& r = records[i];
    r.country_code = c.country;
    r.timezone = c.timezone;
    if (rng.chance(0.1)) continue;  // a country-only record, as GeoLite2 has many of
    r.region = c.region;
    r.city = c.city;
    r.has_location = true;
    // Four decimals at most, like GeoLite2 (a value parsed from short text prints short again).
    r.latitude = std::round((c.lat - 1.0) * 1e4 + static_cast<double>(rng.below(20001))) / 1e4;
    r.longitude = std::round((c.lon - 1.0) * 1e4 + static_cast<double>(rng.below(20001))) / 1e4;
  }
  return records;
}

uint32_t pick_record(const GeoTableSpec& spec, SplitMix64& rng) {
  if (spec.records == 0 || rng.chance(spec.gap_fraction)) return kNoRecord;
  return static_cast<uint32_t>(rng.below(spec.records));
}

constexpr uint64_t kV6Low = 0x2000000000000000ULL;  // 2000::/3 in the high 64 bits
constexpr uint64_t kV6Span = 0x2000000000000000ULL;

IpAddress v4_ip(uint32_t v) {
  IpAddress ip;
  ip.v4 = v;
  return ip;
}
IpAddress v6_ip(Ipv6 a) {
  IpAddress ip;
  ip.is_v6 = true;
  ip.v6 = a;
  return ip;
}
IpAddress v6_ip(uint64_t hi, uint64_t lo) {
  return v6_ip(Ipv6{hi, lo});
}

}  // namespace

GeoTable make_geo_table(const GeoTableSpec& spec) {
  SplitMix64 rng(spec.seed);
  std::vector<GeoRange> ranges;
  ranges.reserve(spec.v4_ranges + spec.v6_ranges);

  if (spec.v4_ranges > 0) {
    // Range i is [starts[i], starts[i+1]); starts[0] = 0 and the last one runs to 255.255.255.255, so the
    // gap-free table has exactly v4_ranges entries.
    std::vector<uint64_t> starts =
        distinct_sorted(spec.v4_ranges - 1, [&] { return 1 + rng.below(UINT32_MAX); });
    starts.insert(starts.begin(), 0);
    for (size_t i = 0; i < starts.size(); ++i) {
      const uint64_t end = i + 1 < starts.size() ? starts[i + 1] - 1 : UINT32_MAX;
      ranges.push_back({v4_ip(static_cast<uint32_t>(starts[i])), v4_ip(static_cast<uint32_t>(end)),
                        pick_record(spec, rng), ranges.size() + 1});
    }
  }
  if (spec.v6_ranges > 0) {
    // /64-aligned bounds: range i is [b[i]::, b[i+1]::) in the high 64 bits; with v6_low_bits each bound
    // b[i] also gets random low bits l[i] (distinct hi words keep the bounds distinct and sorted).
    std::vector<uint64_t> bounds =
        distinct_sorted(spec.v6_ranges + 1, [&] { return kV6Low + rng.below(kV6Span); });
    std::vector<uint64_t> low(bounds.size(), 0);
    if (spec.v6_low_bits) {
      for (uint64_t& l : low) l = rng.next() | 1;  // never 0, so no bound is /64-aligned
    }
    for (size_t i = 0; i + 1 < bounds.size(); ++i) {
      ranges.push_back({v6_ip(bounds[i], low[i]), v6_ip(ipv6_prev({bounds[i + 1], low[i + 1]})),
                        pick_record(spec, rng), ranges.size() + 1});
    }
  }
  auto table = GeoTable::build(std::move(ranges), make_records(spec, rng));
  if (!table) {
    fmt::print(stderr, "bench: GeoTable::build failed: {}\n", table.status().message());
    std::abort();
  }
  return std::move(table).value();
}

std::vector<uint32_t> random_v4_addrs(size_t n, uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<uint32_t> v(n);
  for (uint32_t& a : v) a = static_cast<uint32_t>(rng.next() >> 32);
  return v;
}

std::vector<Ipv6> random_v6_addrs(size_t n, uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<Ipv6> v(n);
  for (Ipv6& a : v) {
    a.hi = kV6Low + rng.below(kV6Span);
    a.lo = rng.next();
  }
  return v;
}

std::vector<IpAddress> addresses_in_ranges(const GeoTable& table, bool v6, size_t n, uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<IpAddress> out;
  const GeoTableView v = table.view();
  const size_t ranges = v6 ? v.v6_records.size() : v.v4_starts.size();
  if (ranges == 0) return out;
  out.reserve(n);
  while (out.size() < n) {
    const size_t i = rng.below(ranges);
    if (!v6) {
      const uint64_t end = i + 1 < ranges ? v.v4_starts[i + 1] : (uint64_t{1} << 32);
      out.push_back(v4_ip(static_cast<uint32_t>(v.v4_starts[i] + rng.below(end - v.v4_starts[i]))));
    } else if (!v.v6_starts64.empty()) {
      out.push_back(v6_ip(v.v6_starts64[i], rng.next()));
    } else {
      out.push_back(v6_ip(v.v6_starts[i]));
    }
  }
  return out;
}

CategoryTable make_category_table(const CategoryKeys& keys, size_t size, uint32_t categories,
                                  bool with_names) {
  CategoryTable table;
  for (size_t i = 0; i < size; ++i) {
    // A fixed category per key, so a key can be re-derived and checked.
    const auto category = static_cast<uint32_t>(hash_key(keys.key(i)) % categories);
    if (Status s = table.insert(keys.key(i), category); !s) {
      fmt::print(stderr, "bench: CategoryTable::insert failed: {}\n", s.message());
      std::abort();
    }
  }
  if (with_names) {
    for (uint32_t c = 0; c < categories; ++c) table.set_name(c, fmt::format("category_{:04}_home_decor", c));
  }
  table.shrink_to_fit();  // as the loaders leave it: at the maximum load
  return table;
}

std::vector<uint64_t> make_probe_keys(const CategoryTable& table, const CategoryKeys& keys, size_t size,
                                      size_t n, double hit_rate, uint64_t seed) {
  SplitMix64 rng(seed);
  std::vector<uint64_t> probes(n);
  for (uint64_t& k : probes) {
    if (rng.chance(hit_rate)) {
      k = keys.key(rng.below(size));
    } else {
      // A key outside the table: redraw in the (astronomically unlikely) case of a collision.
      do {
        k = rng.next();
      } while (k == CategoryTableView::kEmptyKey || table.find(k) != kNoRecord);
    }
  }
  return probes;
}

std::vector<uint64_t> table_keys(const CategoryTable& table) {
  const CategoryTableView view = table.view();
  std::vector<uint64_t> keys;
  keys.reserve(table.size());
  for (const CategoryBucket& bucket : view.buckets) {
    for (int s = 0; s < CategoryBucket::kSlots; ++s) {
      if (bucket.values[s] != kNoRecord) keys.push_back(category_key(bucket.codes[s]));
    }
  }
  if (view.has_empty_key) keys.push_back(CategoryTableView::kEmptyKey);
  return keys;
}

RawBatch make_events(const EventSpec& spec) {
  static constexpr std::array<std::string_view, 5> kActions = {"click", "save", "closeup", "impression",
                                                               "hide"};
  static constexpr std::array<std::string_view, 3> kApps = {"ios", "android", "web"};
  static constexpr std::array<std::string_view, 6> kUserAgents = {
      "Pinterest/12.3 (iPhone15,2; iOS 17.1)",    "Pinterest/11.9.2 (Pixel 8; Android 14)",
      "Mozilla/5.0 (Windows NT 10.0) Chrome/120", "Mozilla/5.0 (Macintosh) Safari/605.1",
      "Pinterest/11.8 (SM-S918B; Android 13)",    "Mozilla/5.0 (X11; Linux) Firefox/121",
  };
  SplitMix64 rng(spec.seed);
  RawBatch raw;
  std::string json;
  SplitMix64 miss_rng(spec.seed ^ 0x5bd1e995);
  for (size_t n = 0; n < spec.count; ++n) {
    const size_t i = spec.first + n;
    std::string ip;
    if (rng.chance(spec.v6_fraction)) {
      ip = !spec.v6_addrs.empty() ? format_ip(spec.v6_addrs[rng.below(spec.v6_addrs.size())])
                                  : format_ipv6({kV6Low + rng.below(kV6Span), rng.next()});
    } else {
      ip = !spec.v4_addrs.empty() ? format_ip(spec.v4_addrs[rng.below(spec.v4_addrs.size())])
                                  : format_ipv4(static_cast<uint32_t>(rng.next() >> 32));
    }
    // Pin ids: a table key, or an 18-digit id from another stream (absent from the table but for a
    // one-in-1e12 chance; checked when the table is given).
    uint64_t pin = 0;
    if (rng.chance(spec.pin_hit_rate)) {
      pin = !spec.pin_keys.empty() ? spec.pin_keys[rng.below(spec.pin_keys.size())]
                                   : spec.pins.key(rng.below(spec.pin_universe));
    } else {
      do {
        pin = CategoryKeys::kMin + miss_rng.below(CategoryKeys::kSpan);
      } while (spec.pin_table != nullptr && spec.pin_table->find(pin) != kNoRecord);
    }
    json.clear();
    fmt::format_to(std::back_inserter(json),
                   R"({{"event_id":{},"ts":{},"user_id":{},"pin_id":{},"action":"{}","ip":"{}","app":"{}",)"
                   R"("ua":"{}"}})",
                   1000000000000ULL + i, 1700000000000LL + static_cast<int64_t>(i) * 13,
                   rng.below(2000000000), pin, kActions[rng.below(kActions.size())], ip,
                   kApps[rng.below(kApps.size())], kUserAgents[rng.below(kUserAgents.size())]);
    raw.add(json, {static_cast<int32_t>(i % 8), static_cast<int64_t>(i / 8)});
  }
  return raw;
}

}  // namespace enrichd::bench
