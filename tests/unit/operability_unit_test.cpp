// The pieces of the operability work that need no services: Prometheus text rendering, the stage
// histograms, librdkafka statistics parsing, metrics.listen validation, JSON log escaping, status lines.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <utility>

#include "pipeline/config.h"
#include "pipeline/kafka_source.h"
#include "pipeline/logging.h"
#include "pipeline/probes.h"
#include "pipeline/prometheus.h"
#include "pipeline/status_reporter.h"

namespace enrichd {
namespace {

using namespace std::chrono_literals;

TEST(PrometheusText, LabelValuesEscapeBackslashQuoteAndNewline) {
  EXPECT_EQ(prom_escape_label_value("plain"), "plain");
  EXPECT_EQ(prom_escape_label_value(R"(a\b)"), R"(a\\b)");
  EXPECT_EQ(prom_escape_label_value(R"(say "hi")"), R"(say \"hi\")");
  EXPECT_EQ(prom_escape_label_value("two\nlines"), R"(two\nlines)");
  EXPECT_EQ(prom_escape_label_value("tab\tstays, ünïcode too"), "tab\tstays, ünïcode too");

  PrometheusText t;
  t.family("x_info", "gauge", "Help with a \\ backslash\nand a newline.");
  t.sample("x_info", {{"source", "C:\\geo \"new\"\n.csv"}, {"b", "2"}}, uint64_t{1});
  EXPECT_EQ(t.text(),
            "# HELP x_info Help with a \\\\ backslash\\nand a newline.\n"
            "# TYPE x_info gauge\n"
            "x_info{source=\"C:\\\\geo \\\"new\\\"\\n.csv\",b=\"2\"} 1\n");
}

TEST(PrometheusText, ValuesAreIntegersOrShortestFloats) {
  EXPECT_EQ(prom_format_value(0), "0");
  EXPECT_EQ(prom_format_value(42), "42");
  EXPECT_EQ(prom_format_value(-3), "-3");
  EXPECT_EQ(prom_format_value(0.25), "0.25");
  EXPECT_EQ(prom_format_value(1.5e-7), "1.5e-07");
  EXPECT_EQ(prom_format_value(1e300), "1e+300");
  EXPECT_EQ(prom_format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(prom_format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(prom_format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
  PrometheusText t;
  t.sample("big_total", {}, uint64_t{18446744073709551615ULL});
  EXPECT_EQ(t.text(), "big_total 18446744073709551615\n") << "counters keep every digit";
}

TEST(PrometheusText, HistogramBucketsAreCumulativeEndInInfAndCountMatches) {
  PrometheusText t;
  t.family("d_seconds", "histogram", "Durations.");
  const double bounds[] = {0.1, 1, 2.5};
  const uint64_t counts[] = {3, 0, 2, 4};  // the last one is above every bound
  t.histogram("d_seconds", {{"stage", "parse"}}, bounds, counts, 12.75);
  EXPECT_EQ(t.text(),
            "# HELP d_seconds Durations.\n"
            "# TYPE d_seconds histogram\n"
            "d_seconds_bucket{stage=\"parse\",le=\"0.1\"} 3\n"
            "d_seconds_bucket{stage=\"parse\",le=\"1\"} 3\n"
            "d_seconds_bucket{stage=\"parse\",le=\"2.5\"} 5\n"
            "d_seconds_bucket{stage=\"parse\",le=\"+Inf\"} 9\n"
            "d_seconds_sum{stage=\"parse\"} 12.75\n"
            "d_seconds_count{stage=\"parse\"} 9\n");

  PrometheusText empty;
  empty.histogram("e", {}, bounds, std::span<const uint64_t>(), 0);
  EXPECT_EQ(empty.text(),
            "e_bucket{le=\"0.1\"} 0\ne_bucket{le=\"1\"} 0\ne_bucket{le=\"2.5\"} 0\ne_bucket{le=\"+Inf\"} 0\n"
            "e_sum 0\ne_count 0\n");
}

TEST(DurationHistogram, ObservationsLandInTheFirstBucketAtOrAboveThem) {
  DurationHistogram h;
  h.observe(50us);   // <= 0.0001
  h.observe(100us);  // == 0.0001: le is inclusive
  h.observe(101us);  // <= 0.00025
  h.observe(3s);     // <= 5
  h.observe(1h);     // above every bound
  h.observe(-1ms);   // clock oddities count as 0
  const auto s = h.snapshot();
  EXPECT_EQ(s.counts[0], 3U);
  EXPECT_EQ(s.counts[1], 1U);
  EXPECT_EQ(s.counts[14], 1U);
  EXPECT_EQ(s.counts[DurationHistogram::kBounds.size()], 1U);
  EXPECT_EQ(s.count(), 6U);
  EXPECT_NEAR(s.sum_seconds, 3600 + 3 + 0.000251, 1e-9);

  PrometheusText t;
  t.histogram("h", {}, DurationHistogram::kBounds, s.counts, s.sum_seconds);
  EXPECT_NE(t.text().find("h_bucket{le=\"0.0001\"} 3\n"), std::string::npos) << t.text();
  EXPECT_NE(t.text().find("h_bucket{le=\"10\"} 5\n"), std::string::npos) << t.text();
  EXPECT_NE(t.text().find("h_bucket{le=\"+Inf\"} 6\n"), std::string::npos) << t.text();
  EXPECT_NE(t.text().find("h_count 6\n"), std::string::npos) << t.text();
}

TEST(KafkaStatistics, ConsumerLagPerPartitionOfTheTopic) {
  // The shape of librdkafka's statistics JSON (trimmed): partition -1 is internal, -1 lags are unknown.
  const std::string stats = R"({"name":"enrichd#consumer-1","type":"consumer","topics":{
    "other":{"topic":"other","partitions":{"0":{"partition":0,"consumer_lag":99}}},
    "engagements":{"topic":"engagements","age":1000,"partitions":{
      "1":{"partition":1,"fetch_state":"active","consumer_lag":7,"consumer_lag_stored":9},
      "0":{"partition":0,"fetch_state":"active","consumer_lag":0},
      "2":{"partition":2,"fetch_state":"none","consumer_lag":-1},
      "3":{"partition":3,"fetch_state":"active","consumer_lag":-1,"app_offset":-1001,"hi_offset":0,
           "committed_offset":-1001,"next_offset":0},
      "4":{"partition":4,"fetch_state":"active","consumer_lag":-1,"app_offset":-1001,"hi_offset":50,
           "committed_offset":20,"next_offset":45},
      "5":{"partition":5,"fetch_state":"active","consumer_lag":-1,"app_offset":-1001,"hi_offset":50,
           "committed_offset":-1001,"next_offset":45},
      "6":{"partition":6,"fetch_state":"active","consumer_lag":-1,"hi_offset":-1001,"next_offset":0},
      "-1":{"partition":-1,"consumer_lag":-1}}}}})";
  const auto lag = parse_consumer_lag(stats, "engagements");
  ASSERT_EQ(lag.size(), 5U);
  EXPECT_EQ(lag[0].partition, 0);
  EXPECT_EQ(lag[0].lag, 0);
  EXPECT_EQ(lag[1].partition, 1);
  EXPECT_EQ(lag[1].lag, 7);
  // Not known to librdkafka yet: an empty partition is 0, else from the committed offset or fetch position.
  EXPECT_EQ(lag[2].partition, 3);
  EXPECT_EQ(lag[2].lag, 0);
  EXPECT_EQ(lag[3].partition, 4);
  EXPECT_EQ(lag[3].lag, 30);
  EXPECT_EQ(lag[4].partition, 5);
  EXPECT_EQ(lag[4].lag, 5);
  EXPECT_TRUE(parse_consumer_lag(stats, "absent").empty());
  EXPECT_TRUE(parse_consumer_lag("{not json", "engagements").empty());
  EXPECT_TRUE(parse_consumer_lag("", "engagements").empty());
}

TEST(MetricsConfig, ListenAddressIsCheckedAndNamesTheKey) {
  EXPECT_EQ(*parse_listen_address("127.0.0.1:9464", "metrics.listen"), "127.0.0.1:9464");
  EXPECT_EQ(*parse_listen_address("localhost:9464", "metrics.listen"), "127.0.0.1:9464");
  EXPECT_EQ(*parse_listen_address("0.0.0.0:1", "metrics.listen"), "0.0.0.0:1");
  EXPECT_EQ(*parse_listen_address("[::1]:65535", "metrics.listen"), "[::1]:65535");
  for (const char* bad : {"9464", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "host:9464",
                          "127.0.0.1:94x4", "::1:9464", "[::1:9464", "1.2.3:9464"}) {
    auto r = parse_listen_address(bad, "metrics.listen");
    ASSERT_FALSE(r) << bad;
    EXPECT_NE(r.status().message().find("config key 'metrics.listen'"), std::string::npos)
        << r.status().message();
  }
  // In a config: absent or empty is off; a bad value names the key; unknown keys are refused.
  const std::string base =
      "[source]\nkind = \"file\"\npath = \"-\"\n[enrich]\ngeo = \"g\"\ncategory_csv = \"p\"\n"
      "[sink]\ndsn = \"mysql://root@h/db\"\n";
  EXPECT_TRUE(parse_config(base, "/")->metrics.listen.empty());
  EXPECT_TRUE(parse_config(base + "[metrics]\nlisten = \"\"\n", "/")->metrics.listen.empty());
  EXPECT_EQ(parse_config(base + "[metrics]\nlisten = \"localhost:9464\"\n", "/")->metrics.listen,
            "127.0.0.1:9464");
  auto bad = parse_config(base + "[metrics]\nlisten = \"nowhere\"\n", "/");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("'metrics.listen' is 'nowhere'"), std::string::npos);
  bad = parse_config(base + "[metrics]\nport = 9464\n", "/");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("'metrics.port' is unknown"), std::string::npos);
  bad = parse_config(base + "[log]\nformat = \"xml\"\n", "/");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("'log.format' is 'xml'"), std::string::npos);
  EXPECT_EQ(parse_config(base + "[log]\nformat = \"json\"\n", "/")->log_format, LogFormat::kJson);
  EXPECT_EQ(parse_config(base + "[enrich]\n", "/").status().is_ok(), false) << "a section given twice";
  EXPECT_EQ(parse_config(base, "/")->enrich.geo_poll_ms, 1000);
}

// sink.connections: 1 by default, 1..64, an integer; sink.compression: only "none", every other value
// refused with the reason (MySQL/MariaDB cannot load compressed streams; SingleStore's is untested).
TEST(SinkConfig, ConnectionsAndCompressionAreCheckedAndNameTheKey) {
  const std::string base =
      "[source]\nkind = \"file\"\npath = \"-\"\n[enrich]\ngeo = \"g\"\ncategory_csv = \"p\"\n"
      "[sink]\ndsn = \"mysql://root@h/db\"\n";
  EXPECT_EQ(parse_config(base, "/")->sink.connections, 1);
  EXPECT_EQ(parse_config(base + "connections = 3\n", "/")->sink.connections, 3);
  EXPECT_EQ(parse_config(base + "connections = 64\n", "/")->sink.connections, 64);
  EXPECT_TRUE(parse_config(base + "compression = \"none\"\n", "/"));
  const std::pair<std::string, std::string> bad[] = {
      {"connections = 0", "'sink.connections' is 0, must be between 1 and 64"},
      {"connections = 65", "'sink.connections' is 65, must be between 1 and 64"},
      {"connections = -2", "'sink.connections' is -2"},
      {"connections = \"3\"", "'sink.connections' must be an integer"},
      {"connections = 2.5", "'sink.connections' must be an integer"},
      {"compression = \"zstd\"", "'sink.compression' is 'zstd', must be \"none\", \"gzip\" or \"lz4\""},
      {"compression = true", "'sink.compression' must be a string"},
      {"compression = \"gzip\"", "'sink.compression' is 'gzip', but MySQL and MariaDB"},
      {"compression = \"lz4\"\ndialect = \"mysql\"", "'sink.compression' is 'lz4', but MySQL and MariaDB"},
      {"compression = \"gzip\"\ndialect = \"singlestore\"",
       "'sink.compression' is 'gzip': compressed LOAD DATA streams for SingleStore are not supported yet"},
  };
  for (const auto& [line, message] : bad) {
    auto r = parse_config(base + line + "\n", "/");
    ASSERT_FALSE(r) << line;
    EXPECT_NE(r.status().message().find(message), std::string::npos) << line << ": " << r.status().message();
  }
}

TEST(MetricsConfig, TheExampleConfigHasOnlyKnownKeys) {
  auto config = load_config(ENRICHD_SOURCE_DIR "/scripts/enrichd.example.toml");
  ASSERT_TRUE(config) << config.status().message();
  EXPECT_EQ(config->metrics.listen, "127.0.0.1:9464");
  EXPECT_EQ(config->enrich.geo_poll_ms, 1000);
  EXPECT_EQ(config->log_format, LogFormat::kText);
}

TEST(JsonLog, MessagesAreEscaped) {
  std::string out;
  append_json_escaped(out, "a \"quoted\" \\ path\nnext\tline \x01 é");
  EXPECT_EQ(out, "a \\\"quoted\\\" \\\\ path\\nnext\\tline \\u0001 é");
}

TEST(StatusLine, ShowsRateLagBackendRowsAndDeadLetters) {
  StatusSample s;
  s.messages = 1000;
  s.rows_loaded = 2'500'000;
  s.dead_letters = 3;
  s.lag = 42;
  s.backend = "avx2";
  EXPECT_EQ(format_status_line(s, 123456),
            "enrichd | 123.5 kev/s | lag 42 | backend avx2 | 2.50 Mrows | 3 dead letters");
  s.lag = -1;
  EXPECT_EQ(
      format_status_log(s, 12.4),
      "status: events_per_s=12 messages=1000 rows_loaded=2500000 dead_letters=3 lag=unknown backend=avx2");
}

}  // namespace
}  // namespace enrichd
