// The enrichd binary's start-up checks: every config problem stops `enrichd run` with exit code 2 and a
// message naming the key (or address) and the fix. Also the file source into the real database.
#include <gtest/gtest.h>

#include "pipeline_fixture.h"
#include "test_support.h"

namespace enrichd::testing_support {
namespace {

using namespace std::chrono_literals;

class EnrichdCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("enrichd-cli");
    write_file(dir_ + "/geo.csv", test_geo_csv());
    write_file(dir_ + "/pins.csv", test_pins_csv());
  }

  // A valid file-source config with `dsn`, plus `extra` appended.
  std::string config(const std::string& dsn, const std::string& extra = "") const {
    return fmt::format(R"([source]
kind = "file"
path = "events.jsonl"
[enrich]
geo = "geo.csv"
category_csv = "pins.csv"
[sink]
dsn = "{}"
table = "{}"
{})",
                       dsn, table_, extra);
  }

  ProcessResult run_with(const std::string& toml) {
    write_file(dir_ + "/c.toml", toml);
    return run_process({enrichd_binary(), "run", "-c", dir_ + "/c.toml"}, 60s);
  }

  std::string dir_;
  std::string table_ = "cli_" + std::to_string(std::random_device{}());
};

TEST_F(EnrichdCli, UnknownKeyIsNamed) {
  auto r = run_with(config("mysql://root@127.0.0.1:1/enrichd") + "[batch]\nmax_event = 10\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'batch.max_event' is unknown"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("max_events"), std::string::npos)
      << "the message should list the known keys: " << r.err;
}

TEST_F(EnrichdCli, UnknownSectionAndBadTypesAreNamed) {
  auto r = run_with(config("mysql://root@127.0.0.1:1/enrichd") + "[sinks]\nx = 1\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'sinks' is unknown"), std::string::npos) << r.err;

  r = run_with(config("mysql://root@127.0.0.1:1/enrichd") + "[batch]\nlinger_ms = \"fast\"\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'batch.linger_ms' must be an integer"), std::string::npos) << r.err;

  r = run_with(config("mysql://root@127.0.0.1:1/enrichd") + "delivery = \"twice\"\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'sink.delivery' is 'twice'"), std::string::npos) << r.err;

  r = run_with(config("mysql://root@127.0.0.1:1/enrichd") + "offsets_table = \"x;drop\"\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'sink.offsets_table' is 'x;drop'"), std::string::npos) << r.err;

  r = run_with("[source\nkind = 1\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("c.toml:1:"), std::string::npos) << "a TOML syntax error names the line: " << r.err;
}

TEST_F(EnrichdCli, MissingReferenceFileIsNamed) {
  std::string toml = config("mysql://root@127.0.0.1:1/enrichd");
  toml.replace(toml.find("geo.csv"), 7, "nowhere.csv");
  auto r = run_with(toml);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("enrich.geo"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nowhere.csv"), std::string::npos) << r.err;
}

TEST_F(EnrichdCli, UnreachableDatabaseIsNamed) {
  auto r = run_with(config("mysql://root@127.0.0.1:1/enrichd"));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("sink.dsn"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("127.0.0.1:1"), std::string::npos) << r.err;
}

TEST_F(EnrichdCli, BadBackendIsRefusedNotAborted) {
  write_file(dir_ + "/c.toml", config("mysql://root@127.0.0.1:1/enrichd"));
  auto r = run_process({enrichd_binary(), "run", "-c", dir_ + "/c.toml", "--backend", "quantum"}, 30s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown backend 'quantum'"), std::string::npos) << r.err;
}

TEST_F(EnrichdCli, UnreachableBrokerIsNamed) {
  if (test_dsn().empty()) GTEST_SKIP() << "ENRICHD_TEST_DSN is not set; run through scripts/test";
  std::string toml = config(test_dsn());
  toml.replace(toml.find("kind = \"file\""), 13, "brokers = \"127.0.0.1:1\"\ntopic = \"t\"");
  toml.erase(toml.find("path = \"events.jsonl\"\n"), 22);
  auto r = run_with(toml);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("source.brokers"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("127.0.0.1:1"), std::string::npos) << r.err;
}

TEST_F(EnrichdCli, FileSourceLoadsGoodLinesAndCountsBadOnes) {
  if (test_dsn().empty()) GTEST_SKIP() << "ENRICHD_TEST_DSN is not set; run through scripts/test";
  std::string lines;
  for (int i = 1; i <= 50; ++i) {
    lines += fmt::format(
        R"({{"event_id":{},"ts":1700000000000,"user_id":1,"pin_id":{},"action":"view","ip":"8.8.8.{}"}})", i,
        i, i);
    lines += "\n";
    if (i % 10 == 0) lines += "{\"event_id\": oops}\n\n";  // malformed, then a blank line (skipped)
  }
  write_file(dir_ + "/events.jsonl", lines);
  auto r = run_with(config(test_dsn()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("50 rows loaded"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("5 dead letters (malformed_json=5)"), std::string::npos) << r.err;
  auto db = connect_test_db();
  ASSERT_TRUE(db);
  auto rows =
      db->query("SELECT COUNT(*), COUNT(DISTINCT event_id), SUM(country_code = 'US') FROM `" + table_ + "`");
  ASSERT_TRUE(rows) << rows.status().message();
  EXPECT_EQ((*rows)[0][0], "50");
  EXPECT_EQ((*rows)[0][1], "50");
  EXPECT_EQ((*rows)[0][2], "50");
  (void)db->execute("DROP TABLE `" + table_ + "`");
}

TEST_F(EnrichdCli, HelpDescribesEverySubcommand) {
  for (const char* sub : {"run", "broker", "gen", "backends"}) {
    auto r = run_process({enrichd_binary(), sub, "--help"}, 10s);
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << sub << ": " << r.out;
  }
}

}  // namespace
}  // namespace enrichd::testing_support
