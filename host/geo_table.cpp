#include "host/geo_table.h"

#include <algorithm>

#include "host/csv.h"

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

template <typename Key>
Status fill_gap_free(std::vector<const GeoRange*>& ranges, std::vector<typename Key::type>& starts,
                     std::vector<uint32_t>& records) {
  std::sort(ranges.begin(), ranges.end(),
            [](const GeoRange* a, const GeoRange* b) { return Key::of(a->first) < Key::of(b->first); });
  typename Key::type cursor = Key::kMin;  // first address not yet covered
  bool covered_to_max = false;
  const GeoRange* previous = nullptr;
  for (const GeoRange* r : ranges) {
    const auto first = Key::of(r->first);
    const auto last = Key::of(r->last);
    if (covered_to_max || (previous != nullptr && first < cursor)) {
      return Status::errorf("range on line {} overlaps the range on line {}", r->source_line,
                            previous->source_line);
    }
    if (cursor < first) {
      starts.push_back(cursor);
      records.push_back(kNoRecord);
    }
    starts.push_back(first);
    records.push_back(r->record);
    if (Key::is_max(last)) {
      covered_to_max = true;
    } else {
      cursor = Key::next(last);
    }
    previous = r;
  }
  if (!covered_to_max) {
    starts.push_back(cursor);
    records.push_back(kNoRecord);
  }
  return Status::ok();
}

}  // namespace

Result<GeoTable> GeoTable::build(std::vector<GeoRange> ranges, std::vector<GeoRecord> records) {
  std::vector<const GeoRange*> v4, v6;
  for (const GeoRange& r : ranges) {
    if (r.first.is_v6 != r.last.is_v6) {
      return Status::errorf("line {}: range mixes IPv4 and IPv6 addresses", r.source_line);
    }
    const bool reversed = r.first.is_v6 ? r.last.v6 < r.first.v6 : r.last.v4 < r.first.v4;
    if (reversed) return Status::errorf("line {}: range ends before it starts", r.source_line);
    if (r.record != kNoRecord && r.record >= records.size()) {
      return Status::errorf("line {}: record id {} out of range", r.source_line, r.record);
    }
    (r.first.is_v6 ? v6 : v4).push_back(&r);
  }
  GeoTable t;
  if (Status s = fill_gap_free<V4Key>(v4, t.v4_starts_, t.v4_records_); !s) return s;
  if (Status s = fill_gap_free<V6Key>(v6, t.v6_starts_, t.v6_records_); !s) return s;
  const bool aligned_64 =
      std::all_of(t.v6_starts_.begin(), t.v6_starts_.end(), [](const Ipv6& a) { return a.lo == 0; });
  if (aligned_64) {
    t.v6_starts64_.reserve(t.v6_starts_.size());
    for (const Ipv6& a : t.v6_starts_) t.v6_starts64_.push_back(a.hi);
    t.v6_starts_ = {};
  }
  t.records_ = std::move(records);
  return t;
}

Result<GeoTable> GeoTable::load_csv(const std::string& path) {
  CsvReader reader(path);
  if (!reader.status()) return reader.status();
  std::vector<GeoRange> ranges;
  std::vector<GeoRecord> records;
  std::vector<std::string> f;
  bool first_row = true;
  while (reader.next(f)) {
    const bool is_first = std::exchange(first_row, false);
    if (f.size() != 8) {
      return Status::errorf(
          "{}:{}: expected 8 fields (start,end,country_code,region,city,latitude,longitude,timezone), "
          "got {}",
          path, reader.line(), f.size());
    }
    auto first = parse_ip(f[0]);
    auto last = parse_ip(f[1]);
    if (!first || !last) {
      if (is_first) continue;  // a header line
      return Status::errorf("{}:{}: bad IP address '{}'", path, reader.line(), first ? f[1] : f[0]);
    }
    GeoRecord rec{f[2], f[3], f[4], 0, 0, false, f[7]};
    if (!f[5].empty() || !f[6].empty()) {
      if (!parse_double(f[5], rec.latitude) || !parse_double(f[6], rec.longitude)) {
        return Status::errorf("{}:{}: bad latitude/longitude '{}','{}'", path, reader.line(), f[5], f[6]);
      }
      rec.has_location = true;
    }
    ranges.push_back({*first, *last, static_cast<uint32_t>(records.size()), reader.line()});
    records.push_back(std::move(rec));
  }
  if (!reader.status()) return reader.status();
  auto table = build(std::move(ranges), std::move(records));
  if (!table) return table.status().with_context(path);
  return table;
}

}  // namespace enrichd
