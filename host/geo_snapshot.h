// The geo snapshot: a GeoTable in one file that loads by mapping it (no parsing), for GeoLite2-City size
// in well under a second. Written by `enrichd geo import`.
//
// Layout (native little-endian; every section 64-byte aligned so that the mapped arrays are aligned):
//   header      magic "ENRDGEO\n", format version, byte-order mark, file size, CRC-32 of the whole file
//               (with the CRC field read as zero), creation time, section count
//   sections[]  id, element size, offset, element count
//   data        the GeoTableArrays, and a free-text description of the sources
// A file that is truncated, of another version or byte order, or whose CRC does not match is refused
// with an error that says which; the arrays are then checked as GeoTable::adopt does.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "host/geo_table.h"
#include "host/status.h"

namespace enrichd {

inline constexpr std::array<char, 8> kGeoSnapshotMagic = {'E', 'N', 'R', 'D', 'G', 'E', 'O', '\n'};
inline constexpr uint32_t kGeoSnapshotVersion = 1;

struct GeoSnapshotInfo {
  uint32_t version = 0;
  uint64_t file_bytes = 0;
  int64_t created_unix = 0;
  std::string description;
};

// Writes `table` to `path` atomically (a temporary file renamed into place).
Status write_geo_snapshot(const GeoTable& table, const std::string& path, std::string_view description);

// Maps and checks a snapshot; the table keeps the mapping alive.
Result<GeoTable> load_geo_snapshot(const std::string& path, GeoSnapshotInfo* info = nullptr);

}  // namespace enrichd
