// `enrichd run` with its join tables read from the real MariaDB test server (ENRICHD_TEST_DSN): the
// category join and a second dimension (user_id -> segment) from [enrich.categories] / [[enrich.join]]
// queries, end to end into the output table; a periodic refresh that picks up a changed table mid-run; a
// refresh that fails (its table dropped) and leaves the old table serving; a source that fails at start
// (exit 2, naming the key and the source); `enrichd check` reporting the sources; and a join keyed on a u64
// [[schema.extra]] column, NULL keys joining to nothing.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <random>

#include "pipeline_fixture.h"
#include "test_support.h"

namespace enrichd::testing_support {
namespace {

using namespace std::chrono_literals;

class JoinDb : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test_dsn().empty()) GTEST_SKIP() << "ENRICHD_TEST_DSN is not set; run through scripts/test";
    db_ = connect_test_db();
    ASSERT_TRUE(db_) << "the test database at " << test_dsn() << " is not reachable";
    dir_ = make_temp_dir("enrichd-joindb");
    write_file(dir_ + "/geo.csv", test_geo_csv());
    ASSERT_EQ(::mkfifo((dir_ + "/events.fifo").c_str(), 0600), 0);
    port_ = free_tcp_port();
    // Pins 1..500 -> categories pin % 7 + 1 named cat-N; users 1..100 -> segments user % 3 + 1 (seg-N).
    exec("CREATE TABLE " + pins_ +
         " (pin_id BIGINT UNSIGNED NOT NULL PRIMARY KEY, category_id INT UNSIGNED)");
    exec("CREATE TABLE " + names_ + " (category_id INT UNSIGNED, name VARCHAR(100), parent_id INT UNSIGNED)");
    exec("CREATE TABLE " + users_ +
         " (user_id BIGINT UNSIGNED NOT NULL PRIMARY KEY, segment_id INT UNSIGNED)");
    exec("CREATE TABLE " + segments_ + " (segment_id INT UNSIGNED, name VARCHAR(100))");
    std::string pins = "INSERT INTO " + pins_ + " VALUES ";
    for (int p = 1; p <= 500; ++p) pins += fmt::format("{}({},{})", p > 1 ? "," : "", p, p % 7 + 1);
    exec(pins);
    std::string names = "INSERT INTO " + names_ + " VALUES (9,'nine',NULL)";
    for (int c = 1; c <= 7; ++c) names += fmt::format(",({},'cat-{}',{})", c, c, c == 1 ? "NULL" : "1");
    exec(names);
    std::string users = "INSERT INTO " + users_ + " VALUES ";
    for (int u = 1; u <= 100; ++u) users += fmt::format("{}({},{})", u > 1 ? "," : "", u, u % 3 + 1);
    exec(users);
    exec("INSERT INTO " + segments_ + " VALUES (1,'seg-1'),(2,'seg-2'),(3,'seg-3')");
  }

  void TearDown() override {
    if (db_) {
      (void)db_->execute(fmt::format("DROP TABLE IF EXISTS `{}`, `{}_dead_letters`, {}, {}, {}, {}", table_,
                                     table_, pins_, names_, users_, segments_));
    }
    std::filesystem::remove_all(dir_);
  }

  void exec(const std::string& sql) {
    const Status s = db_->execute(sql);
    ASSERT_TRUE(s) << s.message() << "\n" << sql.substr(0, 200);
  }

  // The config: categories and segments from the database, read again every `refresh_s`.
  void write_config(int refresh_s, const std::string& pins_table = "") {
    write_file(
        dir_ + "/enrichd.toml",
        fmt::format(R"([source]
kind = "file"
path = "events.fifo"
[batch]
linger_ms = 20
[enrich]
backend = "scalar"
geo = "geo.csv"
geo_poll_ms = 0
[enrich.categories]
dsn = "{dsn}"
pins_query = "SELECT pin_id, category_id FROM {pins}"
names_query = "SELECT category_id, name, parent_id FROM {names}"
refresh_interval_s = {refresh}
[[enrich.join]]
name = "segment"
key_field = "user_id"
output_column = "segment"
dsn = "{dsn}"
pins_query = "SELECT user_id, segment_id FROM {users}"
names_query = "SELECT segment_id, name FROM {segments}"
refresh_interval_s = {refresh}
[sink]
dsn = "{dsn}"
table = "{table}"
[metrics]
listen = "127.0.0.1:{port}"
)",
                    fmt::arg("dsn", test_dsn()), fmt::arg("pins", pins_table.empty() ? pins_ : pins_table),
                    fmt::arg("names", names_), fmt::arg("users", users_), fmt::arg("segments", segments_),
                    fmt::arg("refresh", refresh_s), fmt::arg("table", table_), fmt::arg("port", port_)));
  }

  // Events next_id_.. (pin = id % 600, user = id % 150: some of each absent), written to the FIFO; waits
  // until all are loaded.
  void send_and_wait(FifoWriter& fifo, int count, const ChildProcess& run) {
    std::string lines;
    for (int i = 0; i < count; ++i, ++next_id_) {
      lines += fmt::format(
          R"({{"event_id":{},"ts":1700000000000,"user_id":{},"pin_id":{},"action":"view","ip":"8.8.8.8"}})",
          next_id_, next_id_ % 150, next_id_ % 600);
      lines += "\n";
    }
    ASSERT_TRUE(fifo.write(lines));
    ASSERT_TRUE(wait_until([&] { return count_rows("1") == next_id_ - 1; }, 30s, 20ms))
        << count_rows("1") << " of " << next_id_ - 1 << " rows\n"
        << run.stderr_text();
  }

  int64_t count_rows(const std::string& where) {
    auto r = db_->query(fmt::format("SELECT COUNT(*) FROM `{}` WHERE {}", table_, where));
    return r && !r->empty() ? std::stoll((*r)[0][0]) : -1;
  }

  // Rows of events [first, last] whose category columns are what `category_sql` (of pin_id) gives for
  // pins 1..500 (NULL for other pins).
  int64_t rows_with_category(int64_t first, int64_t last, const std::string& category_sql) {
    return count_rows(fmt::format(
        "event_id BETWEEN {} AND {} AND IF(pin_id BETWEEN 1 AND 500, category_id <=> {} AND category <=> "
        "IF({} = 9, 'nine', CONCAT('cat-', {})), category_id IS NULL AND category IS NULL)",
        first, last, category_sql, category_sql, category_sql));
  }

  static size_t log_count(const ChildProcess& run, const std::string& text) {
    const std::string log = run.stderr_text();
    size_t n = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
    return n;
  }

  double metric(const std::string& series) const {
    return metric_value(http_get(port_, "/metrics").body, series);
  }

  std::vector<std::string> run_args() const {
    return {enrichd_binary(), "run", "-c", dir_ + "/enrichd.toml", "--quiet"};
  }

  std::unique_ptr<MysqlConnection> db_;
  std::string dir_;
  const std::string suffix_ = std::to_string(std::random_device{}());
  const std::string table_ = "joined_" + suffix_;
  const std::string pins_ = "jpins_" + suffix_;
  const std::string names_ = "jnames_" + suffix_;
  const std::string users_ = "jusers_" + suffix_;
  const std::string segments_ = "jsegments_" + suffix_;
  int port_ = 0;
  int64_t next_id_ = 1;
};

TEST_F(JoinDb, RunJoinsCategoriesAndASecondDimensionFromTheDatabase) {
  write_config(0);  // no refresh: only at start and on SIGHUP
  ChildProcess run(run_args(), dir_);
  FifoWriter fifo(dir_ + "/events.fifo", 30s);
  ASSERT_TRUE(fifo.ok()) << run.stderr_text();
  send_and_wait(fifo, 700, run);  // 1..700: every pin 0..599 and user 0..149

  EXPECT_EQ(rows_with_category(1, 700, "pin_id % 7 + 1"), 700);
  EXPECT_EQ(count_rows("pin_id BETWEEN 1 AND 500 AND category_id IS NOT NULL"), 600);  // ids 1..500, 601..700
  EXPECT_EQ(count_rows("IF(user_id BETWEEN 1 AND 100, segment_id <=> user_id % 3 + 1 AND segment <=> "
                       "CONCAT('seg-', user_id % 3 + 1), segment_id IS NULL AND segment IS NULL)"),
            700);
  EXPECT_GT(count_rows("segment_id IS NOT NULL"), 400);
  EXPECT_EQ(count_rows("country_code = 'US'"), 700) << "the geo join still runs";
  EXPECT_EQ(metric("enrichd_join_keys{join=\"category\"}"), 500);
  EXPECT_EQ(metric("enrichd_join_keys{join=\"segment\"}"), 100);
  EXPECT_EQ(metric("enrichd_category_keys"), 500);
  EXPECT_NE(run.stderr_text().find("category table: 500 keys, 8 names from database 127.0.0.1:"),
            std::string::npos)
      << run.stderr_text();

  // Not refreshed on its own (refresh_interval_s = 0); SIGHUP reads both tables again.
  exec("UPDATE " + users_ + " SET segment_id = 3");
  exec("UPDATE " + pins_ + " SET category_id = 9");
  std::this_thread::sleep_for(300ms);
  send_and_wait(fifo, 100, run);  // 701..800
  EXPECT_EQ(rows_with_category(701, 800, "pin_id % 7 + 1"), 100);
  run.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return log_count(run, "category table reloaded (SIGHUP)") == 1; }, 15s, 20ms))
      << run.stderr_text();
  ASSERT_TRUE(wait_until([&] { return log_count(run, "segment table reloaded (SIGHUP)") == 1; }, 15s, 20ms))
      << run.stderr_text();
  send_and_wait(fifo, 100, run);  // 801..900
  EXPECT_EQ(rows_with_category(801, 900, "9"), 100);
  EXPECT_EQ(count_rows("event_id > 800 AND user_id BETWEEN 1 AND 100 AND segment_id <=> 3 AND segment = "
                       "'seg-3'"),
            count_rows("event_id > 800 AND user_id BETWEEN 1 AND 100"));
  EXPECT_EQ(metric("enrichd_category_reloads_total"), 1);
  EXPECT_EQ(metric("enrichd_join_reloads_total{join=\"segment\"}"), 1);

  fifo.close();
  ASSERT_EQ(run.wait(30s), 0) << run.stderr_text();
  EXPECT_EQ(count_rows("1"), 900);
}

TEST_F(JoinDb, RefreshPicksUpAChangedTableAndAFailedRefreshKeepsTheOldOne) {
  write_config(1);  // read again every second
  ChildProcess run(run_args(), dir_);
  FifoWriter fifo(dir_ + "/events.fifo", 30s);
  ASSERT_TRUE(fifo.ok()) << run.stderr_text();
  send_and_wait(fifo, 100, run);  // 1..100
  EXPECT_EQ(rows_with_category(1, 100, "pin_id % 7 + 1"), 100);

  // Changed mid-run: two refreshes later (so that one began after the change) the new table serves.
  exec("UPDATE " + pins_ + " SET category_id = 9");
  const size_t refreshed = log_count(run, "category table reloaded (refresh)");
  ASSERT_TRUE(wait_until([&] { return log_count(run, "category table reloaded (refresh)") >= refreshed + 2; },
                         20s, 20ms))
      << run.stderr_text();
  send_and_wait(fifo, 100, run);  // 101..200
  EXPECT_EQ(rows_with_category(101, 200, "9"), 100);
  EXPECT_GE(metric("enrichd_category_reloads_total"), 2);
  EXPECT_EQ(metric("enrichd_join_reload_failures_total{join=\"category\"}"), 0);

  // The pins table dropped: each refresh fails, is logged and counted, and the table with 9s serves on.
  exec("DROP TABLE " + pins_);
  ASSERT_TRUE(wait_until([&] { return log_count(run, "category reload (refresh) refused") >= 2; }, 20s, 20ms))
      << run.stderr_text();
  EXPECT_NE(run.stderr_text().find("category pins query: SELECT pin_id, category_id FROM " + pins_ +
                                   ": MySQL error 1146"),
            std::string::npos)
      << run.stderr_text();
  send_and_wait(fifo, 100, run);  // 201..300
  EXPECT_EQ(rows_with_category(201, 300, "9"), 100);
  EXPECT_GE(metric("enrichd_join_reload_failures_total{join=\"category\"}"), 2);
  EXPECT_GE(metric("enrichd_reload_failures_total"), 2);
  EXPECT_EQ(metric("enrichd_join_reload_failures_total{join=\"segment\"}"), 0);
  EXPECT_EQ(metric("enrichd_join_keys{join=\"category\"}"), 500);
  EXPECT_EQ(http_get(port_, "/healthz").status, 200);

  // Back again: the next refresh takes it.
  exec("CREATE TABLE " + pins_ + " (pin_id BIGINT UNSIGNED NOT NULL PRIMARY KEY, category_id INT UNSIGNED)");
  exec("INSERT INTO " + pins_ + " VALUES (1, 2), (2, 2)");
  ASSERT_TRUE(wait_until([&] { return metric("enrichd_join_keys{join=\"category\"}") == 2; }, 20s, 20ms))
      << run.stderr_text();
  send_and_wait(fifo, 10, run);  // 301..310: pins 301..310, none in the table now
  EXPECT_EQ(count_rows("event_id > 300 AND category_id IS NULL"), 10);

  fifo.close();
  ASSERT_EQ(run.wait(30s), 0) << run.stderr_text();
  EXPECT_EQ(count_rows("1"), 310);
}

TEST_F(JoinDb, ASourceThatFailsAtStartStopsTheRunNamingTheKeyAndTheSource) {
  write_config(0, "no_such_table_" + suffix_);
  auto r = run_process(run_args(), 60s);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("config key 'enrich.categories.dsn' (category join from database 127.0.0.1:"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("category pins query: SELECT pin_id, category_id FROM no_such_table_" + suffix_ +
                       ": MySQL error 1146"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(count_rows("1"), -1) << "nothing created: the run stopped before the sink";

  auto check = run_process({enrichd_binary(), "check", "-c", dir_ + "/enrichd.toml"}, 60s);
  EXPECT_EQ(check.exit_code, 2) << check.err;
  EXPECT_NE(check.err.find("config key 'enrich.categories.dsn'"), std::string::npos) << check.err;
}

TEST_F(JoinDb, CheckReportsEachJoinAndItsSource) {
  write_config(300);
  auto r = run_process({enrichd_binary(), "check", "-c", dir_ + "/enrichd.toml"}, 60s);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("categories  500 keys, 8 names from database 127.0.0.1:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/enrichd (read again every 300 s and on SIGHUP); pin_id -> category_id, category\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("join        segment: 100 keys, 3 names from database 127.0.0.1:"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("; user_id -> segment_id, segment\n"), std::string::npos) << r.out;
}

TEST_F(JoinDb, ASecondJoinMayKeyOnAU64ExtraColumnAndANullKeyJoinsNothing) {
  // The users table serves as the boards table; key 0 is in it so that a NULL looked up as 0 would show.
  exec("INSERT INTO " + users_ + " VALUES (0, 2)");
  write_file(
      dir_ + "/events.jsonl",
      R"({"event_id":1,"ts":1700000000000,"user_id":1,"pin_id":1,"action":"view","ip":"8.8.8.8","ctx":{"board":5}}
{"event_id":2,"ts":1700000000000,"user_id":2,"pin_id":2,"action":"view","ip":"8.8.8.8"}
{"event_id":3,"ts":1700000000000,"user_id":3,"pin_id":3,"action":"view","ip":"8.8.8.8","ctx":{"board":0}}
{"event_id":4,"ts":1700000000000,"user_id":4,"pin_id":4,"action":"view","ip":"8.8.8.8","ctx":{"board":null}}
{"event_id":5,"ts":1700000000000,"user_id":5,"pin_id":5,"action":"view","ip":"8.8.8.8","ctx":{"board":1000}}
)");
  write_file(dir_ + "/enrichd.toml",
             fmt::format(R"([source]
kind = "file"
path = "events.jsonl"
[[schema.extra]]
name = "board_id"
path = "ctx.board"
type = "u64"
[enrich]
backend = "scalar"
geo = "geo.csv"
geo_poll_ms = 0
[enrich.categories]
dsn = "{dsn}"
pins_query = "SELECT pin_id, category_id FROM {pins}"
refresh_interval_s = 0
[[enrich.join]]
name = "board"
key_field = "board_id"
output_column = "board_topic"
dsn = "{dsn}"
pins_query = "SELECT user_id, segment_id FROM {users}"
names_query = "SELECT segment_id, name FROM {segments}"
refresh_interval_s = 0
[sink]
dsn = "{dsn}"
table = "{table}"
)",
                         fmt::arg("dsn", test_dsn()), fmt::arg("pins", pins_), fmt::arg("users", users_),
                         fmt::arg("segments", segments_), fmt::arg("table", table_)));

  auto check = run_process({enrichd_binary(), "check", "-c", dir_ + "/enrichd.toml"}, 60s);
  ASSERT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("join        board: 101 keys, 3 names from database 127.0.0.1:"),
            std::string::npos)
      << check.out;
  EXPECT_NE(check.out.find("; board_id ([[schema.extra]] u64; NULL: no record) -> board_topic_id, "
                           "board_topic\n"),
            std::string::npos)
      << check.out;

  auto r = run_process({enrichd_binary(), "run", "-c", dir_ + "/enrichd.toml", "--quiet"}, 60s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("board table: 101 keys, 3 names from database 127.0.0.1:"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("; key board_id ([[schema.extra]] u64; NULL: no record)"), std::string::npos) << r.err;
  EXPECT_EQ(count_rows("1"), 5);
  EXPECT_EQ(count_rows("event_id = 1 AND board_id = 5 AND board_topic_id = 3 AND board_topic = 'seg-3'"), 1);
  EXPECT_EQ(count_rows("event_id = 3 AND board_id = 0 AND board_topic_id = 2 AND board_topic = 'seg-2'"), 1);
  // Absent and null: board_id NULL, and no record joined (not key 0's seg-2); key 1000 is not in the table.
  EXPECT_EQ(
      count_rows("event_id IN (2, 4) AND board_id IS NULL AND board_topic_id IS NULL AND board_topic IS "
                 "NULL"),
      2);
  EXPECT_EQ(count_rows("event_id = 5 AND board_id = 1000 AND board_topic_id IS NULL AND board_topic IS NULL"),
            1);
  EXPECT_EQ(count_rows("category_id = pin_id % 7 + 1"), 5) << "the category join still keys on pin_id";
}

}  // namespace
}  // namespace enrichd::testing_support
