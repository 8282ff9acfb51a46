// The geo reference table: IPv4 and IPv6 address ranges mapped to location records. Ranges are stored
// gap-free (gaps hold kNoRecord) so that a lookup is a pure predecessor search over sorted start keys.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "host/event_batch.h"
#include "host/ip_address.h"
#include "host/status.h"

namespace enrichd {

struct GeoRecord {
  std::string country_code;
  std::string region;
  std::string city;
  double latitude = 0;
  double longitude = 0;
  bool has_location = false;  // latitude/longitude given
  std::string timezone;
  friend bool operator==(const GeoRecord&, const GeoRecord&) = default;
};

// Trivially copyable view that lookup kernels take by value. starts[i] begins range i, which ends where
// range i+1 begins; starts[0] is always 0 so every address falls in exactly one range.
//
// IPv6 starts come in one of two forms. When every boundary is /64-aligned (true for GeoLite2-City) only
// the hi words are kept (v6_starts64): half the memory and a 64-bit search, exact because a query
// {hi, lo} is >= a start {h, 0} exactly when hi >= h. Otherwise the full 128-bit starts (v6_starts).
// At most one of the two is non-empty, and v6_records is indexed like that one.
struct GeoTableView {
  std::span<const uint32_t> v4_starts;
  std::span<const uint32_t> v4_records;
  std::span<const uint64_t> v6_starts64;
  std::span<const Ipv6> v6_starts;
  std::span<const uint32_t> v6_records;
};

// One input range, inclusive on both ends, as read from a source file.
struct GeoRange {
  IpAddress first;
  IpAddress last;
  uint32_t record = kNoRecord;
  size_t source_line = 0;  // for error messages
};

class GeoTable {
 public:
  // Builds the gap-free arrays. Ranges may come in any order; overlapping ranges, a range whose end is
  // before its start, or one that mixes IPv4 and IPv6 is an error naming the source line(s).
  static Result<GeoTable> build(std::vector<GeoRange> ranges, std::vector<GeoRecord> records);

  // CSV: start,end,country_code,region,city,latitude,longitude,timezone (IP text; header line optional).
  static Result<GeoTable> load_csv(const std::string& path);

  GeoTableView view() const { return {v4_starts_, v4_records_, v6_starts64_, v6_starts_, v6_records_}; }
  const GeoRecord& record(uint32_t id) const { return records_[id]; }
  size_t record_count() const { return records_.size(); }
  size_t v4_range_count() const { return v4_starts_.size(); }
  size_t v6_range_count() const { return v6_records_.size(); }
  bool v6_is_64bit() const { return !v6_starts64_.empty(); }

 private:
  std::vector<uint32_t> v4_starts_, v4_records_;
  std::vector<uint64_t> v6_starts64_;
  std::vector<Ipv6> v6_starts_;
  std::vector<uint32_t> v6_records_;
  std::vector<GeoRecord> records_;
};

}  // namespace enrichd
