// [schema.fields.<action|app>] store through the binary on the real MariaDB: action stored as an ENUM of
// its dictionary (a value with a quote and one with a backslash among them) and app as its code; the
// column types in information_schema and the stored values; `enrichd check` showing the stores; and an
// existing table whose column type does not fit the store refused at start with the fix.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include <fmt/format.h>

#include "pipeline/memsql_sink.h"
#include "pipeline_fixture.h"
#include "test_support.h"

namespace enrichd::testing_support {
namespace {

using namespace std::chrono_literals;

std::string config(const std::string& table, const std::string& action_store, const std::string& app_store,
                   const std::string& extra_action_value = "") {
  return fmt::format(R"([source]
kind = "file"
path = "events.jsonl"
[schema.fields.action]
values = ["click", "it's", "back\\slash"{}]
unknown = "dead-letter"
store = "{}"
[schema.fields.app]
values = ["web", "ios", "android"]
unknown = "dead-letter"
default = "web"
required = false
store = "{}"
[enrich]
geo = "geo.csv"
category_csv = "pins.csv"
[sink]
dsn = "{}"
table = "{}"
)",
                     extra_action_value, action_store, app_store, test_dsn(), table);
}

std::string event(int id, const std::string& action, const std::string& app) {
  return fmt::format(
             R"({{"event_id":{},"ts":1700000000000,"user_id":1,"pin_id":1,"action":"{}","ip":"8.8.8.8"{}}})",
             id, action, app.empty() ? "" : ",\"app\":\"" + app + "\"") +
         "\n";
}

TEST(EnumStoreCli, EnumAndCodeColumnsLoadAndMismatchedTablesAreRefused) {
  if (test_dsn().empty()) GTEST_SKIP() << "ENRICHD_TEST_DSN is not set; run through scripts/test";
  const std::string dir = make_reference_dir("enrichd-enum-store");
  const std::string table = unique_name("enum_store_");
  write_file(dir + "/events.jsonl", event(1, "it's", "android") + event(2, "back\\\\slash", "") +
                                        event(3, "click", "ios") + event(4, "like", "ios") +
                                        event(5, "click", "desktop"));
  write_file(dir + "/c.toml", config(table, "enum", "code"));
  auto r = run_process({enrichd_binary(), "run", "-c", dir + "/c.toml"}, 60s);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  auto db = connect_test_db();
  ASSERT_TRUE(db);
  auto types = db->query(
      "SELECT column_name, data_type, column_type FROM information_schema.columns WHERE table_schema = "
      "DATABASE() AND table_name = '" +
      table + "' AND column_name IN ('action', 'app') ORDER BY column_name");
  ASSERT_TRUE(types) << types.status().message();
  const std::vector<std::vector<std::string>> expected_types = {
      {"action", "enum", "enum('click','it''s','back\\\\slash')"},
      {"app", "smallint", "smallint(5) unsigned"}};
  EXPECT_EQ(*types, expected_types);
  // An ENUM reads back as its text (action + 0 is its 1-based member number); app holds the 0-based code.
  auto rows = db->query("SELECT event_id, action, action + 0, app FROM `" + table + "` ORDER BY event_id");
  ASSERT_TRUE(rows) << rows.status().message();
  const std::vector<std::vector<std::string>> expected = {
      {"1", "it's", "2", "2"}, {"2", "back\\slash", "3", "0"}, {"3", "click", "1", "1"}};
  EXPECT_EQ(*rows, expected);
  auto dead = db->query("SELECT reason, field FROM `" + table + "_dead_letters` ORDER BY kafka_offset");
  ASSERT_TRUE(dead) << dead.status().message();
  const std::vector<std::vector<std::string>> expected_dead = {{"unknown_value", "action"},
                                                               {"unknown_value", "app"}};
  EXPECT_EQ(*dead, expected_dead);

  r = run_process({enrichd_binary(), "check", "-c", dir + "/c.toml"}, 60s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("action: 3 enum values, unknown dead-lettered; store = enum"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("app: 3 enum values, unknown dead-lettered; store = code"), std::string::npos)
      << r.out;

  // The same table with the stores swapped: app is SMALLINT, not text; action is an ENUM, not codes.
  write_file(dir + "/c.toml", config(table, "enum", "text"));
  r = run_process({enrichd_binary(), "check", "-c", dir + "/c.toml"}, 60s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("column 'app' is smallint(5) unsigned, but config key 'schema.fields.app.store' = "
                       "\"text\" needs a text column such as VARCHAR(64): set schema.fields.app.store = "
                       "\"code\" to match the table, or load into a new table (sink.table)"),
            std::string::npos)
      << r.err;
  write_file(dir + "/c.toml", config(table, "code", "code"));
  r = run_process({enrichd_binary(), "run", "-c", dir + "/c.toml"}, 60s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("config key 'schema.fields.action.store' = \"code\" needs an integer column"),
            std::string::npos)
      << r.err;
  // A value added to the dictionary but not to the table's ENUM would load as '' with only a warning.
  write_file(dir + "/c.toml", config(table, "enum", "code", ", \"hide\""));
  r = run_process({enrichd_binary(), "run", "-c", dir + "/c.toml"}, 60s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("without the value 'hide' of config key 'schema.fields.action.values': ALTER TABLE `" +
                       table + "` MODIFY `action` ENUM('click','it\\'s','back\\\\slash','hide')"),
            std::string::npos)
      << r.err;
  drop_run_tables(*db, table);

  // A table made with the text store (VARCHAR) refused for codes.
  ASSERT_TRUE(db->execute(create_table_sql(table, SinkConfig{})));
  write_file(dir + "/c.toml", config(table, "text", "code"));
  r = run_process({enrichd_binary(), "check", "-c", dir + "/c.toml"}, 60s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(
      r.err.find("column 'app' is varchar(64), but config key 'schema.fields.app.store' = \"code\" needs "
                 "an integer column (SMALLINT UNSIGNED): set schema.fields.app.store = \"text\""),
      std::string::npos)
      << r.err;
  drop_run_tables(*db, table);
}

}  // namespace
}  // namespace enrichd::testing_support
