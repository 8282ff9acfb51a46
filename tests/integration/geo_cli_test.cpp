// `enrichd geo import|lookup|info` through the binary: for an .mmdb made by MaxMind's writer, every row
// `geo lookup` prints must be what libmaxminddb answers for the same address, on every backend and from
// the snapshot `geo import` writes.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "host/geo_snapshot.h"
#include "test_support.h"
#include "tests/unit/geo_fixture.h"

namespace enrichd {
namespace {

using namespace std::chrono_literals;
using testing_support::run_process;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// The row `enrichd geo lookup` must print for `input`, from libmaxminddb's answer.
std::string expected_row(const std::string& input, const std::optional<GeoRecord>& r) {
  if (!r) return input + "\t\t\t\t\t\t\t";
  std::string loc = r->has_location ? fmt::format("{}\t{}", r->latitude, r->longitude) : "\t";
  return fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{}", input, r->country_code, r->region, r->city, r->postal_code,
                     loc, r->timezone);
}

testing_support::ProcessResult lookup(const std::string& db, const std::string& input_file,
                                      const std::string& backend) {
  return run_process({"/bin/sh", "-c",
                      "exec '" + testing_support::enrichd_binary() + "' geo lookup --db '" + db +
                          "' --backend " + backend + " --batch 7 < '" + input_file + "'"},
                     60s);
}

TEST(GeoCli, LookupAnswersWhatLibmaxminddbAnswers) {
  const std::vector<testing_util::MmdbEntry> entries = {
      {"net",
       "1.0.0.0/8",
       "",
       {"AU", "Queensland", "Brisbane", -27.5, 153.25, true, "Australia/Brisbane", "4000"}},
      {"net", "1.2.3.0/24", "", {"NZ", "", "Auckland, \"CBD\"", 0, 0, false, "", ""}},
      {"range",
       "10.0.0.5",
       "10.0.0.77",
       {"DE", "Berlin", "Berlin", 52.52, 13.405, true, "Europe/Berlin", "10115"}},
      {"net", "2001:db8::/32", "", {"US", "", "", 0, 0, false, "", ""}},
      {"range", "2a00::5", "2a00::ff", {"FR", "", "Paris", 48.85, 2.35, true, "", ""}},
  };
  const std::string dir = testing_support::make_temp_dir("geo-cli");
  const std::string mmdb = testing_util::write_mmdb("cli", entries);
  const std::vector<std::string> inputs = {"1.0.0.0",
                                           "0.255.255.255",
                                           "1.2.3.4",
                                           "1.2.4.0",
                                           "1.255.255.255",
                                           "2.0.0.0",
                                           "10.0.0.4",
                                           "10.0.0.5",
                                           "10.0.0.77",
                                           "10.0.0.78",
                                           "0.0.0.0",
                                           "255.255.255.255",
                                           "::",
                                           "::1.2.3.4",
                                           "::ffff:1.2.3.4",
                                           "2002:102:304::",
                                           "2001:0:a00:5::",
                                           "2001:db8::",
                                           "2001:db8:ffff:ffff::1",
                                           "2001:db9::",
                                           "2a00::4",
                                           "2a00::5",
                                           "2a00::ff",
                                           "2a00::100",
                                           "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"};
  std::string input_text;
  for (const auto& a : inputs) input_text += a + "\n";
  input_text += "not-an-address\n";
  const std::string input_file = dir + "/in.txt";
  testing_support::write_file(input_file, input_text);

  testing_util::MmdbReader reader(mmdb);
  std::vector<std::string> expected;
  for (const auto& a : inputs) expected.push_back(expected_row(a, reader.lookup(*parse_ip(a))));
  expected.push_back("not-an-address\terror: not an IPv4 or IPv6 address");

  const std::string snap = dir + "/geo.snap";
  auto imported = run_process({testing_support::enrichd_binary(), "geo", "import", mmdb, "-o", snap}, 60s);
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  auto info = run_process({testing_support::enrichd_binary(), "geo", "info", snap}, 60s);
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_NE(info.out.find("ipv6_key_bits\t128"), std::string::npos) << info.out;  // 2a00::5 is not aligned

  for (const std::string& db : {mmdb, snap}) {
    for (const auto& b : list_backends()) {
      if (!b.available) continue;
      SCOPED_TRACE(db + " on " + b.name);
      auto r = lookup(db, input_file, b.name);
      EXPECT_EQ(r.exit_code, 1) << "a bad line makes the exit code 1: " << r.err;
      EXPECT_NE(r.err.find("1 line(s) were not addresses"), std::string::npos) << r.err;
      EXPECT_EQ(lines_of(r.out), expected);
    }
  }
}

TEST(GeoCli, ErrorsNameTheFile) {
  const std::string dir = testing_support::make_temp_dir("geo-cli-err");
  const std::string bad = dir + "/bad.csv";
  testing_support::write_file(bad, "1.0.0.0,1.0.0.255,AU\n1.0.0.9,1.0.1.0,NZ\n");
  auto r = run_process({testing_support::enrichd_binary(), "geo", "import", bad, "-o", dir + "/x.snap"}, 60s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(bad + ":2 overlaps"), std::string::npos) << r.err;

  const std::string junk = dir + "/junk.snap";
  testing_support::write_file(junk, std::string(kGeoSnapshotMagic.begin(), kGeoSnapshotMagic.end()) + "rest");
  r = run_process({testing_support::enrichd_binary(), "geo", "info", junk}, 60s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(junk), std::string::npos) << r.err;

  r = run_process({testing_support::enrichd_binary(), "geo", "lookup", "--db", junk}, 60s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not an enrichd geo snapshot"), std::string::npos) << r.err;
}

// `enrichd run` with an .mmdb and with its snapshot as enrich.geo: rows carry the .mmdb's answers,
// postal codes included, and aliased IPv6 forms (6to4, IPv4-compatible) get the IPv4 record.
TEST(GeoCli, RunEnrichesFromAnMmdbAndItsSnapshot) {
  if (testing_support::test_dsn().empty())
    GTEST_SKIP() << "ENRICHD_TEST_DSN is not set; run through scripts/test";
  const std::string dir = testing_support::make_temp_dir("geo-run");
  const std::string mmdb = testing_util::write_mmdb(
      "run", {{"net",
               "1.2.3.0/24",
               "",
               {"AU", "Queensland", "Brisbane", -27.5, 153.25, true, "Australia/Brisbane", "4000"}},
              {"net", "2001:db8::/32", "", {"US", "", "", 0, 0, false, "", "94035"}}});
  auto imported =
      run_process({testing_support::enrichd_binary(), "geo", "import", mmdb, "-o", dir + "/geo.snap"}, 60s);
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  testing_support::write_file(dir + "/pins.csv", "1,7\n");
  const std::vector<std::string> ips = {"1.2.3.4", "2002:102:304::1", "::1.2.3.9", "2001:db8::1", "9.9.9.9"};
  std::string events;
  for (size_t i = 0; i < ips.size(); ++i) {
    events += fmt::format(
                  R"({{"event_id":{},"ts":1700000000000,"user_id":1,"pin_id":1,"action":"view","ip":"{}"}})",
                  i + 1, ips[i]) +
              "\n";
  }
  testing_support::write_file(dir + "/events.jsonl", events);
  auto db = testing_support::connect_test_db();
  ASSERT_TRUE(db);
  for (const std::string& geo : {mmdb, dir + "/geo.snap"}) {
    SCOPED_TRACE(geo);
    const std::string table = testing_support::unique_name("geo_run_");
    testing_support::write_file(dir + "/c.toml", fmt::format(R"([source]
kind = "file"
path = "events.jsonl"
[enrich]
geo = ["{}"]
category_csv = "pins.csv"
[sink]
dsn = "{}"
table = "{}"
)",
                                                             geo, testing_support::test_dsn(), table));
    auto r = run_process({testing_support::enrichd_binary(), "run", "-c", dir + "/c.toml"}, 60s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto rows = db->query(
        "SELECT event_id, IFNULL(country_code,'-'), IFNULL(postal_code,'-'), IFNULL(latitude,'-') FROM `" +
        table + "` ORDER BY event_id");
    ASSERT_TRUE(rows) << rows.status().message();
    const std::vector<std::vector<std::string>> expected = {{"1", "AU", "4000", "-27.5"},
                                                            {"2", "AU", "4000", "-27.5"},
                                                            {"3", "AU", "4000", "-27.5"},
                                                            {"4", "US", "94035", "-"},
                                                            {"5", "-", "-", "-"}};
    EXPECT_EQ(*rows, expected);
    (void)db->execute("DROP TABLE `" + table + "`");
  }
}

}  // namespace
}  // namespace enrichd
