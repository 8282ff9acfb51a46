// Row encoding for LOAD DATA: escaping, DATETIME(3) text, and whole rows with and without enrichment.
#include "host/row_encoder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ctime>
#include <random>
#include <string>
#include <vector>

namespace enrichd {
namespace {

using ::testing::ElementsAre;

std::string escaped(std::string_view s) {
  std::string out = "prefix:";
  append_escaped(out, s);
  return out.substr(7);
}

std::string datetime(int64_t ms) {
  std::string out = "x";
  append_datetime_ms(out, ms);
  return out.substr(1);
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.emplace_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

TEST(AppendEscapedTest, EscapesSpecialBytes) {
  EXPECT_EQ(escaped(""), "");
  EXPECT_EQ(escaped("plain text ,;\"'"), "plain text ,;\"'");
  EXPECT_EQ(escaped("a\tb"), "a\\tb");
  EXPECT_EQ(escaped("a\nb"), "a\\nb");
  EXPECT_EQ(escaped("a\rb"), "a\\rb");
  EXPECT_EQ(escaped(std::string_view("a\0b", 3)), "a\\0b");
  EXPECT_EQ(escaped("a\\b"), "a\\\\b");
  EXPECT_EQ(escaped("\\N"), "\\\\N");  // the text "\N" must not read as NULL
  EXPECT_EQ(escaped(std::string_view("\t\n\r\0\\", 5)), "\\t\\n\\r\\0\\\\");
  EXPECT_EQ(escaped("\xc3\xa9\xf0\x9f\x98\x80"), "\xc3\xa9\xf0\x9f\x98\x80");  // UTF-8 untouched
  // Appends: keeps what was there.
  std::string out = "keep";
  append_escaped(out, "\t");
  EXPECT_EQ(out, "keep\\t");
}

TEST(AppendEscapedTest, EscapedTextHasNoRawSeparators) {
  std::mt19937_64 rng(3);
  for (int n = 0; n < 2000; ++n) {
    std::string s(rng() % 40, ' ');
    for (auto& c : s) c = static_cast<char>(rng() % 2 ? "\t\n\r\\\0ab"[rng() % 7] : static_cast<char>(rng()));
    const std::string e = escaped(s);
    ASSERT_EQ(e.find('\t'), std::string::npos);
    ASSERT_EQ(e.find('\n'), std::string::npos);
    ASSERT_EQ(e.find('\r'), std::string::npos);
    ASSERT_EQ(e.find('\0'), std::string::npos);
    // Unescaping gives back the input.
    std::string back;
    for (size_t i = 0; i < e.size(); ++i) {
      if (e[i] != '\\') {
        back.push_back(e[i]);
        continue;
      }
      ASSERT_LT(i + 1, e.size());
      const char c = e[++i];
      back.push_back(c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == '0' ? '\0' : c);
    }
    ASSERT_EQ(back, s);
  }
}

TEST(AppendDatetimeTest, KnownDates) {
  EXPECT_EQ(datetime(0), "1970-01-01 00:00:00.000");
  EXPECT_EQ(datetime(1), "1970-01-01 00:00:00.001");
  EXPECT_EQ(datetime(999), "1970-01-01 00:00:00.999");
  EXPECT_EQ(datetime(86399999), "1970-01-01 23:59:59.999");
  EXPECT_EQ(datetime(86400000), "1970-01-02 00:00:00.000");
  EXPECT_EQ(datetime(1700000000123), "2023-11-14 22:13:20.123");
  EXPECT_EQ(datetime(951782400000), "2000-02-29 00:00:00.000");   // leap day of a /400 year
  EXPECT_EQ(datetime(1709164800000), "2024-02-29 00:00:00.000");  // leap day
  EXPECT_EQ(datetime(1709251199999), "2024-02-29 23:59:59.999");
  EXPECT_EQ(datetime(1709251200000), "2024-03-01 00:00:00.000");
  EXPECT_EQ(datetime(4107542400000), "2100-03-01 00:00:00.000");  // 2100 is not a leap year
  EXPECT_EQ(datetime(4107542399000), "2100-02-28 23:59:59.000");
  EXPECT_EQ(datetime(kMaxTimestampMs), "9999-12-31 23:59:59.999");
}

TEST(AppendDatetimeTest, AgreesWithGmtime) {
  std::mt19937_64 rng(77);
  for (int n = 0; n < 20000; ++n) {
    const auto ms = static_cast<int64_t>(rng() % static_cast<uint64_t>(kMaxTimestampMs + 1));
    const time_t secs = static_cast<time_t>(ms / 1000);
    std::tm tm{};
    ASSERT_NE(gmtime_r(&secs, &tm), nullptr);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    ASSERT_EQ(datetime(ms), buf) << ms;
  }
}

// A batch of four events: geo hit with location, geo hit without location, geo miss; category hit with
// and without name, and miss.
struct Fixture {
  GeoTable geo;
  CategoryTable categories;
  EventBatch batch;
};

Fixture make_fixture() {
  std::vector<GeoRecord> recs(2);
  recs[0] = {"AU", "Queensland", "Brisbane\tCBD", -27.5, 153.25, true, "Australia/Brisbane", "4000"};
  recs[1] = {"FR", "", "", 0, 0, false, "", ""};
  auto ip = [](std::string_view t) { return *parse_ip(t); };
  auto geo = GeoTable::build(
      {{ip("1.0.0.0"), ip("1.0.0.255"), 0, 1}, {ip("2001:db8::"), ip("2001:db8::ff"), 1, 2}}, recs);
  EXPECT_TRUE(geo.is_ok()) << geo.status().message();
  Fixture f{std::move(geo).value(), CategoryTable(), EventBatch()};
  EXPECT_TRUE(f.categories.insert(500, 7).is_ok());
  EXPECT_TRUE(f.categories.insert(501, 8).is_ok());
  f.categories.set_name(7, "Food\\Drink");

  EventBatch& b = f.batch;
  auto add = [&](uint64_t id, int64_t ts, uint64_t pin, std::string_view action, std::string_view ip_text,
                 std::string_view app, std::string_view ua, uint32_t geo_rec, uint32_t cat) {
    b.event_id.push_back(id);
    b.ts_ms.push_back(ts);
    b.user_id.push_back(id ^ 1);
    b.pin_id.push_back(pin);
    b.action.push_back(action);
    b.ip.push_back(ip(ip_text));
    b.app.push_back(app);
    b.ua.push_back(ua);
    b.position.push_back({0, static_cast<int64_t>(id)});
    b.geo_record.push_back(geo_rec);
    b.category_id.push_back(cat);
  };
  add(1, 1700000000123, 500, "click", "1.0.0.7", "ios", "UA\n1", 0, 7);
  add(2, 0, 501, "save", "2001:db8::5", "", "", 1, 8);
  add(3, kMaxTimestampMs, 999, "view", "9.9.9.9", "web", std::string_view("nul\0", 4), kNoRecord, kNoRecord);
  add(18446744073709551615ULL, 1709164800000, 500, "ta\tb", "::ffff:1.0.0.9", "an", "droid", 0, 7);
  b.select_all();
  return f;
}

TEST(EncodeRowsTest, OneLinePerSelectedRowWithEveryColumn) {
  const Fixture f = make_fixture();
  std::string out = "existing\n";
  encode_rows(f.batch, f.geo, f.categories, out);
  ASSERT_EQ(out.substr(0, 9), "existing\n");
  auto lines = split(out.substr(9), '\n');
  ASSERT_EQ(lines.size(), 5U);
  EXPECT_EQ(lines.back(), "");  // every row ends with '\n'
  lines.pop_back();
  for (const std::string& line : lines) {
    EXPECT_EQ(split(line, '\t').size(), kOutputColumns.size()) << line;
  }
  EXPECT_THAT(split(lines[0], '\t'),
              ElementsAre("1", "2023-11-14 22:13:20.123", "0", "500", "click", "1.0.0.7", "ios", "UA\\n1",
                          "AU", "Queensland", "Brisbane\\tCBD", "4000", "-27.5", "153.25",
                          "Australia/Brisbane", "7", "Food\\\\Drink"));
  EXPECT_THAT(split(lines[1], '\t'),
              ElementsAre("2", "1970-01-01 00:00:00.000", "3", "501", "save", "2001:db8::5", "", "", "FR", "",
                          "", "", "\\N", "\\N", "", "8", ""));
  EXPECT_THAT(split(lines[2], '\t'),
              ElementsAre("3", "9999-12-31 23:59:59.999", "2", "999", "view", "9.9.9.9", "web", "nul\\0",
                          "\\N", "\\N", "\\N", "\\N", "\\N", "\\N", "\\N", "\\N", "\\N"));
  EXPECT_THAT(split(lines[3], '\t'),
              ElementsAre("18446744073709551615", "2024-02-29 00:00:00.000", "18446744073709551614", "500",
                          "ta\\tb", "1.0.0.9", "an", "droid", "AU", "Queensland", "Brisbane\\tCBD", "4000",
                          "-27.5", "153.25", "Australia/Brisbane", "7", "Food\\\\Drink"));
}

TEST(EncodeRowsTest, AJoinAfterTheCategoryJoinAddsItsIdAndName) {
  Fixture f = make_fixture();
  CategoryTable segments;
  ASSERT_TRUE(segments.add_category(2, "big\tspender"));
  f.batch.join_id = {{2, kNoRecord, 5, 2}};  // 5 has no name
  const CategoryTable* const joins[] = {&segments};
  std::string out;
  encode_rows(f.batch, f.geo, f.categories, out, joins);
  auto lines = split(out, '\n');
  ASSERT_EQ(lines.size(), 5U);
  std::vector<std::vector<std::string>> fields;
  for (size_t i = 0; i < 4; ++i) {
    fields.push_back(split(lines[i], '\t'));
    ASSERT_EQ(fields.back().size(), kOutputColumns.size() + 2) << lines[i];
  }
  EXPECT_THAT(std::vector<std::string>(fields[0].end() - 4, fields[0].end()),
              ElementsAre("7", "Food\\\\Drink", "2", "big\\tspender"));
  EXPECT_THAT(std::vector<std::string>(fields[1].end() - 2, fields[1].end()), ElementsAre("\\N", "\\N"));
  EXPECT_THAT(std::vector<std::string>(fields[2].end() - 2, fields[2].end()), ElementsAre("5", ""));
  // Without the tables the rows are as before: the join columns are the caller's to ask for.
  std::string plain;
  encode_rows(f.batch, f.geo, f.categories, plain);
  EXPECT_EQ(split(split(plain, '\n')[0], '\t').size(), kOutputColumns.size());
}

TEST(EncodeRowsTest, OnlySelectedRowsAreEncoded) {
  Fixture f = make_fixture();
  f.batch.selected = {1, 3};
  std::string out;
  encode_rows(f.batch, f.geo, f.categories, out);
  auto lines = split(out, '\n');
  ASSERT_EQ(lines.size(), 3U);
  EXPECT_EQ(split(lines[0], '\t')[0], "2");
  EXPECT_EQ(split(lines[1], '\t')[0], "18446744073709551615");

  f.batch.selected.clear();
  std::string none;
  encode_rows(f.batch, f.geo, f.categories, none);
  EXPECT_EQ(none, "");
}

TEST(EncodeRowsTest, OutputColumnsMatchTheLayout) {
  ASSERT_EQ(kOutputColumns.size(), 17U);
  EXPECT_EQ(kOutputColumns.front().name, "event_id");
  EXPECT_EQ(kOutputColumns[1].name, "ts");
  EXPECT_EQ(kOutputColumns[8].name, "country_code");
  EXPECT_EQ(kOutputColumns[11].name, "postal_code");
  EXPECT_EQ(kOutputColumns[15].name, "category_id");
  EXPECT_EQ(kOutputColumns.back().name, "category");
  for (const auto& c : kOutputColumns) {
    EXPECT_FALSE(c.name.empty());
    EXPECT_FALSE(c.mysql_type.empty());
  }
}

TEST(EncodeDeadLetterTest, KeepsRawPayloadBytesAndMarksAMissingField) {
  DeadLetter d;
  d.reason = DeadLetterReason::kMalformedJson;
  d.position = {7, 12345};
  d.payload = std::string("{\"a\":\t1\n\\", 9) + std::string(1, '\0') + "\xff";
  std::string out;
  encode_dead_letter(d, "engage\tments", out);
  EXPECT_EQ(out, "engage\\tments\t7\t12345\tmalformed_json\t\\N\t{\"a\":\\t1\\n\\\\\\0\xff\n");

  d.reason = DeadLetterReason::kBadIp;
  d.field = "ip";
  out.clear();
  encode_dead_letter(d, "t", out);
  const auto fields = split(out.substr(0, out.size() - 1), '\t');
  ASSERT_EQ(fields.size(), kDeadLetterColumns.size());
  EXPECT_EQ(fields[3], "bad_ip");
  EXPECT_EQ(fields[4], "ip");
}

}  // namespace
}  // namespace enrichd
