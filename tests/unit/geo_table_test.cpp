// GeoTable: gap-free building, its errors, the CSV importer, and lookups (scalar functions and
// ScalarBackend) against a brute-force scan over random range sets.
#include "host/geo_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "kernels/scalar/scalar_backend.h"
#include "test_util.h"

namespace enrichd {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

IpAddress ip(std::string_view text) {
  auto parsed = parse_ip(text);
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(IpAddress{});
}

IpAddress v4(uint32_t v) {
  IpAddress a;
  a.v4 = v;
  return a;
}

IpAddress v6(Ipv6 v) {
  IpAddress a;
  a.is_v6 = true;
  a.v6 = v;
  return a;
}

GeoRange range(std::string_view first, std::string_view last, uint32_t record, size_t line) {
  return {ip(first), ip(last), record, line};
}

std::vector<GeoRecord> records(size_t n) {
  std::vector<GeoRecord> r(n);
  for (size_t i = 0; i < n; ++i) r[i].city = "city" + std::to_string(i);
  return r;
}

template <typename T>
std::vector<T> to_vector(std::span<const T> s) {
  return {s.begin(), s.end()};
}

TEST(GeoTableTest, EmptyTableIsOneGap) {
  auto t = GeoTable::build({}, {});
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  const GeoTableView v = t->view();
  EXPECT_EQ(to_vector(v.v4_starts), std::vector<uint32_t>{0});
  EXPECT_EQ(to_vector(v.v4_records), std::vector<uint32_t>{kNoRecord});
  EXPECT_EQ(testing_util::v6_starts_of(v), (std::vector<Ipv6>{{0, 0}}));
  EXPECT_EQ(to_vector(v.v6_records), std::vector<uint32_t>{kNoRecord});
  EXPECT_EQ(scalar_geo_lookup_v4(v, 0), kNoRecord);
  EXPECT_EQ(scalar_geo_lookup_v4(v, UINT32_MAX), kNoRecord);
  EXPECT_EQ(scalar_geo_lookup_v6(v, kIpv6Max), kNoRecord);
  EXPECT_EQ(t->record_count(), 0U);
}

TEST(GeoTableTest, GapsAreFilledWithNoRecord) {
  // Out of order on purpose; two ranges touch (no gap between them).
  auto t = GeoTable::build({range("10.0.0.0", "10.0.0.255", 1, 3), range("1.0.0.0", "1.0.0.255", 0, 2),
                            range("10.0.1.0", "10.0.1.9", 2, 4)},
                           records(3));
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  const GeoTableView v = t->view();
  EXPECT_EQ(to_vector(v.v4_starts),
            (std::vector<uint32_t>{0, 0x01000000, 0x01000100, 0x0a000000, 0x0a000100, 0x0a00010a}));
  EXPECT_EQ(to_vector(v.v4_records), (std::vector<uint32_t>{kNoRecord, 0, kNoRecord, 1, 2, kNoRecord}));
  EXPECT_EQ(t->v4_range_count(), 6U);
  EXPECT_EQ(t->v6_range_count(), 1U);
  EXPECT_EQ(scalar_geo_lookup_v4(v, 0x00ffffff), kNoRecord);
  EXPECT_EQ(scalar_geo_lookup_v4(v, 0x01000000), 0U);
  EXPECT_EQ(scalar_geo_lookup_v4(v, 0x010000ff), 0U);
  EXPECT_EQ(scalar_geo_lookup_v4(v, 0x01000100), kNoRecord);
  EXPECT_EQ(scalar_geo_lookup_v4(v, 0x0a0000ff), 1U);
  EXPECT_EQ(scalar_geo_lookup_v4(v, 0x0a000100), 2U);
  EXPECT_EQ(scalar_geo_lookup_v4(v, 0x0a000109), 2U);
  EXPECT_EQ(scalar_geo_lookup_v4(v, 0x0a00010a), kNoRecord);
  EXPECT_EQ(scalar_geo_lookup_v4(v, UINT32_MAX), kNoRecord);
  EXPECT_EQ(t->record(2).city, "city2");
}

TEST(GeoTableTest, RangeStartingAtZeroHasNoLeadingGap) {
  auto t = GeoTable::build({range("0.0.0.0", "0.0.0.0", 0, 1), range("::", "::", 0, 2)}, records(1));
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  const GeoTableView v = t->view();
  EXPECT_EQ(to_vector(v.v4_starts), (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(to_vector(v.v4_records), (std::vector<uint32_t>{0, kNoRecord}));
  EXPECT_EQ(testing_util::v6_starts_of(v), (std::vector<Ipv6>{{0, 0}, {0, 1}}));
  EXPECT_EQ(to_vector(v.v6_records), (std::vector<uint32_t>{0, kNoRecord}));
}

TEST(GeoTableTest, RangesEndingAtTheMaximumAddress) {
  auto t = GeoTable::build({range("255.255.255.0", "255.255.255.255", 0, 1),
                            range("ffff:ffff:ffff:ffff::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1, 2),
                            range("::1", "::1", 0, 3)},
                           records(2));
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  const GeoTableView v = t->view();
  EXPECT_EQ(to_vector(v.v4_starts), (std::vector<uint32_t>{0, 0xffffff00}));
  EXPECT_EQ(to_vector(v.v4_records), (std::vector<uint32_t>{kNoRecord, 0}));
  EXPECT_EQ(testing_util::v6_starts_of(v), (std::vector<Ipv6>{{0, 0}, {0, 1}, {0, 2}, {UINT64_MAX, 0}}));
  EXPECT_EQ(to_vector(v.v6_records), (std::vector<uint32_t>{kNoRecord, 0, kNoRecord, 1}));
  EXPECT_EQ(scalar_geo_lookup_v4(v, UINT32_MAX), 0U);
  EXPECT_EQ(scalar_geo_lookup_v4(v, 0xfffffeff), kNoRecord);
  EXPECT_EQ(scalar_geo_lookup_v6(v, kIpv6Max), 1U);
  EXPECT_EQ(scalar_geo_lookup_v6(v, {UINT64_MAX - 1, UINT64_MAX}), kNoRecord);
  EXPECT_EQ(scalar_geo_lookup_v6(v, {0, 1}), 0U);
  EXPECT_EQ(scalar_geo_lookup_v6(v, {0, 0}), kNoRecord);

  // One range covering a whole family.
  auto all = GeoTable::build({range("0.0.0.0", "255.255.255.255", 0, 1),
                              range("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, 2)},
                             records(1));
  ASSERT_TRUE(all.is_ok()) << all.status().message();
  EXPECT_EQ(to_vector(all->view().v4_starts), std::vector<uint32_t>{0});
  EXPECT_EQ(to_vector(all->view().v4_records), std::vector<uint32_t>{0});
  EXPECT_EQ(testing_util::v6_starts_of(all->view()), (std::vector<Ipv6>{{0, 0}}));
  EXPECT_EQ(to_vector(all->view().v6_records), std::vector<uint32_t>{0});
}

TEST(GeoTableTest, Ipv6RangeCrossingTheHalfBoundary) {
  // The end's low half is all ones, so the next start carries into the high half.
  auto t = GeoTable::build({range("1::", "1::ffff:ffff:ffff:ffff", 0, 1)}, records(1));
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(testing_util::v6_starts_of(t->view()),
            (std::vector<Ipv6>{{0, 0}, {0x0001000000000000ULL, 0}, {0x0001000000000001ULL, 0}}));
}

TEST(GeoTableTest, OverlapIsAnErrorNamingBothLines) {
  const std::vector<std::vector<GeoRange>> cases = {
      {range("1.0.0.0", "1.0.0.255", 0, 11), range("1.0.0.255", "1.0.1.0", 0, 17)},      // shares one address
      {range("1.0.0.10", "1.0.0.20", 0, 17), range("1.0.0.0", "1.0.0.255", 0, 11)},      // contained
      {range("1.0.0.0", "1.0.0.255", 0, 11), range("1.0.0.0", "1.0.0.0", 0, 17)},        // same start
      {range("0.0.0.0", "255.255.255.255", 0, 11), range("9.9.9.9", "9.9.9.9", 0, 17)},  // after full cover
      {range("255.0.0.0", "255.255.255.255", 0, 11), range("255.255.255.255", "255.255.255.255", 0, 17)},
      {range("2001:db8::", "2001:db8::ffff", 0, 11), range("2001:db8::ff", "2001:db9::", 0, 17)},
      {range("ffff::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, 11),
       range("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, 17)},
  };
  for (const auto& ranges : cases) {
    auto t = GeoTable::build(ranges, records(1));
    ASSERT_FALSE(t.is_ok()) << "ranges from line " << ranges[0].source_line;
    EXPECT_THAT(t.status().message(), AllOf(HasSubstr("overlap"), HasSubstr("11"), HasSubstr("17")));
  }
}

TEST(GeoTableTest, ReversedRangeIsAnError) {
  for (const auto& r : {range("1.0.0.1", "1.0.0.0", 0, 23), range("2001:db8::2", "2001:db8::1", 0, 23),
                        range("1::", "0:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0, 23)}) {
    auto t = GeoTable::build({range("5.0.0.0", "5.0.0.0", 0, 1), r}, records(1));
    ASSERT_FALSE(t.is_ok());
    EXPECT_THAT(t.status().message(), AllOf(HasSubstr("line 23"), HasSubstr("ends before it starts")));
  }
  // A single address is not reversed.
  EXPECT_TRUE(GeoTable::build({range("1.0.0.1", "1.0.0.1", 0, 1)}, records(1)).is_ok());
}

TEST(GeoTableTest, MixedFamilyIsAnError) {
  for (const auto& r : {range("1.0.0.0", "2001:db8::1", 0, 31), range("2001:db8::1", "9.0.0.0", 0, 31),
                        range("::", "::ffff:1.2.3.4", 0, 31)}) {  // a mapped address is IPv4
    auto t = GeoTable::build({r}, records(1));
    ASSERT_FALSE(t.is_ok());
    EXPECT_THAT(t.status().message(), AllOf(HasSubstr("line 31"), HasSubstr("IPv4 and IPv6")));
  }
}

TEST(GeoTableTest, RecordIdOutOfRangeIsAnError) {
  auto t = GeoTable::build({range("1.0.0.0", "1.0.0.0", 2, 41)}, records(2));
  ASSERT_FALSE(t.is_ok());
  EXPECT_THAT(t.status().message(), HasSubstr("line 41"));
  // kNoRecord is allowed as an explicit "no location" range.
  auto ok = GeoTable::build({range("1.0.0.0", "1.0.0.0", kNoRecord, 1)}, {});
  ASSERT_TRUE(ok.is_ok()) << ok.status().message();
  EXPECT_EQ(scalar_geo_lookup_v4(ok->view(), 0x01000000), kNoRecord);
}

// --- CSV import ---

TEST(GeoTableCsvTest, LoadsHeaderCommentsAndQuotedFields) {
  const std::string path = testing_util::write_temp_file(
      "geo.csv",
      "start,end,country_code,region,city,latitude,longitude,timezone\r\n"
      "# a comment\n"
      "\n"
      "1.0.0.0,1.0.0.255,AU,\"Queensland\",\"Brisbane, \"\"CBD\"\"\",-27.5,153.0,Australia/Brisbane\n"
      "::ffff:2.0.0.0,::ffff:2.0.0.255,FR,,,,,\n"
      "2001:db8::,2001:db8::ffff,US,CA,\"San Francisco\",37.77,-122.42,America/Los_Angeles\r\n"
      "#1.2.3.4,1.2.3.4,XX,,,,,\n");
  auto t = GeoTable::load_csv(path);
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  ASSERT_EQ(t->record_count(), 3U);
  const GeoTableView v = t->view();
  const uint32_t au = scalar_geo_lookup_v4(v, 0x01000080);
  ASSERT_NE(au, kNoRecord);
  const GeoRecordView r = t->record(au);
  EXPECT_EQ(r.country_code, "AU");
  EXPECT_EQ(r.region, "Queensland");
  EXPECT_EQ(r.city, "Brisbane, \"CBD\"");
  EXPECT_TRUE(r.has_location);
  EXPECT_DOUBLE_EQ(r.latitude, -27.5);
  EXPECT_DOUBLE_EQ(r.longitude, 153.0);
  EXPECT_EQ(r.timezone, "Australia/Brisbane");

  const uint32_t fr = scalar_geo_lookup_v4(v, 0x020000ff);  // mapped IPv6 text loads into the IPv4 table
  ASSERT_NE(fr, kNoRecord);
  EXPECT_EQ(t->record(fr).country_code, "FR");
  EXPECT_FALSE(t->record(fr).has_location);
  EXPECT_EQ(t->record(fr).city, "");

  const uint32_t us = scalar_geo_lookup_v6(v, {0x20010db800000000ULL, 0x1234});
  ASSERT_NE(us, kNoRecord);
  EXPECT_EQ(t->record(us).city, "San Francisco");
  EXPECT_EQ(t->record(us).timezone, "America/Los_Angeles");
  EXPECT_EQ(scalar_geo_lookup_v6(v, {0x20010db800000000ULL, 0x10000}), kNoRecord);
  EXPECT_EQ(scalar_geo_lookup_v4(v, 0x01020304), kNoRecord);  // the commented-out row is not loaded
}

TEST(GeoTableCsvTest, HeaderIsOptional) {
  const std::string path = testing_util::write_temp_file("geo.csv", "1.0.0.0,1.0.0.255,AU,,,,,\n");
  auto t = GeoTable::load_csv(path);
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(t->record_count(), 1U);
  EXPECT_EQ(scalar_geo_lookup_v4(t->view(), 0x01000000), 0U);
}

TEST(GeoTableCsvTest, BadRowsNameTheLine) {
  struct Case {
    std::string body;
    std::string line;  // "path:N" is expected in the message
    std::string detail;
  };
  const std::string header = "start,end,country_code,region,city,latitude,longitude,timezone\n";
  const std::string good = "1.0.0.0,1.0.0.255,AU,,,,,\n";
  const std::vector<Case> cases = {
      {header + good + "1.0.1.0,1.0.1.255,AU,,,\n", ":3:", "expected 3 fields"},
      {header + "# c\n" + good + "1.0.1.0,bogus,AU,,,,,\n", ":4:", "bogus"},
      {header + good + "nope,1.0.1.0,AU,,,,,\n", ":3:", "nope"},
      {good + "start,end,country_code,region,city,latitude,longitude,timezone\n", ":2:", "start"},
      {header + "1.0.1.0,1.0.1.255,AU,,,abc,1.0,\n", ":2:", "latitude"},
      {header + "1.0.1.0,1.0.1.255,AU,,,1.0,,\n", ":2:", "latitude"},
      {header + "1.0.1.0,1.0.1.255,AU,,,nan,1.0,\n", ":2:", "latitude"},
      {header + "1.0.1.0,1.0.1.255,AU,\"unterminated,,,,,\n", ":2:", "unterminated"},
      {header + "\n\n" + good + "1.0.0.128,1.0.1.0,AU,,,,,\n", ":5 overlaps the range at ", "bad8.csv:4"},
      {header + "1.0.1.0,1.0.0.0,AU,,,,,\n", ":2: range ends before it starts", ""},
      {header + "1.0.1.0,2001:db8::,AU,,,,,\n", ":2: range mixes", ""},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].body);
    const std::string path = testing_util::write_temp_file("bad" + std::to_string(i) + ".csv", cases[i].body);
    auto t = GeoTable::load_csv(path);
    ASSERT_FALSE(t.is_ok());
    EXPECT_THAT(t.status().message(), AllOf(HasSubstr(path + cases[i].line), HasSubstr(cases[i].detail)));
  }
}

TEST(GeoTableCsvTest, MissingFileIsAnError) {
  auto t = GeoTable::load_csv(::testing::TempDir() + "/enrichd_no_such_dir/geo.csv");
  ASSERT_FALSE(t.is_ok());
  EXPECT_THAT(t.status().message(), HasSubstr("enrichd_no_such_dir/geo.csv"));
}

// --- random ranges vs brute force ---

template <typename Key>
struct InputRange {
  Key first, last;
  uint32_t record;
};

template <typename Key>
uint32_t brute_force(const std::vector<InputRange<Key>>& ranges, const Key& k) {
  uint32_t found = kNoRecord;
  int hits = 0;
  for (const auto& r : ranges) {
    if (r.first <= k && k <= r.last) {
      found = r.record;
      ++hits;
    }
  }
  EXPECT_LE(hits, 1);
  return found;
}

// Sorted distinct boundary points become [p0,p1], [p2,p3], ...; sometimes a range is made to touch the
// next one, sometimes it is a single address. Works for u32 and Ipv6 through the callbacks.
template <typename Key, typename Next>
std::vector<InputRange<Key>> pair_up(std::vector<Key> points, std::mt19937_64& rng, uint32_t nrecords,
                                     Next next) {
  std::sort(points.begin(), points.end());
  points.erase(std::unique(points.begin(), points.end()), points.end());
  std::vector<InputRange<Key>> out;
  for (size_t i = 0; i + 1 < points.size(); i += 2) {
    Key first = points[i];
    Key last = points[i + 1];
    if (rng() % 8 == 0) last = first;  // single address
    const uint32_t rec = rng() % 16 == 0 ? kNoRecord : static_cast<uint32_t>(rng() % nrecords);
    out.push_back({first, last, rec});
    // Make the next range touch this one now and then (no gap between them).
    if (i + 3 < points.size() && rng() % 4 == 0 && !(last == points[i + 3])) points[i + 2] = next(last);
  }
  return out;
}

TEST(GeoTableRandomTest, LookupsMatchBruteForce) {
  std::mt19937_64 rng(31337);
  ScalarBackend backend;
  for (int round = 0; round < 12; ++round) {
    SCOPED_TRACE(round);
    const uint32_t nrecords = 50;
    const size_t npoints = 2 + rng() % 600;

    // IPv4 points: sometimes clustered in a small space (many touching/adjacent ranges), sometimes spread.
    std::vector<uint32_t> p4;
    const uint32_t spread = round % 3 == 0 ? 2000 : UINT32_MAX;
    for (size_t i = 0; i < npoints; ++i) p4.push_back(static_cast<uint32_t>(rng() % (uint64_t{spread} + 1)));
    if (round % 2 == 0) p4.push_back(0);
    if (round % 4 < 2) p4.push_back(UINT32_MAX);
    auto r4 = pair_up<uint32_t>(p4, rng, nrecords, [](uint32_t k) { return k + 1; });

    // IPv6 points: /64-aligned in some rounds, arbitrary in others; hi values drawn from a small set so
    // that ranges share high halves.
    std::vector<Ipv6> p6;
    std::vector<uint64_t> his = {0, 1, 0x20010db800000000ULL, UINT64_MAX};
    for (int i = 0; i < 8; ++i) his.push_back(rng());
    for (size_t i = 0; i < npoints; ++i) {
      const uint64_t hi = his[rng() % his.size()];
      const uint64_t lo = round % 2 == 0 ? 0 : (rng() % 3 == 0 ? rng() % 100 : rng());
      p6.push_back({hi, lo});
    }
    if (round % 3 == 0) p6.push_back({0, 0});
    if (round % 3 != 2) p6.push_back(kIpv6Max);
    auto r6 = pair_up<Ipv6>(p6, rng, nrecords, ipv6_next);

    std::vector<GeoRange> ranges;
    size_t line = 1;
    for (const auto& r : r4) ranges.push_back({v4(r.first), v4(r.last), r.record, line++});
    for (const auto& r : r6) ranges.push_back({v6(r.first), v6(r.last), r.record, line++});
    std::shuffle(ranges.begin(), ranges.end(), rng);
    auto table = GeoTable::build(ranges, records(nrecords));
    ASSERT_TRUE(table.is_ok()) << table.status().message();
    const GeoTableView view = table->view();
    ASSERT_FALSE(view.v4_starts.empty());
    EXPECT_EQ(view.v4_starts[0], 0U);
    const std::vector<Ipv6> v6_starts = testing_util::v6_starts_of(view);
    EXPECT_EQ(v6_starts[0], (Ipv6{0, 0}));
    EXPECT_EQ(view.v6_starts64.empty(),
              std::any_of(v6_starts.begin(), v6_starts.end(), [](const Ipv6& a) { return a.lo != 0; }));
    EXPECT_TRUE(std::is_sorted(view.v4_starts.begin(), view.v4_starts.end()));
    EXPECT_EQ(std::adjacent_find(view.v4_starts.begin(), view.v4_starts.end()), view.v4_starts.end());
    EXPECT_TRUE(std::is_sorted(v6_starts.begin(), v6_starts.end()));
    EXPECT_EQ(std::adjacent_find(v6_starts.begin(), v6_starts.end()), v6_starts.end());

    // Queries: every edge address plus random ones.
    std::vector<uint32_t> q4 = {0, UINT32_MAX};
    for (const auto& r : r4) {
      for (uint32_t k : {r.first, r.last, r.first - 1, r.last + 1}) q4.push_back(k);  // wraps at 0 / max
    }
    for (int i = 0; i < 5000; ++i) q4.push_back(static_cast<uint32_t>(rng() % (uint64_t{spread} + 1)));
    for (int i = 0; i < 1000; ++i) q4.push_back(static_cast<uint32_t>(rng()));
    std::vector<Ipv6> q6 = {{0, 0}, kIpv6Max};
    for (const auto& r : r6) {
      q6.push_back(r.first);
      q6.push_back(r.last);
      if (!(r.first == Ipv6{0, 0})) q6.push_back(ipv6_prev(r.first));
      if (!(r.last == kIpv6Max)) q6.push_back(ipv6_next(r.last));
    }
    for (int i = 0; i < 5000; ++i) q6.push_back({his[rng() % his.size()], rng() % 2 ? rng() : rng() % 200});

    std::vector<uint32_t> out4(q4.size());
    ASSERT_TRUE(backend.geo_lookup_v4(view, q4, out4).is_ok());
    for (size_t i = 0; i < q4.size(); ++i) {
      const uint32_t want = brute_force(r4, q4[i]);
      ASSERT_EQ(scalar_geo_lookup_v4(view, q4[i]), want) << "address " << format_ipv4(q4[i]);
      ASSERT_EQ(out4[i], want) << "address " << format_ipv4(q4[i]);
    }
    std::vector<uint32_t> out6(q6.size());
    ASSERT_TRUE(backend.geo_lookup_v6(view, q6, out6).is_ok());
    for (size_t i = 0; i < q6.size(); ++i) {
      const uint32_t want = brute_force(r6, q6[i]);
      ASSERT_EQ(scalar_geo_lookup_v6(view, q6[i]), want) << "address " << format_ipv6(q6[i]);
      ASSERT_EQ(out6[i], want) << "address " << format_ipv6(q6[i]);
    }
  }
}

TEST(GeoTableRandomTest, OverlapDetectionMatchesBruteForce) {
  // Few ranges in a tiny address space, so that overlaps, touching ranges and gaps are all common.
  std::mt19937_64 rng(4242);
  int accepted = 0, rejected = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<InputRange<uint32_t>> r4;
    std::vector<GeoRange> ranges;
    const size_t n = 1 + rng() % 5;
    for (size_t i = 0; i < n; ++i) {
      uint32_t a = static_cast<uint32_t>(rng() % 40);
      uint32_t b = static_cast<uint32_t>(rng() % 40);
      if (b < a) std::swap(a, b);
      if (rng() % 6 == 0) b = UINT32_MAX;  // up to the end of the space
      r4.push_back({a, b, static_cast<uint32_t>(i)});
      ranges.push_back({v4(a), v4(b), static_cast<uint32_t>(i), 100 + i});
    }
    bool overlap = false;
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = i + 1; j < n; ++j) {
        overlap |= r4[i].first <= r4[j].last && r4[j].first <= r4[i].last;
      }
    }
    auto t = GeoTable::build(ranges, records(n));
    ASSERT_EQ(t.is_ok(), !overlap) << "round " << round << ": " << t.status().message();
    if (!t.is_ok()) {
      ++rejected;
      EXPECT_THAT(t.status().message(), HasSubstr("overlaps"));
      continue;
    }
    ++accepted;
    for (uint32_t k = 0; k < 45; ++k) ASSERT_EQ(scalar_geo_lookup_v4(t->view(), k), brute_force(r4, k)) << k;
    ASSERT_EQ(scalar_geo_lookup_v4(t->view(), UINT32_MAX), brute_force(r4, UINT32_MAX));
  }
  EXPECT_GT(accepted, 300);
  EXPECT_GT(rejected, 300);
}

// Device copies (the cuda backend) are keyed on the view's generation: copies of a table share it (the
// same arrays), any other table has its own, even with equal content.
TEST(GeoTableTest, GenerationNamesTheTable) {
  const GeoTable a;
  const GeoTable b;
  EXPECT_NE(a.view().generation, 0u);
  EXPECT_NE(a.view().generation, b.view().generation);
  const GeoTable copy = a;
  EXPECT_EQ(copy.view().generation, a.view().generation);
}

}  // namespace
}  // namespace enrichd
