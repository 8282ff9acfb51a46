// A 30-second database outage in the middle of an exactly-once run: the test stops the test server
// (scripts/mariadb-stop), keeps producing, starts it again on the same datadir and port
// (scripts/mariadb-start --keep-data), and checks that enrichd rode it out: every event loaded exactly
// once, offsets stored, a clean exit. Its own executable, run serially (it takes the shared test database
// away from every other test while it runs). The run loads over 3 connections (sink.connections), one
// per partition, so each connection rides the outage out on its own.
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "pipeline/mock_broker.h"
#include "pipeline_fixture.h"
#include "test_support.h"

namespace enrichd::testing_support {
namespace {

using namespace std::chrono_literals;

constexpr int kPartitions = 3;

int run_script(const std::string& script, const std::string& args) {
  const std::string cmd = "'" ENRICHD_SOURCE_DIR "/scripts/" + script + "' " + args + " >/dev/null 2>&1";
  return std::system(cmd.c_str());
}

std::string count_rows(MysqlConnection& db, const std::string& table) {
  auto rows = db.query("SELECT COUNT(*), COUNT(DISTINCT event_id) FROM `" + table + "`");
  if (!rows || rows->empty()) return "?";
  return (*rows)[0][0] + "/" + (*rows)[0][1];
}

std::vector<std::string> events(uint64_t first, uint64_t count) {
  std::vector<std::string> out;
  for (uint64_t id = first; id < first + count; ++id) {
    out.push_back(
        fmt::format(R"({{"event_id":{},"ts":{},"user_id":1,"pin_id":{},"action":"view","ip":"8.8.8.{}"}})",
                    id, 1'700'000'000'000 + id, id % 600, id % 256));
  }
  return out;
}

TEST(DatabaseOutage, ExactlyOnceRidesOutThirtySecondsWithoutTheDatabase) {
  const char* db_dir = std::getenv("ENRICHD_TEST_DB_DIR");
  if (test_dsn().empty() || db_dir == nullptr) {
    GTEST_SKIP() << "ENRICHD_TEST_DSN / ENRICHD_TEST_DB_DIR are not set; run through scripts/test";
  }
  auto broker = MockBroker::start();
  ASSERT_TRUE(broker) << broker.status().message();
  const std::string topic = "outage";
  ASSERT_TRUE((*broker)->create_topic(topic, kPartitions));
  const std::string dir = make_reference_dir("enrichd-outage");
  const std::string table = unique_name("outage_");
  const std::string group = table + "_group";
  write_file(dir + "/enrichd.toml",
             fmt::format(R"([source]
brokers = "{}"
topic = "{}"
group = "{}"
session_timeout_ms = 6000
[batch]
max_events = 500
linger_ms = 20
[enrich]
geo = "geo.csv"
category_csv = "pins.csv"
[sink]
dsn = "{}"
table = "{}"
delivery = "exactly-once"
connections = 3
)",
                         (*broker)->bootstrap_servers(), topic, group, test_dsn(), table));

  ChildProcess run({enrichd_binary(), "run", "-c", dir + "/enrichd.toml"}, dir);
  ASSERT_TRUE(wait_until([&] { return joined_group(run); }, 60s, 100ms)) << run.stderr_text();
  auto db = connect_test_db();
  ASSERT_TRUE(db);
  ASSERT_TRUE(produce_all((*broker)->bootstrap_servers(), topic, events(1, 2000), {0, 1, 2}));
  ASSERT_TRUE(wait_until([&] { return count_rows(*db, table) == "2000/2000"; }, 60s, 200ms))
      << count_rows(*db, table) << "\n"
      << run.stderr_text();
  db.reset();

  // The outage: 30 seconds without the database, while events keep coming.
  const auto outage_start = std::chrono::steady_clock::now();
  ASSERT_EQ(run_script("mariadb-stop", db_dir), 0);
  for (int round = 0; round < 4; ++round) {
    ASSERT_TRUE(
        produce_all((*broker)->bootstrap_servers(), topic, events(2001 + round * 500, 500), {0, 1, 2}));
    std::this_thread::sleep_for(5s);
  }
  std::this_thread::sleep_until(outage_start + 30s);
  ASSERT_EQ(run_script("mariadb-start", std::string("--keep-data ") + db_dir), 0)
      << "the test database did not come back; later tests will fail too";

  db = connect_test_db();
  ASSERT_TRUE(db);
  EXPECT_TRUE(wait_until([&] { return count_rows(*db, table) == "4000/4000"; }, 120s, 500ms))
      << count_rows(*db, table) << "\n"
      << run.stderr_text();
  // The offsets stored with the rows cover every message.
  auto stored = db->query(
      "SELECT IFNULL(SUM(GREATEST(next_offset, 0)), 0) FROM enrichd_offsets WHERE consumer_group = '" +
      group + "'");
  ASSERT_TRUE(stored) << stored.status().message();
  EXPECT_EQ((*stored)[0][0], "4000");

  run.signal(SIGTERM);
  EXPECT_EQ(run.wait(60s), 0) << run.stderr_text();
  EXPECT_NE(run.stderr_text().find("retrying"), std::string::npos) << "the sink never saw the outage?";
  EXPECT_EQ(count_rows(*db, table), "4000/4000");
  drop_run_tables(*db, table, group);
}

}  // namespace
}  // namespace enrichd::testing_support
