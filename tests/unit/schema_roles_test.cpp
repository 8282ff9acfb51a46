// Dropped fixed columns ([schema.fields.<column>] drop = true) and the roles ([schema.roles] ip and
// event_time, a join's key_field): what the parser reads, what the encoder and the DDL write, which
// columns the lookups read, and the config errors, each naming the key and the fix.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "host/category_table.h"
#include "host/event_parser.h"
#include "host/geo_table.h"
#include "host/row_encoder.h"
#include "kernels/backend.h"
#include "pipeline/config.h"
#include "pipeline/enrich_stage.h"
#include "pipeline/load_job.h"
#include "pipeline/memsql_sink.h"
#include "pipeline/pipeline.h"
#include "schema_test_util.h"

namespace enrichd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using testing_util::split;

Result<Config> parse(const std::string& schema) {
  return testing_util::parse_schema_config(schema);
}
std::string error_of(const std::string& schema) {
  return testing_util::schema_config_refusal(schema);
}

// ua, user_id and app dropped: events without them parse, and a value of the wrong type there is not read.
EventSchema schema_without_user_app_ua() {
  EventSchema s = default_event_schema();
  s[SchemaColumn::kUserId].drop = true;
  s[SchemaColumn::kApp].drop = true;
  s[SchemaColumn::kUa].drop = true;
  return s;
}

TEST(DroppedColumns, AreNotReadNorRequired) {
  const EventSchema schema = schema_without_user_app_ua();
  ASSERT_TRUE(check_event_schema(schema));
  RawBatch raw;
  raw.add(R"({"event_id":1,"ts":5,"pin_id":7,"action":"click","ip":"1.2.3.4"})", {0, 0});
  raw.add(R"({"event_id":2,"ts":6,"pin_id":8,"action":"save","ip":"::1","user_id":"x","ua":{"a":[1]}})",
          {0, 1});
  raw.add(R"({"event_id":3,"ts":6,"action":"save","ip":"::1"})", {0, 2});  // pin_id is still required
  EventBatch batch;
  std::vector<DeadLetter> dead;
  EventParser parser(ParserOptions{.schema = schema});
  parser.parse(raw, batch, dead);
  ASSERT_EQ(batch.size(), 2U);
  EXPECT_EQ(batch.pin_id[1], 8U);
  EXPECT_EQ(batch.user_id[1], 0U);  // the default stands in, never the event's value
  EXPECT_EQ(batch.ua[1], "");
  ASSERT_EQ(dead.size(), 1U);
  EXPECT_EQ(dead[0].reason, DeadLetterReason::kMissingField);
  EXPECT_EQ(dead[0].field, "pin_id");
}

TEST(DroppedColumns, AreLeftOutOfTheRowsAndTheTable) {
  EventBatch b;
  b.event_id = {1};
  b.ts_ms = {1700000000123};
  b.user_id = {42};
  b.pin_id = {7};
  b.action.push_back("click");
  b.ip = {*parse_ip("1.2.3.4")};
  b.app.push_back("ios");
  b.ua.push_back("UA");
  b.geo_record = {kNoRecord};
  b.category_id = {kNoRecord};
  b.select_all();
  const uint32_t dropped = 1U << static_cast<uint32_t>(SchemaColumn::kEventId) |
                           1U << static_cast<uint32_t>(SchemaColumn::kUserId) |
                           1U << static_cast<uint32_t>(SchemaColumn::kUa);
  std::string all, some;
  encode_rows(b, GeoTable(), CategoryTable(), all);
  encode_rows(b, GeoTable(), CategoryTable(), some, {}, RowLayout{.dropped_columns = dropped});
  const std::vector<std::string> all_fields = split(all.substr(0, all.size() - 1), '\t');
  const std::vector<std::string> some_fields = split(some.substr(0, some.size() - 1), '\t');
  ASSERT_EQ(all_fields.size(), kOutputColumns.size());
  ASSERT_EQ(some_fields.size(), kOutputColumns.size() - 3);
  EXPECT_EQ(std::vector<std::string>(some_fields.begin(), some_fields.begin() + 5),
            (std::vector<std::string>{"2023-11-14 22:13:20.123", "7", "click", "1.2.3.4", "ios"}));
  // The geo and category fields follow unchanged.
  EXPECT_EQ(std::vector<std::string>(some_fields.begin() + 5, some_fields.end()),
            std::vector<std::string>(all_fields.begin() + 8, all_fields.end()));

  SinkConfig config;
  config.dropped_columns = dropped;
  const std::string mysql = create_table_sql("ev", config);
  EXPECT_THAT(mysql, Not(HasSubstr("`event_id`")));
  EXPECT_THAT(mysql, Not(HasSubstr("`user_id`")));
  EXPECT_THAT(mysql, Not(HasSubstr("`ua`")));
  EXPECT_THAT(mysql, HasSubstr("(\n  `ts` DATETIME(3) NOT NULL,\n  `pin_id`"));
  EXPECT_THAT(mysql, HasSubstr("`category` VARCHAR(128) NULL,\n  KEY (`ts`)\n)"));
  config.dialect = SqlDialect::kSingleStore;
  EXPECT_THAT(create_table_sql("ev", config), HasSubstr("  SORT KEY (`ts`),\n  SHARD KEY ()\n)"));
  // Without an event-time column there is no time key; the last column ends the list.
  config.dropped_columns |= 1U << static_cast<uint32_t>(SchemaColumn::kTs);
  config.event_time_column.clear();
  EXPECT_THAT(create_table_sql("ev", config), HasSubstr("`category` VARCHAR(128) NULL,\n  SHARD KEY ()\n)"));
  config.dialect = SqlDialect::kMysql;
  EXPECT_THAT(create_table_sql("ev", config),
              HasSubstr("`category` VARCHAR(128) NULL\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"));
}

TEST(DroppedColumns, Config) {
  auto c = parse("[schema.fields.ua]\ndrop = true\n[schema.fields.user_id]\ndrop = true\n");
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_TRUE(c->schema.fields[SchemaColumn::kUa].drop);
  EXPECT_EQ(c->sink.dropped_columns, 1U << static_cast<uint32_t>(SchemaColumn::kUa) |
                                         1U << static_cast<uint32_t>(SchemaColumn::kUserId));
  EXPECT_EQ(c->sink.row_layout().dropped_columns, c->sink.dropped_columns);
  // A dropped column's name is free for an extra column (another type, say).
  c = parse(
      "[schema.fields.user_id]\ndrop = true\n[[schema.extra]]\nname = \"user_id\"\ntype = \"string\"\n");
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->schema.fields.extra[0].name, "user_id");

  EXPECT_THAT(error_of("[schema.fields.ua]\ndrop = true\npath = \"x\"\n"),
              HasSubstr("'schema.fields.ua.path' is set with drop = true, which leaves the column out"));
  EXPECT_THAT(error_of("[schema.fields.ua]\ndrop = 1\n"), HasSubstr("'schema.fields.ua.drop'"));
  EXPECT_THAT(error_of("[[schema.extra]]\nname = \"user_id\"\ntype = \"string\"\n"),
              HasSubstr("a column enrichd writes already: pick another name, or add [schema.fields.user_id] "
                        "drop = true to replace it"));
  // Rules and joins on a dropped column.
  EXPECT_THAT(error_of("[schema.fields.ua]\ndrop = true\n[filter]\nrequire = [\"ua\"]\n"),
              HasSubstr("names 'ua', which is no column (dropped: [schema.fields.ua] drop = true)"));
  EXPECT_THAT(
      error_of("[schema.fields.ts]\ndrop = true\n[filter]\nts_min = 5\n"),
      HasSubstr("'filter.ts_min'/'filter.ts_max' read ts, which [schema.fields.ts] drop = true leaves out"));
  EXPECT_THAT(error_of("[schema.fields.action]\ndrop = true\n[filter]\ninclude_actions = [\"view\"]\n"),
              HasSubstr("is 'action', which is no column (dropped: [schema.fields.action] drop = true)"));
  EXPECT_THAT(
      error_of("[schema.fields.pin_id]\ndrop = true\n"),
      HasSubstr("'enrich.category_csv' keys the category join on pin_id, which [schema.fields.pin_id] "
                "drop = true leaves out: use [enrich.categories] with pins_csv and key_field"));
  EXPECT_THAT(
      error_of("[schema.fields.user_id]\ndrop = true\n[[enrich.join]]\noutput_column = \"seg\"\n"
               "key_field = \"user_id\"\npins_csv = \"p\"\n"),
      HasSubstr(
          "'enrich.join[1].key_field' is 'user_id', which [schema.fields.user_id] drop = true leaves out: "
          "key the join on another column, or keep user_id"));
  EXPECT_THAT(error_of("[schema.fields.ip]\ndrop = true\n"),
              HasSubstr("config key 'schema.roles.ip' is needed: the geo lookup reads an IP address, and "
                        "[schema.fields.ip] is dropped"));
}

TEST(Roles, DefaultsAndErrors) {
  auto c = parse("");
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->schema.roles.ip.column, "ip");
  EXPECT_FALSE(c->schema.roles.ip.is_extra);
  EXPECT_EQ(c->schema.roles.event_time.column, "ts");
  // No event time: ts dropped, or named "".
  c = parse("[schema.fields.ts]\ndrop = true\n");
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_TRUE(c->schema.roles.event_time.none());
  c = parse("[schema.roles]\nevent_time = \"\"\n");
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_TRUE(c->schema.roles.event_time.none());

  EXPECT_THAT(error_of("[schema.roles]\nip = \"ua\"\n"),
              HasSubstr("'schema.roles.ip' is 'ua', a column of type string: name ip or a [[schema.extra]] "
                        "column of type ip"));
  EXPECT_THAT(
      error_of("[schema.roles]\nip = \"nope\"\n"),
      HasSubstr("'schema.roles.ip' is 'nope', which is no column: name ip or a [[schema.extra]] column "
                "of type ip"));
  EXPECT_THAT(error_of("[schema.roles]\nevent_time = \"ts2\"\n"),
              HasSubstr("'schema.roles.event_time' is 'ts2', which is no column: name ts or a "
                        "[[schema.extra]] column of type timestamp"));
  EXPECT_THAT(
      error_of("[schema.fields.ts]\ndrop = true\n[schema.roles]\nevent_time = \"ts\"\n"),
      HasSubstr("'schema.roles.event_time' is 'ts', which [schema.fields.ts] drop = true leaves out"));
  EXPECT_THAT(
      error_of("[[schema.extra]]\nname = \"client\"\ntype = \"string\"\n[schema.roles]\nip = \"client\"\n"),
      HasSubstr("'schema.roles.ip' is 'client', a [[schema.extra]] column of type string: it must be "
                "of type ip"));
  EXPECT_THAT(error_of("[schema.roles]\nip = \"\"\n"), HasSubstr("'schema.roles.ip' is needed"));
  EXPECT_THAT(error_of("[schema.roles]\ngeo = \"ip\"\n"), HasSubstr("'schema.roles.geo' is unknown"));
  EXPECT_THAT(error_of("roles = 1\n"), HasSubstr("'schema.roles' must be a table"));
}

// The tables the enrich stage tests look up: 1.0.0.0/24 is record 0 (AU); key 10 (a pin id) has category 1,
// key 20 (a user id) category 2.
struct EnrichTables {
  EnrichTables() {
    auto built = GeoTable::build({{*parse_ip("1.0.0.0"), *parse_ip("1.0.0.255"), 0, 1}},
                                 {GeoRecord{"AU", "", "", 0, 0, false, "", ""}});
    EXPECT_TRUE(built) << built.status().message();
    if (built) geo = std::move(built).value();
    EXPECT_TRUE(categories.insert(10, 1).is_ok());
    EXPECT_TRUE(categories.insert(20, 2).is_ok());
  }
  GeoTable geo;
  CategoryTable categories;
};

// The enrich stage reads the category join's key from the column its key_field names.
TEST(Roles, TheCategoryJoinReadsItsKeyColumn) {
  const EnrichTables t;
  auto backend = make_backend("scalar");
  ASSERT_TRUE(backend) << backend.status().message();
  EventBatch b;
  b.pin_id = {10, 10, 10};
  b.user_id = {20, 21, 20};
  b.event_id = {1, 2, 3};
  b.ip = {*parse_ip("1.0.0.1"), *parse_ip("9.9.9.9"), *parse_ip("1.0.0.2")};
  b.geo_record.assign(3, kNoRecord);
  b.category_id.assign(3, kNoRecord);
  b.selected = {0, 1};  // row 2 filtered out
  EnrichStage stage(**backend, t.geo, t.categories);
  ASSERT_TRUE(stage.apply(b));
  EXPECT_EQ(b.category_id, (std::vector<uint32_t>{1, 1, kNoRecord}));
  EXPECT_EQ(b.geo_record, (std::vector<uint32_t>{0, kNoRecord, kNoRecord}));
  JoinConfig by_user;
  by_user.key_field = JoinKeyField::kUserId;
  by_user.key_column = "user_id";
  stage.set_columns(ColumnRole{"ip"}, by_user);
  ASSERT_TRUE(stage.apply(b));
  EXPECT_EQ(b.category_id, (std::vector<uint32_t>{2, kNoRecord, kNoRecord}));
  EXPECT_EQ(b.geo_record, (std::vector<uint32_t>{0, kNoRecord, kNoRecord}));
}

// The newest event time per partition of a batch, as note_newest_event_times stamps it on the segments of a
// job with one segment per partition in `partitions` (-1: none).
std::vector<int64_t> newest_per_partition(const EventBatch& b, const ColumnRole& role,
                                          const std::vector<int32_t>& partitions) {
  LoadJob job;
  for (int32_t p : partitions) {
    job.segments.emplace_back();
    job.segments.back().partition = p;
  }
  note_newest_event_times(b, role, job);
  std::vector<int64_t> out;
  for (const PartitionSegment& seg : job.segments) out.push_back(seg.newest_event_ms);
  return out;
}

TEST(Roles, NewestEventTimeOfTheSelectedRowsPerPartition) {
  EventBatch b;
  b.ts_ms = {5, 9, 7, 3, 4};
  b.position = {{0, 0}, {0, 1}, {0, 2}, {1, 0}, {0, 3}};
  b.selected = {0, 2, 3, 4};  // row 1 (the newest) filtered out
  EXPECT_EQ(newest_per_partition(b, ColumnRole{"ts"}, {0, 1}), (std::vector<int64_t>{7, 3}));
  EXPECT_EQ(newest_per_partition(b, ColumnRole{"ts"}, {1, 0}), (std::vector<int64_t>{3, 7}));
  EXPECT_EQ(newest_per_partition(b, ColumnRole{}, {0, 1}), (std::vector<int64_t>{-1, -1}));
  b.selected = {0, 2};
  EXPECT_EQ(newest_per_partition(b, ColumnRole{"ts"}, {0, 1}), (std::vector<int64_t>{7, -1}));
}

// ip and ts replaced: the address comes from an extra ip column (NULL: no geo record), the event time
// from an extra timestamp column that takes the name ts; the config, the parser, the lookups and the rows
// together.
TEST(Roles, IpAndEventTimeFromExtraColumns) {
  auto c = parse(
      "[schema.fields.ip]\ndrop = true\n[schema.fields.ts]\ndrop = true\n"
      "[[schema.extra]]\nname = \"client_ip\"\npath = \"ctx.ip\"\ntype = \"ip\"\n"
      "[[schema.extra]]\nname = \"ts\"\npath = \"time\"\ntype = \"timestamp\"\n"
      "[schema.roles]\nip = \"client_ip\"\n");
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_TRUE(c->schema.roles.ip.is_extra);
  EXPECT_EQ(c->schema.roles.ip.extra, 0U);
  EXPECT_TRUE(c->schema.roles.event_time.is_extra);  // the extra that took the name ts
  EXPECT_EQ(c->schema.roles.event_time.extra, 1U);
  EXPECT_EQ(describe_roles(c->schema),
            "geo lookup reads client_ip ([[schema.extra]] ip; NULL: none); event time ts ([[schema.extra]] "
            "timestamp; NULL: none)");
  EXPECT_EQ(describe_dropped_columns(c->schema.fields), "dropped (not read, not in the table): ts, ip");

  RawBatch raw;
  const std::string head = R"({"event_id":1,"user_id":2,"pin_id":10,"action":"view",)";
  raw.add(head + R"("ctx":{"ip":"1.0.0.9"},"time":"2024-01-01T00:00:00.5Z"})", {0, 0});
  raw.add(head + R"("ctx":{"ip":null},"time":1704067201000,"ip":"1.0.0.1"})", {0, 1});  // "ip" not read
  raw.add(head + R"("ctx":{"ip":"9.9.9.9"}})", {0, 2});
  raw.add(head + R"("ctx":{"ip":"1.0.0.300"}})", {0, 3});
  EventBatch b;
  std::vector<DeadLetter> dead;
  EventParser parser(ParserOptions{.ts_unit = c->schema.ts_unit, .schema = c->schema.fields});
  parser.parse(raw, b, dead);
  ASSERT_EQ(b.size(), 3U);
  ASSERT_EQ(dead.size(), 1U);
  EXPECT_EQ(dead[0].reason, DeadLetterReason::kBadIp);
  EXPECT_EQ(dead[0].field, "ctx.ip");

  const EnrichTables t;
  auto backend = make_backend("scalar");
  ASSERT_TRUE(backend) << backend.status().message();
  EnrichStage stage(**backend, t.geo, t.categories);
  stage.set_columns(c->schema.roles.ip, c->enrich.categories());
  ASSERT_TRUE(stage.apply(b));
  EXPECT_EQ(b.geo_record, (std::vector<uint32_t>{0, kNoRecord, kNoRecord}));  // the fixed ip (0.0.0.0) unread
  EXPECT_EQ(b.category_id, (std::vector<uint32_t>{1, 1, 1}));
  EXPECT_EQ(newest_per_partition(b, c->schema.roles.event_time, {0}), std::vector<int64_t>{1704067201000});
  b.selected = {0, 2};
  // Row 2's is NULL.
  EXPECT_EQ(newest_per_partition(b, c->schema.roles.event_time, {0}), std::vector<int64_t>{1704067200500});

  // The rows: no fixed ts and ip, the two extras last.
  std::string out;
  encode_rows(b, t.geo, t.categories, out, {}, c->sink.row_layout());
  const std::vector<std::string> lines = split(out, '\n');
  ASSERT_EQ(lines.size(), 2U);
  const std::vector<std::string> fields = split(lines[0], '\t');
  ASSERT_EQ(fields.size(), kOutputColumns.size());  // two dropped, two added
  EXPECT_EQ(std::vector<std::string>(fields.begin(), fields.begin() + 4),
            (std::vector<std::string>{"1", "2", "10", "view"}));
  EXPECT_EQ(std::vector<std::string>(fields.end() - 2, fields.end()),
            (std::vector<std::string>{"1.0.0.9", "2024-01-01 00:00:00.500"}));
  const std::string ddl = create_table_sql("ev", c->sink);
  EXPECT_THAT(ddl, HasSubstr("`client_ip` VARCHAR(45) NULL,\n  `ts` DATETIME(3) NULL,\n  KEY (`ts`)"));
  EXPECT_THAT(ddl, HasSubstr("(\n  `event_id` BIGINT UNSIGNED NOT NULL,\n  `user_id`"));
}

TEST(Roles, ExtraColumnsOfTheWrongTypeOrMissing) {
  // ts dropped and replaced by an extra of another type: no event time (the role is optional), unless named.
  auto plain = parse("[schema.fields.ts]\ndrop = true\n[[schema.extra]]\nname = \"ts\"\ntype = \"u64\"\n");
  ASSERT_TRUE(plain) << plain.status().message();
  EXPECT_TRUE(plain->schema.roles.event_time.none());
  EXPECT_EQ(plain->sink.event_time_column, "");
  EXPECT_THAT(
      error_of("[schema.fields.ts]\ndrop = true\n[[schema.extra]]\nname = \"ts\"\ntype = \"u64\"\n"
               "[schema.roles]\nevent_time = \"ts\"\n"),
      HasSubstr("'schema.roles.event_time' is 'ts', a [[schema.extra]] column of type u64: it must be of "
                "type timestamp"));
  // Join keys on output columns other than the input ones.
  EXPECT_THAT(
      error_of("[[enrich.join]]\noutput_column = \"seg\"\nkey_field = \"country_code\"\npins_csv = \"s\"\n"),
      HasSubstr("'enrich.join[1].key_field' is 'country_code', an output column that cannot be a join key"));
  // ip dropped, and the extra that took its name is no address: the role must be named.
  EXPECT_THAT(
      error_of("[schema.fields.ip]\ndrop = true\n[[schema.extra]]\nname = \"ip\"\ntype = \"string\"\n"),
      HasSubstr("'schema.roles.ip' is needed: the geo lookup reads an IP address, and [schema.fields.ip] is "
                "dropped"));
  EXPECT_THAT(error_of("[schema.fields.ip]\ndrop = true\n[[schema.extra]]\nname = \"ip\"\ntype = \"string\"\n"
                       "[schema.roles]\nip = \"ip\"\n"),
              HasSubstr("'schema.roles.ip' is 'ip', a [[schema.extra]] column of type string: it must be of "
                        "type ip"));
  EXPECT_THAT(
      error_of("[[schema.extra]]\nname = \"t2\"\ntype = \"u64\"\n[schema.roles]\nevent_time = \"t2\"\n"),
      HasSubstr("'schema.roles.event_time' is 't2', a [[schema.extra]] column of type u64: it must be "
                "of type timestamp"));
  // A kept ip column and an extra ip column: either may be the role.
  auto c = parse("[[schema.extra]]\nname = \"proxy_ip\"\ntype = \"ip\"\n[schema.roles]\nip = \"proxy_ip\"\n");
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_TRUE(c->schema.roles.ip.is_extra);
  c = parse("[[schema.extra]]\nname = \"proxy_ip\"\ntype = \"ip\"\n");
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_FALSE(c->schema.roles.ip.is_extra);
}

}  // namespace
}  // namespace enrichd
