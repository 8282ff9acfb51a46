// Geo test fixtures made by MaxMind's own writer (tests/fixtures/write_mmdb.pl), and libmaxminddb as the
// oracle: what the reference reader answers for an address of a file is what every backend must answer.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <maxminddb.h>
#include <sys/socket.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "host/geo_mmdb.h"
#include "host/geo_table.h"
#include "kernels/backend.h"
#include "kernels/geo_lookup.h"
#include "test_util.h"

namespace enrichd::testing_util {

// One line of a write_mmdb.pl spec: a network ("net") or a range, and its record.
struct MmdbEntry {
  std::string kind;   // "net" or "range"
  std::string first;  // CIDR for "net"
  std::string last;   // "range" only
  GeoRecord record;
};

inline std::string spec_line(const MmdbEntry& e) {
  const GeoRecord& r = e.record;
  std::string line = e.kind + "\t" + e.first + (e.kind == "range" ? "\t" + e.last : "");
  line += "\t" + r.country_code + "\t" + r.region + "\t" + r.city + "\t" + r.postal_code + "\t";
  if (r.has_location)
    line += fmt::format("{}\t{}", r.latitude, r.longitude);
  else
    line += "\t";
  return line + "\t" + r.timezone + "\n";
}

// Writes the fixture with MaxMind's writer and returns its path. options: "ip_version 4", "alias 0", ...
inline std::string write_mmdb(const std::string& name, const std::vector<MmdbEntry>& entries,
                              const std::vector<std::string>& options = {}) {
  std::string spec;
  for (const auto& o : options) {
    const size_t space = o.find(' ');
    spec += "option\t" + o.substr(0, space) + "\t" + o.substr(space + 1) + "\n";
  }
  for (const auto& e : entries) spec += spec_line(e);
  const std::string spec_path = write_temp_file(name + ".spec", spec);
  const std::string out = spec_path.substr(0, spec_path.size() - 5) + ".mmdb";
  temp_files().paths.push_back(out);
  const std::string cmd =
      "perl '" ENRICHD_SOURCE_DIR "/tests/fixtures/write_mmdb.pl' '" + spec_path + "' '" + out + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << "building the fixture with MaxMind's writer failed (scripts/bootstrap installs "
                      "libmaxmind-db-writer-perl): "
                   << cmd;
  return out;
}

class MmdbReader {
 public:
  explicit MmdbReader(const std::string& path) {
    ok_ = MMDB_open(path.c_str(), MMDB_MODE_MMAP, &db_) == MMDB_SUCCESS;
    EXPECT_TRUE(ok_) << "libmaxminddb cannot open " << path;
  }
  ~MmdbReader() {
    if (ok_) MMDB_close(&db_);
  }
  MmdbReader(const MmdbReader&) = delete;
  MmdbReader& operator=(const MmdbReader&) = delete;
  int ip_version() const { return db_.metadata.ip_version; }

  // libmaxminddb's answer: nullopt when the address is in no network (or, in an IPv4 database, is IPv6).
  std::optional<GeoRecord> lookup(const IpAddress& ip) {
    sockaddr_storage ss = to_sockaddr(ip);
    int error = MMDB_SUCCESS;
    MMDB_lookup_result_s r = MMDB_lookup_sockaddr(&db_, reinterpret_cast<sockaddr*>(&ss), &error);
    if (error == MMDB_IPV6_LOOKUP_IN_IPV4_DATABASE_ERROR) return std::nullopt;
    EXPECT_EQ(error, MMDB_SUCCESS) << MMDB_strerror(error);
    if (error != MMDB_SUCCESS || !r.found_entry) return std::nullopt;
    auto rec = mmdb_entry_record(r.entry);
    EXPECT_TRUE(rec.is_ok()) << rec.status().message();
    return rec.is_ok() ? std::optional<GeoRecord>(*rec) : std::nullopt;
  }

 private:
  MMDB_s db_{};
  bool ok_ = false;
};

inline bool same_record(const std::optional<GeoRecord>& expected, const GeoTable& table, uint32_t got) {
  if (!expected) return got == kNoRecord;
  if (got == kNoRecord) return false;
  const GeoRecordView g = table.record(got);
  const GeoRecord& e = *expected;
  return g.country_code == e.country_code && g.region == e.region && g.city == e.city &&
         g.postal_code == e.postal_code && g.timezone == e.timezone && g.has_location == e.has_location &&
         (!e.has_location || (g.latitude == e.latitude && g.longitude == e.longitude));
}

inline std::string describe(const std::optional<GeoRecord>& r) {
  if (!r) return "(none)";
  return fmt::format("{}|{}|{}|{}|{}|{}", r->country_code, r->region, r->city, r->postal_code, r->timezone,
                     r->has_location ? fmt::format("{},{}", r->latitude, r->longitude) : "-");
}

inline std::string describe(const GeoTable& t, uint32_t id) {
  if (id == kNoRecord) return "(none)";
  const GeoRecordView g = t.record(id);
  return fmt::format("{}|{}|{}|{}|{}|{}", g.country_code, g.region, g.city, g.postal_code, g.timezone,
                     g.has_location ? fmt::format("{},{}", g.latitude, g.longitude) : "-");
}

// Every available backend's answers for `queries`, through GeoLookup (aliases included).
inline std::vector<std::pair<std::string, std::vector<uint32_t>>> all_backend_answers(
    const GeoTable& table, const std::vector<IpAddress>& queries) {
  std::vector<std::pair<std::string, std::vector<uint32_t>>> out;
  for (const auto& info : list_backends()) {
    if (!info.available) continue;
    auto backend = make_backend(info.name);
    EXPECT_TRUE(backend.is_ok()) << backend.status().message();
    if (!backend.is_ok()) continue;
    GeoLookup lookup;
    for (size_t i = 0; i < queries.size(); ++i) lookup.add(table, static_cast<uint32_t>(i), queries[i]);
    std::vector<uint32_t> answers(queries.size(), kNoRecord - 1);
    const Status s = lookup.run(**backend, table);
    EXPECT_TRUE(s.is_ok()) << s.message();
    lookup.for_each_result([&](uint32_t row, uint32_t rec) { answers[row] = rec; });
    out.emplace_back(info.name, std::move(answers));
  }
  return out;
}

}  // namespace enrichd::testing_util
