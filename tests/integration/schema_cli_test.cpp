// [schema] through the binary: event times in the configured epoch unit and as RFC 3339 strings land in
// the table as the same instant; a bad unit stops start-up naming the key; a schema of nested paths
// ([schema.fields.<column>]) with pass-through columns ([[schema.extra]]) loads the right rows and
// dead-letters what it must, naming reason and field.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include <fmt/format.h>

#include "pipeline_fixture.h"
#include "test_support.h"

namespace enrichd::testing_support {
namespace {

using namespace std::chrono_literals;

std::string config(const std::string& dsn, const std::string& table, const std::string& unit) {
  return fmt::format(R"([source]
kind = "file"
path = "events.jsonl"
[schema]
ts_unit = "{}"
[enrich]
geo = "geo.csv"
category_csv = "pins.csv"
[sink]
dsn = "{}"
table = "{}"
)",
                     unit, dsn, table);
}

TEST(SchemaCli, EventTimesInSecondsAndRfc3339) {
  if (test_dsn().empty()) GTEST_SKIP() << "ENRICHD_TEST_DSN is not set; run through scripts/test";
  const std::string dir = make_reference_dir("enrichd-schema");
  const std::string table = unique_name("schema_");
  const char* kTimes[] = {"1700000000", "1700000000.25", "\"1700000001\"", "\"2023-11-14T23:13:20.5+01:00\"",
                          "\"2023-11-14 22:13:21Z\""};
  std::string lines;
  for (int i = 0; i < 5; ++i) {
    lines += fmt::format(R"({{"event_id":{},"ts":{},"user_id":1,"pin_id":1,"action":"view","ip":"8.8.8.8"}})",
                         i + 1, kTimes[i]);
    lines += "\n";
  }
  lines +=
      R"({"event_id":9,"ts":"2023-02-30T00:00:00Z","user_id":1,"pin_id":1,"action":"view","ip":"8.8.8.8"})";
  lines += "\n";
  write_file(dir + "/events.jsonl", lines);
  write_file(dir + "/c.toml", config(test_dsn(), table, "s"));
  auto r = run_process({enrichd_binary(), "run", "-c", dir + "/c.toml"}, 60s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("wrong_type=1"), std::string::npos) << "Feb 30 is a dead letter: " << r.err;
  auto db = connect_test_db();
  ASSERT_TRUE(db);
  auto rows = db->query("SELECT event_id, ts FROM `" + table + "` ORDER BY event_id");
  ASSERT_TRUE(rows) << rows.status().message();
  const std::vector<std::vector<std::string>> expected = {{"1", "2023-11-14 22:13:20.000"},
                                                          {"2", "2023-11-14 22:13:20.250"},
                                                          {"3", "2023-11-14 22:13:21.000"},
                                                          {"4", "2023-11-14 22:13:20.500"},
                                                          {"5", "2023-11-14 22:13:21.000"}};
  EXPECT_EQ(*rows, expected);
  drop_run_tables(*db, table);

  write_file(dir + "/c.toml", config(test_dsn(), table, "minutes"));
  r = run_process({enrichd_binary(), "run", "-c", dir + "/c.toml"}, 60s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'schema.ts_unit' is 'minutes'"), std::string::npos) << r.err;
}

TEST(SchemaCli, NestedPathsDefaultsEnumsAndExtraColumns) {
  if (test_dsn().empty()) GTEST_SKIP() << "ENRICHD_TEST_DSN is not set; run through scripts/test";
  const std::string dir = make_reference_dir("enrichd-schema-fields");
  const std::string table = unique_name("schema_fields_");
  write_file(
      dir + "/events.jsonl",
      R"({"id":1,"t":1700000000000,"ctx":{"user":{"id":"42"},"pin":7,"dwell":1500,"client":{"ip":"8.8.8.8","app":"ios"}},"kind":"save","score":-1.5})"
      "\n"
      R"({"id":2,"t":1700000001000,"ctx":{"user":{"id":43},"pin":8,"client":{"ip":"1.1.1.1"}},"kind":"click","x":{"y":1}})"
      "\n"
      R"({"id":3,"t":1700000002000,"ctx":{"user":{"id":44},"pin":9,"client":{}},"kind":"click"})"
      "\n"
      R"({"id":4,"t":1700000003000,"ctx":{"user":{"id":45},"pin":9,"client":{"ip":"1.1.1.1"}},"kind":"like"})"
      "\n");
  write_file(dir + "/c.toml", fmt::format(R"([source]
kind = "file"
path = "events.jsonl"
[schema.fields.event_id]
path = "id"
[schema.fields.ts]
path = "t"
[schema.fields.user_id]
path = "ctx.user.id"
from_string = true
[schema.fields.pin_id]
path = "ctx.pin"
[schema.fields.ip]
path = "ctx.client.ip"
[schema.fields.app]
path = "ctx.client.app"
default = "web"
[schema.fields.action]
path = "kind"
values = ["click", "save", "view"]
unknown = "dead-letter"
[[schema.extra]]
name = "dwell_ms"
path = "ctx.dwell"
type = "u64"
[[schema.extra]]
name = "score"
type = "f64"
[[schema.extra]]
name = "referrer"
path = "ctx.ref"
type = "string"
default = "none"
[enrich]
geo = "geo.csv"
category_csv = "pins.csv"
[sink]
dsn = "{}"
table = "{}"
)",
                                          test_dsn(), table));
  auto r = run_process({enrichd_binary(), "run", "-c", dir + "/c.toml"}, 60s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto db = connect_test_db();
  ASSERT_TRUE(db);
  auto rows = db->query(
      "SELECT event_id, ts, user_id, pin_id, action, ip, app, IFNULL(dwell_ms, 'NULL'), IFNULL(score, "
      "'NULL'), "
      "referrer FROM `" +
      table + "` ORDER BY event_id");
  ASSERT_TRUE(rows) << rows.status().message();
  const std::vector<std::vector<std::string>> expected = {
      {"1", "2023-11-14 22:13:20.000", "42", "7", "save", "8.8.8.8", "ios", "1500", "-1.5", "none"},
      {"2", "2023-11-14 22:13:21.000", "43", "8", "click", "1.1.1.1", "web", "NULL", "NULL", "none"}};
  EXPECT_EQ(*rows, expected);
  auto dead = db->query("SELECT reason, field FROM `" + table + "_dead_letters` ORDER BY kafka_offset");
  ASSERT_TRUE(dead) << dead.status().message();
  const std::vector<std::vector<std::string>> expected_dead = {{"missing_field", "ctx.client.ip"},
                                                               {"unknown_value", "kind"}};
  EXPECT_EQ(*dead, expected_dead);
  drop_run_tables(*db, table);

  write_file(dir + "/c.toml", fmt::format(R"([source]
kind = "file"
path = "events.jsonl"
[schema.fields.ip]
path = "ctx"
[schema.fields.app]
path = "ctx.app"
[enrich]
geo = "geo.csv"
category_csv = "pins.csv"
[sink]
dsn = "{}"
table = "{}"
)",
                                          test_dsn(), table));
  r = run_process({enrichd_binary(), "run", "-c", dir + "/c.toml"}, 60s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("path 'ctx.app' runs through the value of 'ctx'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace enrichd::testing_support
