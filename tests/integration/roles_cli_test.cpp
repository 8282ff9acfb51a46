// Dropped fixed columns and the roles through the binary, from the embedded Kafka broker into the real
// MariaDB: ip, ts, app and ua dropped; the geo lookup reading an extra ip column ([schema.roles] ip), the
// event time an extra timestamp column that takes the name ts, app a u64 extra, the category join keyed
// on user_id. The
// table has no dropped column and its time key on the new ts; geo and categories follow the role columns;
// `enrichd check` and the start-up log name the roles.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pipeline/mock_broker.h"
#include "pipeline_fixture.h"
#include "test_support.h"

namespace enrichd::testing_support {
namespace {

using namespace std::chrono_literals;
using Rows = std::vector<std::vector<std::string>>;

std::string config(const std::string& brokers, const std::string& topic, const std::string& group,
                   const std::string& table) {
  return fmt::format(R"([source]
brokers = "{}"
topic = "{}"
group = "{}"
[schema.fields.ip]
drop = true
[schema.fields.ts]
drop = true
[schema.fields.app]
drop = true
[schema.fields.ua]
drop = true
[[schema.extra]]
name = "client_ip"
path = "client.addr"
type = "ip"
[[schema.extra]]
name = "ts"
path = "time"
type = "timestamp"
required = true
[[schema.extra]]
name = "app"
path = "app_id"
type = "u64"
[schema.roles]
ip = "client_ip"
[enrich]
backend = "scalar"
geo = "geo.csv"
[enrich.categories]
pins_csv = "pins.csv"
key_field = "user_id"
[sink]
dsn = "{}"
table = "{}"
)",
                     brokers, topic, group, test_dsn(), table);
}

TEST(RolesCli, DroppedColumnsAndRoleColumnsLoadFromKafka) {
  if (test_dsn().empty()) GTEST_SKIP() << "ENRICHD_TEST_DSN is not set; run through scripts/test";
  auto db = connect_test_db();
  ASSERT_TRUE(db);
  auto broker = MockBroker::start();
  ASSERT_TRUE(broker) << broker.status().message();
  const std::string topic = "roles";
  ASSERT_TRUE((*broker)->create_topic(topic, 1));
  const std::string dir = make_reference_dir("enrichd-roles");
  const std::string suffix = std::to_string(std::random_device{}());
  const std::string table = "roles_" + suffix;
  const std::string group = "enrichd-roles-" + suffix;
  // "ip", "ts" and "ua" in the events are not read (a bad address or a string ts does no harm); user_id
  // 3 is in the category table (pins.csv keys), 9999 is not.
  const std::vector<std::string> messages = {
      R"({"event_id":1,"user_id":3,"pin_id":9999,"action":"view","ip":"bad","ts":"x","ua":1,)"
      R"("client":{"addr":"8.8.8.8"},"time":"2024-01-01T00:00:00.250Z"})",
      R"({"event_id":2,"user_id":9999,"pin_id":3,"action":"save","client":{"addr":"2001:db8::7"},)"
      R"("time":1704067200000,"app":"ios","app_id":12})",
      R"({"event_id":3,"user_id":3,"pin_id":3,"action":"view","client":{},"time":1704067300000})",
      R"({"event_id":4,"user_id":3,"pin_id":3,"action":"view","client":{"addr":"8.8.8.8"}})",  // no time
  };
  ASSERT_TRUE(produce_all((*broker)->bootstrap_servers(), topic, messages));
  write_file(dir + "/c.toml", config((*broker)->bootstrap_servers(), topic, group, table));
  auto r = run_process({enrichd_binary(), "run", "-c", dir + "/c.toml", "--max-messages", "4"}, 90s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("schema: geo lookup reads client_ip ([[schema.extra]] ip; NULL: none); event time ts "
                       "([[schema.extra]] timestamp; NULL: none)"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("schema: dropped (not read, not in the table): ts, ip, app, ua"), std::string::npos)
      << r.err;

  auto columns = db->query(
      "SELECT GROUP_CONCAT(column_name ORDER BY ordinal_position) FROM information_schema.columns WHERE "
      "table_schema = DATABASE() AND table_name = '" +
      table + "'");
  ASSERT_TRUE(columns) << columns.status().message();
  EXPECT_EQ(*columns, (Rows{{"event_id,user_id,pin_id,action,country_code,region,city,postal_code,latitude,"
                             "longitude,timezone,category_id,category,client_ip,ts,app"}}));
  auto key = db->query(
      "SELECT column_name FROM information_schema.statistics WHERE table_schema = DATABASE() AND "
      "table_name = '" +
      table + "'");
  ASSERT_TRUE(key) << key.status().message();
  EXPECT_EQ(*key, (Rows{{"ts"}}));

  auto rows = db->query(
      "SELECT event_id, IFNULL(client_ip, 'NULL'), IFNULL(country_code, 'NULL'), IFNULL(category_id, "
      "'NULL'), "
      "ts, IFNULL(app, 'NULL') FROM `" +
      table + "` ORDER BY event_id");
  ASSERT_TRUE(rows) << rows.status().message();
  const std::string category_of_3 = std::to_string(expected_category(3));
  EXPECT_EQ(*rows, (Rows{{"1", "8.8.8.8", "US", category_of_3, "2024-01-01 00:00:00.250", "NULL"},
                         {"2", "2001:db8::7", "DE", "NULL", "2024-01-01 00:00:00.000", "12"},
                         {"3", "NULL", "NULL", category_of_3, "2024-01-01 00:01:40.000", "NULL"}}));
  // The table's app is the extra's BIGINT UNSIGNED: the enum-store check of the dropped app leaves it be.
  auto app_type = db->query(
      "SELECT column_type FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = "
      "'" +
      table + "' AND column_name = 'app'");
  ASSERT_TRUE(app_type) << app_type.status().message();
  EXPECT_EQ(*app_type, (Rows{{"bigint(20) unsigned"}}));
  auto dead = db->query("SELECT reason, field FROM `" + table + "_dead_letters` ORDER BY kafka_offset");
  ASSERT_TRUE(dead) << dead.status().message();
  EXPECT_EQ(*dead, (Rows{{"missing_field", "time"}}));

  r = run_process({enrichd_binary(), "check", "-c", dir + "/c.toml"}, 60s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const std::string line :
       {"geo lookup reads client_ip ([[schema.extra]] ip; NULL: none); event time ts",
        "dropped (not read, "
        "not in the table): "
        "ts, ip, app, ua",
        "user_id -> category_id"}) {
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
  }
  drop_run_tables(*db, table, group);
}

}  // namespace
}  // namespace enrichd::testing_support
