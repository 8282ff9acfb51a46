// [[schema.extra]] columns of type ip, timestamp and enum: what the parser reads and dead-letters, what the
// encoder writes, the table columns and their checks, the config keys with every refusal, and the filter
// rules over them (the enum code path against the string path on random batches).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "host/category_table.h"
#include "host/event_parser.h"
#include "host/geo_table.h"
#include "host/row_encoder.h"
#include "pipeline/config.h"
#include "pipeline/enum_columns.h"
#include "pipeline/event_filter.h"
#include "pipeline/memsql_sink.h"
#include "schema_test_util.h"

namespace enrichd {
namespace {

using ::testing::HasSubstr;

using testing_util::extra_field;
using testing_util::parse_with;
using testing_util::Parsed;
using testing_util::split;

// An engagement event with `rest` (JSON members) after the fixed fields.
std::string event(int id, std::string_view rest) {
  return fmt::format(R"({{"event_id":{},"ts":2,"user_id":3,"pin_id":4,"action":"view","ip":"1.2.3.4"{}}})",
                     id, rest.empty() ? "" : "," + std::string(rest));
}

// The last `n` fields of each encoded line.
std::vector<std::vector<std::string>> last_fields(const EventBatch& batch, size_t n, RowLayout codes = {}) {
  std::string out;
  encode_rows(batch, GeoTable(), CategoryTable(), out, {}, codes);
  std::vector<std::vector<std::string>> rows;
  for (const std::string& line : split(out, '\n')) {
    const auto fields = split(line, '\t');
    EXPECT_EQ(fields.size(), kOutputColumns.size() + batch.extra.size());
    rows.emplace_back(fields.end() - static_cast<std::ptrdiff_t>(n), fields.end());
  }
  return rows;
}

std::vector<std::pair<DeadLetterReason, std::string>> reasons(const Parsed& p) {
  std::vector<std::pair<DeadLetterReason, std::string>> out;
  for (const DeadLetter& d : p.dead) out.emplace_back(d.reason, d.field);
  return out;
}

// --- the parser and the encoder ---

TEST(ExtraIpColumn, ReadsIpv4AndIpv6DefaultsAndNulls) {
  EventSchema s = default_event_schema();
  s.extra = {extra_field("client", "ctx.client", ExtraType::kIp),
             extra_field("origin", "origin", ExtraType::kIp)};
  s.extra[1].has_default = true;
  s.extra[1].default_ip = *parse_ip("10.0.0.1");
  const Parsed p = parse_with(
      s, {event(1, R"("ctx":{"client":"8.8.4.4"},"origin":"2001:db8::1")"), event(2, ""),  // both absent
          event(3, R"("ctx":{"client":null},"origin":null)"),
          event(4, R"("origin":"::1","ctx":{"client":"1.2.3.\u0034"})")});
  ASSERT_TRUE(p.dead.empty()) << to_string(p.dead[0].reason);
  const ExtraColumn& client = p.batch.extra[0];
  const ExtraColumn& origin = p.batch.extra[1];
  EXPECT_EQ(client.type, ExtraType::kIp);
  EXPECT_EQ(client.present, (std::vector<uint8_t>{1, 0, 0, 1}));
  EXPECT_EQ(origin.present, (std::vector<uint8_t>{1, 1, 1, 1}));
  ASSERT_EQ(client.ip.size(), 4U);
  EXPECT_EQ(client.ip[0], *parse_ip("8.8.4.4"));
  EXPECT_EQ(client.ip[1], IpAddress{});           // NULL
  EXPECT_EQ(client.ip[3], *parse_ip("1.2.3.4"));  // an escaped string, read from simdjson's buffer
  EXPECT_TRUE(origin.ip[0].is_v6);
  EXPECT_EQ(origin.ip[1], *parse_ip("10.0.0.1"));
  EXPECT_EQ(client.str[0], "");  // the address only, no text kept
  EXPECT_EQ(last_fields(p.batch, 2),
            (std::vector<std::vector<std::string>>{
                {"8.8.4.4", "2001:db8::1"}, {"\\N", "10.0.0.1"}, {"\\N", "10.0.0.1"}, {"1.2.3.4", "::1"}}));
}

TEST(ExtraIpColumn, BadAddressesAreDeadLettersNamingThePath) {
  EventSchema s = default_event_schema();
  s.extra = {extra_field("client", "ctx.client", ExtraType::kIp),
             extra_field("must", "must", ExtraType::kIp)};
  s.extra[1].required = true;
  std::vector<std::string> messages;
  // Each bad text as the last member, so that it ends right before the message's end (the padded reader).
  for (const char* bad : {"1.2.3", "1.2.3.256", "1.2.3.4.5", "::g", "1:2:3:4:5:6:7:8:9", "", " 1.2.3.4",
                          "1.2.3.4 ", "2001:db8::1::2", "12345::", "1.2.3.4/24"}) {
    messages.push_back(event(1, fmt::format(R"("must":"1.1.1.1","ctx":{{"client":"{}"}})", bad)));
  }
  messages.push_back(event(2, R"("must":"1.1.1.1","ctx":{"client":16909060})"));  // a number
  messages.push_back(event(3, R"("ctx":{"client":"1.2.3.4"})"));                  // required, absent
  messages.push_back(event(4, R"("must":null)"));                                 // required, null
  messages.push_back(event(5, R"("must":"bad")"));
  const Parsed p = parse_with(s, messages);
  EXPECT_EQ(p.batch.size(), 0U);
  std::vector<std::pair<DeadLetterReason, std::string>> expected(11,
                                                                 {DeadLetterReason::kBadIp, "ctx.client"});
  expected.emplace_back(DeadLetterReason::kWrongType, "ctx.client");
  expected.emplace_back(DeadLetterReason::kMissingField, "must");
  expected.emplace_back(DeadLetterReason::kWrongType, "must");
  expected.emplace_back(DeadLetterReason::kBadIp, "must");
  EXPECT_EQ(reasons(p), expected);
}

TEST(ExtraTimestampColumn, EveryValueFormInItsUnit) {
  EventSchema s = default_event_schema();
  s.extra = {extra_field("seen", "seen", ExtraType::kTimestamp),
             extra_field("at", "at", ExtraType::kTimestamp),
             extra_field("due", "due", ExtraType::kTimestamp)};
  s.extra[0].unit = EpochUnit::kSeconds;
  // "at" has no unit of its own: the schema's (microseconds here).
  s.extra[2].has_default = true;
  s.extra[2].default_bits = 1700000000000;
  const Parsed p =
      parse_with(s,
                 {event(1, R"("seen":1700000000,"at":1700000000123456,"due":0)"),
                  event(2, R"("seen":1700000000.25,"at":"1700000000000001")"),
                  event(3, R"("seen":"1700000001","due":null)"),
                  event(4, R"("seen":"2023-11-14T23:13:20.5+01:00","at":"2023-11-14 22:13:21Z")"),
                  event(5, R"("seen":253402300799,"at":null)")},
                 EpochUnit::kMicroseconds);
  ASSERT_TRUE(p.dead.empty()) << to_string(p.dead[0].reason) << " " << p.dead[0].field;
  const ExtraColumn& seen = p.batch.extra[0];
  EXPECT_EQ(seen.bits, (std::vector<uint64_t>{1700000000000, 1700000000250, 1700000001000, 1700000000500,
                                              static_cast<uint64_t>(kMaxTimestampMs) - 999}));
  EXPECT_EQ(p.batch.extra[1].present, (std::vector<uint8_t>{1, 1, 0, 1, 0}));
  EXPECT_EQ(p.batch.extra[1].bits[0], 1700000000123U);
  EXPECT_EQ(p.batch.extra[1].bits[3], 1700000001000U);  // RFC 3339 whatever the unit
  EXPECT_EQ(p.batch.extra[2].present, (std::vector<uint8_t>{1, 1, 1, 1, 1}));
  EXPECT_EQ(p.batch.extra[2].bits[0], 0U);
  EXPECT_EQ(p.batch.extra[2].bits[1], 1700000000000U);  // the default
  EXPECT_EQ(last_fields(p.batch, 3),
            (std::vector<std::vector<std::string>>{
                {"2023-11-14 22:13:20.000", "2023-11-14 22:13:20.123", "1970-01-01 00:00:00.000"},
                {"2023-11-14 22:13:20.250", "2023-11-14 22:13:20.000", "2023-11-14 22:13:20.000"},
                {"2023-11-14 22:13:21.000", "\\N", "2023-11-14 22:13:20.000"},
                {"2023-11-14 22:13:20.500", "2023-11-14 22:13:21.000", "2023-11-14 22:13:20.000"},
                {"9999-12-31 23:59:59.000", "\\N", "2023-11-14 22:13:20.000"}}));
}

TEST(ExtraTimestampColumn, OutOfRangeAndOtherTypesAreWrongTypes) {
  EventSchema s = default_event_schema();
  s.extra = {extra_field("seen", "ctx.seen", ExtraType::kTimestamp)};
  s.extra[0].unit = EpochUnit::kSeconds;
  std::vector<std::string> messages;
  for (const char* bad : {"-1", "253402300800", "1e30", "\"2023-02-30T00:00:00Z\"", "\"soon\"", "true", "[1]",
                          "{}", "\"-5\"", "18446744073709551615"}) {
    messages.push_back(event(1, fmt::format(R"("ctx":{{"seen":{}}})", bad)));
  }
  s.extra[0].required = true;
  messages.push_back(event(2, R"("ctx":{"seen":null})"));
  messages.push_back(event(3, R"("ctx":{})"));
  const Parsed p = parse_with(s, messages);
  EXPECT_EQ(p.batch.size(), 0U);
  std::vector<std::pair<DeadLetterReason, std::string>> expected(11,
                                                                 {DeadLetterReason::kWrongType, "ctx.seen"});
  expected.emplace_back(DeadLetterReason::kMissingField, "ctx.seen");
  EXPECT_EQ(reasons(p), expected);
}

TEST(ExtraEnumColumn, CodesKeptUnknownsDeadLettersAndStores) {
  EventSchema s = default_event_schema();
  s.extra = {extra_field("kind", "kind", ExtraType::kEnum), extra_field("tier", "u.tier", ExtraType::kEnum)};
  s.extra[0].values = {"a", "b", "c"};
  s.extra[1].values = {"gold", "silver"};
  s.extra[1].unknown = EnumUnknown::kDeadLetter;
  s.extra[1].store = EnumStore::kCode;
  s.extra[1].has_default = true;
  s.extra[1].default_string = "silver";
  s.extra[1].default_bits = 1;
  const Parsed p = parse_with(
      s, {event(1, R"("kind":"b","u":{"tier":"gold"})"),
          event(2, R"("kind":"zz")"),  // unknown, kept; tier: the default
          event(3, R"("u":{"tier":"silver"}, "kind":null)"), event(4, R"("kind":"c","u":{"tier":"bronze"})"),
          event(5, R"("kind":5)"), event(6, R"("kind":"a","u":{"tier":"Gold"})")});
  EXPECT_EQ(reasons(p), (std::vector<std::pair<DeadLetterReason, std::string>>{
                            {DeadLetterReason::kUnknownValue, "u.tier"},
                            {DeadLetterReason::kWrongType, "kind"},
                            {DeadLetterReason::kUnknownValue, "u.tier"}}));
  const ExtraColumn& kind = p.batch.extra[0];
  const ExtraColumn& tier = p.batch.extra[1];
  EXPECT_EQ(kind.present, (std::vector<uint8_t>{1, 1, 0}));
  EXPECT_EQ(kind.bits[0], 1U);
  EXPECT_EQ(kind.bits[1], kUnknownEnumCode);
  EXPECT_EQ(kind.str[1], "zz");
  EXPECT_EQ(tier.bits, (std::vector<uint64_t>{0, 1, 1}));
  EXPECT_EQ(tier.str[1], "silver");
  // tier written as its code, kind as its text.
  EXPECT_EQ(last_fields(p.batch, 2, RowLayout{.extra_code = 0b10}),
            (std::vector<std::vector<std::string>>{{"b", "0"}, {"zz", "1"}, {"\\N", "1"}}));
  EXPECT_EQ(last_fields(p.batch, 2),
            (std::vector<std::vector<std::string>>{{"b", "gold"}, {"zz", "silver"}, {"\\N", "silver"}}));

  s.extra[0].required = true;
  const Parsed required = parse_with(s, {event(1, R"("u":{"tier":"gold"})")});
  EXPECT_EQ(
      reasons(required),
      (std::vector<std::pair<DeadLetterReason, std::string>>{{DeadLetterReason::kMissingField, "kind"}}));
}

TEST(ExtraTypesSchema, CheckRefusesWhatTheParserCannotUse) {
  EventSchema s = default_event_schema();
  s.extra = {extra_field("kind", "kind", ExtraType::kEnum)};
  EXPECT_THAT(check_event_schema(s).message(), HasSubstr("column 'kind': an enum column needs a dictionary"));
  s.extra[0].values = {"a", "a"};
  EXPECT_THAT(check_event_schema(s).message(), HasSubstr("column 'kind': enum value 'a' is listed twice"));
  s.extra[0].values = {"a"};
  s.extra[0].store = EnumStore::kCode;
  EXPECT_THAT(check_event_schema(s).message(),
              HasSubstr("column 'kind': store code needs an enum dictionary"));
  s.extra[0].unknown = EnumUnknown::kDeadLetter;
  EXPECT_TRUE(check_event_schema(s));
  s.extra[0].from_string = true;
  EXPECT_THAT(check_event_schema(s).message(), HasSubstr("from_string applies only to u64, i64 and f64"));
  s.extra = {extra_field("client", "client", ExtraType::kIp)};
  s.extra[0].values = {"a"};
  EXPECT_THAT(check_event_schema(s).message(), HasSubstr("applies only to enum columns"));
  s.extra = {extra_field("client", "client", ExtraType::kIp)};
  s.extra[0].unit = EpochUnit::kSeconds;
  EXPECT_THAT(check_event_schema(s).message(), HasSubstr("a unit applies only to timestamp columns"));
  s.extra[0].type = ExtraType::kTimestamp;
  EXPECT_TRUE(check_event_schema(s));
}

// --- the table ---

TEST(ExtraTypesDdl, ColumnTypesAndTheEnumStoreChecks) {
  SinkConfig config;
  config.extra_columns = {
      extra_field("client", "client", ExtraType::kIp), extra_field("seen", "seen", ExtraType::kTimestamp),
      extra_field("kind", "kind", ExtraType::kEnum), extra_field("tier", "tier", ExtraType::kEnum),
      extra_field("level", "level", ExtraType::kEnum)};
  for (size_t i = 2; i < 5; ++i) {
    config.extra_columns[i].values = {"a", "it's"};
    config.extra_columns[i].unknown = EnumUnknown::kDeadLetter;
  }
  config.extra_columns[3].store = EnumStore::kEnum;
  config.extra_columns[4].store = EnumStore::kCode;
  EXPECT_THAT(
      create_table_sql("ev", config),
      HasSubstr("  `client` VARCHAR(45) NULL,\n  `seen` DATETIME(3) NULL,\n  `kind` VARCHAR(255) NULL,\n"
                "  `tier` ENUM('a','it\\'s') CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,\n"
                "  `level` SMALLINT UNSIGNED NULL,\n"));
  // The fixed columns keep their NOT NULL types.
  EXPECT_THAT(create_table_sql("ev", config), HasSubstr("`action` VARCHAR(64) NOT NULL,\n"));
  EXPECT_EQ(config.row_layout().extra_code, uint64_t{1} << 4);
  EXPECT_FALSE(config.row_layout().action_code);

  const EnumColumnStore tier = enum_store_of(config.extra_columns[3]);
  const EnumColumnStore level = enum_store_of(config.extra_columns[4]);
  EXPECT_TRUE(check_enum_column("ev", "tier", "schema.extra[3]", tier, "enum", "enum('it''s','a','b')"));
  EXPECT_THAT(
      check_enum_column("ev", "tier", "schema.extra[3]", tier, "enum", "enum('a')").message(),
      HasSubstr("without the value 'it's' of config key 'schema.extra[3].values': ALTER TABLE `ev` MODIFY "
                "`tier` ENUM('a','it\\'s') CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL"));
  EXPECT_THAT(
      check_enum_column("ev", "level", "schema.extra[4]", level, "varchar", "varchar(255)").message(),
      HasSubstr("column 'level' is varchar(255), but config key 'schema.extra[4].store' = \"code\" needs "
                "an integer column (SMALLINT UNSIGNED): set schema.extra[4].store = \"text\""));
  const EnumColumnStore kind = enum_store_of(config.extra_columns[2]);
  EXPECT_THAT(check_enum_column("ev", "kind", "schema.extra[2]", kind, "smallint", "smallint(5)").message(),
              HasSubstr("needs a text column such as VARCHAR(255): set schema.extra[2].store = \"code\""));
}

// --- the config ---

// [schema] ts_unit = "us", then `schema`.
Result<Config> parse(const std::string& schema) {
  return testing_util::parse_schema_config("ts_unit = \"us\"\n" + schema);
}
std::string error_of(const std::string& schema) {
  return testing_util::schema_config_refusal("ts_unit = \"us\"\n" + schema);
}

// One [[schema.extra]] table of `type` with `keys` (TOML lines) added.
std::string extra(std::string_view type, std::string_view keys = "") {
  return fmt::format("[[schema.extra]]\nname = \"x\"\ntype = \"{}\"\n{}", type, keys);
}

TEST(ExtraTypesConfig, EveryKeyReachesTheSchemaAndTheSink) {
  auto c =
      parse(extra("ip", "path = \"ctx.ip\"\ndefault = \"2001:db8::1\"\n") +
            "[[schema.extra]]\nname = \"seen\"\ntype = \"timestamp\"\nunit = \"s\"\ndefault = 1700000000\n"
            "[[schema.extra]]\nname = \"at\"\ntype = \"timestamp\"\ndefault = \"2024-01-01T00:00:00Z\"\n"
            "[[schema.extra]]\nname = \"at_us\"\ntype = \"timestamp\"\ndefault = 1700000000000000\n"
            "[[schema.extra]]\nname = \"kind\"\ntype = \"enum\"\nvalues = [\"a\", \"b\"]\n"
            "unknown = \"dead-letter\"\nstore = \"code\"\ndefault = \"b\"\n"
            "[[schema.extra]]\nname = \"tag\"\ntype = \"enum\"\nvalues = [\"a\"]\ndefault = \"z\"\n");
  ASSERT_TRUE(c) << c.status().message();
  const std::vector<ExtraField>& e = c->schema.fields.extra;
  ASSERT_EQ(e.size(), 6U);
  EXPECT_EQ(e[0].type, ExtraType::kIp);
  EXPECT_TRUE(e[0].has_default);
  EXPECT_EQ(e[0].default_ip, *parse_ip("2001:db8::1"));
  EXPECT_EQ(e[1].type, ExtraType::kTimestamp);
  EXPECT_EQ(e[1].unit, EpochUnit::kSeconds);
  EXPECT_EQ(e[1].default_bits, 1700000000000U);  // the number in the column's unit
  EXPECT_FALSE(e[2].unit.has_value());           // the parser takes schema.ts_unit
  EXPECT_EQ(e[2].default_bits, 1704067200000U);
  EXPECT_EQ(e[3].default_bits, 1700000000000U);  // schema.ts_unit = "us"
  EXPECT_EQ(e[4].type, ExtraType::kEnum);
  EXPECT_EQ(e[4].values, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(e[4].unknown, EnumUnknown::kDeadLetter);
  EXPECT_EQ(e[4].store, EnumStore::kCode);
  EXPECT_EQ(e[4].default_string, "b");
  EXPECT_EQ(e[4].default_bits, 1U);
  EXPECT_EQ(e[5].unknown, EnumUnknown::kKeep);
  EXPECT_EQ(e[5].store, EnumStore::kText);
  EXPECT_EQ(e[5].default_bits, kUnknownEnumCode);  // a kept unknown default
  EXPECT_EQ(c->sink.extra_columns.size(), 6U);
  EXPECT_EQ(c->sink.row_layout().extra_code, uint64_t{1} << 4);
}

TEST(ExtraTypesConfig, EveryRefusalNamesTheKeyAndTheFix) {
  EXPECT_THAT(
      error_of(extra("enum")),
      HasSubstr("config key 'schema.extra[0].values' is required for type = \"enum\": list the column's "
                "values"));
  EXPECT_THAT(error_of(extra("enum", "values = []\n")),
              HasSubstr("'schema.extra[0].values' must list at least one value"));
  EXPECT_THAT(error_of(extra("enum", "values = [\"a\", \"a\"]\n")),
              HasSubstr("'schema.extra[0].values' lists 'a' twice: remove one"));
  EXPECT_THAT(error_of(extra("enum", "values = [\"a\"]\nunknown = \"drop\"\n")),
              HasSubstr("'schema.extra[0].unknown' is 'drop', must be \"keep\" or \"dead-letter\""));
  EXPECT_THAT(error_of(extra("enum", "values = [\"a\"]\nstore = \"int\"\n")),
              HasSubstr("'schema.extra[0].store' is 'int', must be \"text\", \"enum\" or \"code\""));
  EXPECT_THAT(
      error_of(extra("enum", "values = [\"a\"]\nstore = \"enum\"\n")),
      HasSubstr("'schema.extra[0].store' = \"enum\" needs every value in the dictionary: add unknown = "
                "\"dead-letter\" to [schema.extra[0]]"));
  EXPECT_THAT(error_of(extra("enum", "values = [\"a \"]\nunknown = \"dead-letter\"\nstore = \"enum\"\n")),
              HasSubstr("value 'a ' of schema.extra[0].values ends in a space"));
  EXPECT_THAT(error_of(extra("enum", "values = [\"a\"]\nunknown = \"dead-letter\"\ndefault = \"b\"\n")),
              HasSubstr("'schema.extra[0].default' is 'b', which is not in schema.extra[0].values"));
  EXPECT_THAT(error_of(extra("enum", "values = [\"a\"]\ndefault = 1\n")),
              HasSubstr("'schema.extra[0].default' must be a string (type = \"enum\")"));
  for (const char* type : {"ip", "timestamp", "enum"}) {
    EXPECT_THAT(error_of(extra(type, "values = [\"a\"]\nfrom_string = true\n")),
                HasSubstr("'schema.extra[0].from_string' applies only to the numeric types u64, i64 and f64"))
        << type;
  }
  for (const char* type : {"u64", "string", "ip", "timestamp"}) {
    for (const char* key : {"values = [\"a\"]", "unknown = \"keep\"", "store = \"text\""}) {
      EXPECT_THAT(
          error_of(extra(type, std::string(key) + "\n")),
          HasSubstr("applies only to type = \"enum\" (this column is " + std::string(type) + "): remove it"))
          << type << " " << key;
    }
  }
  for (const char* type : {"u64", "f64", "string", "ip", "enum"}) {
    const std::string values = std::string_view(type) == "enum" ? "values = [\"a\"]\n" : "";
    EXPECT_THAT(error_of(extra(type, values + "unit = \"s\"\n")),
                HasSubstr("'schema.extra[0].unit' applies only to type = \"timestamp\""))
        << type;
  }
  EXPECT_THAT(error_of(extra("timestamp", "unit = \"min\"\n")),
              HasSubstr("'schema.extra[0].unit' is 'min', must be \"s\", \"ms\", \"us\" or \"ns\""));
  EXPECT_THAT(
      error_of(extra("ip", "default = \"1.2.3\"\n")),
      HasSubstr("'schema.extra[0].default' must be an IPv4 or IPv6 address string such as \"0.0.0.0\""));
  EXPECT_THAT(error_of(extra("ip", "default = 1\n")), HasSubstr("must be an IPv4 or IPv6 address string"));
  EXPECT_THAT(
      error_of(extra("timestamp", "default = \"yesterday\"\n")),
      HasSubstr("'schema.extra[0].default' must be an integer in the column's unit (us) or an RFC 3339 "
                "date-time"));
  EXPECT_THAT(error_of(extra("timestamp", "unit = \"s\"\ndefault = -1\n")),
              HasSubstr("must be an integer in the column's unit (s)"));
  EXPECT_THAT(error_of(extra("timestamp", "unit = \"s\"\ndefault = 253402300800\n")),
              HasSubstr("from 1970 to 9999"));
  EXPECT_THAT(error_of(extra("timestamp", "default = 1.5\n")),
              HasSubstr("must be an integer in the column's unit"));
  // A join key stays a u64 column.
  EXPECT_THAT(
      testing_util::refusal_of(
          parse_config(testing_util::kSourceAndSink + "[[schema.extra]]\nname = \"seen\"\ntype = "
                                                      "\"timestamp\"\n[enrich]\ngeo = \"g\"\ncategory_csv = "
                                                      "\"p\"\n[[enrich.join]]\noutput_column = \"s\"\n"
                                                      "key_field = \"seen\"\npins_csv = \"s.csv\"\n",
                       "/base"),
          "join on a timestamp"),
      HasSubstr("'seen', a [[schema.extra]] column of type timestamp; a join key must be u64"));
}

// --- the filter ---

EventSchema filter_schema(ExtraType kind_type) {
  EventSchema s = default_event_schema();
  s.extra = {extra_field("seen", "seen", ExtraType::kTimestamp), extra_field("kind", "kind", kind_type),
             extra_field("client", "client", ExtraType::kIp)};
  if (kind_type == ExtraType::kEnum) s.extra[1].values = {"a", "b", "c", "d"};
  return s;
}

// The event ids `config` keeps of `batch` (filter built over `schema`).
std::vector<uint64_t> kept_ids(const FilterConfig& config, EventBatch batch, const EventSchema& schema) {
  auto filter = EventFilter::create(config, schema);
  EXPECT_TRUE(filter) << filter.status().message();
  if (!filter) return {};
  filter->apply(batch);
  std::vector<uint64_t> ids;
  for (uint32_t row : batch.selected) ids.push_back(batch.event_id[row]);
  return ids;
}

using Ids = std::vector<uint64_t>;

TEST(ExtraTypesFilter, TimestampRangesEnumListsAndRequire) {
  const EventSchema s = filter_schema(ExtraType::kEnum);
  const Parsed p = parse_with(s, {event(1, R"("seen":"2024-01-01T00:00:00Z","kind":"a","client":"1.1.1.1")"),
                                  event(2, ""), event(3, R"("seen":1704067200001,"kind":"zz")"),
                                  event(4, R"("seen":1704153600000,"kind":"c","client":"::1")")});
  ASSERT_TRUE(p.dead.empty());
  // The ts bound forms: epoch milliseconds or RFC 3339; NULL fails.
  EXPECT_EQ(kept_ids({.ranges = {{.column = "seen", .min = "2024-01-01T00:00:00.001Z"}}}, p.batch, s),
            (Ids{3, 4}));
  EXPECT_EQ(kept_ids({.ranges = {{.column = "seen", .max = int64_t{1704067200001}}}}, p.batch, s),
            (Ids{1, 3}));
  // By code: a kept unknown is in no list; NULL fails an include list and passes an exclude list.
  EXPECT_EQ(kept_ids({.matches = {{.column = "kind", .include = {"a", "c"}}}}, p.batch, s), (Ids{1, 4}));
  EXPECT_EQ(kept_ids({.matches = {{.column = "kind", .exclude = {"a"}}}}, p.batch, s), (Ids{2, 3, 4}));
  EXPECT_EQ(kept_ids({.require = {"client"}}, p.batch, s), (Ids{1, 4}));
  EXPECT_EQ(kept_ids({.require = {"seen", "kind"}}, p.batch, s), (Ids{1, 3, 4}));
  auto described = EventFilter::create({.matches = {{.column = "kind", .include = {"a"}}}}, s);
  ASSERT_TRUE(described);
  EXPECT_EQ(described->describe(), "kind in [a] (by enum code) (NULL fails)");

  const auto refusal = [&](const FilterConfig& c) {
    auto f = EventFilter::create(c, s);
    EXPECT_FALSE(f);
    return f ? std::string() : f.status().message();
  };
  EXPECT_THAT(
      refusal({.ranges = {{.column = "seen", .min = "2024-02-30T00:00:00Z"}}}),
      HasSubstr("'filter.range[0].min' is 2024-02-30T00:00:00Z, must be epoch milliseconds or an RFC 3339"));
  EXPECT_THAT(refusal({.ranges = {{.column = "seen", .min = 2.5}}}), HasSubstr("must be epoch milliseconds"));
  EXPECT_THAT(refusal({.ranges = {{.column = "client", .min = int64_t{1}}}}),
              HasSubstr("'filter.range[0].column' is 'client', an ip column: a range applies to the numeric "
                        "columns (event_id, ts, user_id, pin_id, seen)"));
  EXPECT_THAT(
      refusal({.matches = {{.column = "client", .include = {"1.1.1.1"}}}}),
      HasSubstr("'filter.match[0].column' is 'client', an ip column: include/exclude lists apply to the "
                "string columns (action, app, ua, kind)"));
  EXPECT_THAT(refusal({.ranges = {{.column = "kind", .min = int64_t{1}}}}),
              HasSubstr("'kind', a string column"));
  EXPECT_THAT(refusal({.matches = {{.column = "kind", .include = {"e"}}}}),
              HasSubstr("'filter.match[0].include' lists 'e', which is not in the dictionary of kind "
                        "(schema.extra[1].values)"));
}

// Random batches and lists: an enum extra column filtered by code keeps exactly the rows a string column of
// the same values keeps by string.
TEST(ExtraTypesFilter, EnumCodesSelectWhatStringsSelect) {
  std::mt19937_64 rng(20261127);
  const EventSchema coded = filter_schema(ExtraType::kEnum);
  const EventSchema plain = filter_schema(ExtraType::kString);
  const std::vector<std::string> values = {"a", "b", "c", "d", "unknown", ""};
  const auto sublist = [&] {
    std::vector<std::string> out;
    for (const std::string& v : coded.extra[1].values) {
      if (rng() % 3 == 0) out.push_back(v);
    }
    return out;
  };
  int mixed = 0;
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> messages;
    const size_t n = rng() % 300;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t r = rng();
      const std::string kind = r % 7 == 0 ? "" : fmt::format(R"("kind":"{}")", values[r % values.size()]);
      const std::string seen = fmt::format(R"("seen":{})", rng() % 100);
      messages.push_back(event(static_cast<int>(i), kind.empty() ? seen : seen + "," + kind));
    }
    FilterConfig c{.matches = {{.column = "kind", .include = sublist(), .exclude = sublist()}}};
    if (c.matches[0].include.empty() && c.matches[0].exclude.empty()) c.matches[0].exclude = {"a"};
    if (rng() % 2) c.ranges.push_back({.column = "seen", .min = static_cast<int64_t>(rng() % 50)});
    const Parsed coded_batch = parse_with(coded, messages);
    const Parsed plain_batch = parse_with(plain, messages);
    const Ids by_string = kept_ids(c, plain_batch.batch, plain);
    ASSERT_EQ(kept_ids(c, coded_batch.batch, coded), by_string) << "round " << round;
    if (!by_string.empty() && by_string.size() < n) ++mixed;
  }
  EXPECT_GE(mixed, 50) << "too few rounds kept some rows and dropped others to compare anything";
}

}  // namespace
}  // namespace enrichd
