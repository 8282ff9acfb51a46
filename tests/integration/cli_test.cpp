// The enrichd binary's start-up checks: every config problem stops `enrichd run` with exit code 2 and a
// message naming the key (or address) and the fix. Also the file source into the real database.
#include <gtest/gtest.h>

#include "pipeline/mock_broker.h"
#include "pipeline_fixture.h"
#include "test_support.h"

namespace enrichd::testing_support {
namespace {

using namespace std::chrono_literals;

class EnrichdCli : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = make_reference_dir("enrichd-cli"); }

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
  std::string table_ = unique_name("cli_");
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

  r = run_with(config("mysql://root@127.0.0.1:1/enrichd") + "connections = 0\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'sink.connections' is 0, must be between 1 and 64"), std::string::npos) << r.err;

  r = run_with(config("mysql://root@127.0.0.1:1/enrichd") + "compression = \"gzip\"\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'sink.compression' is 'gzip', but MySQL and MariaDB"), std::string::npos) << r.err;

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

// ---- enrichd check ----------------------------------------------------------------------------------

TEST_F(EnrichdCli, CheckPrintsWhatARunWouldUseAndChangesNothing) {
  if (test_dsn().empty()) GTEST_SKIP() << "ENRICHD_TEST_DSN is not set; run through scripts/test";
  write_file(dir_ + "/events.jsonl", "");
  write_file(
      dir_ + "/c.toml",
      config(test_dsn(), "[metrics]\nlisten = \"127.0.0.1:" + std::to_string(free_tcp_port()) + "\"\n"));
  auto r = run_process({enrichd_binary(), "check", "-c", dir_ + "/c.toml", "--backend", "scalar"}, 60s);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  for (const std::string& want : std::vector<std::string>{
           "source      file '" + dir_ + "/events.jsonl'", "sink        table '" + table_ + "' in database",
           "table '" + table_ + "': does not exist yet, will be created", "delivery    file replay",
           "backend     scalar", "IPv4 ranges", "categories  501 keys",
           "metrics     http://127.0.0.1:", "ok: enrichd run would start with this"}) {
    EXPECT_NE(r.out.find(want), std::string::npos) << "missing '" << want << "' in:\n" << r.out;
  }
  auto db = connect_test_db();
  ASSERT_TRUE(db);
  auto tables = db->query(
      "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND "
      "table_name = '" +
      table_ + "'");
  ASSERT_TRUE(tables);
  EXPECT_EQ((*tables)[0][0], "0") << "check created the table";

  // An existing table without the expected columns is named.
  ASSERT_TRUE(db->execute("CREATE TABLE `" + table_ + "` (x INT)"));
  r = run_process({enrichd_binary(), "check", "-c", dir_ + "/c.toml"}, 60s);
  (void)db->execute("DROP TABLE `" + table_ + "`");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("config key 'sink.table'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("has no column 'event_id'"), std::string::npos) << r.err;
}

TEST_F(EnrichdCli, CheckNamesTheKeyOfEveryProblem) {
  write_file(dir_ + "/events.jsonl", "");
  auto check = [&](const std::string& toml) {
    write_file(dir_ + "/c.toml", toml);
    return run_process({enrichd_binary(), "check", "-c", dir_ + "/c.toml"}, 60s);
  };
  auto r = check(config("mysql://root@127.0.0.1:1/enrichd") + "[batch]\nmax_event = 10\n");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'batch.max_event' is unknown"), std::string::npos) << r.err;

  // A missing geo file and an unreachable database at once: both are reported.
  std::string toml = config("mysql://root@127.0.0.1:1/enrichd");
  toml.replace(toml.find("geo.csv"), 7, "nowhere.csv");
  r = check(toml);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("config key 'enrich.geo'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("nowhere.csv"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("config key 'sink.dsn'"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("not ok: 2 problems"), std::string::npos) << r.out;

  toml = config("mysql://root@127.0.0.1:1/enrichd");
  toml.replace(toml.find("events.jsonl"), 12, "no-events.jsonl");
  r = check(toml);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("config key 'source.path'"), std::string::npos) << r.err;
}

TEST_F(EnrichdCli, CheckAsksTheBrokerForTheTopicWithoutJoiningTheGroup) {
  if (test_dsn().empty()) GTEST_SKIP() << "ENRICHD_TEST_DSN is not set; run through scripts/test";
  auto broker = MockBroker::start();
  ASSERT_TRUE(broker) << broker.status().message();
  ASSERT_TRUE((*broker)->create_topic("checked", 3));
  std::string toml = config(test_dsn());
  toml.replace(toml.find("kind = \"file\""), 13,
               "brokers = \"" + (*broker)->bootstrap_servers() + "\"\ntopic = \"checked\"\ngroup = \"check-" +
                   table_ + "\"");
  toml.erase(toml.find("path = \"events.jsonl\"\n"), 22);
  write_file(dir_ + "/c.toml", toml);
  auto r = run_process({enrichd_binary(), "check", "-c", dir_ + "/c.toml"}, 60s);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("kafka topic 'checked' (3 partitions) on " + (*broker)->bootstrap_servers()),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("delivery    exactly-once"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("kafka: assigned"), std::string::npos) << "check joined the group: " << r.err;

  // (A missing topic cannot be shown here: the embedded mock broker creates any topic it is asked about.)

  r = run_process({enrichd_binary(), "check", "-c", dir_ + "/c.toml", "--backend", "quantum"}, 60s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("config key 'enrich.backend'"), std::string::npos) << r.err;
}

TEST_F(EnrichdCli, HelpDescribesEverySubcommand) {
  for (const char* sub : {"run", "check", "broker", "gen", "backends"}) {
    auto r = run_process({enrichd_binary(), sub, "--help"}, 10s);
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << sub << ": " << r.out;
  }
}

}  // namespace
}  // namespace enrichd::testing_support
