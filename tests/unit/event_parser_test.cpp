// EventParser: every column of a good event, every dead-letter reason, NUL bytes, optional and unknown
// fields, and the rule that each message ends up in exactly one of events or dead letters.
#include "host/event_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace enrichd {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;  // key -> raw JSON value

const Fields kBaseFields = {
    {"event_id", "123"},     {"ts", "1700000000123"}, {"user_id", "42"},  {"pin_id", "99"},
    {"action", "\"click\""}, {"ip", "\"1.2.3.4\""},   {"app", "\"ios\""}, {"ua", "\"Mozilla/5.0 (X11)\""},
};

std::string to_json(const Fields& fields) {
  std::string s = "{";
  for (const auto& [k, v] : fields) {
    if (s.size() > 1) s += ",";
    s += fmt::format("\"{}\":{}", k, v);
  }
  return s + "}";
}

// The base event with some fields replaced (or added, when new) and some dropped.
std::string event_with(const Fields& replace, const std::vector<std::string>& drop = {}) {
  Fields f = kBaseFields;
  for (const auto& [k, v] : replace) {
    auto it = std::find_if(f.begin(), f.end(), [&](const auto& kv) { return kv.first == k; });
    if (it == f.end()) {
      f.emplace_back(k, v);
    } else {
      it->second = v;
    }
  }
  for (const auto& k : drop) {
    f.erase(std::remove_if(f.begin(), f.end(), [&](const auto& kv) { return kv.first == k; }), f.end());
  }
  return to_json(f);
}

const std::string kGood = event_with({});

struct Parsed {
  EventBatch batch;
  std::vector<DeadLetter> dead;
};

Parsed parse_messages(const std::vector<std::string>& messages, ParserOptions options = {}) {
  RawBatch raw;
  for (size_t i = 0; i < messages.size(); ++i) {
    raw.add(messages[i], {static_cast<int32_t>(i % 3), static_cast<int64_t>(1000 + i)});
  }
  Parsed p;
  EventParser parser(options);
  parser.parse(raw, p.batch, p.dead);
  return p;
}

// Parses one message that must become a dead letter, and returns it.
DeadLetter dead_letter_of(const std::string& message, ParserOptions options = {}) {
  Parsed p = parse_messages({message}, options);
  EXPECT_EQ(p.batch.size(), 0U) << "accepted: " << message;
  EXPECT_EQ(p.dead.size(), 1U) << message;
  if (p.dead.size() != 1) return {};
  EXPECT_EQ(p.dead[0].payload, message);
  EXPECT_EQ(p.dead[0].position.partition, 0);
  EXPECT_EQ(p.dead[0].position.offset, 1000);
  return p.dead[0];
}

void expect_dead(const std::string& message, DeadLetterReason reason, std::string_view field = {}) {
  const DeadLetter d = dead_letter_of(message);
  EXPECT_EQ(to_string(d.reason), to_string(reason)) << "message: " << message;
  EXPECT_EQ(d.field, field) << "message: " << message;
}

// Parses one message that must become an event, and returns the batch.
EventBatch event_of(const std::string& message) {
  Parsed p = parse_messages({message});
  EXPECT_TRUE(p.dead.empty()) << "rejected (" << (p.dead.empty() ? "" : to_string(p.dead[0].reason)) << " "
                              << (p.dead.empty() ? "" : p.dead[0].field) << "): " << message;
  EXPECT_EQ(p.batch.size(), 1U);
  return std::move(p.batch);
}

TEST(EventParserTest, GoodEventFillsEveryColumn) {
  const Parsed p = parse_messages({kGood});
  ASSERT_TRUE(p.dead.empty());
  const EventBatch& b = p.batch;
  ASSERT_EQ(b.size(), 1U);
  EXPECT_EQ(b.event_id[0], 123U);
  EXPECT_EQ(b.ts_ms[0], 1700000000123);
  EXPECT_EQ(b.user_id[0], 42U);
  EXPECT_EQ(b.pin_id[0], 99U);
  EXPECT_EQ(b.action[0], "click");
  EXPECT_FALSE(b.ip[0].is_v6);
  EXPECT_EQ(b.ip[0].v4, 0x01020304U);
  EXPECT_EQ(b.app[0], "ios");
  EXPECT_EQ(b.ua[0], "Mozilla/5.0 (X11)");
  EXPECT_EQ(b.position[0].partition, 0);
  EXPECT_EQ(b.position[0].offset, 1000);
  // Every column has one row; all selected; no enrichment yet.
  EXPECT_EQ(b.ts_ms.size(), 1U);
  EXPECT_EQ(b.user_id.size(), 1U);
  EXPECT_EQ(b.pin_id.size(), 1U);
  EXPECT_EQ(b.action.size(), 1U);
  EXPECT_EQ(b.ip.size(), 1U);
  EXPECT_EQ(b.app.size(), 1U);
  EXPECT_EQ(b.ua.size(), 1U);
  EXPECT_EQ(b.position.size(), 1U);
  EXPECT_EQ(b.selected, std::vector<uint32_t>{0});
  EXPECT_EQ(b.geo_record, std::vector<uint32_t>{kNoRecord});
  EXPECT_EQ(b.category_id, std::vector<uint32_t>{kNoRecord});
}

TEST(EventParserTest, ExtremeValuesAndIpv6) {
  const EventBatch b = event_of(event_with({{"event_id", "18446744073709551615"},
                                            {"user_id", "0"},
                                            {"pin_id", "18446744073709551614"},
                                            {"ts", std::to_string(kMaxTimestampMs)},
                                            {"ip", "\"2001:DB8::1\""}}));
  ASSERT_EQ(b.size(), 1U);
  EXPECT_EQ(b.event_id[0], UINT64_MAX);
  EXPECT_EQ(b.user_id[0], 0U);
  EXPECT_EQ(b.pin_id[0], UINT64_MAX - 1);
  EXPECT_EQ(b.ts_ms[0], kMaxTimestampMs);
  EXPECT_TRUE(b.ip[0].is_v6);
  EXPECT_EQ(b.ip[0].v6, (Ipv6{0x20010db800000000ULL, 1}));

  const EventBatch zero_ts = event_of(event_with({{"ts", "0"}}));
  ASSERT_EQ(zero_ts.size(), 1U);
  EXPECT_EQ(zero_ts.ts_ms[0], 0);

  const EventBatch mapped = event_of(event_with({{"ip", "\"::ffff:10.0.0.1\""}}));
  ASSERT_EQ(mapped.size(), 1U);
  EXPECT_FALSE(mapped.ip[0].is_v6);
  EXPECT_EQ(mapped.ip[0].v4, 0x0a000001U);
}

TEST(EventParserTest, IntegersOfEveryLength) {
  // 1 to 20 digits (the fast path reads up to 15, simdjson the rest), with and without spaces around,
  // in every u64 column and in ts; 20-digit values above 2^64 - 1 are a wrong type.
  std::mt19937_64 rng(20);
  for (int digits = 1; digits <= 20; ++digits) {
    for (int trial = 0; trial < 50; ++trial) {
      std::string text(1, static_cast<char>('1' + rng() % 9));
      while (static_cast<int>(text.size()) < digits) text += static_cast<char>('0' + rng() % 10);
      if (trial == 0) text = digits == 1 ? "0" : std::string(static_cast<size_t>(digits), '9');
      const std::string spaced = trial % 2 ? " " + text + " \n\t" : text;
      const std::string msg = event_with({{"event_id", spaced}, {"user_id", spaced}, {"pin_id", text}});
      SCOPED_TRACE(msg);
      errno = 0;
      const unsigned long long want = std::strtoull(text.c_str(), nullptr, 10);
      if (errno == ERANGE) {
        expect_dead(msg, DeadLetterReason::kWrongType, "event_id");
        continue;
      }
      const EventBatch b = event_of(msg);
      ASSERT_EQ(b.size(), 1U);
      EXPECT_EQ(b.event_id[0], want);
      EXPECT_EQ(b.user_id[0], want);
      EXPECT_EQ(b.pin_id[0], want);
      if (want <= static_cast<unsigned long long>(kMaxTimestampMs)) {
        const EventBatch t = event_of(event_with({{"ts", spaced}}));
        ASSERT_EQ(t.size(), 1U);
        EXPECT_EQ(t.ts_ms[0], static_cast<int64_t>(want));
      }
    }
  }
  // Leading zeros are no JSON number.
  for (const char* bad : {"01", "00", "007", "0123456789012345"}) {
    expect_dead(event_with({{"user_id", bad}}), DeadLetterReason::kMalformedJson, "user_id");
    expect_dead(event_with({{"ts", bad}}), DeadLetterReason::kMalformedJson, "ts");
  }
}

TEST(EventParserTest, KeysAndStringsNearTheEndOfTheMessage) {
  // Keys of every length up to 40 bytes and strings ending right at the closing brace: the in-place
  // readers look 16 bytes ahead, which must never change the answer.
  for (size_t n = 1; n <= 40; ++n) {
    const std::string key(n, 'k');
    const EventBatch b = event_of(event_with({{key, "1"}, {"ua", "\"" + std::string(n, 'u') + "\""}}));
    ASSERT_EQ(b.size(), 1U);
    EXPECT_EQ(b.ua[0], std::string(n, 'u'));
    const std::string escaped_key = "k\\\"" + std::string(n, 'x');  // k\\"xxx: an escaped quote inside
    const EventBatch e = event_of("{\"" + escaped_key + "\":1," + kGood.substr(1));
    ASSERT_EQ(e.size(), 1U);
  }
  // A backslash in the last bytes of a long string, and one just past a 16-byte boundary.
  for (size_t n : {15U, 16U, 17U, 31U, 32U, 33U}) {
    const std::string raw = std::string(n, 'a') + "\\\"";  // aaa\"
    const EventBatch b = event_of(event_with({{"ua", "\"" + raw + "\""}}));
    ASSERT_EQ(b.size(), 1U);
    EXPECT_EQ(b.ua[0], std::string(n, 'a') + "\"");
  }
}

TEST(EventParserTest, EscapedStringsAreUnescaped) {
  const EventBatch b = event_of(event_with(
      {{"action", R"("a\"b\\c\/d\u00e9\t\n")"}, {"ua", R"("\ud83d\ude00 x")"}, {"ip", R"("\u0031.2.3.4")"}}));
  ASSERT_EQ(b.size(), 1U);
  EXPECT_EQ(b.action[0], "a\"b\\c/d\xc3\xa9\t\n");
  EXPECT_EQ(b.ua[0], "\xf0\x9f\x98\x80 x");
  EXPECT_EQ(b.ip[0].v4, 0x01020304U);
}

TEST(EventParserTest, FieldOrderAndWhitespaceDoNotMatter) {
  Fields reversed = kBaseFields;
  std::reverse(reversed.begin(), reversed.end());
  std::string spaced =
      " \t\r\n { \"event_id\" : 123 ,\n\"ts\":1700000000123, \"user_id\":42,\"pin_id\":99,"
      "\"action\":\"click\",\"ip\":\"1.2.3.4\",\"app\":\"ios\",\"ua\":\"Mozilla/5.0 (X11)\" }"
      " \n\r\t ";
  for (const std::string& msg : {to_json(reversed), spaced}) {
    const EventBatch b = event_of(msg);
    ASSERT_EQ(b.size(), 1U) << msg;
    EXPECT_EQ(b.event_id[0], 123U);
    EXPECT_EQ(b.ts_ms[0], 1700000000123);
    EXPECT_EQ(b.pin_id[0], 99U);
    EXPECT_EQ(b.action[0], "click");
    EXPECT_EQ(b.ua[0], "Mozilla/5.0 (X11)");
  }
}

TEST(EventParserTest, EmptyMessage) {
  expect_dead("", DeadLetterReason::kEmpty);
}

TEST(EventParserTest, OversizedMessage) {
  ParserOptions small;
  small.max_message_bytes = 64;
  ASSERT_GT(kGood.size(), 64U);
  const DeadLetter d = dead_letter_of(kGood, small);
  EXPECT_EQ(d.reason, DeadLetterReason::kOversized);
  EXPECT_EQ(d.field, "");
  // Exactly at the limit is fine; one byte over is not.
  ParserOptions exact;
  exact.max_message_bytes = kGood.size();
  Parsed p = parse_messages({kGood, kGood + " "}, exact);
  ASSERT_EQ(p.batch.size(), 1U);
  ASSERT_EQ(p.dead.size(), 1U);
  EXPECT_EQ(p.dead[0].reason, DeadLetterReason::kOversized);
  EXPECT_EQ(p.dead[0].position.offset, 1001);
  // Oversized garbage is reported as oversized, before any parsing.
  const DeadLetter g = dead_letter_of(std::string(100, '{'), small);
  EXPECT_EQ(g.reason, DeadLetterReason::kOversized);
}

TEST(EventParserTest, MalformedJson) {
  const std::string truncated = kGood.substr(0, kGood.size() - 1);
  const std::vector<std::string> messages = {
      "{",
      "}",
      "{\"event_id\":123,",
      truncated,
      kGood.substr(0, kGood.size() / 2),
      kGood.substr(0, kGood.find("\"click\"") + 3),  // inside a string
      kGood + " x",
      kGood + "x",
      kGood + "}",
      kGood + "]",
      kGood + kGood,
      kGood + " " + kGood,
      kGood + ",",
      "not json",
      "{event_id:123}",
      "{'event_id':123}",
      "{\"event_id\":123,,\"ts\":1}",
      "{\"event_id\" 123}",
      "{\"event_id\":123 \"ts\":1}",
      "{\"event_id\":123,}",
      "{,}",
      "\"unterminated",
      "[1,2",
      event_with({{"extra", "{\"a\":[1,2}"}}),  // broken unknown field
      event_with({{"extra", "[1,2,{\"b\":]"}}),
      // Bad number text or no value at all in a known field: malformed, not a wrong type.
      event_with({{"event_id", "12a"}}),
      event_with({{"user_id", "01"}}),
      event_with({{"pin_id", "tru"}}),
      "{\"event_id\":}",
      "{\"event_id\":,\"ts\":1}",
      // A schema problem in a message that is not valid JSON further on is still malformed.
      event_with({{"user_id", "\"abc\""}}) + " x",
      event_with({{"ip", "\"bad\""}}) + "]",
      event_with({{"extra", "[1,,2]"}}, {"pin_id"}),
      "[1] x",
      "\"str\" \"str\"",
  };
  for (const std::string& msg : messages) {
    SCOPED_TRACE(msg);
    const DeadLetter d = dead_letter_of(msg);
    EXPECT_EQ(to_string(d.reason), to_string(DeadLetterReason::kMalformedJson));
  }
}

TEST(EventParserTest, NotAnObject) {
  for (const std::string& msg : {std::string("[1]"), std::string("\"str\""), std::string("42"),
                                 std::string("-1.5e3"), std::string("null"), std::string("true"),
                                 std::string("false"), std::string("[]"), "[" + kGood + "]"}) {
    SCOPED_TRACE(msg);
    expect_dead(msg, DeadLetterReason::kNotObject);
  }
}

TEST(EventParserTest, MissingFieldNamesTheField) {
  for (const std::string field : {"event_id", "ts", "user_id", "pin_id", "action", "ip"}) {
    SCOPED_TRACE(field);
    expect_dead(event_with({}, {field}), DeadLetterReason::kMissingField, field);
  }
  expect_dead("{}", DeadLetterReason::kMissingField, "event_id");
  expect_dead(" { } ", DeadLetterReason::kMissingField, "event_id");
  expect_dead(R"({"something":"else"})", DeadLetterReason::kMissingField, "event_id");
  // A required field nested in an unknown object does not count.
  expect_dead(event_with({{"nested", R"({"ip":"1.2.3.4"})"}}, {"ip"}), DeadLetterReason::kMissingField, "ip");
}

TEST(EventParserTest, WrongTypeNamesTheField) {
  const std::vector<std::pair<Fields, std::string>> cases = {
      {{{"user_id", "\"abc\""}}, "user_id"},
      {{{"user_id", "\"42\""}}, "user_id"},
      {{{"user_id", "-1"}}, "user_id"},
      {{{"user_id", "1.5"}}, "user_id"},
      {{{"user_id", "null"}}, "user_id"},
      {{{"user_id", "true"}}, "user_id"},
      {{{"event_id", "18446744073709551616"}}, "event_id"},  // 2^64
      {{{"event_id", "[1]"}}, "event_id"},
      {{{"event_id", "{}"}}, "event_id"},
      {{{"pin_id", "1e3"}}, "pin_id"},
      {{{"pin_id", "-0.0"}}, "pin_id"},
      {{{"ts", "\"soon\""}}, "ts"},  // strings: digits or RFC 3339 (see timestamp_test.cpp)
      {{{"ts", "\"2023-02-30T00:00:00Z\""}}, "ts"},
      {{{"ts", "1.5e300"}}, "ts"},
      {{{"ts", "-1"}}, "ts"},
      {{{"ts", "-1700000000123"}}, "ts"},
      {{{"ts", std::to_string(kMaxTimestampMs + 1)}}, "ts"},
      {{{"ts", "9223372036854775807"}}, "ts"},
      {{{"ts", "9223372036854775808"}}, "ts"},
      {{{"ts", "99999999999999999999999"}}, "ts"},
      {{{"action", "5"}}, "action"},
      {{{"action", "null"}}, "action"},
      {{{"action", "[\"click\"]"}}, "action"},
      {{{"ip", "16909060"}}, "ip"},
      {{{"ip", "null"}}, "ip"},
      {{{"app", "5"}}, "app"},
      {{{"app", "false"}}, "app"},
      {{{"ua", "[]"}}, "ua"},
      {{{"ua", "{\"x\":1}"}}, "ua"},
  };
  for (const auto& [fields, field] : cases) {
    const std::string msg = event_with(fields);
    SCOPED_TRACE(msg);
    expect_dead(msg, DeadLetterReason::kWrongType, field);
  }
}

TEST(EventParserTest, BadIp) {
  for (const std::string ip : {"", "999.1.1.1", "1.2.3", "fe80::1%eth0", " 1.2.3.4", "1.2.3.4 ", "localhost",
                               "1:2:3:4:5:6:7:8:9", "::ffff:1.2.3", "1.2.3.4/32"}) {
    SCOPED_TRACE(ip);
    expect_dead(event_with({{"ip", "\"" + ip + "\""}}), DeadLetterReason::kBadIp, "ip");
  }
  // An escaped NUL inside the IP text must not cut the text short.
  expect_dead(event_with({{"ip", R"("1.2.3.4\u0000")"}}), DeadLetterReason::kBadIp, "ip");
  expect_dead(event_with({{"ip", R"("1.2.3.4\u0000garbage")"}}), DeadLetterReason::kBadIp, "ip");
  expect_dead(event_with({{"ip", R"("::1\u0000")"}}), DeadLetterReason::kBadIp, "ip");
}

TEST(EventParserTest, NulBytesInPayload) {
  // Payload lengths are explicit; a NUL byte is just a byte. Raw control characters are not allowed inside
  // JSON strings, and a NUL is not whitespace, so all of these are malformed.
  std::string in_value = kGood;
  in_value.insert(kGood.find("click") + 2, 1, '\0');
  std::string in_unknown = event_with({{"extra", "\"ab\""}});
  in_unknown.insert(in_unknown.find("ab") + 1, 1, '\0');
  std::string between_fields = kGood;
  between_fields.insert(kGood.find(",\"ts\""), 1, '\0');
  const std::vector<std::string> messages = {
      in_value,
      in_unknown,
      between_fields,
      kGood + std::string(1, '\0'),
      kGood + std::string("\0\0\0", 3),
      std::string(1, '\0') + kGood,
      std::string(1, '\0'),
      std::string(8, '\0'),
  };
  for (const std::string& msg : messages) {
    SCOPED_TRACE(::testing::PrintToString(msg));
    const DeadLetter d = dead_letter_of(msg);
    EXPECT_EQ(to_string(d.reason), to_string(DeadLetterReason::kMalformedJson));
    EXPECT_EQ(d.payload.size(), msg.size());  // the whole payload is kept, NULs included
  }

  // An escaped NUL is a legal character of a string value and is kept, with the rest of the string.
  const EventBatch b = event_of(event_with({{"action", R"("cl\u0000ick")"}, {"ua", R"("\u0000")"}}));
  ASSERT_EQ(b.size(), 1U);
  EXPECT_EQ(b.action[0], std::string_view("cl\0ick", 6));
  EXPECT_EQ(b.ua[0], std::string_view("\0", 1));
}

TEST(EventParserTest, OptionalFieldsAbsentOrNullAreEmpty) {
  for (const std::string& msg :
       {event_with({}, {"app", "ua"}), event_with({}, {"app"}), event_with({{"app", "null"}, {"ua", "null"}}),
        event_with({{"app", "\"\""}, {"ua", "\"\""}})}) {
    SCOPED_TRACE(msg);
    const EventBatch b = event_of(msg);
    ASSERT_EQ(b.size(), 1U);
    EXPECT_EQ(b.app[0], "");
    if (msg.find("\"ua\":\"Mozilla") != std::string::npos) {
      EXPECT_EQ(b.ua[0], "Mozilla/5.0 (X11)");
    } else {
      EXPECT_EQ(b.ua[0], "");
    }
    EXPECT_EQ(b.event_id[0], 123U);
  }
}

TEST(EventParserTest, UnknownFieldsAreSkipped) {
  const std::string msg = event_with({
      {"a_number", "1.5e300"},
      {"a_string", R"("{\"event_id\":5, \"ip\":\"9.9.9.9\"}")"},
      {"nested", R"({"event_id":7,"ts":-1,"inner":{"arr":[1,[2,[3,{"x":null}]],"]}"],"ip":"bad"}})"},
      {"array", R"([[[]],{},{"a":{"b":{"c":[true,false,null]}}},"}",-0.0])"},
      {"empty_obj", "{}"},
      {"empty_arr", "[]"},
      {"null_field", "null"},
      {"big", "123456789012345678901234567890"},
  });
  // Put an unknown nested field first too, before any known field.
  const std::string first = "{\"zz\":{\"event_id\":{\"ts\":[]}}," + msg.substr(1);
  for (const std::string& m : {msg, first}) {
    SCOPED_TRACE(m);
    const EventBatch b = event_of(m);
    ASSERT_EQ(b.size(), 1U);
    EXPECT_EQ(b.event_id[0], 123U);
    EXPECT_EQ(b.ts_ms[0], 1700000000123);
    EXPECT_EQ(b.ip[0].v4, 0x01020304U);
    EXPECT_EQ(b.ua[0], "Mozilla/5.0 (X11)");
  }
}

TEST(EventParserTest, EmptyBatch) {
  RawBatch raw;
  EventBatch batch;
  std::vector<DeadLetter> dead;
  EventParser parser;
  parser.parse(raw, batch, dead);
  EXPECT_EQ(batch.size(), 0U);
  EXPECT_TRUE(batch.selected.empty());
  EXPECT_TRUE(batch.geo_record.empty());
  EXPECT_TRUE(batch.category_id.empty());
  EXPECT_TRUE(dead.empty());
}

TEST(EventParserTest, ParseAppendsToBatchAndDeadLetters) {
  EventParser parser;
  EventBatch batch;
  std::vector<DeadLetter> dead;
  RawBatch first;
  first.add(kGood, {1, 10});
  first.add("x", {1, 11});
  parser.parse(first, batch, dead);
  RawBatch second;
  second.add(event_with({{"event_id", "7"}, {"action", "\"a much longer action string\""}}), {2, 20});
  second.add("[]", {2, 21});
  parser.parse(second, batch, dead);
  ASSERT_EQ(batch.size(), 2U);
  EXPECT_EQ(batch.event_id[0], 123U);
  EXPECT_EQ(batch.event_id[1], 7U);
  EXPECT_EQ(batch.action[0], "click");
  EXPECT_EQ(batch.action[1], "a much longer action string");
  EXPECT_EQ(batch.position[1].partition, 2);
  EXPECT_EQ(batch.position[1].offset, 20);
  EXPECT_EQ(batch.selected, (std::vector<uint32_t>{0, 1}));
  EXPECT_EQ(batch.geo_record.size(), 2U);
  EXPECT_EQ(batch.category_id.size(), 2U);
  ASSERT_EQ(dead.size(), 2U);
  EXPECT_EQ(dead[0].position.offset, 11);
  EXPECT_EQ(dead[1].position.offset, 21);
  EXPECT_EQ(dead[1].reason, DeadLetterReason::kNotObject);
}

TEST(EventParserTest, ParseLeavesEarlierRowsAlone) {
  // Rows already in the batch keep their selection and enrichment; only the new rows are selected and
  // get kNoRecord.
  EventParser parser;
  EventBatch batch;
  std::vector<DeadLetter> dead;
  RawBatch first;
  first.add(kGood, {0, 1});
  first.add(kGood, {0, 2});
  parser.parse(first, batch, dead);
  batch.selected = {1};  // a filter dropped row 0
  batch.geo_record[1] = 5;
  batch.category_id[1] = 6;
  RawBatch second;
  second.add(event_with({{"event_id", "9"}}), {0, 3});
  parser.parse(second, batch, dead);
  ASSERT_EQ(batch.size(), 3U);
  EXPECT_EQ(batch.selected, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(batch.geo_record, (std::vector<uint32_t>{kNoRecord, 5, kNoRecord}));
  EXPECT_EQ(batch.category_id, (std::vector<uint32_t>{kNoRecord, 6, kNoRecord}));
  EXPECT_EQ(batch.event_id[2], 9U);
  EXPECT_TRUE(dead.empty());
}

TEST(EventParserTest, EveryMessageLandsExactlyOnceWithItsPosition) {
  // A random mix of good and bad messages; each good one carries its index as event_id, so the output
  // can be matched back to the input.
  std::mt19937_64 rng(42);
  struct Expect {
    bool good;
    DeadLetterReason reason;
  };
  std::vector<std::string> messages;
  std::vector<Expect> expect;
  std::vector<MessagePosition> positions;
  for (int i = 0; i < 3000; ++i) {
    const std::string id = std::to_string(i);
    std::string msg;
    Expect e{false, DeadLetterReason::kMalformedJson};
    switch (rng() % 9) {
      case 0:
        msg = "";
        e.reason = DeadLetterReason::kEmpty;
        break;
      case 1:
        msg = event_with({{"event_id", id}}) + "}";
        e.reason = DeadLetterReason::kMalformedJson;
        break;
      case 2:
        msg = "[" + id + "]";
        e.reason = DeadLetterReason::kNotObject;
        break;
      case 3:
        msg = event_with({{"event_id", id}}, {"pin_id"});
        e.reason = DeadLetterReason::kMissingField;
        break;
      case 4:
        msg = event_with({{"event_id", id}, {"ts", "-5"}});
        e.reason = DeadLetterReason::kWrongType;
        break;
      case 5:
        msg = event_with({{"event_id", id}, {"ip", "\"1.2.3.256\""}});
        e.reason = DeadLetterReason::kBadIp;
        break;
      case 6:
        msg = event_with({{"event_id", id}, {"pad", "\"" + std::string(300, 'p') + "\""}});
        e.reason = DeadLetterReason::kOversized;
        break;
      default:
        msg = event_with({{"event_id", id}, {"action", "\"act" + id + "\""}},
                         rng() % 2 ? std::vector<std::string>{"ua"} : std::vector<std::string>{});
        e.good = true;
    }
    messages.push_back(std::move(msg));
    expect.push_back(e);
    positions.push_back({static_cast<int32_t>(rng() % 4), static_cast<int64_t>(rng() % 1000000)});
  }
  RawBatch raw;
  for (size_t i = 0; i < messages.size(); ++i) raw.add(messages[i], positions[i]);
  ParserOptions options;
  options.max_message_bytes = 256;
  EventParser parser(options);
  EventBatch batch;
  std::vector<DeadLetter> dead;
  parser.parse(raw, batch, dead);

  ASSERT_EQ(batch.size() + dead.size(), messages.size());
  size_t next_event = 0, next_dead = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    SCOPED_TRACE(messages[i]);
    if (expect[i].good) {
      ASSERT_LT(next_event, batch.size());
      EXPECT_EQ(batch.event_id[next_event], i);
      EXPECT_EQ(batch.action[next_event], "act" + std::to_string(i));
      EXPECT_EQ(batch.position[next_event].partition, positions[i].partition);
      EXPECT_EQ(batch.position[next_event].offset, positions[i].offset);
      ++next_event;
    } else {
      ASSERT_LT(next_dead, dead.size());
      EXPECT_EQ(to_string(dead[next_dead].reason), to_string(expect[i].reason));
      EXPECT_EQ(dead[next_dead].payload, messages[i]);
      EXPECT_EQ(dead[next_dead].position.partition, positions[i].partition);
      EXPECT_EQ(dead[next_dead].position.offset, positions[i].offset);
      ++next_dead;
    }
  }
  EXPECT_EQ(next_event, batch.size());
  EXPECT_EQ(next_dead, dead.size());
  EXPECT_EQ(batch.selected.size(), batch.size());
}

TEST(EventParserTest, DeadLetterReasonNames) {
  EXPECT_EQ(to_string(DeadLetterReason::kEmpty), "empty");
  EXPECT_EQ(to_string(DeadLetterReason::kOversized), "oversized");
  EXPECT_EQ(to_string(DeadLetterReason::kMalformedJson), "malformed_json");
  EXPECT_EQ(to_string(DeadLetterReason::kNotObject), "not_object");
  EXPECT_EQ(to_string(DeadLetterReason::kMissingField), "missing_field");
  EXPECT_EQ(to_string(DeadLetterReason::kWrongType), "wrong_type");
  EXPECT_EQ(to_string(DeadLetterReason::kBadIp), "bad_ip");
}

}  // namespace
}  // namespace enrichd
