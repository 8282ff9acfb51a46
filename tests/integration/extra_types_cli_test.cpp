// [[schema.extra]] columns of type ip, timestamp and enum through the binary, from the embedded Kafka broker
// into the real MariaDB: the column types in information_schema, the values read back (addresses in
// canonical form, instants from every time form, enums as an ENUM and as codes, NULLs and defaults), a bad
// address and an unknown enum value dead-lettered naming the path, `enrichd check` describing the columns,
// and an existing table whose enum column does not fit the store refused with the key.
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
                   const std::string& table, const std::string& tier_store) {
  return fmt::format(R"([source]
brokers = "{}"
topic = "{}"
group = "{}"
[schema]
ts_unit = "ms"
[[schema.extra]]
name = "client_ip"
path = "ctx.client"
type = "ip"
[[schema.extra]]
name = "origin_ip"
path = "origin"
type = "ip"
default = "10.0.0.1"
[[schema.extra]]
name = "seen_at"
path = "ctx.seen"
type = "timestamp"
unit = "s"
[[schema.extra]]
name = "tier"
type = "enum"
values = ["free", "plus", "it's"]
unknown = "dead-letter"
store = "{}"
[[schema.extra]]
name = "kind"
type = "enum"
values = ["a", "b", "c"]
unknown = "dead-letter"
store = "code"
default = "c"
[enrich]
backend = "scalar"
geo = "geo.csv"
category_csv = "pins.csv"
[sink]
dsn = "{}"
table = "{}"
)",
                     brokers, topic, group, tier_store, test_dsn(), table);
}

std::string event(int id, const std::string& rest) {
  return fmt::format(
      R"({{"event_id":{},"ts":1700000000000,"user_id":1,"pin_id":1,"action":"view","ip":"8.8.8.8",{}}})", id,
      rest);
}

TEST(ExtraTypesCli, IpTimestampAndEnumColumnsLoadFromKafka) {
  if (test_dsn().empty()) GTEST_SKIP() << "ENRICHD_TEST_DSN is not set; run through scripts/test";
  auto db = connect_test_db();
  ASSERT_TRUE(db);
  auto broker = MockBroker::start();
  ASSERT_TRUE(broker) << broker.status().message();
  const std::string topic = "extra_types";
  ASSERT_TRUE((*broker)->create_topic(topic, 1));
  const std::string dir = make_reference_dir("enrichd-extra-types");
  const std::string suffix = std::to_string(std::random_device{}());
  const std::string table = "extra_types_" + suffix;
  const std::string group = "enrichd-extra-types-" + suffix;
  const std::vector<std::string> messages = {
      event(1, R"("ctx":{"client":"2001:DB8:0:0:0:0:0:1","seen":1700000000},"tier":"it's","kind":"b")"),
      event(
          2,
          R"("ctx":{"client":"1.2.3.4","seen":"2024-02-29T12:00:00.123+02:00"},"origin":"::ffff:1.2.3.4","tier":"free")"),
      event(3, R"("ctx":{"seen":1700000001.5},"tier":"plus","kind":null)"),
      event(4, R"("ctx":{"client":"1.2.3.256"},"tier":"free")"),                    // bad ip
      event(5, R"("ctx":{"client":"1.2.3.4"},"tier":"gold")"),                      // unknown enum value
      event(6, R"("ctx":{"client":"1.2.3.4","seen":253402300800},"tier":"free")"),  // after 9999
  };
  ASSERT_TRUE(produce_all((*broker)->bootstrap_servers(), topic, messages));
  write_file(dir + "/c.toml", config((*broker)->bootstrap_servers(), topic, group, table, "enum"));
  auto r = run_process({enrichd_binary(), "run", "-c", dir + "/c.toml", "--max-messages", "6"}, 90s);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  auto types = db->query(
      "SELECT column_name, column_type, is_nullable FROM information_schema.columns WHERE table_schema = "
      "DATABASE() AND table_name = '" +
      table +
      "' AND column_name IN ('client_ip', 'origin_ip', 'seen_at', 'tier', 'kind') ORDER BY ordinal_position");
  ASSERT_TRUE(types) << types.status().message();
  EXPECT_EQ(*types, (Rows{{"client_ip", "varchar(45)", "YES"},
                          {"origin_ip", "varchar(45)", "YES"},
                          {"seen_at", "datetime(3)", "YES"},
                          {"tier", "enum('free','plus','it''s')", "YES"},
                          {"kind", "smallint(5) unsigned", "YES"}}));

  auto rows = db->query(
      "SELECT event_id, IFNULL(client_ip, 'NULL'), origin_ip, IFNULL(seen_at, 'NULL'), tier, "
      "tier + 0, kind FROM `" +
      table + "` ORDER BY event_id");
  ASSERT_TRUE(rows) << rows.status().message();
  // An IPv4-mapped IPv6 address is stored as the IPv4 address, as the fixed ip column stores it.
  EXPECT_EQ(*rows, (Rows{{"1", "2001:db8::1", "10.0.0.1", "2023-11-14 22:13:20.000", "it's", "3", "1"},
                         {"2", "1.2.3.4", "1.2.3.4", "2024-02-29 10:00:00.123", "free", "1", "2"},
                         {"3", "NULL", "10.0.0.1", "2023-11-14 22:13:21.500", "plus", "2", "2"}}));
  auto dead = db->query("SELECT reason, field FROM `" + table + "_dead_letters` ORDER BY kafka_offset");
  ASSERT_TRUE(dead) << dead.status().message();
  EXPECT_EQ(*dead, (Rows{{"bad_ip", "ctx.client"}, {"unknown_value", "tier"}, {"wrong_type", "ctx.seen"}}));

  r = run_process({enrichd_binary(), "check", "-c", dir + "/c.toml"}, 60s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  for (const std::string line :
       {"extra client_ip <- 'ctx.client': ip; absent: NULL; column VARCHAR(45) NULL",
        "extra origin_ip <- 'origin': ip; absent: 10.0.0.1; column VARCHAR(45) NULL",
        "extra seen_at <- 'ctx.seen': timestamp, numbers in s or RFC 3339; absent: NULL; column DATETIME(3) "
        "NULL",
        "extra tier <- 'tier': enum, 3 values, unknown dead-lettered; store = enum; absent: NULL; column "
        "ENUM('free','plus','it\\'s') CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL",
        "extra kind <- 'kind': enum, 3 values, unknown dead-lettered; store = code; absent: 'c'; column "
        "SMALLINT "
        "UNSIGNED NULL"}) {
    EXPECT_NE(r.out.find(line), std::string::npos) << line << "\n" << r.out;
  }

  // The table's ENUM cannot hold what the code store writes: start-up stops naming the key.
  write_file(dir + "/c.toml", config((*broker)->bootstrap_servers(), topic, group, table, "code"));
  r = run_process({enrichd_binary(), "check", "-c", dir + "/c.toml"}, 60s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(
                "column 'tier' is enum('free','plus','it''s'), but config key 'schema.extra[3].store' = "
                "\"code\" needs an integer column (SMALLINT UNSIGNED): set schema.extra[3].store = \"enum\""),
            std::string::npos)
      << r.err;
  drop_run_tables(*db, table, group);
}

}  // namespace
}  // namespace enrichd::testing_support
