#include "host/timestamp.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <ctime>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "host/event_parser.h"

namespace enrichd {
namespace {

TEST(TimestampTest, Rfc3339MatchesTimegmOnRandomDates) {
  std::mt19937_64 rng(1126);
  for (int i = 0; i < 200000; ++i) {
    std::tm tm{};
    tm.tm_year = static_cast<int>(rng() % 9999) + 1 - 1900;
    tm.tm_mon = static_cast<int>(rng() % 12);
    tm.tm_mday = 1 + static_cast<int>(rng() % 31);
    tm.tm_hour = static_cast<int>(rng() % 24);
    tm.tm_min = static_cast<int>(rng() % 60);
    tm.tm_sec = static_cast<int>(rng() % 60);
    std::tm norm = tm;
    const time_t t = timegm(&norm);
    const bool valid_day = norm.tm_mday == tm.tm_mday;  // timegm rolled e.g. Feb 30 into March
    const int frac_digits = static_cast<int>(rng() % 10);
    const uint64_t frac = frac_digits == 0 ? 0 : rng() % static_cast<uint64_t>(std::pow(10, frac_digits));
    const int offset = static_cast<int>(rng() % (2 * 23 * 60 + 1)) - 23 * 60;  // minutes
    const char* sep = rng() % 2 ? "T" : " ";
    std::string text = fmt::format("{:04}-{:02}-{:02}{}{:02}:{:02}:{:02}", tm.tm_year + 1900, tm.tm_mon + 1,
                                   tm.tm_mday, sep, tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (frac_digits > 0) text += fmt::format(".{:0{}}", frac, frac_digits);
    if (offset == 0 && rng() % 2) {
      text += "Z";
    } else {
      text +=
          fmt::format("{}{:02}:{:02}", offset < 0 ? '-' : '+', std::abs(offset) / 60, std::abs(offset) % 60);
    }
    const auto got = parse_datetime_ms(text);
    if (!valid_day) {
      EXPECT_FALSE(got.has_value()) << text;
      continue;
    }
    int64_t millis = 0;
    if (frac_digits > 0) {
      const std::string f = fmt::format("{:0{}}", frac, frac_digits) + "00";
      millis = std::stoll(f.substr(0, 3));
    }
    const int64_t expected = (static_cast<int64_t>(t) - offset * 60) * 1000 + millis;
    ASSERT_TRUE(got.has_value()) << text;
    ASSERT_EQ(*got, expected) << text;
  }
}

TEST(TimestampTest, FixedForms) {
  EXPECT_EQ(parse_datetime_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_datetime_ms("2023-11-14T22:13:20.123Z"), 1700000000123);
  EXPECT_EQ(parse_datetime_ms("2023-11-14t22:13:20.123456789z"), 1700000000123);
  EXPECT_EQ(parse_datetime_ms("2023-11-15T00:13:20.123+02:00"), 1700000000123);
  EXPECT_EQ(parse_datetime_ms("2023-11-14T17:13:20,123-0500"), 1700000000123);
  EXPECT_EQ(parse_datetime_ms("2023-11-14 22:13:20"), 1700000000000);  // no offset: UTC
  EXPECT_EQ(parse_datetime_ms("2016-12-31T23:59:60Z"), parse_datetime_ms("2017-01-01T00:00:00Z"));
  EXPECT_EQ(parse_datetime_ms("2024-02-29T00:00:00Z"), 1709164800000);
  EXPECT_EQ(parse_datetime_ms("9999-12-31T23:59:59.999Z"), 253402300799999);
  EXPECT_EQ(parse_datetime_ms("1969-12-31T23:59:59.999Z"), -1);
  for (const char* bad : {"",
                          "2023",
                          "2023-11-14",
                          "2023-11-14T",
                          "2023-11-14T22:13",
                          "2023-11-14T22:13:2",
                          "2023-13-01T00:00:00Z",
                          "2023-00-01T00:00:00Z",
                          "2023-02-29T00:00:00Z",
                          "2023-04-31T00:00:00Z",
                          "2023-11-14T24:00:00Z",
                          "2023-11-14T23:60:00Z",
                          "2023-11-14T23:59:61Z",
                          "2023-11-14T22:13:20.Z",
                          "2023-11-14T22:13:20.1234567890Z",
                          "2023-11-14T22:13:20+24:00",
                          "2023-11-14T22:13:20+01",
                          "2023-11-14T22:13:20Zjunk",
                          " 2023-11-14T22:13:20Z",
                          "2023-11-14X22:13:20Z",
                          "20231114T221320Z",
                          "2023-1-14T22:13:20Z",
                          "+2023-11-14T22:13:20Z"}) {
    EXPECT_FALSE(parse_datetime_ms(bad).has_value()) << bad;
  }
}

TEST(TimestampTest, EpochUnits) {
  EXPECT_EQ(parse_epoch_unit("s"), EpochUnit::kSeconds);
  EXPECT_EQ(parse_epoch_unit("ns"), EpochUnit::kNanoseconds);
  EXPECT_FALSE(parse_epoch_unit("sec").has_value());
  EXPECT_EQ(epoch_to_ms(int64_t{1700000000}, EpochUnit::kSeconds), 1700000000000);
  EXPECT_EQ(epoch_to_ms(int64_t{1700000000123}, EpochUnit::kMilliseconds), 1700000000123);
  EXPECT_EQ(epoch_to_ms(int64_t{1700000000123999}, EpochUnit::kMicroseconds), 1700000000123);
  EXPECT_EQ(epoch_to_ms(int64_t{1700000000123999999}, EpochUnit::kNanoseconds), 1700000000123);
  EXPECT_EQ(epoch_to_ms(int64_t{-1}, EpochUnit::kMicroseconds), -1);  // toward negative infinity
  EXPECT_FALSE(epoch_to_ms(INT64_MAX / 100, EpochUnit::kSeconds).has_value());
  EXPECT_EQ(epoch_to_ms(1700000000.1239, EpochUnit::kSeconds), 1700000000123);
  EXPECT_EQ(epoch_to_ms(-0.5, EpochUnit::kMilliseconds), -1);
  EXPECT_FALSE(epoch_to_ms(1e300, EpochUnit::kSeconds).has_value());
  EXPECT_FALSE(epoch_to_ms(std::nan(""), EpochUnit::kSeconds).has_value());
}

// The parser reads every form; what does not fit becomes a wrong_type dead letter naming "ts".
TEST(TimestampTest, ParserAcceptsEveryFormAndDeadLettersTheRest) {
  auto event = [](const std::string& ts) {
    return R"({"event_id":1,"user_id":2,"pin_id":3,"action":"a","ip":"1.2.3.4","ts":)" + ts + "}";
  };
  struct Case {
    std::string ts;
    EpochUnit unit;
    std::optional<int64_t> ms;  // nullopt: a dead letter
  };
  const std::vector<Case> cases = {
      {"1700000000123", EpochUnit::kMilliseconds, 1700000000123},
      {"1700000000", EpochUnit::kSeconds, 1700000000000},
      {"1700000000.5", EpochUnit::kSeconds, 1700000000500},
      {"1700000000123456", EpochUnit::kMicroseconds, 1700000000123},
      {"\"1700000000123\"", EpochUnit::kMilliseconds, 1700000000123},
      {"\"2023-11-14T22:13:20.123Z\"", EpochUnit::kSeconds, 1700000000123},
      {"\"2023-02-30T00:00:00Z\"", EpochUnit::kMilliseconds, std::nullopt},
      {"\"yesterday\"", EpochUnit::kMilliseconds, std::nullopt},
      {"true", EpochUnit::kMilliseconds, std::nullopt},
      {"null", EpochUnit::kMilliseconds, std::nullopt},
      {"-1", EpochUnit::kMilliseconds, std::nullopt},                    // before 1970: not storable
      {"253402300800", EpochUnit::kSeconds, std::nullopt},               // after 9999
      {"18446744073709551615", EpochUnit::kMilliseconds, std::nullopt},  // beyond int64
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.ts);
    RawBatch raw;
    raw.add(event(c.ts), {0, 7});
    EventParser parser(ParserOptions{.ts_unit = c.unit});
    EventBatch batch;
    std::vector<DeadLetter> dead;
    parser.parse(raw, batch, dead);
    if (c.ms) {
      ASSERT_EQ(batch.size(), 1U);
      EXPECT_EQ(batch.ts_ms[0], *c.ms);
    } else {
      ASSERT_EQ(dead.size(), 1U);
      EXPECT_EQ(dead[0].reason, DeadLetterReason::kWrongType);
      EXPECT_EQ(dead[0].field, "ts");
    }
  }
}

}  // namespace
}  // namespace enrichd
