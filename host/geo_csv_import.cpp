// CSV geo sources: ranges files (text or decimal addresses, three layouts) and the GeoLite2 Blocks +
// Locations pair. See host/geo_import.h for the formats.
#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "host/csv.h"
#include "host/geo_import.h"

namespace enrichd {
namespace {

constexpr uint64_t kMappedPrefixLo = 0x0000ffff00000000ULL;  // ::ffff:0:0/96, IPv4-mapped

// An address as IPv6; parse_ip reports IPv4-mapped text (::ffff:a.b.c.d) as IPv4, which a range whose
// other end is IPv6 needs back in its IPv6 form.
Ipv6 as_v6(const IpAddress& ip) {
  return ip.is_v6 ? ip.v6 : Ipv6{0, kMappedPrefixLo | ip.v4};
}

bool is_decimal(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

__extension__ typedef unsigned __int128 u128;  // __extension__: GCC/Clang's, not ISO C++

// A decimal integer of up to 128 bits.
bool parse_u128(std::string_view s, Ipv6& out) {
  if (!is_decimal(s) || s.size() > 39) return false;
  u128 v = 0;
  constexpr u128 kMax = ~static_cast<u128>(0);
  for (char c : s) {
    const auto digit = static_cast<unsigned>(c - '0');
    if (v > (kMax - digit) / 10) return false;
    v = v * 10 + digit;
  }
  out = {static_cast<uint64_t>(v >> 64), static_cast<uint64_t>(v)};
  return true;
}

bool mentions_ipv6(const std::string& path) {
  std::string name = path.substr(path.find_last_of('/') + 1);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  return name.find("ipv6") != std::string::npos;
}

Status bad_location(const std::string& path, size_t line, const std::string& lat, const std::string& lon) {
  return Status::errorf("{}:{}: bad latitude/longitude '{}','{}' (decimal degrees, or both empty)", path,
                        line, lat, lon);
}

// Latitude and longitude: both given, or both empty.
bool parse_location(const std::string& lat, const std::string& lon, GeoRecord& r) {
  if (lat.empty() && lon.empty()) return true;
  if (!parse_double(lat, r.latitude) || !parse_double(lon, r.longitude)) return false;
  if (r.latitude < -90 || r.latitude > 90 || r.longitude < -180 || r.longitude > 180) return false;
  r.has_location = true;
  return true;
}

// One end of a range: text address, or decimal (IPv4 until the file shows otherwise).
struct RangeEnd {
  IpAddress ip;
  bool decimal = false;
  bool wide = false;  // decimal above 32 bits: the file is IPv6
};

bool parse_range_end(const std::string& s, RangeEnd& end) {
  if (is_decimal(s)) {
    Ipv6 v;
    if (!parse_u128(s, v)) return false;
    end.decimal = true;
    end.wide = v.hi != 0 || v.lo > UINT32_MAX;
    end.ip.is_v6 = false;
    end.ip.v4 = static_cast<uint32_t>(v.lo);
    end.ip.v6 = v;
    return true;
  }
  auto ip = parse_ip(s);
  if (!ip) return false;
  end.ip = *ip;
  return true;
}

}  // namespace

Status import_ranges_csv(const std::string& path, GeoImport& out) {
  CsvReader reader(path);
  if (!reader.status()) return reader.status();
  const uint32_t source = out.add_source(path);
  const size_t first_range = out.ranges.size();
  bool any_decimal = false, any_wide = false;
  std::vector<std::string> f;
  bool first_row = true;
  while (reader.next(f)) {
    const bool is_first = std::exchange(first_row, false);
    if (f.size() != 3 && f.size() != 8 && f.size() != 10) {
      return Status::errorf(
          "{}:{}: expected 3 fields (start,end,country_code), 8 (start,end,country_code,region,city,latitude,"
          "longitude,timezone) or 10 (start,end,country_code,state1,state2,city,postcode,latitude,longitude,"
          "timezone); got {}",
          path, reader.line(), f.size());
    }
    RangeEnd first, last;
    if (!parse_range_end(f[0], first) || !parse_range_end(f[1], last)) {
      if (is_first) continue;  // a header line
      return Status::errorf("{}:{}: bad address '{}' (IPv4/IPv6 text or a decimal integer)", path,
                            reader.line(), parse_range_end(f[0], first) ? f[1] : f[0]);
    }
    if (first.decimal != last.decimal) {
      return Status::errorf("{}:{}: one end is an address and the other a decimal integer", path,
                            reader.line());
    }
    const bool v4_end_in_v6_text = (!first.ip.is_v6 && f[0].find(':') != std::string::npos) ||
                                   (!last.ip.is_v6 && f[1].find(':') != std::string::npos);
    if (!first.decimal && first.ip.is_v6 != last.ip.is_v6 && v4_end_in_v6_text) {
      first.ip = {true, 0, as_v6(first.ip)};
      last.ip = {true, 0, as_v6(last.ip)};
    }
    any_decimal |= first.decimal;
    any_wide |= first.wide || last.wide;
    GeoRecord rec;
    rec.country_code = f[2];
    bool location_ok = true;
    if (f.size() == 8) {
      rec.region = f[3];
      rec.city = f[4];
      location_ok = parse_location(f[5], f[6], rec);
      rec.timezone = f[7];
    } else if (f.size() == 10) {
      rec.region = f[3];  // state1; state2 (a second-level subdivision) is not kept
      rec.city = f[5];
      rec.postal_code = f[6];
      location_ok = parse_location(f[7], f[8], rec);
      rec.timezone = f[9];
    }
    if (!location_ok) return bad_location(path, reader.line(), f[f.size() - 3], f[f.size() - 2]);
    // Decimal ends keep their full value in .v6 as well until the file's family is known (below).
    out.ranges.push_back({first.ip, last.ip, out.records.add(std::move(rec)), reader.line(), source});
  }
  if (!reader.status()) return reader.status();
  if (any_decimal && (any_wide || mentions_ipv6(path))) {
    for (size_t i = first_range; i < out.ranges.size(); ++i) {
      out.ranges[i].first.is_v6 = out.ranges[i].last.is_v6 = true;
    }
  } else if (any_wide) {
    return Status::errorf("{}: decimal addresses above 32 bits in an IPv4 file", path);
  }
  return Status::ok();
}

namespace {

// The header of a GeoLite2 CSV file (a UTF-8 byte order mark dropped) and the positions of `names` in it,
// so that files with extra or reordered columns still read; `need` is the field count a row must reach.
struct HeaderColumns {
  std::vector<size_t> at;
  size_t need = 0;
};

Result<HeaderColumns> read_header(CsvReader& reader, const std::string& path,
                                  std::initializer_list<std::string_view> names) {
  std::vector<std::string> header;
  if (!reader.next(header)) return reader.status() ? Status::errorf("{}: empty file", path) : reader.status();
  if (!header.empty() && header[0].rfind("\xEF\xBB\xBF", 0) == 0) header[0].erase(0, 3);
  HeaderColumns cols;
  for (std::string_view name : names) {
    auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) return Status::errorf("{}:1: header has no '{}' column", path, name);
    cols.at.push_back(static_cast<size_t>(it - header.begin()));
    cols.need = std::max(cols.need, cols.at.back() + 1);
  }
  return cols;
}

struct Location {
  std::string country_code, region, city, timezone;
};

Result<std::unordered_map<uint64_t, Location>> read_locations(const std::string& path) {
  CsvReader reader(path);
  if (!reader.status()) return reader.status();
  auto header = read_header(
      reader, path, {"geoname_id", "country_iso_code", "subdivision_1_name", "city_name", "time_zone"});
  if (!header) return header.status();
  const std::vector<size_t>& col = header->at;
  const size_t need = header->need;
  std::vector<std::string> f;
  std::unordered_map<uint64_t, Location> out;
  while (reader.next(f)) {
    uint64_t id = 0;
    if (f.size() < need || !parse_u64(f[col[0]], id)) {
      return Status::errorf("{}:{}: expected at least {} fields with a numeric geoname_id", path,
                            reader.line(), need);
    }
    Location loc{f[col[1]], f[col[2]], f[col[3]], f[col[4]]};
    if (!out.try_emplace(id, std::move(loc)).second) {
      return Status::errorf("{}:{}: geoname_id {} appears twice", path, reader.line(), id);
    }
  }
  if (!reader.status()) return reader.status();
  return out;
}

// "a.b.c.d/n" or "x:y::/n" as an inclusive range; host bits must be zero.
bool parse_network(const std::string& text, IpAddress& first, IpAddress& last) {
  const size_t slash = text.find('/');
  uint32_t len = 0;
  if (slash == std::string::npos || !parse_u32(std::string_view(text).substr(slash + 1), len)) return false;
  auto ip = parse_ip(std::string_view(text).substr(0, slash));
  if (!ip) return false;
  const bool mapped = !ip->is_v6 && text.find(':') != std::string::npos;
  if (mapped) {  // ::ffff:a.b.c.d/n: n counts the 96 bits of the prefix
    if (len < 96) return false;
    len -= 96;
  }
  first = last = *ip;
  if (!ip->is_v6) {
    if (len > 32) return false;
    const uint32_t host = len == 32 ? 0 : UINT32_MAX >> len;
    if ((ip->v4 & host) != 0) return false;
    last.v4 = ip->v4 | host;
    return true;
  }
  if (len > 128) return false;
  const uint64_t host_hi = len >= 64 ? 0 : UINT64_MAX >> len;
  const uint64_t host_lo = len >= 128 ? 0 : len <= 64 ? UINT64_MAX : UINT64_MAX >> (len - 64);
  if ((ip->v6.hi & host_hi) != 0 || (ip->v6.lo & host_lo) != 0) return false;
  last.v6 = {ip->v6.hi | host_hi, ip->v6.lo | host_lo};
  return true;
}

}  // namespace

Status import_geolite2_csv(const std::vector<std::string>& blocks_paths, const std::string& locations_path,
                           GeoImport& out) {
  auto locations = read_locations(locations_path);
  if (!locations) return locations.status();
  for (const std::string& path : blocks_paths) {
    CsvReader reader(path);
    if (!reader.status()) return reader.status();
    const uint32_t source = out.add_source(path);
    auto header =
        read_header(reader, path, {"network", "geoname_id", "postal_code", "latitude", "longitude"});
    if (!header) return header.status();
    const std::vector<size_t>& col = header->at;
    const size_t need = header->need;
    std::vector<std::string> f;
    while (reader.next(f)) {
      if (f.size() < need) {
        return Status::errorf("{}:{}: expected at least {} fields, got {}", path, reader.line(), need,
                              f.size());
      }
      GeoRange range;
      if (!parse_network(f[col[0]], range.first, range.last)) {
        return Status::errorf("{}:{}: bad network '{}' (CIDR with zero host bits)", path, reader.line(),
                              f[col[0]]);
      }
      GeoRecord rec;
      const std::string& geoname = f[col[1]];
      if (!geoname.empty()) {
        uint64_t id = 0;
        auto it = parse_u64(geoname, id) ? locations->find(id) : locations->end();
        if (it == locations->end()) {
          return Status::errorf("{}:{}: geoname_id '{}' is not in {}", path, reader.line(), geoname,
                                locations_path);
        }
        rec.country_code = it->second.country_code;
        rec.region = it->second.region;
        rec.city = it->second.city;
        rec.timezone = it->second.timezone;
      }
      rec.postal_code = f[col[2]];
      if (!parse_location(f[col[3]], f[col[4]], rec)) {
        return bad_location(path, reader.line(), f[col[3]], f[col[4]]);
      }
      range.record = out.records.add(std::move(rec));
      range.source_line = reader.line();
      range.source = source;
      out.ranges.push_back(range);
    }
    if (!reader.status()) return reader.status();
  }
  return Status::ok();
}

}  // namespace enrichd
