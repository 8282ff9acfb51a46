// Geo sources: every format enrichd reads into a GeoTable, and the one entry point (load_geo) that loads
// any mix of them, telling the formats apart by content rather than by file name.
//
//   snapshot     enrichd's own file (host/geo_snapshot.h); loads alone
//   .mmdb        MaxMind DB: GeoIP2/GeoLite2 City or Country layout (country.iso_code,
//                subdivisions.0.names.en, city.names.en, postal.code, location.latitude/longitude/
//                time_zone) or the flat ip-location-db layout (country_code, state1, city, postcode,
//                latitude, longitude, timezone)
//   ranges CSV   start,end,... with addresses as text (dotted / colon) or as decimal integers, in one of
//                three layouts told apart by the field count:
//                  3   start,end,country_code                          (ip-location-db country)
//                  8   start,end,country_code,region,city,latitude,longitude,timezone   (enrichd)
//                  10  start,end,country_code,state1,state2,city,postcode,latitude,longitude,timezone
//                                                                      (ip-location-db city)
//                Decimal addresses are IPv6 when the file name says "ipv6" (ip-location-db's *-ipv6-num
//                files) or a value does not fit 32 bits; IPv4 otherwise.
//   GeoLite2 CSV the Blocks-IPv4/IPv6 files (network,geoname_id,...,postal_code,latitude,longitude,...)
//                joined on geoname_id with one Locations file (geoname_id,locale_code,...)
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "host/geo_table.h"
#include "host/status.h"

namespace enrichd {

enum class GeoSourceKind { kSnapshot, kMmdb, kRangesCsv, kGeoLite2Blocks, kGeoLite2Locations };

// Looks at the first bytes (and, for .mmdb, the metadata marker near the end) of `path`.
Result<GeoSourceKind> detect_geo_source(const std::string& path);

// Records deduplicated by value, so that a record shared by many ranges is stored once.
class GeoRecordSet {
 public:
  uint32_t add(GeoRecord record);
  std::vector<GeoRecord>& records() { return records_; }

 private:
  std::vector<GeoRecord> records_;
  std::unordered_map<std::string, uint32_t> ids_;  // key: the record's fields, length-prefixed
};

// What the importers accumulate before the table is built.
struct GeoImport {
  std::vector<GeoRange> ranges;
  GeoRecordSet records;
  std::vector<V4Alias> v4_aliases = default_v4_aliases();
  std::vector<std::string> source_names;  // GeoRange::source indexes this

  uint32_t add_source(const std::string& name) {
    source_names.push_back(name);
    return static_cast<uint32_t>(source_names.size() - 1);
  }
  void add_alias(const V4Alias& alias);
  Result<GeoTable> build();
};

Status import_mmdb(const std::string& path, GeoImport& out);
Status import_ranges_csv(const std::string& path, GeoImport& out);
// Several Blocks files share one Locations file.
Status import_geolite2_csv(const std::vector<std::string>& blocks_paths, const std::string& locations_path,
                           GeoImport& out);

// Loads a snapshot (alone), or builds one table from any mix of the other sources (their ranges must not
// overlap). Every error names the file, and the line where there is one.
Result<GeoTable> load_geo(const std::vector<std::string>& paths);

}  // namespace enrichd
