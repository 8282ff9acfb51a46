// The DDL enrichd writes per SQL dialect. The MySQL dialect is run against the real test server by every
// pipeline test; the SingleStore dialect cannot be (no SingleStore here), so its text is checked for the
// clauses that make the tables what they should be there, and against what SingleStore refuses.
#include <gtest/gtest.h>

#include <string>

#include "pipeline/memsql_sink.h"
#include "pipeline/offset_store.h"
#include "test_support.h"

namespace enrichd {
namespace {

using namespace std::chrono_literals;

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(SinkDdl, MysqlDialectIsInnoDbWithATimeIndex) {
  const std::string rows = create_table_sql("ev", SqlDialect::kMysql);
  EXPECT_TRUE(has(rows, "CREATE TABLE IF NOT EXISTS `ev`")) << rows;
  EXPECT_TRUE(has(rows, "KEY (`ts`)")) << rows;
  EXPECT_TRUE(has(rows, "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")) << rows;
  EXPECT_FALSE(has(rows, "SHARD")) << rows;
  EXPECT_TRUE(has(create_offsets_table_sql("off", SqlDialect::kMysql), "ENGINE=InnoDB"));
}

TEST(SinkDdl, SingleStoreDialectIsColumnstoreShardedAndSorted) {
  const std::string rows = create_table_sql("ev", SqlDialect::kSingleStore);
  EXPECT_TRUE(has(rows, "SORT KEY (`ts`)")) << rows;
  EXPECT_TRUE(has(rows, "SHARD KEY (`event_id`)")) << rows;
  const std::string dead = create_dead_letter_table_sql("ev_dead", SqlDialect::kSingleStore);
  EXPECT_TRUE(has(dead, "SORT KEY (`received_at`)")) << dead;
  EXPECT_TRUE(has(dead, "SHARD KEY (`topic`, `kafka_partition`)")) << dead;
  const std::string offsets = create_offsets_table_sql("off", SqlDialect::kSingleStore);
  EXPECT_TRUE(has(offsets, "CREATE ROWSTORE TABLE IF NOT EXISTS `off`")) << offsets;
  EXPECT_TRUE(has(offsets, "PRIMARY KEY (`consumer_group`, `topic`, `kafka_partition`)")) << offsets;
  for (const std::string& ddl : {rows, dead, offsets}) {
    EXPECT_FALSE(has(ddl, "ENGINE=")) << "SingleStore takes no storage engine clause: " << ddl;
    EXPECT_FALSE(has(ddl, "KEY (`ts`),\n  SORT")) << ddl;
  }
}

TEST(SinkDdl, UnknownDialectStopsStartUpNamingTheKey) {
  const std::string dir = testing_support::make_temp_dir("enrichd-ddl");
  testing_support::write_file(dir + "/geo.csv", "1.0.0.0,1.0.0.255,AU\n");
  testing_support::write_file(dir + "/pins.csv", "1,2\n");
  testing_support::write_file(dir + "/c.toml", R"([source]
kind = "file"
path = "events.jsonl"
[enrich]
geo = "geo.csv"
category_csv = "pins.csv"
[sink]
dsn = "mysql://root@127.0.0.1:1/enrichd"
dialect = "oracle"
)");
  auto r =
      testing_support::run_process({testing_support::enrichd_binary(), "run", "-c", dir + "/c.toml"}, 30s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(has(r.err, "'sink.dialect' is 'oracle'")) << r.err;
  EXPECT_TRUE(has(r.err, "singlestore")) << r.err;
}

}  // namespace
}  // namespace enrichd
