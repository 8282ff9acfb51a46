// `enrichd bench`: runs, prints one valid JSON document with the documented keys and sane values (every
// event counted, every stage present), compares backends in one run, measures libmaxminddb beside them on
// an .mmdb, replays a JSONL file, and with --load puts the rows in the real database next to the raw
// LOAD DATA baseline. Small tables and 20000 events keep each run to a second or two.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdlib>
#include <random>
#include <set>

#include "test_support.h"

namespace enrichd::testing_support {
namespace {

using namespace std::chrono_literals;

// Small synthetic reference data: the run is about the harness, not the tables.
const std::vector<std::string> kSmallTables = {"--geo-v4-ranges", "20000", "--geo-v6-ranges", "2000",
                                               "--category-keys", "20000"};

struct Bench {
  ProcessResult result;
  std::string json;  // kept alive: doc points into the parser, which points into nothing else
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  bool ok = false;
};

// Runs `enrichd bench --json ARGS...` and parses stdout.
void run_bench(Bench& b, std::vector<std::string> args) {
  args.insert(args.begin(), {enrichd_binary(), "bench", "--json"});
  b.result = run_process(args, 120s);
  ASSERT_EQ(b.result.exit_code, 0) << b.result.err;
  b.json = b.result.out;
  const auto error = b.parser.parse(b.json).get(b.doc);
  ASSERT_EQ(error, simdjson::SUCCESS)
      << "not valid JSON (" << simdjson::error_message(error) << "): " << b.json;
  b.ok = true;
}

double num(simdjson::dom::element e, std::initializer_list<std::string_view> path) {
  for (std::string_view key : path) {
    simdjson::dom::element next;
    if (e[key].get(next) != simdjson::SUCCESS) {
      ADD_FAILURE() << "missing key '" << key << "'";
      return -1;
    }
    e = next;
  }
  double v = -1;
  if (e.get_double().get(v) != simdjson::SUCCESS) ADD_FAILURE() << "not a number: " << e;
  return v;
}

std::string str(simdjson::dom::element e, std::initializer_list<std::string_view> path) {
  for (std::string_view key : path) {
    simdjson::dom::element next;
    if (e[key].get(next) != simdjson::SUCCESS) {
      ADD_FAILURE() << "missing key '" << key << "'";
      return "";
    }
    e = next;
  }
  std::string_view v;
  if (e.get_string().get(v) != simdjson::SUCCESS) ADD_FAILURE() << "not a string: " << e;
  return std::string(v);
}

std::vector<simdjson::dom::element> array(simdjson::dom::element e, std::string_view key) {
  std::vector<simdjson::dom::element> out;
  simdjson::dom::array a;
  if (e[key].get_array().get(a) != simdjson::SUCCESS) {
    ADD_FAILURE() << "'" << key << "' is not an array";
    return out;
  }
  for (simdjson::dom::element x : a) out.push_back(x);
  return out;
}

// Every run: all events counted once per pass, every stage present with sane figures, and a harness
// overhead under 5 %.
void check_runs(const Bench& b, uint64_t events, uint64_t dead_letters) {
  const auto runs = array(b.doc, "runs");
  ASSERT_FALSE(runs.empty());
  std::set<double> rows_per_backend;
  for (simdjson::dom::element run : runs) {
    SCOPED_TRACE(str(run, {"backend"}));
    const double passes = num(run, {"passes"});
    EXPECT_GE(passes, 1);
    EXPECT_EQ(num(run, {"counts", "messages"}), passes * static_cast<double>(events));
    EXPECT_EQ(num(run, {"counts", "events_parsed"}) + num(run, {"counts", "dead_letters"}),
              num(run, {"counts", "messages"}));
    EXPECT_EQ(num(run, {"counts", "dead_letters"}), passes * static_cast<double>(dead_letters));
    EXPECT_EQ(num(run, {"counts", "rows"}) + num(run, {"counts", "filtered_out"}),
              num(run, {"counts", "events_parsed"}));
    EXPECT_GT(num(run, {"counts", "rows"}), 0);
    EXPECT_GT(num(run, {"counts", "row_bytes"}), num(run, {"counts", "rows"}));
    rows_per_backend.insert(num(run, {"counts", "rows"}) / passes);

    double share = 0;
    for (const char* stage : {"parse", "filter", "enrich", "encode", "sink"}) {
      SCOPED_TRACE(stage);
      EXPECT_GE(num(run, {"stages", stage, "seconds"}), 0);
      EXPECT_GT(num(run, {"stages", stage, "events"}), 0);
      EXPECT_GT(num(run, {"stages", stage, "events_per_s"}), 0);
      EXPECT_GT(num(run, {"stages", stage, "bytes_per_s"}), 0);
      share += num(run, {"stages", stage, "share"});
      const double p50 = num(run, {"stages", stage, "latency_ms", "p50"});
      const double p90 = num(run, {"stages", stage, "latency_ms", "p90"});
      const double p99 = num(run, {"stages", stage, "latency_ms", "p99"});
      const double max = num(run, {"stages", stage, "latency_ms", "max"});
      EXPECT_LE(0, p50);
      EXPECT_LE(p50, p90);
      EXPECT_LE(p90, p99);
      EXPECT_LE(p99, max);
    }
    EXPECT_NEAR(share, 1.0, 1e-3);
    EXPECT_EQ(num(run, {"stages", "parse", "events"}), num(run, {"counts", "messages"}));
    EXPECT_EQ(num(run, {"stages", "parse", "bytes"}), num(run, {"counts", "json_bytes"}));
    EXPECT_EQ(num(run, {"stages", "encode", "events"}), num(run, {"counts", "rows"}));
    EXPECT_GT(num(run, {"end_to_end", "events_per_s"}), 0);
    EXPECT_GT(num(run, {"end_to_end", "json_bytes_per_s"}), 0);
    EXPECT_GT(num(run, {"end_to_end", "latency_ms", "max"}), 0);
    EXPECT_EQ(array(run, "pass_seconds").size(), static_cast<size_t>(passes));
    const double overhead = num(run, {"harness_overhead", "fraction"});
    EXPECT_GE(overhead, 0);
    EXPECT_LT(overhead, 0.05);
    EXPECT_GT(num(run, {"harness_overhead", "clock_read_ns"}), 0);
  }
  EXPECT_EQ(rows_per_backend.size(), 1u) << "every backend must keep the same rows";
}

TEST(EnrichdBench, JsonReportHasEveryStageAndCountsEveryEvent) {
  Bench b;
  std::vector<std::string> args = {"--events",  "20000",  "--backend", "scalar,auto",
                                   "--backend", "scalar", "--repeat",  "2"};
  args.insert(args.end(), kSmallTables.begin(), kSmallTables.end());
  ASSERT_NO_FATAL_FAILURE(run_bench(b, args));

  EXPECT_EQ(str(b.doc, {"schema"}), "enrichd-bench/1");
  EXPECT_FALSE(str(b.doc, {"machine", "cpu_model"}).empty());
  EXPECT_GE(num(b.doc, {"machine", "logical_cpus"}), 1);
  EXPECT_GT(num(b.doc, {"machine", "memory_bytes"}), 0);
  EXPECT_EQ(array(b.doc["machine"], "backends").size(), 3u);
  EXPECT_EQ(num(b.doc, {"data", "events"}), 20000);
  EXPECT_EQ(num(b.doc, {"data", "dead_letters"}), 0);
  // Adjacent ranges with the same record are merged: about 20000 IPv4 ranges.
  EXPECT_GT(num(b.doc, {"data", "geo", "ipv4_ranges"}), 15000);
  EXPECT_LE(num(b.doc, {"data", "geo", "ipv4_ranges"}), 20000);
  EXPECT_EQ(num(b.doc, {"data", "categories", "keys"}), 20000);

  const auto runs = array(b.doc, "runs");
  ASSERT_EQ(runs.size(), 3u) << "scalar, auto and scalar again";
  EXPECT_EQ(str(runs[0], {"backend"}), "scalar");
  EXPECT_EQ(str(runs[1], {"backend_requested"}), "auto");
  for (simdjson::dom::element run : runs) EXPECT_EQ(num(run, {"passes"}), 2);
  check_runs(b, 20000, 0);
  simdjson::dom::element load;
  ASSERT_EQ(runs[0]["load"].get(load), simdjson::SUCCESS);
  EXPECT_TRUE(load.is_null()) << "no --load: the null sink";
  EXPECT_TRUE(array(b.doc["baselines"], "libmaxminddb").empty());
  EXPECT_EQ(b.result.err.find("\r"), std::string::npos) << "no progress line when stderr is not a terminal";
}

TEST(EnrichdBench, TextReportAndBadOptions) {
  std::vector<std::string> args = {enrichd_binary(), "bench", "--events", "5000", "--repeat", "1"};
  args.insert(args.end(), kSmallTables.begin(), kSmallTables.end());
  auto r = run_process(args, 120s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* text :
       {"machine:", "parse", "filter", "enrich", "encode", "sink", "total", "p99 ms", "harness overhead:"}) {
    EXPECT_NE(r.out.find(text), std::string::npos) << text << " missing from:\n" << r.out;
  }

  r = run_process({enrichd_binary(), "bench", "--backend", "quantum"}, 30s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown backend 'quantum'"), std::string::npos) << r.err;

  r = run_process({enrichd_binary(), "bench", "--events", "no-such-file.jsonl"}, 30s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("neither a count"), std::string::npos) << r.err;

  r = run_process({enrichd_binary(), "bench", "--load"}, 30s);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--load needs a database"), std::string::npos) << r.err;
}

TEST(EnrichdBench, ReplaysAJsonLinesFile) {
  const std::string dir = make_temp_dir("enrichd-bench");
  std::string lines;
  for (int i = 1; i <= 300; ++i) {
    lines += fmt::format(
        R"({{"event_id":{},"ts":1700000000000,"user_id":1,"pin_id":{},"action":"{}","ip":"8.8.8.{}"}})", i, i,
        i % 3 == 0 ? "hide" : "view", i % 250);
    lines += "\n";
    if (i % 100 == 0) lines += "{\"event_id\": oops}\n\n";  // a dead letter, then a blank line (skipped)
  }
  write_file(dir + "/events.jsonl", lines);
  Bench b;
  std::vector<std::string> args = {"--events", dir + "/events.jsonl", "--batch", "64", "--repeat", "2"};
  args.insert(args.end(), kSmallTables.begin(), kSmallTables.end());
  ASSERT_NO_FATAL_FAILURE(run_bench(b, args));
  EXPECT_EQ(str(b.doc, {"data", "events_source"}), dir + "/events.jsonl");
  EXPECT_EQ(num(b.doc, {"data", "events"}), 303);
  EXPECT_EQ(num(b.doc, {"data", "dead_letters"}), 3);
  EXPECT_EQ(num(b.doc, {"data", "batches"}), 5);
  check_runs(b, 303, 3);
  const auto runs = array(b.doc, "runs");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(num(runs[0], {"counts", "filtered_out"}), 2 * 100) << "the default filter drops 'hide'";
}

TEST(EnrichdBench, LibmaxminddbBaselineOnTheSameMmdb) {
  const std::string dir = make_temp_dir("enrichd-bench-mmdb");
  std::string spec;
  const char* nets[] = {"1.0.0.0/8",   "8.8.0.0/16",    "81.2.69.0/24",
                        "100.0.0.0/8", "2001:db8::/32", "2a00::/16"};
  int i = 0;
  for (const char* net : nets) {
    spec += fmt::format("net\t{}\tC{}\tR\tCity {}\t\t1.5\t-2.25\tEtc/UTC\n", net, i, i);
    ++i;
  }
  write_file(dir + "/geo.spec", spec);
  const std::string mmdb = dir + "/geo.mmdb";
  const std::string cmd =
      "perl '" ENRICHD_SOURCE_DIR "/tests/fixtures/write_mmdb.pl' '" + dir + "/geo.spec' '" + mmdb + "' 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "MaxMind's writer failed (scripts/bootstrap installs "
                                            "libmaxmind-db-writer-perl): "
                                         << cmd;
  Bench b;
  ASSERT_NO_FATAL_FAILURE(run_bench(b, {"--events", "20000", "--geo", mmdb, "--category-keys", "20000",
                                        "--repeat", "1", "--backend", "scalar,auto"}));
  check_runs(b, 20000, 0);
  const auto families = array(b.doc["baselines"], "libmaxminddb");
  ASSERT_EQ(families.size(), 2u) << b.json;
  for (simdjson::dom::element f : families) {
    SCOPED_TRACE(str(f, {"family"}));
    EXPECT_EQ(str(f, {"file"}), mmdb);
    EXPECT_GT(num(f, {"addresses"}), 0);
    EXPECT_GT(num(f, {"libmaxminddb_lookups_per_s"}), 0);
    const double found = num(f, {"libmaxminddb_found"});
    EXPECT_GT(found, 0) << "addresses are drawn from the file's own ranges";
    const auto backends = array(f, "backends");
    ASSERT_EQ(backends.size(), 2u);
    for (simdjson::dom::element be : backends) {
      EXPECT_GT(num(be, {"lookups_per_s"}), 0);
      EXPECT_GT(num(be, {"ratio_to_libmaxminddb"}), 0);
      EXPECT_EQ(num(be, {"found"}), found) << "the same addresses must be found by both";
    }
  }
}

TEST(EnrichdBench, LoadPutsTheRowsInTheDatabaseBesideRawLoadData) {
  if (test_dsn().empty()) GTEST_SKIP() << "ENRICHD_TEST_DSN is not set; run through scripts/test";
  const std::string table = unique_name("bench_");
  Bench b;
  std::vector<std::string> args = {"--events", "20000", "--repeat",      "1", "--load", "--dsn", test_dsn(),
                                   "--table",  table,   "--connections", "2"};
  args.insert(args.end(), kSmallTables.begin(), kSmallTables.end());
  ASSERT_NO_FATAL_FAILURE(run_bench(b, args));
  check_runs(b, 20000, 0);
  const auto runs = array(b.doc, "runs");
  ASSERT_EQ(runs.size(), 1u);
  const simdjson::dom::element run = runs[0];
  const double rows = num(run, {"counts", "rows"});
  EXPECT_EQ(num(run, {"load", "rows"}), rows);
  EXPECT_EQ(num(run, {"load", "raw_rows"}), rows);
  EXPECT_EQ(str(run, {"load", "table"}), table);
  EXPECT_EQ(str(run, {"load", "raw_table"}), table + "_raw");
  EXPECT_GT(num(run, {"load", "sink_rows_per_s"}), 0);
  EXPECT_GT(num(run, {"load", "raw_rows_per_s"}), 0);
  EXPECT_GT(num(run, {"load", "ratio_sink_to_raw"}), 0);
  // The same rows again over 2 sink connections and over one plain one, into tables of their own.
  simdjson::dom::element parallel;
  ASSERT_EQ(b.doc["parallel_load"].get(parallel), simdjson::SUCCESS);
  EXPECT_EQ(num(parallel, {"connections"}), 2);
  EXPECT_EQ(num(parallel, {"rounds"}), 1);
  EXPECT_EQ(num(parallel, {"batches"}), 2);
  EXPECT_EQ(num(parallel, {"rows"}), rows);
  EXPECT_EQ(str(parallel, {"table"}), table + "_parallel");
  EXPECT_EQ(str(parallel, {"raw_table"}), table + "_parallel_raw");
  EXPECT_GT(num(parallel, {"sink_rows_per_s"}), 0);
  EXPECT_GT(num(parallel, {"raw_rows_per_s"}), 0);
  EXPECT_GT(num(parallel, {"ratio_sink_to_raw"}), 0);

  auto db = connect_test_db();
  ASSERT_NE(db, nullptr);
  for (const std::string& t : {table, table + "_raw", table + "_parallel", table + "_parallel_raw"}) {
    auto count = db->query("SELECT COUNT(*), COUNT(DISTINCT event_id), COUNT(country_code) FROM `" + t + "`");
    ASSERT_TRUE(count) << count.status().message();
    EXPECT_EQ(std::stod((*count)[0][0]), rows) << t;
    EXPECT_EQ(std::stod((*count)[0][1]), rows) << t << ": every event once";
    EXPECT_GT(std::stod((*count)[0][2]), 0) << t << ": rows are enriched";
  }
  for (const std::string& t : {table, table + "_raw", table + "_dead_letters", table + "_parallel",
                               table + "_parallel_raw", table + "_parallel_dead_letters"}) {
    (void)db->execute("DROP TABLE IF EXISTS `" + t + "`");
  }
}

}  // namespace
}  // namespace enrichd::testing_support
