// The configurable input schema: nested paths, required fields and defaults, numbers given as strings,
// enum dictionaries (codes, unknown values kept or dead-lettered), and the [schema.fields.<column>] keys
// with the errors each bad value gives.
#include "host/event_schema.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "host/category_table.h"
#include "host/event_parser.h"
#include "host/geo_table.h"
#include "host/row_encoder.h"
#include "pipeline/config.h"
#include "pipeline/memsql_sink.h"
#include "schema_test_util.h"

namespace enrichd {
namespace {

using ::testing::HasSubstr;

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep)) out.push_back(part);
  if (!s.empty() && s.back() == sep) out.emplace_back();
  return out;
}

using testing_util::parse_with;
using testing_util::Parsed;

// Every column under "ctx": ip three levels down, the ids one level down.
EventSchema nested_schema() {
  EventSchema s = default_event_schema();
  s[SchemaColumn::kEventId].path = "id";
  s[SchemaColumn::kTs].path = "meta.time";
  s[SchemaColumn::kUserId].path = "ctx.user.id";
  s[SchemaColumn::kPinId].path = "ctx.pin";
  s[SchemaColumn::kAction].path = "meta.kind";
  s[SchemaColumn::kIp].path = "ctx.client.ip";
  s[SchemaColumn::kApp].path = "ctx.client.app";
  s[SchemaColumn::kUa].path = "ctx.client.ua";
  return s;
}

const std::string kNested =
    R"({"id":7,"meta":{"time":1700000000123,"kind":"save","x":[1,{"y":2}]},"ctx":{"pin":99,)"
    R"("user":{"id":42,"name":"n"},"client":{"ua":"UA","ip":"10.1.2.3","app":"ios"}},"tail":{"a":1}})";

TEST(EventSchema, DefaultIsTheEngagementSchema) {
  const EventSchema s = default_event_schema();
  for (size_t i = 0; i < kSchemaColumnCount; ++i) {
    const auto c = static_cast<SchemaColumn>(i);
    EXPECT_EQ(s[c].path, column_name(c));
    EXPECT_EQ(s[c].required, c != SchemaColumn::kApp && c != SchemaColumn::kUa) << column_name(c);
    EXPECT_FALSE(s[c].from_string);
    EXPECT_TRUE(s[c].values.empty());
  }
  EXPECT_TRUE(check_event_schema(s));
}

TEST(EventSchema, NestedPathsReadEveryColumn) {
  Parsed p = parse_with(nested_schema(), {kNested});
  ASSERT_EQ(p.batch.size(), 1U) << (p.dead.empty() ? "" : p.dead[0].field);
  EXPECT_EQ(p.batch.event_id[0], 7U);
  EXPECT_EQ(p.batch.ts_ms[0], 1700000000123);
  EXPECT_EQ(p.batch.user_id[0], 42U);
  EXPECT_EQ(p.batch.pin_id[0], 99U);
  EXPECT_EQ(p.batch.action[0], "save");
  EXPECT_EQ(p.batch.ip[0], *parse_ip("10.1.2.3"));
  EXPECT_EQ(p.batch.app[0], "ios");
  EXPECT_EQ(p.batch.ua[0], "UA");
  EXPECT_TRUE(p.batch.action_code.empty());
}

TEST(EventSchema, NestedKeysInAnyOrderWithUnknownKeysAndEscapes) {
  Parsed p = parse_with(
      nested_schema(),
      {kNested,
       R"({"zz":{"id":1},"ctx":{"client":{"app":"web","q":[{}],"ip":"::1"},"pin":5,"user":{"x":0,"id":6}},)"
       R"("meta":{"kind":"view","time":"2023-11-14T22:13:20Z"},"id":8,"ctx2":null})",
       R"({"\u0069d":9,"meta":{"t\u0069me":1,"kind":"k"},"ctx":{"pin":1,"user":{"id":2},"client":{"ip":"1.1.1.1"}}})"});
  ASSERT_EQ(p.batch.size(), 3U) << (p.dead.empty() ? "" : p.dead[0].field);
  EXPECT_EQ(p.batch.event_id[1], 8U);
  EXPECT_EQ(p.batch.user_id[1], 6U);
  EXPECT_EQ(p.batch.pin_id[1], 5U);
  EXPECT_EQ(p.batch.ts_ms[1], 1700000000000);
  EXPECT_EQ(p.batch.action[1], "view");
  EXPECT_EQ(p.batch.app[1], "web");
  EXPECT_EQ(p.batch.ua[1], "");
  EXPECT_EQ(p.batch.ip[1], *parse_ip("::1"));
  EXPECT_EQ(p.batch.event_id[2], 9U);  // escaped keys match once unescaped
  EXPECT_EQ(p.batch.ts_ms[2], 1);
}

TEST(EventSchema, NestedMissingRequiredNamesThePath) {
  Parsed p =
      parse_with(nested_schema(),
                 {R"({"id":7,"meta":{"time":1,"kind":"save"},"ctx":{"pin":99,"user":{"id":42},"client":{}}})",
                  R"({"id":7,"meta":{"time":1,"kind":"save"},"ctx":{"pin":99,"client":{"ip":"1.2.3.4"}}})",
                  R"({"id":7,"meta":{"time":1,"kind":"save"},"ctx":null})"});
  ASSERT_EQ(p.dead.size(), 3U);
  EXPECT_EQ(p.dead[0].reason, DeadLetterReason::kMissingField);
  EXPECT_EQ(p.dead[0].field, "ctx.client.ip");
  EXPECT_EQ(p.dead[1].field, "ctx.user.id");
  EXPECT_EQ(p.dead[2].reason, DeadLetterReason::kMissingField);
  EXPECT_EQ(p.dead[2].field, "ctx.user.id");
}

TEST(EventSchema, NestedWrongTypesNameThePath) {
  Parsed p = parse_with(nested_schema(),
                        {R"({"id":7,"meta":{"time":1,"kind":"save"},"ctx":"flat"})",
                         R"({"id":7,"meta":{"time":1,"kind":"save"},"ctx":{"pin":99,"user":[1]}})",
                         R"({"id":7,"meta":{"time":1,"kind":"save"},"ctx":{"pin":"99"}})",
                         R"({"id":7,"meta":{"time":1,"kind":"save"},"ctx":{"pin":9,"user":{"id":1},)"
                         R"("client":{"ip":"999.1.1.1"}}})",
                         R"({"id":7,"meta":{"time":1,"kind":"save"},"ctx":{"pin":9,"user":{"id":}}})"});
  ASSERT_EQ(p.dead.size(), 5U);
  EXPECT_EQ(p.dead[0].reason, DeadLetterReason::kWrongType);
  EXPECT_EQ(p.dead[0].field, "ctx");
  EXPECT_EQ(p.dead[1].reason, DeadLetterReason::kWrongType);
  EXPECT_EQ(p.dead[1].field, "ctx.user");
  EXPECT_EQ(p.dead[2].reason, DeadLetterReason::kWrongType);
  EXPECT_EQ(p.dead[2].field, "ctx.pin");
  EXPECT_EQ(p.dead[3].reason, DeadLetterReason::kBadIp);
  EXPECT_EQ(p.dead[3].field, "ctx.client.ip");
  EXPECT_EQ(p.dead[4].reason, DeadLetterReason::kMalformedJson);
}

TEST(EventSchema, RenamedTopLevelKeys) {
  EventSchema s = default_event_schema();
  s[SchemaColumn::kUserId].path = "uid";
  s[SchemaColumn::kIp].path = "client_ip";
  Parsed p =
      parse_with(s, {R"({"event_id":1,"ts":2,"uid":3,"pin_id":4,"action":"a","client_ip":"::1"})",
                     R"({"event_id":1,"ts":2,"user_id":3,"pin_id":4,"action":"a","client_ip":"::1"})"});
  ASSERT_EQ(p.batch.size(), 1U);
  EXPECT_EQ(p.batch.user_id[0], 3U);
  ASSERT_EQ(p.dead.size(), 1U);
  EXPECT_EQ(p.dead[0].reason, DeadLetterReason::kMissingField);
  EXPECT_EQ(p.dead[0].field, "uid");
}

TEST(EventSchema, DefaultsFillAbsentAndNullOptionalFields) {
  EventSchema s = default_event_schema();
  s[SchemaColumn::kPinId].required = false;
  s[SchemaColumn::kPinId].default_u64 = 5;
  s[SchemaColumn::kTs].required = false;
  s[SchemaColumn::kTs].default_ts_ms = 1000;
  s[SchemaColumn::kIp].required = false;
  s[SchemaColumn::kIp].default_ip = *parse_ip("0.0.0.0");
  s[SchemaColumn::kApp].default_string = "web";
  s[SchemaColumn::kAction].required = false;
  s[SchemaColumn::kAction].default_string = "view";
  Parsed p = parse_with(
      s, {R"({"event_id":1,"user_id":3})",
          R"({"event_id":1,"user_id":3,"pin_id":null,"ts":null,"ip":null,"app":null,"action":null})",
          R"({"event_id":1,"user_id":3,"pin_id":8,"ts":9,"ip":"::1","app":"ios","action":"a"})"});
  ASSERT_EQ(p.batch.size(), 3U);
  for (size_t r = 0; r < 2; ++r) {
    EXPECT_EQ(p.batch.pin_id[r], 5U);
    EXPECT_EQ(p.batch.ts_ms[r], 1000);
    EXPECT_EQ(p.batch.ip[r], *parse_ip("0.0.0.0"));
    EXPECT_EQ(p.batch.app[r], "web");
    EXPECT_EQ(p.batch.action[r], "view");
    EXPECT_EQ(p.batch.ua[r], "");
  }
  EXPECT_EQ(p.batch.pin_id[2], 8U);
  EXPECT_EQ(p.batch.ts_ms[2], 9);
  EXPECT_EQ(p.batch.ip[2], *parse_ip("::1"));
  EXPECT_EQ(p.batch.app[2], "ios");
  EXPECT_EQ(p.batch.action[2], "a");
}

TEST(EventSchema, RequiredNullIsAWrongType) {
  Parsed p = parse_with(default_event_schema(),
                        {R"({"event_id":1,"ts":2,"user_id":null,"pin_id":4,"action":"a","ip":"::1"})"});
  ASSERT_EQ(p.dead.size(), 1U);
  EXPECT_EQ(p.dead[0].reason, DeadLetterReason::kWrongType);
  EXPECT_EQ(p.dead[0].field, "user_id");
}

TEST(EventSchema, NumbersFromStrings) {
  EventSchema s = default_event_schema();
  s[SchemaColumn::kEventId].from_string = true;
  s[SchemaColumn::kUserId].from_string = true;
  const std::string tail = R"(,"ts":2,"pin_id":4,"action":"a","ip":"::1"})";
  Parsed p =
      parse_with(s, {R"({"event_id":"18446744073709551615","user_id":3)" + tail,
                     R"({"event_id":12,"user_id":"0")" + tail,
                     R"({"event_id":"18446744073709551616","user_id":3)" + tail,
                     R"({"event_id":"","user_id":3)" + tail, R"({"event_id":"-1","user_id":3)" + tail,
                     R"({"event_id":"1 ","user_id":3)" + tail, R"({"event_id":1,"user_id":true)" + tail,
                     R"({"event_id":1,"pin_id":"4","user_id":3,"ts":2,"action":"a","ip":"::1"})"});
  ASSERT_EQ(p.batch.size(), 2U);
  EXPECT_EQ(p.batch.event_id[0], UINT64_MAX);
  EXPECT_EQ(p.batch.user_id[0], 3U);
  EXPECT_EQ(p.batch.event_id[1], 12U);
  EXPECT_EQ(p.batch.user_id[1], 0U);
  ASSERT_EQ(p.dead.size(), 6U);
  const char* fields[] = {"event_id", "event_id", "event_id", "event_id", "user_id", "pin_id"};
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(p.dead[i].reason, DeadLetterReason::kWrongType) << i;
    EXPECT_EQ(p.dead[i].field, fields[i]) << i;
  }
}

TEST(EventSchema, EnumCodesAndUnknownValues) {
  EventSchema s = default_event_schema();
  s[SchemaColumn::kAction].values = {"click", "save", "view"};
  s[SchemaColumn::kAction].unknown = EnumUnknown::kDeadLetter;
  s[SchemaColumn::kApp].values = {"", "ios", "android"};
  auto event = [](std::string_view action, std::string_view app) {
    return std::string(R"({"event_id":1,"ts":2,"user_id":3,"pin_id":4,"ip":"::1","action":")") +
           std::string(action) + "\"" + (app.empty() ? "" : ",\"app\":\"" + std::string(app) + "\"") + "}";
  };
  Parsed p =
      parse_with(s, {event("view", "ios"), event("click", ""), event("save", "web"), event("like", "ios")});
  ASSERT_EQ(p.batch.size(), 3U);
  EXPECT_EQ(p.batch.action_code, (std::vector<uint16_t>{2, 0, 1}));
  EXPECT_EQ(p.batch.app_code, (std::vector<uint16_t>{1, 0, kUnknownEnumCode}));
  EXPECT_EQ(p.batch.app[2], "web");  // kept as it is
  ASSERT_EQ(p.dead.size(), 1U);
  EXPECT_EQ(p.dead[0].reason, DeadLetterReason::kUnknownValue);
  EXPECT_EQ(to_string(p.dead[0].reason), "unknown_value");
  EXPECT_EQ(p.dead[0].field, "action");
  p.batch.clear();
  EXPECT_TRUE(p.batch.action_code.empty());
  EXPECT_TRUE(p.batch.app_code.empty());
}

TEST(EventSchema, ChecksPathsAndDictionaries) {
  EventSchema s = default_event_schema();
  s[SchemaColumn::kIp].path = "ctx";
  s[SchemaColumn::kApp].path = "ctx.app";
  EXPECT_THAT(check_event_schema(s).message(), HasSubstr("path 'ctx.app' runs through the value of 'ctx'"));
  s = default_event_schema();
  s[SchemaColumn::kUa].path = "app";
  EXPECT_THAT(check_event_schema(s).message(), HasSubstr("columns 'app' and 'ua' both read path 'app'"));
  s = default_event_schema();
  s[SchemaColumn::kUa].path = "a..b";
  EXPECT_THAT(check_event_schema(s).message(), HasSubstr("column 'ua': path 'a..b'"));
  s = default_event_schema();
  s[SchemaColumn::kUa].values = {"x"};
  EXPECT_THAT(check_event_schema(s).message(), HasSubstr("only to action and app"));
  s = default_event_schema();
  s[SchemaColumn::kApp].from_string = true;
  EXPECT_THAT(check_event_schema(s).message(), HasSubstr("from_string applies only to u64 columns"));
  s = default_event_schema();
  s[SchemaColumn::kAction].values = {"x", "y", "x"};
  EXPECT_THAT(check_event_schema(s).message(), HasSubstr("'x' is listed twice"));
}

// Pass-through columns: every type, from_string, defaults, NULL, required, wrong types.
using testing_util::extra_field;

EventSchema extra_schema() {
  EventSchema s = default_event_schema();
  s.extra = {extra_field("dwell_ms", "ctx.dwell", ExtraType::kU64),
             extra_field("delta", "delta", ExtraType::kI64),
             extra_field("score", "ctx.score", ExtraType::kF64),
             extra_field("country", "geo.cc", ExtraType::kString)};
  s.extra[1].from_string = true;
  s.extra[2].has_default = true;
  s.extra[2].default_bits = std::bit_cast<uint64_t>(0.5);
  s.extra[3].required = true;
  return s;
}

std::string extra_event(std::string_view rest) {
  return R"({"event_id":1,"ts":2,"user_id":3,"pin_id":4,"action":"a\tb","ip":"1.2.3.4",)" +
         std::string(rest) + "}";
}

TEST(EventSchema, ExtraColumnsOfEveryType) {
  Parsed p = parse_with(
      extra_schema(),
      {extra_event(R"("ctx":{"dwell":1500,"score":2.25},"delta":-7,"geo":{"cc":"DE"})"),
       extra_event(R"("delta":"-9","geo":{"cc":"x\ty"},"ctx":{"dwell":null})"),
       extra_event(R"("ctx":{"dwell":1},"geo":{})"), extra_event(R"("ctx":{"dwell":-1},"geo":{"cc":"DE"})"),
       extra_event(R"("delta":"1e3","geo":{"cc":"DE"})"),
       extra_event(R"("geo":{"cc":"DE"},"ctx":{"score":"1.5"})")});
  ASSERT_EQ(p.batch.size(), 2U);
  ASSERT_EQ(p.batch.extra.size(), 4U);
  const ExtraColumn& dwell = p.batch.extra[0];
  const ExtraColumn& delta = p.batch.extra[1];
  const ExtraColumn& score = p.batch.extra[2];
  const ExtraColumn& country = p.batch.extra[3];
  EXPECT_EQ(dwell.present, (std::vector<uint8_t>{1, 0}));
  EXPECT_EQ(dwell.bits[0], 1500U);
  EXPECT_EQ(static_cast<int64_t>(delta.bits[0]), -7);
  EXPECT_EQ(static_cast<int64_t>(delta.bits[1]), -9);
  EXPECT_EQ(score.present, (std::vector<uint8_t>{1, 1}));
  EXPECT_EQ(std::bit_cast<double>(score.bits[0]), 2.25);
  EXPECT_EQ(std::bit_cast<double>(score.bits[1]), 0.5);  // the default
  EXPECT_EQ(country.str[0], "DE");
  EXPECT_EQ(country.str[1], "x\ty");
  ASSERT_EQ(p.dead.size(), 4U);
  EXPECT_EQ(p.dead[0].reason, DeadLetterReason::kMissingField);
  EXPECT_EQ(p.dead[0].field, "geo.cc");
  EXPECT_EQ(p.dead[1].reason, DeadLetterReason::kWrongType);
  EXPECT_EQ(p.dead[1].field, "ctx.dwell");
  EXPECT_EQ(p.dead[2].reason, DeadLetterReason::kWrongType);
  EXPECT_EQ(p.dead[2].field, "delta");
  EXPECT_EQ(p.dead[3].reason, DeadLetterReason::kWrongType);  // score takes no strings
  EXPECT_EQ(p.dead[3].field, "ctx.score");

  // The encoder writes them after the fixed columns, NULL where absent.
  std::string out;
  encode_rows(p.batch, GeoTable(), CategoryTable(), out);
  const auto lines = split(out, '\n');
  ASSERT_EQ(lines.size(), 3U);  // two rows and the empty tail
  auto fields = split(lines[0], '\t');
  ASSERT_EQ(fields.size(), kOutputColumns.size() + 4);
  EXPECT_EQ(fields[4], "a\\tb");
  EXPECT_EQ(std::vector<std::string>(fields.end() - 4, fields.end()),
            (std::vector<std::string>{"1500", "-7", "2.25", "DE"}));
  fields = split(lines[1], '\t');
  EXPECT_EQ(std::vector<std::string>(fields.end() - 4, fields.end()),
            (std::vector<std::string>{"\\N", "-9", "0.5", "x\\ty"}));

  const std::string ddl = create_table_sql("ev", SqlDialect::kMysql, {"segment"}, extra_schema().extra);
  EXPECT_THAT(ddl,
              HasSubstr("`segment` VARCHAR(128) NULL,\n  `dwell_ms` BIGINT UNSIGNED NULL,\n  `delta` BIGINT "
                        "NULL,\n  `score` DOUBLE NULL,\n  `country` TEXT NULL,"));
}

TEST(EventSchema, ExtraPathsMustNotCollide) {
  EventSchema s = extra_schema();
  s.extra[0].path = "ip";
  EXPECT_THAT(check_event_schema(s).message(), HasSubstr("columns 'ip' and 'dwell_ms' both read path 'ip'"));
  s = extra_schema();
  s.extra[3].path = "ctx.score.cc";
  EXPECT_THAT(check_event_schema(s).message(), HasSubstr("runs through the value of 'ctx.score'"));
  s = extra_schema();
  s.extra[1].name = "dwell_ms";
  EXPECT_THAT(check_event_schema(s).message(), HasSubstr("column 'dwell_ms' is listed twice"));
  s = extra_schema();
  s.extra.resize(kMaxExtraFields + 1, extra_field("x", "x", ExtraType::kU64));
  EXPECT_THAT(check_event_schema(s).message(), HasSubstr("extra columns, at most 32"));
}

// --- [schema.fields.<column>] ---

Result<Config> parse(const std::string& schema) {
  return testing_util::parse_schema_config(schema);
}
std::string error_of(const std::string& schema) {
  return testing_util::schema_config_refusal(schema);
}

TEST(SchemaConfig, NoFieldsIsTheDefaultSchema) {
  auto c = parse("ts_unit = \"s\"\n");
  ASSERT_TRUE(c) << c.status().message();
  for (size_t i = 0; i < kSchemaColumnCount; ++i) {
    EXPECT_EQ(c->schema.fields.fields[i].path, default_event_schema().fields[i].path);
    EXPECT_EQ(c->schema.fields.fields[i].required, default_event_schema().fields[i].required);
  }
}

TEST(SchemaConfig, EveryKey) {
  auto c = parse(R"(
[schema.fields.ip]
path = "ctx.client.ip"
required = false
default = "0.0.0.0"
[schema.fields.user_id]
path = "user.id"
from_string = true
[schema.fields.pin_id]
required = false
default = 7
[schema.fields.ts]
required = false
default = "2024-01-01T00:00:00Z"
[schema.fields.action]
values = ["click", "save"]
unknown = "dead-letter"
[schema.fields.app]
default = "web"
values = ["web", "ios"]
)");
  ASSERT_TRUE(c) << c.status().message();
  const EventSchema& s = c->schema.fields;
  EXPECT_EQ(s[SchemaColumn::kIp].path, "ctx.client.ip");
  EXPECT_FALSE(s[SchemaColumn::kIp].required);
  EXPECT_EQ(s[SchemaColumn::kIp].default_ip, *parse_ip("0.0.0.0"));
  EXPECT_EQ(s[SchemaColumn::kUserId].path, "user.id");
  EXPECT_TRUE(s[SchemaColumn::kUserId].from_string);
  EXPECT_TRUE(s[SchemaColumn::kUserId].required);
  EXPECT_EQ(s[SchemaColumn::kPinId].path, "pin_id");
  EXPECT_EQ(s[SchemaColumn::kPinId].default_u64, 7U);
  EXPECT_EQ(s[SchemaColumn::kTs].default_ts_ms, 1704067200000);
  EXPECT_EQ(s[SchemaColumn::kAction].values, (std::vector<std::string>{"click", "save"}));
  EXPECT_EQ(s[SchemaColumn::kAction].unknown, EnumUnknown::kDeadLetter);
  EXPECT_EQ(s[SchemaColumn::kApp].default_string, "web");
  EXPECT_FALSE(s[SchemaColumn::kApp].required);
  EXPECT_EQ(s[SchemaColumn::kApp].unknown, EnumUnknown::kKeep);
}

TEST(SchemaConfig, ExtraColumns) {
  auto c = parse(R"(
[[schema.extra]]
name = "dwell_ms"
path = "ctx.dwell"
type = "u64"
from_string = true
[[schema.extra]]
name = "score"
type = "f64"
default = 1
[[schema.extra]]
name = "country"
path = "geo.cc"
type = "string"
required = true
)");
  ASSERT_TRUE(c) << c.status().message();
  const auto& extra = c->schema.fields.extra;
  ASSERT_EQ(extra.size(), 3U);
  EXPECT_EQ(extra[0].name, "dwell_ms");
  EXPECT_EQ(extra[0].path, "ctx.dwell");
  EXPECT_EQ(extra[0].type, ExtraType::kU64);
  EXPECT_TRUE(extra[0].from_string);
  EXPECT_FALSE(extra[0].required);
  EXPECT_EQ(extra[1].path, "score");  // the name by default
  EXPECT_TRUE(extra[1].has_default);
  EXPECT_EQ(std::bit_cast<double>(extra[1].default_bits), 1.0);
  EXPECT_TRUE(extra[2].required);
  ASSERT_EQ(c->sink.extra_columns.size(), 3U);
  EXPECT_EQ(c->sink.extra_columns[2].name, "country");
}

TEST(SchemaConfig, ExtraColumnErrors) {
  EXPECT_THAT(error_of("[[schema.extra]]\ntype = \"u64\"\n"),
              HasSubstr("'schema.extra[0].name' is required"));
  EXPECT_THAT(error_of("[[schema.extra]]\nname = \"a\"\n"), HasSubstr("'schema.extra[0].type' is required"));
  EXPECT_THAT(error_of("[[schema.extra]]\nname = \"a\"\ntype = \"u32\"\n"),
              HasSubstr("'schema.extra[0].type' is 'u32', must be \"u64\", \"i64\", \"f64\", \"string\", "
                        "\"ip\", \"timestamp\" or \"enum\""));
  EXPECT_THAT(error_of("[[schema.extra]]\nname = \"a b\"\ntype = \"u64\"\n"),
              HasSubstr("'schema.extra[0].name' is 'a b', must be a column name"));
  EXPECT_THAT(error_of("[[schema.extra]]\nname = \"city\"\ntype = \"string\"\n"),
              HasSubstr("'schema.extra[0].name' is 'city', a column enrichd writes already"));
  EXPECT_THAT(error_of("[[schema.extra]]\nname = \"a\"\ntype = \"string\"\nfrom_string = true\n"),
              HasSubstr("'schema.extra[0].from_string' applies only to the numeric types"));
  EXPECT_THAT(error_of("[[schema.extra]]\nname = \"a\"\ntype = \"u64\"\ndefault = \"x\"\n"),
              HasSubstr("'schema.extra[0].default' must be a non-negative integer"));
  EXPECT_THAT(error_of("[[schema.extra]]\nname = \"a\"\ntype = \"u64\"\nrequired = true\ndefault = 1\n"),
              HasSubstr("'schema.extra[0].default' is set but the column is required"));
  EXPECT_THAT(error_of("[[schema.extra]]\nname = \"a\"\ntype = \"u64\"\nsize = 1\n"),
              HasSubstr("'schema.extra[0].size' is unknown"));
  EXPECT_THAT(error_of("[[schema.extra]]\nname = \"ip\"\ntype = \"string\"\n"),
              HasSubstr("a column enrichd writes already"));
  EXPECT_THAT(error_of("[[schema.extra]]\nname = \"a\"\npath = \"ts\"\ntype = \"string\"\n"),
              HasSubstr("columns 'ts' and 'a' both read path 'ts'"));
  EXPECT_THAT(error_of("extra = 1\n"), HasSubstr("'schema.extra' must be an array of tables"));
  EXPECT_THAT(error_of("[[schema.extra]]\nname = \"segment_id\"\ntype = \"u64\"\n"
                       "[[enrich.join]]\noutput_column = \"segment\"\nkey_field = \"user_id\"\n"
                       "pins_csv = \"s.csv\"\n"),
              HasSubstr("names column 'segment_id', which the join 'segment' writes"));
}

TEST(EventSchema, ZoneIdsStrippedWhereConfigured) {
  const auto message = [](std::string_view ip) {
    return fmt::format(
        R"({{"event_id":1,"ts":2,"user_id":3,"pin_id":4,"action":"view","ip":"{}","peer":"{}"}})", ip, ip);
  };
  EventSchema s = default_event_schema();
  ExtraField peer;
  peer.name = "peer";
  peer.path = "peer";
  peer.type = ExtraType::kIp;
  s.extra.push_back(peer);
  const std::vector<std::string> messages = {message("fe80::1%eth0"), message("1.2.3.4%eth0"),
                                             message("fe80::1%"), message("2001:db8::9")};
  Parsed plain = parse_with(s, messages);
  ASSERT_EQ(plain.batch.size(), 1U);  // every zone id is a bad address
  ASSERT_EQ(plain.dead.size(), 3U);
  EXPECT_EQ(plain.dead[0].reason, DeadLetterReason::kBadIp);
  EXPECT_EQ(plain.dead[0].field, "ip");

  s[SchemaColumn::kIp].strip_zone_id = true;
  Parsed fixed_only = parse_with(s, messages);
  ASSERT_EQ(fixed_only.dead.size(), 3U);
  EXPECT_EQ(fixed_only.dead[0].field, "peer");  // the fixed ip passed, the extra did not
  EXPECT_EQ(fixed_only.dead[1].field, "ip");    // a zone after IPv4 text
  EXPECT_EQ(fixed_only.dead[2].field, "ip");    // an empty zone

  s.extra[0].strip_zone_id = true;
  Parsed both = parse_with(s, messages);
  ASSERT_EQ(both.batch.size(), 2U);
  EXPECT_EQ(both.batch.ip[0], *parse_ip("fe80::1"));
  EXPECT_EQ(both.batch.extra[0].ip[0], *parse_ip("fe80::1"));
  EXPECT_EQ(both.batch.ip[1], *parse_ip("2001:db8::9"));

  s.extra[0].type = ExtraType::kString;
  EXPECT_THAT(check_event_schema(s).message(), HasSubstr("column 'peer': zone ids apply only to ip columns"));
  s.extra.clear();
  s[SchemaColumn::kUa].strip_zone_id = true;
  EXPECT_THAT(check_event_schema(s).message(),
              HasSubstr("column 'ua': zone ids apply only to the ip column"));
}

TEST(SchemaConfig, ZoneIdKey) {
  auto c = parse(
      "[schema.fields.ip]\nzone_id = \"strip\"\n[[schema.extra]]\nname = \"peer\"\ntype = \"ip\"\nzone_id = "
      "\"reject\"\n");
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_TRUE(c->schema.fields[SchemaColumn::kIp].strip_zone_id);
  EXPECT_FALSE(c->schema.fields.extra[0].strip_zone_id);
  EXPECT_THAT(error_of("[schema.fields.ip]\nzone_id = \"keep\"\n"),
              HasSubstr("'schema.fields.ip.zone_id' is 'keep', must be \"reject\""));
  EXPECT_THAT(error_of("[schema.fields.ua]\nzone_id = \"strip\"\n"),
              HasSubstr("'schema.fields.ua.zone_id' applies only to ip columns (ua is not one): remove it"));
  EXPECT_THAT(error_of("[[schema.extra]]\nname = \"peer\"\ntype = \"string\"\nzone_id = \"strip\"\n"),
              HasSubstr("'schema.extra[0].zone_id' applies only to ip columns (peer is not one)"));
}

TEST(SchemaConfig, ErrorsNameTheKeyAndTheFix) {
  EXPECT_THAT(error_of("[schema.fields.country]\npath = \"c\"\n"),
              HasSubstr("'schema.fields.country' is unknown (columns: event_id, ts, user_id"));
  EXPECT_THAT(error_of("[schema.fields.ip]\npth = \"c\"\n"), HasSubstr("'schema.fields.ip.pth' is unknown"));
  EXPECT_THAT(error_of("[schema.fields.ip]\npath = \"\"\n"),
              HasSubstr("'schema.fields.ip.path' must not be empty"));
  EXPECT_THAT(error_of("[schema.fields.ip]\npath = 3\n"),
              HasSubstr("'schema.fields.ip.path' must be a string"));
  EXPECT_THAT(
      error_of("[schema.fields.user_id]\ndefault = 3\n"),
      HasSubstr("'schema.fields.user_id.default' is set but the field is required: add required = false"));
  EXPECT_THAT(error_of("[schema.fields.user_id]\nrequired = false\ndefault = -3\n"),
              HasSubstr("'schema.fields.user_id.default' must be a non-negative integer"));
  EXPECT_THAT(error_of("[schema.fields.ip]\nrequired = false\n"),
              HasSubstr("'schema.fields.ip.default' is required when ip is not required"));
  EXPECT_THAT(error_of("[schema.fields.ip]\nrequired = false\ndefault = \"nope\"\n"),
              HasSubstr("'schema.fields.ip.default' must be an IPv4 or IPv6 address"));
  EXPECT_THAT(error_of("[schema.fields.ts]\nrequired = false\ndefault = \"yesterday\"\n"),
              HasSubstr("'schema.fields.ts.default' must be epoch milliseconds or an RFC 3339"));
  EXPECT_THAT(error_of("[schema.fields.app]\ndefault = 1\n"),
              HasSubstr("'schema.fields.app.default' must be a string"));
  EXPECT_THAT(error_of("[schema.fields.ts]\nfrom_string = true\n"),
              HasSubstr("'schema.fields.ts.from_string' applies only to the u64 columns"));
  EXPECT_THAT(error_of("[schema.fields.ua]\nvalues = [\"a\"]\n"),
              HasSubstr("'schema.fields.ua.values': enum dictionaries apply only to action and app"));
  EXPECT_THAT(error_of("[schema.fields.app]\nvalues = []\n"),
              HasSubstr("'schema.fields.app.values' must list"));
  EXPECT_THAT(error_of("[schema.fields.app]\nvalues = [\"a\", \"a\"]\n"), HasSubstr("lists 'a' twice"));
  EXPECT_THAT(error_of("[schema.fields.app]\nvalues = [\"a\"]\nunknown = \"drop\"\n"),
              HasSubstr("'schema.fields.app.unknown' is 'drop', must be \"keep\" or \"dead-letter\""));
  EXPECT_THAT(error_of("[schema.fields.app]\nunknown = \"keep\"\n"),
              HasSubstr("'schema.fields.app.unknown' needs a dictionary"));
  EXPECT_THAT(error_of("[schema.fields.ip]\npath = \"ctx\"\n[schema.fields.app]\npath = \"ctx.app\"\n"),
              HasSubstr("columns 'ip' and 'app': path 'ctx.app' runs through the value of 'ctx'"));
  EXPECT_THAT(error_of("fields = 3\n"), HasSubstr("'schema.fields' must be a table"));
  EXPECT_THAT(error_of("[schema.fields]\nip = 3\n"), HasSubstr("'schema.fields.ip' must be a table"));
}

}  // namespace
}  // namespace enrichd
