// MaxMind DB reading shared by the importer and by the tests and tools that compare against
// libmaxminddb: how one data entry becomes a GeoRecord.
#pragma once

#include <maxminddb.h>
#include <sys/socket.h>

#include "host/geo_table.h"
#include "host/status.h"

namespace enrichd {

// The location fields of one data entry, from the GeoIP2/GeoLite2 layout (country.iso_code,
// subdivisions.0.names.en, city.names.en, postal.code, location.*) or, when the entry has a top-level
// country_code, the flat ip-location-db layout (country_code, state1, city, postcode, latitude,
// longitude, timezone). Absent fields stay empty; a field of an unexpected type is an error.
Result<GeoRecord> mmdb_entry_record(const MMDB_entry_s& entry);

// The socket address libmaxminddb's MMDB_lookup_sockaddr takes for `ip` (AF_INET or AF_INET6).
sockaddr_storage to_sockaddr(const IpAddress& ip);

}  // namespace enrichd
