// The geo reference table: IPv4 and IPv6 address ranges mapped to location records. Ranges are stored
// gap-free (gaps hold kNoRecord) so that a lookup is a pure predecessor search over sorted start keys.
// Attributes are stored once: each distinct record once in a record table, each distinct string once in
// a string pool. The arrays live either in memory the table owns or in a mapped snapshot file
// (host/geo_snapshot.h); either way the table is cheap to copy and immutable once built.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "host/event_batch.h"
#include "host/ip_address.h"
#include "host/status.h"
#include "host/table_generation.h"

namespace enrichd {

// A location record as importers produce it (owning strings; empty = not given).
struct GeoRecord {
  std::string country_code;
  std::string region;
  std::string city;
  double latitude = 0;
  double longitude = 0;
  bool has_location = false;  // latitude/longitude given
  std::string timezone;
  std::string postal_code;
  friend bool operator==(const GeoRecord&, const GeoRecord&) = default;
};

// A stored record, as the table and the row encoder see it.
struct GeoRecordView {
  std::string_view country_code;
  std::string_view region;
  std::string_view city;
  std::string_view postal_code;
  std::string_view timezone;
  double latitude = 0;
  double longitude = 0;
  bool has_location = false;
};

// The stored form of a record: string ids into the table's string pool (id 0 is ""). Plain data, laid
// out the same in memory and in snapshot files.
struct GeoRecordEntry {
  uint32_t country_code = 0;
  uint32_t region = 0;
  uint32_t city = 0;
  uint32_t postal_code = 0;
  uint32_t timezone = 0;
  uint32_t has_location = 0;
  double latitude = 0;
  double longitude = 0;
};

// An IPv6 prefix whose addresses are answered from the IPv4 table, with the IPv4 address taken from bits
// [prefix_len, prefix_len + 32) of the IPv6 address: how a MaxMind database aliases ::/96 (IPv4-
// compatible), ::ffff:0:0/96 (IPv4-mapped), 2001::/32 (Teredo) and 2002::/16 (6to4) to its IPv4 tree.
struct V4Alias {
  Ipv6 prefix;
  uint32_t prefix_len = 0;  // 0..96
  uint32_t reserved = 0;
  friend bool operator==(const V4Alias&, const V4Alias&) = default;
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
  // Names this table's content (host/table_generation.h): copies of one GeoTable share it, any other
  // table has another; 0 in a view built by hand.
  uint64_t generation = 0;
};

// One input range, inclusive on both ends, as read from a source file.
struct GeoRange {
  IpAddress first;
  IpAddress last;
  uint32_t record = kNoRecord;
  size_t source_line = 0;  // for error messages; 0 when the source has no lines (an .mmdb tree)
  uint32_t source = 0;     // index into build()'s source_names
};

// Every array of a table, as spans into storage someone else keeps alive.
struct GeoTableArrays {
  std::span<const uint32_t> v4_starts;
  std::span<const uint32_t> v4_records;
  std::span<const uint64_t> v6_starts64;
  std::span<const Ipv6> v6_starts;
  std::span<const uint32_t> v6_records;
  std::span<const GeoRecordEntry> records;
  std::span<const uint32_t> string_offsets;  // string i is string_data[offsets[i], offsets[i+1])
  std::span<const char> string_data;
  std::span<const V4Alias> v4_aliases;
};

// The alias every table has unless its source says otherwise: IPv4-mapped addresses (::ffff:a.b.c.d).
std::vector<V4Alias> default_v4_aliases();

class GeoTable {
 public:
  GeoTable();  // an empty table: every lookup answers kNoRecord

  // Builds the gap-free arrays. Ranges may come in any order; overlapping ranges, a range whose end is
  // before its start, or one that mixes IPv4 and IPv6 is an error naming the source line(s). Neighbouring
  // ranges with the same record are merged; equal records and strings are stored once.
  // Errors name a range as "<source name>:<line>" when source_names are given, else "line <line>".
  static Result<GeoTable> build(std::vector<GeoRange> ranges, std::vector<GeoRecord> records,
                                std::vector<V4Alias> v4_aliases = default_v4_aliases(),
                                std::span<const std::string> source_names = {});

  // Adopts arrays kept alive by `owner` (a mapped snapshot), after checking everything a lookup relies
  // on: sorted gap-free starts from 0, record ids in range, string ids and offsets in bounds.
  static Result<GeoTable> adopt(const GeoTableArrays& arrays, std::shared_ptr<const void> owner);

  // CSV ranges (see host/geo_import.h for every source format); kept for callers with one CSV file.
  static Result<GeoTable> load_csv(const std::string& path);

  GeoTableView view() const {
    return {a_.v4_starts, a_.v4_records, a_.v6_starts64, a_.v6_starts, a_.v6_records, generation_};
  }
  const GeoTableArrays& arrays() const { return a_; }
  GeoRecordView record(uint32_t id) const;
  size_t record_count() const { return a_.records.size(); }
  size_t v4_range_count() const { return a_.v4_starts.size(); }
  size_t v6_range_count() const { return a_.v6_records.size(); }
  bool v6_is_64bit() const { return !a_.v6_starts64.empty(); }
  std::span<const V4Alias> v4_aliases() const { return a_.v4_aliases; }
  // Bytes of lookup arrays, records and strings (what a snapshot of this table holds).
  size_t memory_bytes() const;
  // One line for logs and tools: range counts, IPv6 key width, records, aliases, size.
  std::string summary() const;

  // The IPv4 address an IPv6 address stands for, when it falls in one of the table's aliases.
  std::optional<uint32_t> v4_alias_of(const Ipv6& addr) const;

 private:
  GeoTable(const GeoTableArrays& arrays, std::shared_ptr<const void> owner)
      : a_(arrays), owner_(std::move(owner)) {}

  GeoTableArrays a_;
  std::shared_ptr<const void> owner_;
  uint64_t generation_ = next_table_generation();  // the arrays never change after construction
};

}  // namespace enrichd
