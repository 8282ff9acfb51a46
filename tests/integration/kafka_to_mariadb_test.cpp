// End to end on real parts: a real Kafka producer into the embedded broker (librdkafka's mock cluster over
// TCP), the enrichd binary consuming it as a group member, and the real MariaDB test server.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "host/dead_letter.h"
#include "pipeline/mock_broker.h"
#include "pipeline_fixture.h"
#include "test_support.h"

namespace enrichd::testing_support {
namespace {

using namespace std::chrono_literals;

struct SentEvent {
  std::string ip;
  uint64_t pin = 0;
  std::string action;
};

class KafkaToMariadb : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test_dsn().empty()) GTEST_SKIP() << "ENRICHD_TEST_DSN is not set; run through scripts/test";
    db_ = connect_test_db();
    ASSERT_TRUE(db_) << "the test database at " << test_dsn() << " is not reachable";
    auto broker = MockBroker::start();
    ASSERT_TRUE(broker) << broker.status().message();
    broker_ = std::move(broker).value();
    ASSERT_TRUE(broker_->create_topic(topic_, partitions_));
    dir_ = make_reference_dir("enrichd-it");
    write_file(dir_ + "/categories.csv", test_category_names_csv());
    table_ = unique_name("it_");
    write_file(dir_ + "/enrichd.toml",
               fmt::format(R"([source]
brokers = "{}"
topic = "{}"
group = "{}"
session_timeout_ms = 6000
[batch]
max_events = 700
linger_ms = 20
[filter]
exclude_actions = ["hide"]
[enrich]
backend = "scalar"
geo = "geo.csv"
category_csv = "pins.csv"
category_names_csv = "categories.csv"
[sink]
dsn = "{}"
table = "{}"
)",
                           broker_->bootstrap_servers(), topic_, group_, test_dsn(), table_));
  }

  void TearDown() override {
    if (!db_) return;
    drop_run_tables(*db_, table_, group_);
  }

  // Good events get ids from next_id_; every 29th message is broken in one of several ways.
  std::vector<std::string> make_messages(size_t count) {
    std::vector<std::string> out;
    static const char* kActions[] = {"view", "click", "save", "hide"};
    for (size_t i = 0; i < count; ++i) {
      if (i % 29 == 28) {
        out.push_back(broken_message(bad_sent_++));
        continue;
      }
      SentEvent e{pick_ip(rng_), 0, kActions[rng_() % 4]};
      const uint64_t r = rng_() % 100;
      e.pin = r == 0 ? UINT64_MAX : 1 + rng_() % (kTestPins + 100);
      const uint64_t id = next_id_++;
      out.push_back(fmt::format(
          R"({{"event_id":{},"ts":{},"user_id":{},"pin_id":{},"action":"{}","ip":"{}","app":"ios","ua":"t\tab"}})",
          id, 1'700'000'000'000 + id, id * 3, e.pin, e.action, e.ip));
      sent_[id] = e;
    }
    return out;
  }

  static std::string broken_message(uint64_t k) {
    switch (k % 5) {
      case 0:
        return R"({"event_id":1,"ts":1,"user_id":1,"pin_id":1,"action":"view","ip":"8.8.8.8")";  // no }
      case 1:
        return R"({"event_id":1,"ts":1,"user_id":1,"pin_id":1,"action":"view","ip":"300.1.1.1"})";
      case 2:
        return "";
      case 3: {  // a raw NUL inside a string: invalid JSON, and the payload must not be cut there
        std::string s = R"({"event_id":1,"ts":1,"user_id":1,"pin_id":1,"action":"vXw","ip":"8.8.8.8"})";
        s[s.find('X')] = '\0';
        return s;
      }
      default:
        return R"({"event_id":1,"ts":1,"user_id":1,"action":"view","ip":"8.8.8.8"})";  // no pin_id
    }
  }

  size_t expected_rows() const {
    size_t n = 0;
    for (const auto& [id, e] : sent_) n += e.action != "hide";
    return n;
  }

  int64_t loaded_rows() {
    auto rows = db_->query("SELECT COUNT(*) FROM `" + table_ + "`");
    return rows && !rows->empty() ? std::stoll((*rows)[0][0]) : -1;
  }

  // Every sent, unfiltered event is in the table exactly once with the values computed here.
  void expect_table_matches_sent() {
    auto rows = db_->query(
        "SELECT event_id, ip, IFNULL(country_code,'<null>'), IFNULL(city,'<null>'), "
        "IFNULL(category_id,0), IFNULL(category,'<null>'), ua FROM `" +
        table_ + "`");
    ASSERT_TRUE(rows) << rows.status().message();
    std::map<uint64_t, int> seen;
    for (const auto& r : *rows) {
      const uint64_t id = std::stoull(r[0]);
      ++seen[id];
      auto it = sent_.find(id);
      ASSERT_NE(it, sent_.end()) << "row for an event never sent: " << id;
      const SentEvent& e = it->second;
      EXPECT_NE(e.action, "hide") << "filtered event " << id << " was loaded";
      EXPECT_EQ(r[1], stored_ip(e.ip)) << id;
      const auto geo = expected_geo(e.ip);
      EXPECT_EQ(r[2], geo ? geo->country_code : "<null>") << id << " " << e.ip;
      EXPECT_EQ(r[3], geo ? geo->city : "<null>") << id << " " << e.ip;
      const bool hit = e.pin <= kTestPins || e.pin == UINT64_MAX;
      EXPECT_EQ(r[4], hit ? std::to_string(expected_category(e.pin)) : "0") << id << " pin " << e.pin;
      EXPECT_EQ(r[5], hit ? "cat-" + std::to_string(expected_category(e.pin)) : "<null>") << id;
      EXPECT_EQ(r[6], "t\tab");
    }
    for (const auto& [id, n] : seen) EXPECT_EQ(n, 1) << "event " << id << " loaded " << n << " times";
    EXPECT_EQ(rows->size(), expected_rows());
  }

  // The dead-letter table holds every broken message sent, once each, with its exact bytes.
  void expect_dead_letters_match_sent() {
    auto rows = db_->query("SELECT kafka_partition, kafka_offset, reason, payload FROM `" + table_ +
                           "_dead_letters` WHERE topic = '" + topic_ + "'");
    ASSERT_TRUE(rows) << rows.status().message();
    std::map<std::pair<std::string, std::string>, int> seen;
    std::multiset<std::string> payloads;
    for (const auto& r : *rows) {
      ++seen[{r[0], r[1]}];
      payloads.insert(r[3]);
    }
    for (const auto& [pos, n] : seen) EXPECT_EQ(n, 1) << "dead letter at " << pos.first << ":" << pos.second;
    EXPECT_EQ(rows->size(), bad_sent_);
    std::multiset<std::string> expected;
    for (uint64_t k = 0; k < bad_sent_; ++k) expected.insert(broken_message(k));
    EXPECT_TRUE(payloads == expected) << "stored dead-letter payloads differ from the broken messages sent";
  }

  // Sum of the next offsets stored in the database for this group and topic.
  int64_t stored_offsets_total() {
    auto rows = db_->query(
        "SELECT IFNULL(SUM(GREATEST(next_offset, 0)), 0) FROM enrichd_offsets WHERE "
        "consumer_group = '" +
        group_ + "' AND topic = '" + topic_ + "'");
    return rows && !rows->empty() ? std::stoll((*rows)[0][0]) : -1;
  }

  int64_t committed_total() {
    int64_t total = 0;
    for (const auto& [p, off] :
         committed_offsets(broker_->bootstrap_servers(), group_, topic_, partitions_)) {
      if (off >= 0) total += off;
    }
    return total;
  }

  std::vector<std::string> run_args(std::vector<std::string> extra) const {
    std::vector<std::string> args = {enrichd_binary(), "run", "-c", dir_ + "/enrichd.toml"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  // Switches this test to a new topic of `partitions` partitions (SetUp made one of kPartitions).
  void use_topic(const std::string& topic, int partitions) {
    ASSERT_TRUE(broker_->create_topic(topic, partitions));
    std::string config = read_file(dir_ + "/enrichd.toml");
    const std::string old_line = "topic = \"" + topic_ + "\"";
    config.replace(config.find(old_line), old_line.size(), "topic = \"" + topic + "\"");
    write_file(dir_ + "/enrichd.toml", config);
    topic_ = topic;
    partitions_ = partitions;
  }

  // The next offset stored for one partition (-1: claimed, never loaded; -2: no row).
  int64_t stored_offset(int32_t partition) {
    auto rows = db_->query(fmt::format(
        "SELECT next_offset FROM enrichd_offsets WHERE consumer_group = '{}' AND topic = '{}' AND "
        "kafka_partition = {}",
        group_, topic_, partition));
    return rows && !rows->empty() ? std::stoll((*rows)[0][0]) : -2;
  }

  static constexpr int kPartitions = 3;
  int partitions_ = kPartitions;
  std::unique_ptr<MysqlConnection> db_;
  std::unique_ptr<MockBroker> broker_;
  // A fresh group per test: offsets stored in the database by earlier runs must not apply to this broker.
  std::string topic_ = "engagements", group_ = unique_name("enrichd-it-"), dir_, table_;
  std::mt19937_64 rng_{42};
  std::map<uint64_t, SentEvent> sent_;
  uint64_t next_id_ = 1, bad_sent_ = 0;
};

TEST_F(KafkaToMariadb, EveryGoodEventLoadedOnceWithExpectedEnrichment) {
  const auto messages = make_messages(3000);
  ASSERT_TRUE(produce_all(broker_->bootstrap_servers(), topic_, messages));
  ASSERT_EQ(total_high_watermark(broker_->bootstrap_servers(), topic_, kPartitions), 3000);

  ChildProcess run(run_args({"--max-messages", "3000"}), dir_);
  const int rc = run.wait(90s);
  ASSERT_EQ(rc, 0) << run.stderr_text();
  expect_table_matches_sent();
  expect_dead_letters_match_sent();
  // The offsets stored with the rows cover every message; Kafka's commit follows the database's.
  EXPECT_EQ(stored_offsets_total(), 3000);
  EXPECT_EQ(committed_total(), 3000);
  // Broken messages were counted, not loaded, and did not stop the good ones around them.
  EXPECT_NE(run.stderr_text().find(fmt::format("{} dead letters", bad_sent_)), std::string::npos)
      << run.stderr_text().substr(run.stderr_text().size() > 2000 ? run.stderr_text().size() - 2000 : 0);
}

// batch.workers = 4 with small batches: four threads parse, enrich and encode side by side and finish out
// of order, yet loads reach the database in source order: every offset range continues the last one
// (a gap or a reordering would fail the fenced update and stop the run), and everything lands once.
TEST_F(KafkaToMariadb, WorkersSideBySideKeepLoadsInSourceOrder) {
  std::string config = read_file(dir_ + "/enrichd.toml");
  config.replace(config.find("max_events = 700"), 16, "max_events = 37\nworkers = 4");
  write_file(dir_ + "/enrichd.toml", config);
  const auto messages = make_messages(4000);
  ASSERT_TRUE(produce_all(broker_->bootstrap_servers(), topic_, messages));
  ChildProcess run(run_args({"--max-messages", "4000"}), dir_);
  ASSERT_EQ(run.wait(90s), 0) << run.stderr_text();
  expect_table_matches_sent();
  expect_dead_letters_match_sent();
  EXPECT_EQ(stored_offsets_total(), 4000);
  EXPECT_EQ(committed_total(), 4000);
}

TEST_F(KafkaToMariadb, AtLeastOnceCommitsToKafkaAfterTheDatabase) {
  write_file(dir_ + "/enrichd.toml", read_file(dir_ + "/enrichd.toml") + "delivery = \"at-least-once\"\n");
  ASSERT_TRUE(produce_all(broker_->bootstrap_servers(), topic_, make_messages(1000)));
  ChildProcess run(run_args({"--max-messages", "1000"}), dir_);
  ASSERT_EQ(run.wait(90s), 0) << run.stderr_text();
  EXPECT_NE(run.stderr_text().find("delivery: at-least-once"), std::string::npos);
  expect_table_matches_sent();
  expect_dead_letters_match_sent();
  EXPECT_EQ(committed_total(), 1000);
  EXPECT_EQ(stored_offsets_total(), 0) << "at-least-once keeps no offsets in the database";
}

// sink.connections = 3 on a 5-partition topic: partitions 0 and 3 load on connection 0, 1 and 4 on
// connection 1, 2 alone on connection 2. While a transaction of the test holds partition 2's offsets row,
// connection 2 waits in its fenced update and the other connections go on loading theirs (until
// connection 2's queue is full: backpressure then holds the rest; with one connection nothing would
// load). Once released, every event and every dead letter is in the database exactly once, and every
// partition's stored offset is its end.
TEST_F(KafkaToMariadb, ThreeConnectionsLoadSideBySideEveryEventAndDeadLetterOnce) {
  use_topic("engagements-k3", 5);
  write_file(dir_ + "/enrichd.toml", read_file(dir_ + "/enrichd.toml") + "connections = 3\n");
  ChildProcess run(run_args({"--max-messages", "4100"}), dir_);
  // The offsets rows are claimed when the partitions are assigned; hold partition 2's before any event.
  ASSERT_TRUE(wait_until(
      [&] {
        for (int32_t p = 0; p < 5; ++p) {
          if (stored_offset(p) == -2) return false;
        }
        return true;
      },
      60s, 20ms))
      << run.stderr_text();
  EXPECT_NE(run.stderr_text().find("sink: 3 connections"), std::string::npos) << run.stderr_text();
  auto holder = connect_test_db();
  ASSERT_TRUE(holder);
  ASSERT_TRUE(holder->execute("START TRANSACTION"));
  ASSERT_TRUE(
      holder->query(fmt::format("SELECT next_offset FROM enrichd_offsets WHERE consumer_group = '{}' "
                                "AND topic = '{}' AND kafka_partition = 2 FOR UPDATE",
                                group_, topic_)));

  // First partition 2 alone, until its connection waits in the fenced update; then every partition.
  ASSERT_TRUE(produce_all(broker_->bootstrap_servers(), topic_, make_messages(100), {2}));
  const auto waiting_fences = [&] {
    auto rows = db_->query(
        "SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'UPDATE `enrichd_offsets`%" +
        topic_ + "%kafka_partition = 2 AND%'");
    return rows && !rows->empty() ? std::stoll((*rows)[0][0]) : -1;
  };
  ASSERT_TRUE(wait_until([&] { return waiting_fences() == 1; }, 30s, 20ms)) << run.stderr_text();
  ASSERT_TRUE(produce_all(broker_->bootstrap_servers(), topic_, make_messages(4000), {0, 1, 2, 3, 4}));
  const bool others_loaded = wait_until(
      [&] {
        for (int32_t p : {0, 1, 3, 4}) {
          if (stored_offset(p) <= 0) return false;
        }
        return true;
      },
      30s, 20ms);
  EXPECT_TRUE(others_loaded) << "the other connections did not load while partition 2's waited";
  EXPECT_EQ(stored_offset(2), -1) << "partition 2 loaded while its offsets row was held";
  ASSERT_TRUE(holder->execute("COMMIT"));

  ASSERT_EQ(run.wait(90s), 0) << run.stderr_text();
  expect_table_matches_sent();
  expect_dead_letters_match_sent();
  EXPECT_EQ(stored_offsets_total(), 4100);
  // Per partition: loaded to its end, and Kafka's committed offset followed the database's.
  for (const auto& [p, committed] : committed_offsets(broker_->bootstrap_servers(), group_, topic_, 5)) {
    EXPECT_EQ(stored_offset(p), p == 2 ? 900 : 800) << "partition " << p;
    EXPECT_EQ(committed, p == 2 ? 900 : 800) << "partition " << p;
  }
}

// SIGTERM while events are still being produced: the run stops consuming, loads and commits what it
// holds, leaves the group and exits 0 promptly; everything it consumed is in the database with its offsets
// (stored and committed to Kafka), and a restart loads exactly the rest.
TEST_F(KafkaToMariadb, SigtermMidStreamDrainsLoadsCommitsAndRestartResumes) {
  std::string config = read_file(dir_ + "/enrichd.toml");
  config.replace(config.find("max_events = 700"), 16, "max_events = 50");
  write_file(dir_ + "/enrichd.toml", config);
  const auto messages = make_messages(3000);
  ChildProcess run(run_args({"--quiet"}), dir_);
  ASSERT_TRUE(wait_until([&] { return joined_group(run); }, 60s, 20ms)) << run.stderr_text();
  std::thread producer([&] {  // paced: about 3 s for everything
    for (size_t i = 0; i < messages.size(); i += 50) {
      const std::vector<std::string> chunk(messages.begin() + static_cast<std::ptrdiff_t>(i),
                                           messages.begin() + static_cast<std::ptrdiff_t>(i + 50));
      EXPECT_TRUE(produce_all(broker_->bootstrap_servers(), topic_, chunk));
      std::this_thread::sleep_for(50ms);
    }
  });
  wait_until([&] { return stored_offsets_total() >= 500; }, 60s, 10ms);
  run.signal(SIGTERM);
  const auto signalled = std::chrono::steady_clock::now();
  const int rc = run.wait(30s);
  const auto took = std::chrono::steady_clock::now() - signalled;
  producer.join();
  ASSERT_EQ(rc, 0) << run.stderr_text();
  EXPECT_LT(took, 10s) << "draining took too long";
  const std::string log = run.stderr_text();
  EXPECT_NE(log.find("kafka: consumer closed, left the group"), std::string::npos) << log;
  const size_t done = log.rfind("done: ");
  ASSERT_NE(done, std::string::npos) << log;
  const int64_t consumed = std::stoll(log.substr(done + 6));
  EXPECT_GE(consumed, 500);
  EXPECT_LT(consumed, 3000) << "the signal was meant to land mid-stream";
  EXPECT_EQ(stored_offsets_total(), consumed) << "every consumed message is loaded with its offset";
  EXPECT_EQ(committed_total(), consumed) << "and committed to Kafka";

  // A restart consumes only what came after the committed offsets: nothing twice, nothing missed.
  ChildProcess again(run_args({"--quiet", "--max-messages", std::to_string(3000 - consumed)}), dir_);
  ASSERT_EQ(again.wait(90s), 0) << again.stderr_text();
  expect_table_matches_sent();
  expect_dead_letters_match_sent();
  EXPECT_EQ(stored_offsets_total(), 3000);
  EXPECT_EQ(committed_total(), 3000);
}

// /metrics scraped during a real run: each counter matches what was sent (dead letters by reason against
// the dead-letter table), every partition's consumer lag reaches 0, and /healthz answers 200.
TEST_F(KafkaToMariadb, MetricsScrapedDuringARunMatchWhatWasSent) {
  const int port = free_tcp_port();
  write_file(dir_ + "/enrichd.toml",
             read_file(dir_ + "/enrichd.toml") + fmt::format("[metrics]\nlisten = \"127.0.0.1:{}\"\n", port));
  ChildProcess run(run_args({"--quiet"}), dir_);
  ASSERT_TRUE(
      wait_until([&] { return joined_group(run) && http_get(port, "/healthz").status == 200; }, 60s, 50ms))
      << run.stderr_text();
  const auto messages = make_messages(2000);
  uint64_t bytes = 0;
  for (const auto& m : messages) bytes += m.size();
  ASSERT_TRUE(produce_all(broker_->bootstrap_servers(), topic_, messages));

  std::string page;
  const auto value = [&](const std::string& series) { return metric_value(page, series); };
  const auto scrape = [&] {
    const HttpResponse r = http_get(port, "/metrics");
    page = r.body;
    return r.status == 200;
  };
  ASSERT_TRUE(wait_until(
      [&] {
        return scrape() && value("enrichd_rows_loaded_total") == static_cast<double>(expected_rows()) &&
               value("enrichd_dead_letters_stored_total") == static_cast<double>(bad_sent_);
      },
      60s, 100ms))
      << page << run.stderr_text();
  // librdkafka reports the lag every second; once everything is consumed it is 0 on every partition.
  ASSERT_TRUE(wait_until(
      [&] {
        if (!scrape()) return false;
        for (int p = 0; p < kPartitions; ++p) {
          if (value(fmt::format("enrichd_kafka_consumer_lag{{topic=\"{}\",partition=\"{}\"}}", topic_, p)) !=
              0) {
            return false;
          }
        }
        return true;
      },
      20s, 200ms))
      << page;

  EXPECT_EQ(value("enrichd_messages_consumed_total"), 2000);
  EXPECT_EQ(value("enrichd_consumed_bytes_total"), static_cast<double>(bytes));
  EXPECT_EQ(value("enrichd_events_parsed_total"), static_cast<double>(sent_.size()));
  const auto hides =
      std::count_if(sent_.begin(), sent_.end(), [](const auto& e) { return e.second.action == "hide"; });
  EXPECT_EQ(value("enrichd_events_filtered_out_total"), static_cast<double>(hides));
  EXPECT_EQ(value("enrichd_events_enriched_total"), static_cast<double>(expected_rows()));
  EXPECT_EQ(value("enrichd_rows_loaded_total"), static_cast<double>(loaded_rows()));

  // Dead letters by reason: what the exporter counted is what the dead-letter table holds.
  auto reasons = db_->query("SELECT reason, COUNT(*) FROM `" + table_ + "_dead_letters` GROUP BY reason");
  ASSERT_TRUE(reasons) << reasons.status().message();
  std::map<std::string, double> stored;
  for (const auto& r : *reasons) stored[r[0]] = std::stod(r[1]);
  double total = 0;
  for (size_t r = 0; r < kDeadLetterReasonCount; ++r) {
    const std::string reason(to_string(static_cast<DeadLetterReason>(r)));
    const double counted = value("enrichd_dead_letters_total{reason=\"" + reason + "\"}");
    EXPECT_EQ(counted, stored[reason]) << reason;
    total += counted;
  }
  EXPECT_EQ(total, static_cast<double>(bad_sent_));
  EXPECT_GE(stored.size(), 3U) << "the broken messages cover several reasons";

  EXPECT_GE(value("enrichd_load_transactions_total"), 1);
  EXPECT_EQ(value("enrichd_load_retries_total"), 0);
  EXPECT_EQ(value("enrichd_sink_up"), 1);
  for (const char* stage : {"parse", "filter", "enrich", "encode", "load"}) {
    const double count = value(fmt::format("enrichd_stage_duration_seconds_count{{stage=\"{}\"}}", stage));
    EXPECT_GT(count, 0) << stage;
    EXPECT_EQ(value(fmt::format("enrichd_stage_duration_seconds_bucket{{stage=\"{}\",le=\"+Inf\"}}", stage)),
              count)
        << stage;
  }
  EXPECT_EQ(value("enrichd_backend_info{backend=\"scalar\"}"), 1);
  EXPECT_EQ(value("enrichd_category_keys"), static_cast<double>(kTestPins + 1));
  EXPECT_GT(value("enrichd_geo_records"), 0);
  EXPECT_GT(value("enrichd_geo_ranges{family=\"ipv4\"}"), 0);
  EXPECT_GT(value("enrichd_geo_loaded_timestamp_seconds"), 1.7e9);
  const HttpResponse health = http_get(port, "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");

  run.signal(SIGTERM);
  ASSERT_EQ(run.wait(30s), 0) << run.stderr_text();
}

// kill -9 at random moments while events flow (during group joins, mid-batch, between loads, over one
// connection or three), restart each time, and at the end every event is in the table once and every broken
// message once in the dead-letter table: offsets are stored in the same transaction as the rows.
TEST_F(KafkaToMariadb, KillNineAtRandomMomentsLosesAndDuplicatesNothing) {
  // Small batches, so that a run loads in many transactions and a kill can land between or inside them.
  std::string config = read_file(dir_ + "/enrichd.toml");
  config.replace(config.find("max_events = 700"), 16, "max_events = 40");
  write_file(dir_ + "/enrichd.toml", config);
  std::mt19937_64 chaos(std::random_device{}());
  size_t produced = 0;
  int64_t committed_before = 0;
  int rounds_that_loaded = 0;
  for (int round = 0; round < 10; ++round) {
    // Odd rounds load over 3 connections (sink.connections), even ones over 1: the stored offsets are per
    // partition, so a restart with another K resumes exactly where the last commit of each partition was.
    // Rounds 2-3, 6-7 run 3 workers (batch.workers): their loads still commit in source order.
    std::string round_config = config + (round % 2 ? "connections = 3\n" : "");
    if (round % 4 >= 2)
      round_config.replace(round_config.find("max_events = 40"), 15, "max_events = 40\nworkers = 3");
    write_file(dir_ + "/enrichd.toml", round_config);
    const auto messages = make_messages(800);
    ASSERT_TRUE(produce_all(broker_->bootstrap_servers(), topic_, messages));
    produced += messages.size();
    ChildProcess run(run_args({}), dir_);
    // Kill at a random moment after the run joined the group: before, inside or between its loads.
    wait_until([&] { return joined_group(run); }, 60s, 20ms);
    // Mostly after the first commit of this run (mid-load), sometimes before anything was fetched.
    if (chaos() % 4 != 0) {
      wait_until([&] { return stored_offsets_total() != committed_before; }, 10s, 2ms);
    }
    const auto delay = std::chrono::milliseconds(chaos() % 15);
    std::this_thread::sleep_for(delay);
    run.signal(SIGKILL);
    EXPECT_EQ(run.wait(10s), 128 + SIGKILL) << "round " << round;
    const int64_t committed = stored_offsets_total();
    rounds_that_loaded += committed > committed_before && committed < static_cast<int64_t>(produced);
    std::cout << "round " << round << ": killed, " << committed << " of " << produced
              << " messages committed\n";
    committed_before = committed;
  }
  // The kills must have hit runs in the middle of loading, or this test proves nothing.
  EXPECT_GE(rounds_that_loaded, 3);
  // What the killed runs committed is exactly what the stored offsets say; the last run loads the rest.
  write_file(dir_ + "/enrichd.toml", config + "connections = 3\n");
  const int64_t remaining = static_cast<int64_t>(produced) - stored_offsets_total();
  ASSERT_GE(remaining, 0);
  if (remaining > 0) {
    ChildProcess last(run_args({"--max-messages", std::to_string(remaining)}), dir_);
    ASSERT_EQ(last.wait(120s), 0) << last.stderr_text();
  }
  expect_table_matches_sent();
  expect_dead_letters_match_sent();
  EXPECT_EQ(stored_offsets_total(), static_cast<int64_t>(produced));
}

// Two members of one group share the partitions; one is killed mid-run, the other takes its partitions
// over from the offsets stored in the database, and the result is still exactly once.
TEST_F(KafkaToMariadb, TwoMembersShareTheLoadAndSurviveOneBeingKilled) {
  ASSERT_TRUE(produce_all(broker_->bootstrap_servers(), topic_, make_messages(3000)));
  ChildProcess a(run_args({}), dir_);
  ChildProcess b(run_args({}), dir_);
  ASSERT_TRUE(wait_until([&] { return joined_group(a) && joined_group(b); }, 60s, 50ms))
      << a.stderr_text() << b.stderr_text();
  // Sharing: once the group settles, the three partitions are split between the two members (the last
  // assignment each logged; a member that joined first may log a full assignment before the split).
  const auto partitions_of = [](const std::string& log) {
    const size_t at = log.rfind("kafka: assigned");
    const size_t end = log.find('\n', at);
    const std::string line = log.substr(at, end - at);
    return std::count(line.begin(), line.end(), '[');
  };
  wait_until([&] { return partitions_of(a.stderr_text()) + partitions_of(b.stderr_text()) == kPartitions; },
             30s, 50ms);
  EXPECT_LT(partitions_of(a.stderr_text()), kPartitions) << a.stderr_text();
  EXPECT_LT(partitions_of(b.stderr_text()), kPartitions) << b.stderr_text();

  a.signal(SIGKILL);
  EXPECT_EQ(a.wait(10s), 128 + SIGKILL);
  ASSERT_TRUE(produce_all(broker_->bootstrap_servers(), topic_, make_messages(1500)));
  wait_until([&] { return stored_offsets_total() >= 4500; }, 90s, 100ms);
  b.signal(SIGTERM);
  ASSERT_EQ(b.wait(30s), 0) << b.stderr_text();
  expect_table_matches_sent();
  expect_dead_letters_match_sent();
  EXPECT_EQ(stored_offsets_total(), 4500);
}

// A member paused (SIGSTOP) past its session timeout is replaced; when it wakes it still holds batches
// for partitions it no longer owns. Its fenced offset updates fail, so it can never write them.
TEST_F(KafkaToMariadb, PausedZombieMemberIsFencedOut) {
  std::string config = read_file(dir_ + "/enrichd.toml");
  config.replace(config.find("max_events = 700"), 16, "max_events = 40");
  write_file(dir_ + "/enrichd.toml", config);
  ChildProcess a(run_args({}), dir_);
  wait_until([&] { return joined_group(a); }, 60s, 20ms);
  ASSERT_TRUE(produce_all(broker_->bootstrap_servers(), topic_, make_messages(2000)));
  wait_until([&] { return stored_offsets_total() != 0; }, 30s, 2ms);
  // Frozen mid-load: with batches in its queues, and possibly inside a transaction holding offset rows
  // (then the new owner waits on those rows; otherwise it loads at once, and the zombie is fenced later).
  a.signal(SIGSTOP);
  ChildProcess b(run_args({}), dir_);
  // B takes A's partitions once A's session expires.
  ASSERT_TRUE(wait_until([&] { return joined_group(b); }, 60s, 50ms)) << b.stderr_text();
  a.signal(SIGCONT);  // the zombie wakes with stale batches for partitions it no longer owns
  wait_until([&] { return stored_offsets_total() >= 2000; }, 90s, 100ms);
  a.signal(SIGTERM);
  b.signal(SIGTERM);
  EXPECT_EQ(a.wait(30s), 0) << a.stderr_text();
  EXPECT_EQ(b.wait(30s), 0) << b.stderr_text();
  expect_table_matches_sent();
  expect_dead_letters_match_sent();
  EXPECT_EQ(stored_offsets_total(), 2000);
}

}  // namespace
}  // namespace enrichd::testing_support
