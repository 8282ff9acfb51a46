// Operating enrichd: geo table reloads mid-run (SIGHUP, a watched file replaced, a broken file refused),
// the status output (terminal line, periodic log line, JSON log lines, --quiet) and the metrics
// exporter's start-up errors. Events come through a FIFO so the test decides what is read before and
// after each change.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pty.h>
#include <signal.h>
#include <simdjson.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <thread>

#include "pipeline_fixture.h"
#include "test_support.h"

extern char** environ;

namespace enrichd::testing_support {
namespace {

using namespace std::chrono_literals;

// test_geo_csv() with the country of 1.0.0.0/24 (AU there) replaced.
std::string geo_csv_with_country(const std::string& country) {
  std::string csv = test_geo_csv();
  csv.replace(csv.find(",AU,"), 4, "," + country + ",");
  return csv;
}

// Replaces `path` the way a deployment should: write a temporary file, then rename it over.
void replace_file(const std::string& path, const std::string& contents) {
  write_file(path + ".tmp", contents);
  std::filesystem::rename(path + ".tmp", path);
}

class GeoReload : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test_dsn().empty()) GTEST_SKIP() << "ENRICHD_TEST_DSN is not set; run through scripts/test";
    db_ = connect_test_db();
    ASSERT_TRUE(db_) << "the test database at " << test_dsn() << " is not reachable";
    dir_ = make_temp_dir("enrichd-reload");
    write_file(dir_ + "/pins.csv", test_pins_csv());
    ASSERT_EQ(::mkfifo((dir_ + "/events.fifo").c_str(), 0600), 0);
    port_ = free_tcp_port();
  }

  void TearDown() override {
    if (db_) drop_run_tables(*db_, table_);
    std::filesystem::remove_all(dir_);
  }

  void write_config(const std::string& geo, int64_t poll_ms) {
    write_file(dir_ + "/enrichd.toml", fmt::format(R"([source]
kind = "file"
path = "events.fifo"
[batch]
linger_ms = 20
[enrich]
backend = "scalar"
geo = "{}"
geo_poll_ms = {}
category_csv = "pins.csv"
[sink]
dsn = "{}"
table = "{}"
[metrics]
listen = "127.0.0.1:{}"
)",
                                                   geo, poll_ms, test_dsn(), table_, port_));
  }

  // Events next_id_.. with addresses in 1.0.0.0/24, written to the FIFO; waits until all are loaded.
  void send_and_wait(FifoWriter& fifo, int count, const ChildProcess& run) {
    std::string lines;
    for (int i = 0; i < count; ++i, ++next_id_) {
      lines += fmt::format(
          R"({{"event_id":{},"ts":1700000000000,"user_id":1,"pin_id":{},"action":"view","ip":"1.0.0.{}"}})",
          next_id_, next_id_ % 600, next_id_ % 256);
      lines += "\n";
    }
    ASSERT_TRUE(fifo.write(lines));
    ASSERT_TRUE(wait_until([&] { return rows() == next_id_ - 1; }, 30s, 20ms))
        << rows() << " of " << next_id_ - 1 << " rows\n"
        << run.stderr_text();
  }

  int64_t rows() {
    auto r = db_->query("SELECT COUNT(*) FROM `" + table_ + "`");
    return r && !r->empty() ? std::stoll((*r)[0][0]) : -1;
  }

  // The countries of events [first, last] with their counts, e.g. "AU=50".
  std::string countries(int64_t first, int64_t last) {
    auto r = db_->query(fmt::format(
        "SELECT IFNULL(country_code, '-'), COUNT(*) FROM `{}` WHERE event_id BETWEEN {} AND {} GROUP BY 1 "
        "ORDER BY 1",
        table_, first, last));
    if (!r) return r.status().message();
    std::string out;
    for (const auto& row : *r) out += (out.empty() ? "" : " ") + row[0] + "=" + row[1];
    return out;
  }

  // The number of times `text` occurs in the child's log.
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
  std::string table_ = unique_name("reload_");
  int port_ = 0;
  int64_t next_id_ = 1;
};

TEST_F(GeoReload, SighupSwapsTheTableBetweenBatchesAndRefusesABrokenFile) {
  write_file(dir_ + "/geo.csv", geo_csv_with_country("AU"));
  write_config("geo.csv", 0);  // no watching: only SIGHUP reloads
  ChildProcess run(run_args(), dir_);
  FifoWriter fifo(dir_ + "/events.fifo", 30s);
  ASSERT_TRUE(fifo.ok()) << run.stderr_text();

  send_and_wait(fifo, 50, run);  // 1..50
  EXPECT_EQ(countries(1, 50), "AU=50");
  // Freshness from the event-time column (ts): the newest committed event time, and how far it trails.
  ASSERT_TRUE(wait_until([&] { return metric("enrichd_loaded_event_time_seconds") > 0; }, 10s, 20ms));
  EXPECT_EQ(metric("enrichd_loaded_event_time_seconds"), 1700000000.0);
  EXPECT_GT(metric("enrichd_loaded_event_age_seconds"), 8e7);  // the events are from 2023-11-14

  // Replaced but not signalled: nothing watches the file, the old table keeps serving.
  replace_file(dir_ + "/geo.csv", geo_csv_with_country("NZ"));
  send_and_wait(fifo, 50, run);  // 51..100
  EXPECT_EQ(countries(51, 100), "AU=50");

  run.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return log_count(run, "geo table reloaded (SIGHUP)") == 1; }, 15s, 20ms))
      << run.stderr_text();
  send_and_wait(fifo, 50, run);  // 101..150
  EXPECT_EQ(countries(101, 150), "NZ=50");
  EXPECT_EQ(metric("enrichd_geo_reloads_total"), 1);

  // A CSV with a bad line is refused; the run goes on with the NZ table.
  replace_file(dir_ + "/geo.csv", geo_csv_with_country("JP") + "1.2.3.4,not-an-address,XX,R,C,1,2,Etc/UTC\n");
  run.signal(SIGHUP);
  ASSERT_TRUE(wait_until([&] { return log_count(run, "geo reload (SIGHUP) refused") == 1; }, 15s, 20ms))
      << run.stderr_text();
  send_and_wait(fifo, 50, run);  // 151..200
  EXPECT_EQ(countries(151, 200), "NZ=50");
  EXPECT_EQ(metric("enrichd_reload_failures_total"), 1);
  EXPECT_EQ(metric("enrichd_geo_reloads_total"), 1);
  EXPECT_EQ(http_get(port_, "/healthz").status, 200);

  fifo.close();  // end of input: the run loads what is left and exits
  ASSERT_EQ(run.wait(30s), 0) << run.stderr_text();
  EXPECT_EQ(rows(), 200) << "every event is loaded once";
  auto distinct = db_->query("SELECT COUNT(DISTINCT event_id) FROM `" + table_ + "`");
  ASSERT_TRUE(distinct);
  EXPECT_EQ((*distinct)[0][0], "200");
}

// The category file is watched like the geo file: a replacement is swapped in between batches, a broken
// one is refused and the old table keeps serving. (SIGHUP reloads it too, with the geo table.)
TEST_F(GeoReload, ReplacedCategoryFileIsPickedUpAndABrokenOneRefused) {
  write_file(dir_ + "/geo.csv", geo_csv_with_country("AU"));
  write_config("geo.csv", 200);
  ChildProcess run(run_args(), dir_);
  FifoWriter fifo(dir_ + "/events.fifo", 30s);
  ASSERT_TRUE(fifo.ok()) << run.stderr_text();
  auto categories = [&](int64_t first, int64_t last) {
    auto r =
        db_->query(fmt::format("SELECT COUNT(DISTINCT IFNULL(category_id, 0)), MIN(IFNULL(category_id, 0)) "
                               "FROM `{}` WHERE event_id BETWEEN {} AND {} AND pin_id BETWEEN 1 AND 500",
                               table_, first, last));
    return r && !r->empty() ? (*r)[0][0] + ":" + (*r)[0][1] : std::string("?");
  };

  send_and_wait(fifo, 60, run);  // 1..60: pins 1..60 map to categories 1..7 (test_pins_csv)
  EXPECT_EQ(categories(1, 60), "7:1");

  std::string all_nine = "pin_id,category_id\n";
  for (int pin = 1; pin <= 500; ++pin) all_nine += std::to_string(pin) + ",9\n";
  replace_file(dir_ + "/pins.csv", all_nine);
  ASSERT_TRUE(wait_until(
      [&] { return log_count(run, "category table reloaded (category file changed)") == 1; }, 15s, 20ms))
      << run.stderr_text();
  send_and_wait(fifo, 60, run);  // 61..120
  EXPECT_EQ(categories(61, 120), "1:9");
  EXPECT_EQ(metric("enrichd_category_reloads_total"), 1);

  replace_file(dir_ + "/pins.csv", all_nine + "7,not-a-category\n");
  ASSERT_TRUE(wait_until(
      [&] { return log_count(run, "category reload (category file changed) refused") == 1; }, 15s, 20ms))
      << run.stderr_text();
  send_and_wait(fifo, 60, run);  // 121..180
  EXPECT_EQ(categories(121, 180), "1:9");
  EXPECT_EQ(metric("enrichd_reload_failures_total"), 1);
  EXPECT_EQ(metric("enrichd_geo_reloads_total"), 0);

  fifo.close();
  ASSERT_EQ(run.wait(30s), 0) << run.stderr_text();
  EXPECT_EQ(rows(), 180) << "every event is loaded once";
}

TEST_F(GeoReload, ReplacedSnapshotIsPickedUpByTheWatcherAndADamagedOneRefused) {
  // Snapshots made with `enrichd geo import` (which writes them atomically).
  auto import = [&](const std::string& country, const std::string& out) {
    write_file(dir_ + "/src.csv", geo_csv_with_country(country));
    auto r = run_process({enrichd_binary(), "geo", "import", dir_ + "/src.csv", "-o", out}, 30s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  };
  import("AU", dir_ + "/geo.snap");
  import("NZ", dir_ + "/nz.snap");
  import("JP", dir_ + "/jp.snap");
  write_config("geo.snap", 100);
  ChildProcess run(run_args(), dir_);
  FifoWriter fifo(dir_ + "/events.fifo", 30s);
  ASSERT_TRUE(fifo.ok()) << run.stderr_text();

  send_and_wait(fifo, 40, run);  // 1..40
  EXPECT_EQ(countries(1, 40), "AU=40");

  std::filesystem::rename(dir_ + "/nz.snap", dir_ + "/geo.snap");  // no signal: the watcher sees it
  ASSERT_TRUE(
      wait_until([&] { return log_count(run, "geo table reloaded (geo file changed)") == 1; }, 15s, 20ms))
      << run.stderr_text();
  send_and_wait(fifo, 40, run);  // 41..80
  EXPECT_EQ(countries(41, 80), "NZ=40");

  // The JP snapshot with one byte flipped near its end: its checksum fails, the NZ table stays.
  std::string damaged = read_file(dir_ + "/jp.snap");
  damaged[damaged.size() - 10] = static_cast<char>(damaged[damaged.size() - 10] ^ 0x5a);
  replace_file(dir_ + "/geo.snap", damaged);
  ASSERT_TRUE(
      wait_until([&] { return log_count(run, "geo reload (geo file changed) refused") == 1; }, 15s, 20ms))
      << run.stderr_text();
  send_and_wait(fifo, 40, run);  // 81..120
  EXPECT_EQ(countries(81, 120), "NZ=40");
  EXPECT_EQ(metric("enrichd_reload_failures_total"), 1);

  // A good file after the bad one is taken.
  std::filesystem::rename(dir_ + "/jp.snap", dir_ + "/geo.snap");
  ASSERT_TRUE(
      wait_until([&] { return log_count(run, "geo table reloaded (geo file changed)") == 2; }, 15s, 20ms))
      << run.stderr_text();
  send_and_wait(fifo, 40, run);  // 121..160
  EXPECT_EQ(countries(121, 160), "JP=40");
  EXPECT_EQ(metric("enrichd_geo_reloads_total"), 2);

  fifo.close();
  ASSERT_EQ(run.wait(30s), 0) << run.stderr_text();
  EXPECT_EQ(rows(), 160);
}

// ---- status output and log format ---------------------------------------------------------------------

class StatusOutput : public GeoReload {};

TEST_F(StatusOutput, LogLinesAreJsonAndTheStatusIsALogLineWhenNotATerminal) {
  write_file(dir_ + "/geo.csv", test_geo_csv());
  write_config("geo.csv", 0);
  ChildProcess run({enrichd_binary(), "run", "-c", dir_ + "/enrichd.toml", "--log-format", "json",
                    "--status-interval-ms", "100"},
                   dir_);
  FifoWriter fifo(dir_ + "/events.fifo", 30s);
  ASSERT_TRUE(fifo.ok()) << run.stderr_text();
  send_and_wait(fifo, 30, run);
  ASSERT_TRUE(wait_until([&] { return run.stderr_text().find("status: events_per_s=") != std::string::npos; },
                         10s, 20ms))
      << run.stderr_text();
  ASSERT_TRUE(
      fifo.write("{\"event_id\": \"quote\\\" and tab\t\"}\n"));  // a dead letter logged with its payload
  fifo.close();
  ASSERT_EQ(run.wait(30s), 0) << run.stderr_text();

  const std::string log = run.stderr_text();
  simdjson::dom::parser parser;
  size_t lines = 0;
  for (size_t at = 0, end; at < log.size(); at = end + 1) {
    end = log.find('\n', at);
    if (end == std::string::npos) end = log.size();
    const std::string line = log.substr(at, end - at);
    if (line.empty()) continue;
    ++lines;
    simdjson::dom::element e;
    ASSERT_FALSE(parser.parse(line).get(e)) << "not JSON: " << line;
    std::string_view level, msg, time;
    EXPECT_FALSE(e["level"].get(level)) << line;
    EXPECT_FALSE(e["msg"].get(msg)) << line;
    EXPECT_FALSE(e["time"].get(time)) << line;
  }
  EXPECT_GT(lines, 5U);
  EXPECT_NE(log.find(R"(\"quote\\\" and tab)"), std::string::npos) << "the payload is escaped: " << log;
}

TEST_F(StatusOutput, QuietShowsNoStatus) {
  write_file(dir_ + "/geo.csv", test_geo_csv());
  write_config("geo.csv", 0);
  ChildProcess run(
      {enrichd_binary(), "run", "-c", dir_ + "/enrichd.toml", "--quiet", "--status-interval-ms", "50"}, dir_);
  FifoWriter fifo(dir_ + "/events.fifo", 30s);
  ASSERT_TRUE(fifo.ok()) << run.stderr_text();
  send_and_wait(fifo, 10, run);
  std::this_thread::sleep_for(300ms);
  fifo.close();
  ASSERT_EQ(run.wait(30s), 0) << run.stderr_text();
  EXPECT_EQ(run.stderr_text().find("status:"), std::string::npos) << run.stderr_text();
}

TEST_F(StatusOutput, TerminalGetsALiveStatusLine) {
  write_file(dir_ + "/geo.csv", test_geo_csv());
  write_config("geo.csv", 0);
  int master = -1, slave = -1;
  ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  const std::string config = dir_ + "/enrichd.toml";
  std::vector<std::string> args = {enrichd_binary(), "run", "-c", config, "--status-interval-ms", "100"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, slave, STDERR_FILENO);
  posix_spawn_file_actions_addclose(&fa, master);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  ::close(slave);
  bool reaped = false;
  struct Reaper {  // a failed assertion must not leave the child running
    pid_t pid;
    bool& reaped;
    ~Reaper() {
      if (!reaped) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
      }
    }
  } reaper{pid, reaped};
  ::fcntl(master, F_SETFL, ::fcntl(master, F_GETFL) | O_NONBLOCK);
  std::string screen;
  auto drain = [&] {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(master, buf, sizeof buf)) > 0) screen.append(buf, static_cast<size_t>(n));
  };
  {
    FifoWriter fifo(dir_ + "/events.fifo", 30s);
    ASSERT_TRUE(fifo.ok());
    std::string lines;
    for (int i = 1; i <= 20; ++i) {
      lines += fmt::format(
          R"({{"event_id":{},"ts":1700000000000,"user_id":1,"pin_id":1,"action":"view","ip":"8.8.8.8"}})", i);
      lines += "\n";
    }
    ASSERT_TRUE(fifo.write(lines));
    EXPECT_TRUE(wait_until(
        [&] {
          drain();
          return screen.find("20 rows") != std::string::npos;
        },
        20s, 20ms))
        << screen;
  }
  int status = 0;
  wait_until(
      [&] {
        drain();
        reaped = reaped || ::waitpid(pid, &status, WNOHANG) == pid;
        return reaped;
      },
      30s, 20ms);
  drain();
  ::close(master);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << screen;
  // Drawn in place (carriage return, erase line), with the rate, lag, backend and dead letters.
  EXPECT_NE(screen.find("\r\x1b[Kenrichd | "), std::string::npos) << screen;
  EXPECT_NE(screen.find("ev/s | lag - | backend scalar | "), std::string::npos) << screen;
  EXPECT_NE(screen.find("0 dead letters"), std::string::npos) << screen;
  EXPECT_NE(screen.find(" info done: "), std::string::npos) << "log lines still print: " << screen;
}

// ---- metrics exporter start-up errors -----------------------------------------------------------------

TEST(MetricsStartup, PortInUseOrBadAddressStopsStartUpNamingTheKey) {
  const std::string dir = make_reference_dir("enrichd-metrics");
  auto config = [&](const std::string& listen) {
    write_file(dir + "/c.toml", fmt::format(R"([source]
kind = "file"
path = "geo.csv"
[enrich]
geo = "geo.csv"
category_csv = "pins.csv"
[sink]
dsn = "mysql://root@127.0.0.1:1/enrichd"
[metrics]
listen = "{}"
)",
                                            listen));
    return run_process({enrichd_binary(), "run", "-c", dir + "/c.toml"}, 30s);
  };
  // Held by another socket: refused before anything else starts (the database here is unreachable, so
  // getting past the exporter would name sink.dsn instead).
  const int held = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(held, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(held, 1), 0);
  ASSERT_EQ(::getsockname(held, reinterpret_cast<sockaddr*>(&a), &len), 0);
  auto r = config("127.0.0.1:" + std::to_string(ntohs(a.sin_port)));
  ::close(held);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("config key 'metrics.listen'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("in use"), std::string::npos) << r.err;

  r = config("10.255.255.254:9464");  // not an address of this machine
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("config key 'metrics.listen'"), std::string::npos) << r.err;

  r = config("127.0.0.1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("config key 'metrics.listen' is '127.0.0.1': no port"), std::string::npos) << r.err;

  r = config("");  // empty: off, so start-up goes on to the (unreachable) database
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("sink.dsn"), std::string::npos) << r.err;
  std::filesystem::remove_all(dir);
}

TEST(MetricsStartup, HealthzIs503WhileStartingUp) {
  // A "database" that accepts the connection and never answers: start-up waits on it (the client's
  // connect timeout), and meanwhile /healthz says why it is not ready.
  const int silent = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(silent, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(silent, 4), 0);
  ASSERT_EQ(::getsockname(silent, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const std::string dir = make_reference_dir("enrichd-metrics");
  const int port = free_tcp_port();
  write_file(dir + "/c.toml", fmt::format(R"([source]
kind = "file"
path = "geo.csv"
[enrich]
geo = "geo.csv"
category_csv = "pins.csv"
[sink]
dsn = "mysql://root@127.0.0.1:{}/enrichd"
[metrics]
listen = "127.0.0.1:{}"
)",
                                          ntohs(a.sin_port), port));
  ChildProcess run({enrichd_binary(), "run", "-c", dir + "/c.toml"}, dir);
  HttpResponse h;
  EXPECT_TRUE(wait_until(
      [&] {
        h = http_get(port, "/healthz");
        return h.status != 0;
      },
      10s, 20ms));
  EXPECT_EQ(h.status, 503);
  EXPECT_NE(h.body.find("starting"), std::string::npos) << h.body;
  const HttpResponse m = http_get(port, "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(metric_value(m.body, "enrichd_build_info{version=\"" ENRICHD_VERSION "\"}"), 1) << m.body;
  EXPECT_EQ(http_get(port, "/").status, 404) << "nothing else is served";
  EXPECT_EQ(run.wait(60s), 2) << run.stderr_text();
  EXPECT_NE(run.stderr_text().find("sink.dsn"), std::string::npos) << run.stderr_text();
  ::close(silent);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace enrichd::testing_support
