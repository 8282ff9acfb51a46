// Geo sources other than .mmdb (ranges CSV layouts, decimal addresses, the GeoLite2 CSV pair), the
// snapshot file, and source detection.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "geo_fixture.h"
#include "host/geo_import.h"
#include "host/geo_snapshot.h"
#include "kernels/scalar/scalar_backend.h"
#include "test_util.h"

namespace enrichd {
namespace {

using ::testing::HasSubstr;

IpAddress ip(const char* text) {
  return *parse_ip(text);
}

// The record a table answers for `text` (scalar reference, aliases included), as
// "cc|region|city|postal|tz|loc".
std::string answer(const GeoTable& t, const char* text) {
  auto answers = testing_util::all_backend_answers(t, {ip(text)});
  EXPECT_FALSE(answers.empty());
  for (const auto& [backend, a] : answers) EXPECT_EQ(a[0], answers[0].second[0]) << backend << " " << text;
  return testing_util::describe(t, answers[0].second[0]);
}

TEST(GeoImportTest, RangesCsvLayoutsByFieldCount) {
  const std::string three =
      testing_util::write_temp_file("country.csv", "1.0.0.0,1.0.0.255,AU\n2001:db8::,2001:db8::ffff,US\n");
  const std::string ten = testing_util::write_temp_file(
      "city.csv",
      "ip_range_start,ip_range_end,country_code,state1,state2,city,postcode,latitude,longitude,timezone\n"
      "8.8.8.0,8.8.8.255,US,California,Santa Clara,Mountain "
      "View,94035,37.386,-122.0838,America/Los_Angeles\n");
  auto t = load_geo({three, ten});
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(answer(*t, "1.0.0.7"), "AU|||||-");
  EXPECT_EQ(answer(*t, "2001:db8::ff"), "US|||||-");
  EXPECT_EQ(answer(*t, "8.8.8.8"), "US|California|Mountain View|94035|America/Los_Angeles|37.386,-122.0838");
  EXPECT_EQ(answer(*t, "8.8.9.0"), "(none)");
}

TEST(GeoImportTest, DecimalAddressesTakeTheirFamilyFromTheFileOrTheValues) {
  // ip-location-db's *-num files: IPv4 as u32, IPv6 as u128 (named *ipv6*).
  const std::string v4 = testing_util::write_temp_file("geo-ipv4-num.csv", "16777216,16777471,AU\n");
  const std::string v6 = testing_util::write_temp_file(
      "geo-ipv6-num.csv",
      "0,255,ZZ\n42540766411282592856903984951653826560,42540766411282592856903984951653892095,US\n");
  const std::string wide = testing_util::write_temp_file("wide.csv", "4294967296,4294967300,XX\n");
  auto t = load_geo({v4, v6});
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(answer(*t, "1.0.0.1"), "AU|||||-");
  EXPECT_EQ(answer(*t, "2001:db8::1"), "US|||||-");
  EXPECT_EQ(answer(*t, "::ff"), "ZZ|||||-");
  EXPECT_EQ(answer(*t, "0.0.0.255"), "(none)");  // the 0..255 range of the IPv6 file is ::/120, not IPv4
  auto w = load_geo({wide});                     // a value above 32 bits makes an unnamed file IPv6
  ASSERT_TRUE(w.is_ok()) << w.status().message();
  EXPECT_EQ(answer(*w, "::1:0:3"), "XX|||||-");
}

TEST(GeoImportTest, GeoLite2CsvPairJoinsLocations) {
  const std::string locations = testing_util::write_temp_file(
      "GeoLite2-City-Locations-en.csv",
      "geoname_id,locale_code,continent_code,continent_name,country_iso_code,country_name,subdivision_1_iso_"
      "code,"
      "subdivision_1_name,subdivision_2_iso_code,subdivision_2_name,city_name,metro_code,time_zone,"
      "is_in_european_union\n"
      "2147714,en,OC,Oceania,AU,Australia,NSW,\"New South Wales\",,,Sydney,,Australia/Sydney,0\n"
      "2921044,en,EU,Europe,DE,Germany,,,,,,,Europe/Berlin,1\n");
  const std::string header =
      "network,geoname_id,registered_country_geoname_id,represented_country_geoname_id,is_anonymous_proxy,"
      "is_satellite_provider,postal_code,latitude,longitude,accuracy_radius\n";
  const std::string b4 = testing_util::write_temp_file(
      "GeoLite2-City-Blocks-IPv4.csv", header +
                                           "1.2.3.0/24,2147714,2077456,,0,0,2000,-33.8715,151.2006,100\n"
                                           "5.6.0.0/16,,2921044,,0,0,,,,1000\n");
  const std::string b6 = testing_util::write_temp_file(
      "GeoLite2-City-Blocks-IPv6.csv", header + "2a00:1450::/32,2921044,2921044,,0,0,,51.0,9.0,200\n");
  auto t = load_geo({b4, locations, b6});
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(answer(*t, "1.2.3.4"), "AU|New South Wales|Sydney|2000|Australia/Sydney|-33.8715,151.2006");
  EXPECT_EQ(answer(*t, "5.6.7.8"), "|||||-");  // no geoname_id: only what the block itself says
  EXPECT_EQ(answer(*t, "2a00:1450::1"), "DE||||Europe/Berlin|51,9");
  EXPECT_EQ(answer(*t, "2a00:1451::"), "(none)");
  EXPECT_TRUE(t->v6_is_64bit());

  // Errors name the file and line.
  const std::string bad_id =
      testing_util::write_temp_file("GeoLite2-City-Blocks-IPv4.csv", header + "1.2.3.0/24,999,,,0,0,,,,1\n");
  auto e = load_geo({bad_id, locations});
  ASSERT_FALSE(e.is_ok());
  EXPECT_THAT(e.status().message(), HasSubstr(bad_id + ":2: geoname_id '999'"));
  const std::string host_bits = testing_util::write_temp_file("GeoLite2-City-Blocks-IPv4.csv",
                                                              header + "1.2.3.1/24,2147714,,,0,0,,,,1\n");
  e = load_geo({host_bits, locations});
  ASSERT_FALSE(e.is_ok());
  EXPECT_THAT(e.status().message(), HasSubstr(host_bits + ":2: bad network '1.2.3.1/24'"));
  e = load_geo({b4});
  ASSERT_FALSE(e.is_ok());
  EXPECT_THAT(e.status().message(), HasSubstr("exactly one Locations file"));
}

TEST(GeoImportTest, UnknownFilesAreRefusedByContent) {
  const std::string text = testing_util::write_temp_file("notes.txt", "hello\nworld\n");
  auto t = load_geo({text});
  ASSERT_FALSE(t.is_ok());
  EXPECT_THAT(t.status().message(), HasSubstr(text + ": not a geo source"));
  auto none = load_geo({});
  ASSERT_FALSE(none.is_ok());
  auto missing = load_geo({::testing::TempDir() + "/enrichd-no-such-file.csv"});
  ASSERT_FALSE(missing.is_ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("cannot open"));
}

// --- snapshots ---

GeoTable sample_table() {
  const std::vector<testing_util::MmdbEntry> entries = {
      {"net",
       "1.0.0.0/8",
       "",
       {"AU", "Queensland", "Brisbane", -27.5, 153.25, true, "Australia/Brisbane", "4000"}},
      {"net", "1.2.3.0/24", "", {"NZ", "", "Auckland", 0, 0, false, "", ""}},
      {"net", "2001:db8::/32", "", {"US", "", "", 0, 0, false, "", ""}},
      {"range", "2a00::5", "2a00::ff", {"FR", "", "Paris", 48.85, 2.35, true, "", ""}},
  };
  GeoImport imp;
  EXPECT_TRUE(import_mmdb(testing_util::write_mmdb("snap", entries), imp).is_ok());
  auto t = imp.build();
  EXPECT_TRUE(t.is_ok()) << t.status().message();
  return std::move(t).value();
}

std::vector<IpAddress> sample_queries() {
  std::vector<IpAddress> q;
  std::mt19937_64 rng(7);
  for (const char* s : {"0.0.0.0", "1.0.0.0", "1.2.3.4", "1.255.255.255", "2.0.0.0", "255.255.255.255",
                        "::", "::1.2.3.4", "2002:102:304::", "2001:db8::", "2001:db8:ffff:ffff::", "2a00::4",
                        "2a00::5", "2a00::ff", "2a00::100"}) {
    q.push_back(ip(s));
  }
  for (int i = 0; i < 10000; ++i) {
    q.push_back(i % 2 ? IpAddress{false, static_cast<uint32_t>(rng()) >> (rng() % 8), {}}
                      : IpAddress{true, 0, {0x2000000000000000ULL | (rng() >> 40), rng()}});
  }
  return q;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(GeoSnapshotTest, RoundTripAnswersTheSameAndKeepsTheDescription) {
  const GeoTable original = sample_table();
  const std::string path = testing_util::write_temp_file("geo.snap", "");
  ASSERT_TRUE(write_geo_snapshot(original, path, "sources: test").is_ok());
  GeoSnapshotInfo info;
  auto loaded = load_geo_snapshot(path, &info);
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().message();
  EXPECT_EQ(info.description, "sources: test");
  EXPECT_EQ(info.version, kGeoSnapshotVersion);
  EXPECT_GT(info.created_unix, 0);
  EXPECT_EQ(loaded->v4_range_count(), original.v4_range_count());
  EXPECT_EQ(loaded->v6_range_count(), original.v6_range_count());
  EXPECT_EQ(loaded->v6_is_64bit(), original.v6_is_64bit());
  EXPECT_EQ(loaded->record_count(), original.record_count());
  EXPECT_EQ(loaded->v4_aliases().size(), original.v4_aliases().size());
  const auto q = sample_queries();
  const auto a = testing_util::all_backend_answers(original, q);
  const auto b = testing_util::all_backend_answers(*loaded, q);
  ASSERT_EQ(a.size(), b.size());
  for (size_t k = 0; k < a.size(); ++k) {
    for (size_t i = 0; i < q.size(); ++i) {
      ASSERT_EQ(testing_util::describe(original, a[k].second[i]),
                testing_util::describe(*loaded, b[k].second[i]))
          << a[k].first << " " << format_ip(q[i]);
    }
  }
  // load_geo detects a snapshot, and refuses to mix it with other sources.
  EXPECT_TRUE(load_geo({path}).is_ok());
  auto mixed = load_geo({path, testing_util::write_temp_file("x.csv", "1.0.0.0,1.0.0.1,AU\n")});
  ASSERT_FALSE(mixed.is_ok());
  EXPECT_THAT(mixed.status().message(), HasSubstr("loads alone"));
}

TEST(GeoSnapshotTest, AnEmptyTableRoundTrips) {
  const std::string path = testing_util::write_temp_file("empty.snap", "");
  ASSERT_TRUE(write_geo_snapshot(GeoTable(), path, "").is_ok());
  auto t = load_geo_snapshot(path);
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(answer(*t, "1.2.3.4"), "(none)");
  EXPECT_EQ(answer(*t, "2001:db8::1"), "(none)");
}

TEST(GeoSnapshotTest, DamagedFilesAreRefusedWithTheReason) {
  const std::string good = testing_util::write_temp_file("good.snap", "");
  ASSERT_TRUE(write_geo_snapshot(sample_table(), good, "d").is_ok());
  const std::string bytes = read_all(good);
  struct Case {
    std::string name, contents, reason;
  };
  std::string flipped = bytes;
  flipped[bytes.size() / 2] = static_cast<char>(flipped[bytes.size() / 2] ^ 0x10);
  std::string version = bytes;
  version[8] = 2;  // the format version field
  std::string magic = bytes;
  magic[0] = 'X';
  const std::vector<Case> cases = {
      {"truncated", bytes.substr(0, bytes.size() - 64), "truncated"},
      {"tiny", bytes.substr(0, 10), "not an enrichd geo snapshot"},
      {"flipped", flipped, "checksum mismatch"},
      {"version", version, "format version 2"},
      {"magic", magic, "not an enrichd geo snapshot"},
      {"padded", bytes + "x", "header says"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = testing_util::write_temp_file(c.name + ".snap", c.contents);
    auto t = load_geo_snapshot(path);
    ASSERT_FALSE(t.is_ok());
    EXPECT_THAT(t.status().message(), HasSubstr(path));
    EXPECT_THAT(t.status().message(), HasSubstr(c.reason));
  }
}

}  // namespace
}  // namespace enrichd
