// Source detection, record deduplication and the load_geo entry point; the formats themselves are in
// geo_csv_import.cpp, geo_mmdb_import.cpp and geo_snapshot.cpp.
#include "host/geo_import.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>

#include "host/geo_snapshot.h"

namespace enrichd {
namespace {

// Every MaxMind DB ends with its metadata section, introduced by this marker (within the last 128 KiB).
constexpr std::string_view kMmdbMetadataMarker = "\xAB\xCD\xEFMaxMind.com";
constexpr std::streamoff kMmdbMetadataMaxBytes = 128 * 1024;

bool has_mmdb_marker(std::ifstream& in) {
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  const std::streamoff tail = std::min(size, kMmdbMetadataMaxBytes);
  std::string buf(static_cast<size_t>(tail), '\0');
  in.seekg(size - tail);
  in.read(buf.data(), tail);
  return in.good() && buf.find(kMmdbMetadataMarker) != std::string::npos;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

Result<GeoSourceKind> detect_geo_source(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::errorf("{}: cannot open: {}", path, std::strerror(errno));
  std::array<char, 8> magic{};
  in.read(magic.data(), magic.size());
  if (in.gcount() == static_cast<std::streamsize>(magic.size()) &&
      std::memcmp(magic.data(), kGeoSnapshotMagic.data(), magic.size()) == 0) {
    return GeoSourceKind::kSnapshot;
  }
  in.clear();
  if (has_mmdb_marker(in)) return GeoSourceKind::kMmdb;
  in.clear();
  in.seekg(0);
  std::string first_line;
  std::getline(in, first_line);
  if (starts_with(first_line, "\xEF\xBB\xBF")) first_line.erase(0, 3);  // a UTF-8 byte order mark
  if (starts_with(first_line, "network,")) return GeoSourceKind::kGeoLite2Blocks;
  if (starts_with(first_line, "geoname_id,locale_code")) return GeoSourceKind::kGeoLite2Locations;
  if (first_line.find(',') != std::string::npos) return GeoSourceKind::kRangesCsv;
  return Status::errorf(
      "{}: not a geo source enrichd knows (an enrichd snapshot, a MaxMind .mmdb, a ranges CSV "
      "start,end,..., or a GeoLite2 Blocks/Locations CSV)",
      path);
}

uint32_t GeoRecordSet::add(GeoRecord r) {
  std::string key;  // each field length-prefixed, so that no two records share a key
  for (const std::string* field : {&r.country_code, &r.region, &r.city, &r.postal_code, &r.timezone}) {
    const auto size = static_cast<uint32_t>(field->size());
    key.append(reinterpret_cast<const char*>(&size), sizeof size);
    key += *field;
  }
  if (r.has_location) {
    key.append(reinterpret_cast<const char*>(&r.latitude), sizeof r.latitude);
    key.append(reinterpret_cast<const char*>(&r.longitude), sizeof r.longitude);
  }
  auto [it, inserted] = ids_.try_emplace(std::move(key), static_cast<uint32_t>(records_.size()));
  if (inserted) records_.push_back(std::move(r));
  return it->second;
}

void GeoImport::add_alias(const V4Alias& alias) {
  if (std::find(v4_aliases.begin(), v4_aliases.end(), alias) == v4_aliases.end()) v4_aliases.push_back(alias);
}

Result<GeoTable> GeoImport::build() {
  return GeoTable::build(std::move(ranges), std::move(records.records()), std::move(v4_aliases),
                         source_names);
}

Result<GeoTable> load_geo(const std::vector<std::string>& paths) {
  if (paths.empty()) return Status::error("no geo source given");
  std::vector<std::string> blocks, locations;
  GeoImport import;
  for (const std::string& path : paths) {
    auto kind = detect_geo_source(path);
    if (!kind) return kind.status();
    switch (*kind) {
      case GeoSourceKind::kSnapshot:
        if (paths.size() != 1) {
          return Status::errorf("{}: a snapshot is a whole table and loads alone, not with other sources",
                                path);
        }
        return load_geo_snapshot(path);
      case GeoSourceKind::kMmdb:
        if (Status s = import_mmdb(path, import); !s) return s;
        break;
      case GeoSourceKind::kRangesCsv:
        if (Status s = import_ranges_csv(path, import); !s) return s;
        break;
      case GeoSourceKind::kGeoLite2Blocks:
        blocks.push_back(path);
        break;
      case GeoSourceKind::kGeoLite2Locations:
        locations.push_back(path);
        break;
    }
  }
  if (!blocks.empty() || !locations.empty()) {
    if (locations.size() != 1 || blocks.empty()) {
      return Status::errorf(
          "GeoLite2 CSV needs Blocks files and exactly one Locations file (got {} Blocks, {} Locations)",
          blocks.size(), locations.size());
    }
    if (Status s = import_geolite2_csv(blocks, locations[0], import); !s) return s;
  }
  return import.build();
}

}  // namespace enrichd
