#include "host/geo_table.h"

#include <algorithm>
#include <unordered_map>

#include <fmt/format.h>

#include "host/geo_import.h"

namespace enrichd {
namespace {

// Key arithmetic shared by both families so the gap-filling code is written once.
struct V4Key {
  using type = uint32_t;
  static type of(const IpAddress& ip) { return ip.v4; }
  static constexpr type kMin = 0;
  static bool is_max(type k) { return k == UINT32_MAX; }
  static type next(type k) { return k + 1; }
};
struct V6Key {
  using type = Ipv6;
  static type of(const IpAddress& ip) { return ip.v6; }
  static constexpr type kMin = {0, 0};
  static bool is_max(type k) { return k == kIpv6Max; }
  static type next(type k) { return ipv6_next(k); }
};

// Appends the range (start, record) unless it continues the previous range with the same record.
template <typename K>
void push_range(std::vector<K>& starts, std::vector<uint32_t>& records, K start, uint32_t record) {
  if (!records.empty() && records.back() == record) return;
  starts.push_back(start);
  records.push_back(record);
}

// Where a range came from, for error messages.
struct RangeNamer {
  std::span<const std::string> source_names;
  std::string operator()(const GeoRange& r) const {
    if (r.source >= source_names.size()) return fmt::format("line {}", r.source_line);
    if (r.source_line == 0) return source_names[r.source];
    return fmt::format("{}:{}", source_names[r.source], r.source_line);
  }
};

template <typename Key>
Status fill_gap_free(std::vector<const GeoRange*>& ranges, std::vector<typename Key::type>& starts,
                     std::vector<uint32_t>& records, const RangeNamer& name) {
  std::sort(ranges.begin(), ranges.end(),
            [](const GeoRange* a, const GeoRange* b) { return Key::of(a->first) < Key::of(b->first); });
  typename Key::type cursor = Key::kMin;  // first address not yet covered
  bool covered_to_max = false;
  const GeoRange* previous = nullptr;
  for (const GeoRange* r : ranges) {
    const auto first = Key::of(r->first);
    const auto last = Key::of(r->last);
    if (covered_to_max || (previous != nullptr && first < cursor)) {
      return Status::errorf("the range at {} overlaps the range at {}", name(*r), name(*previous));
    }
    if (cursor < first) push_range(starts, records, cursor, kNoRecord);
    push_range(starts, records, first, r->record);
    if (Key::is_max(last)) {
      covered_to_max = true;
    } else {
      cursor = Key::next(last);
    }
    previous = r;
  }
  if (!covered_to_max) push_range(starts, records, cursor, kNoRecord);
  return Status::ok();
}

// Storage for a table built in memory.
struct OwnedGeoArrays {
  std::vector<uint32_t> v4_starts, v4_records;
  std::vector<uint64_t> v6_starts64;
  std::vector<Ipv6> v6_starts;
  std::vector<uint32_t> v6_records;
  std::vector<GeoRecordEntry> records;
  std::vector<uint32_t> string_offsets{0};
  std::vector<char> string_data;
  std::vector<V4Alias> v4_aliases;
};

// Interns strings into the pool; id 0 is the empty string.
class StringPool {
 public:
  explicit StringPool(OwnedGeoArrays& a) : a_(a) { intern(""); }
  uint32_t intern(const std::string& s) {
    auto [it, inserted] = ids_.try_emplace(s, static_cast<uint32_t>(a_.string_offsets.size() - 1));
    if (inserted) {
      a_.string_data.insert(a_.string_data.end(), s.begin(), s.end());
      a_.string_offsets.push_back(static_cast<uint32_t>(a_.string_data.size()));
    }
    return it->second;
  }

 private:
  OwnedGeoArrays& a_;
  std::unordered_map<std::string, uint32_t> ids_;
};

template <typename T>
bool strictly_increasing(std::span<const T> v) {
  return std::adjacent_find(v.begin(), v.end(), [](const T& a, const T& b) { return !(a < b); }) == v.end();
}

Status check_records(std::span<const uint32_t> ids, size_t record_count, const char* what) {
  for (uint32_t id : ids) {
    if (id != kNoRecord && id >= record_count) {
      return Status::errorf("{} names record {} of {}", what, id, record_count);
    }
  }
  return Status::ok();
}

}  // namespace

std::vector<V4Alias> default_v4_aliases() {
  return {V4Alias{{0, 0x0000ffff00000000ULL}, 96, 0}};
}

GeoTable::GeoTable() : GeoTable(std::move(build({}, {}, default_v4_aliases())).value()) {}

Result<GeoTable> GeoTable::build(std::vector<GeoRange> ranges, std::vector<GeoRecord> records,
                                 std::vector<V4Alias> v4_aliases, std::span<const std::string> source_names) {
  const RangeNamer name{source_names};
  std::vector<const GeoRange*> v4, v6;
  for (const GeoRange& r : ranges) {
    if (r.first.is_v6 != r.last.is_v6) {
      return Status::errorf("{}: range mixes IPv4 and IPv6 addresses", name(r));
    }
    const bool reversed = r.first.is_v6 ? r.last.v6 < r.first.v6 : r.last.v4 < r.first.v4;
    if (reversed) return Status::errorf("{}: range ends before it starts", name(r));
    if (r.record != kNoRecord && r.record >= records.size()) {
      return Status::errorf("{}: record id {} out of range", name(r), r.record);
    }
    (r.first.is_v6 ? v6 : v4).push_back(&r);
  }
  for (const V4Alias& alias : v4_aliases) {
    if (alias.prefix_len > 96) return Status::errorf("IPv4 alias prefix length {} > 96", alias.prefix_len);
  }
  auto owned = std::make_shared<OwnedGeoArrays>();
  OwnedGeoArrays& o = *owned;
  if (Status s = fill_gap_free<V4Key>(v4, o.v4_starts, o.v4_records, name); !s) return s;
  if (Status s = fill_gap_free<V6Key>(v6, o.v6_starts, o.v6_records, name); !s) return s;
  const bool aligned_64 =
      std::all_of(o.v6_starts.begin(), o.v6_starts.end(), [](const Ipv6& a) { return a.lo == 0; });
  if (aligned_64) {
    o.v6_starts64.reserve(o.v6_starts.size());
    for (const Ipv6& a : o.v6_starts) o.v6_starts64.push_back(a.hi);
    o.v6_starts = {};
  }
  StringPool pool(o);
  o.records.reserve(records.size());
  for (const GeoRecord& r : records) {
    o.records.push_back({pool.intern(r.country_code), pool.intern(r.region), pool.intern(r.city),
                         pool.intern(r.postal_code), pool.intern(r.timezone), r.has_location ? 1U : 0U,
                         r.has_location ? r.latitude : 0, r.has_location ? r.longitude : 0});
  }
  o.v4_aliases = std::move(v4_aliases);
  const GeoTableArrays arrays{o.v4_starts, o.v4_records,     o.v6_starts64, o.v6_starts, o.v6_records,
                              o.records,   o.string_offsets, o.string_data, o.v4_aliases};
  return GeoTable(arrays, std::move(owned));
}

Result<GeoTable> GeoTable::adopt(const GeoTableArrays& a, std::shared_ptr<const void> owner) {
  if (a.v4_starts.empty() || a.v4_starts[0] != 0) return Status::error("IPv4 starts do not begin at 0");
  if (a.v4_records.size() != a.v4_starts.size())
    return Status::error("IPv4 starts and records differ in count");
  if (!strictly_increasing(a.v4_starts)) return Status::error("IPv4 starts are not strictly increasing");
  if (!a.v6_starts64.empty() && !a.v6_starts.empty()) return Status::error("both IPv6 key forms are present");
  if (!a.v6_starts64.empty()) {
    if (a.v6_starts64[0] != 0) return Status::error("IPv6 starts do not begin at 0");
    if (!strictly_increasing(a.v6_starts64)) return Status::error("IPv6 starts are not strictly increasing");
  } else {
    if (a.v6_starts.empty() || !(a.v6_starts[0] == Ipv6{0, 0})) {
      return Status::error("IPv6 starts do not begin at 0");
    }
    if (!strictly_increasing(a.v6_starts)) return Status::error("IPv6 starts are not strictly increasing");
  }
  if (a.v6_records.size() != a.v6_starts64.size() + a.v6_starts.size()) {
    return Status::error("IPv6 starts and records differ in count");
  }
  if (Status s = check_records(a.v4_records, a.records.size(), "an IPv4 range"); !s) return s;
  if (Status s = check_records(a.v6_records, a.records.size(), "an IPv6 range"); !s) return s;
  if (a.string_offsets.empty() || a.string_offsets[0] != 0 ||
      a.string_offsets.back() != a.string_data.size() ||
      !std::is_sorted(a.string_offsets.begin(), a.string_offsets.end())) {
    return Status::error("string offsets are out of order or out of bounds");
  }
  const size_t strings = a.string_offsets.size() - 1;
  for (const GeoRecordEntry& r : a.records) {
    for (uint32_t id : {r.country_code, r.region, r.city, r.postal_code, r.timezone}) {
      if (id >= strings) return Status::errorf("a record names string {} of {}", id, strings);
    }
  }
  for (const V4Alias& alias : a.v4_aliases) {
    if (alias.prefix_len > 96) return Status::errorf("IPv4 alias prefix length {} > 96", alias.prefix_len);
  }
  return GeoTable(a, std::move(owner));
}

Result<GeoTable> GeoTable::load_csv(const std::string& path) {
  return load_geo({path});
}

GeoRecordView GeoTable::record(uint32_t id) const {
  const GeoRecordEntry& e = a_.records[id];
  auto str = [&](uint32_t s) {
    return std::string_view(a_.string_data.data() + a_.string_offsets[s],
                            a_.string_offsets[s + 1] - a_.string_offsets[s]);
  };
  return {str(e.country_code), str(e.region), str(e.city), str(e.postal_code),
          str(e.timezone),     e.latitude,    e.longitude, e.has_location != 0};
}

size_t GeoTable::memory_bytes() const {
  return a_.v4_starts.size_bytes() + a_.v4_records.size_bytes() + a_.v6_starts64.size_bytes() +
         a_.v6_starts.size_bytes() + a_.v6_records.size_bytes() + a_.records.size_bytes() +
         a_.string_offsets.size_bytes() + a_.string_data.size_bytes() + a_.v4_aliases.size_bytes();
}

std::string GeoTable::summary() const {
  return fmt::format("{} IPv4 ranges, {} IPv6 ranges ({}-bit keys), {} records, {} IPv4 aliases, {:.1f} MiB",
                     v4_range_count(), v6_range_count(), v6_is_64bit() ? 64 : 128, record_count(),
                     v4_aliases().size(), static_cast<double>(memory_bytes()) / (1 << 20));
}

std::optional<uint32_t> GeoTable::v4_alias_of(const Ipv6& addr) const {
  for (const V4Alias& alias : a_.v4_aliases) {
    const uint32_t n = alias.prefix_len;
    // Compare the top n bits, then take the 32 bits after them.
    const bool hi_match = n >= 64 ? addr.hi == alias.prefix.hi
                                  : (n == 0 || (addr.hi >> (64 - n)) == (alias.prefix.hi >> (64 - n)));
    if (!hi_match) continue;
    if (n > 64 && (addr.lo >> (128 - n)) != (alias.prefix.lo >> (128 - n))) continue;
    if (n <= 32) return static_cast<uint32_t>(addr.hi >> (32 - n));
    if (n < 64) return static_cast<uint32_t>((addr.hi << (n - 32)) | (addr.lo >> (96 - n)));
    return static_cast<uint32_t>(addr.lo >> (96 - n));
  }
  return std::nullopt;
}

}  // namespace enrichd
