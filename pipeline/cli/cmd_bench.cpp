// `enrichd bench`: the end-to-end benchmark (bench/harness.h) on this machine's own data and backends.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <iostream>
#include <memory>

#include "bench/harness.h"
#include "host/geo_import.h"
#include "pipeline/cli/commands.h"
#include "pipeline/config.h"

namespace enrichd::cli {
namespace {

struct BenchCliOptions {
  bench::HarnessOptions h;
  std::string events = "2M";
  std::vector<std::string> backends;
  std::vector<std::string> include_actions, exclude_actions;
  bool no_filter = false;
  std::string config_path;
  std::string dsn;
  int64_t connections = 1;
  std::string table;
  bool json = false;
  std::string log_level = "warn";
};

// "2000000", "2M", "500k": a count; false for anything else.
bool parse_count(std::string_view s, size_t& out) {
  if (s.empty()) return false;
  uint64_t scale = 1;
  switch (s.back()) {
    case 'k':
    case 'K':
      scale = 1000;
      break;
    case 'm':
    case 'M':
      scale = 1'000'000;
      break;
    case 'g':
    case 'G':
      scale = 1'000'000'000;
      break;
    default:
      break;
  }
  if (scale != 1) s.remove_suffix(1);
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return false;
  out = static_cast<size_t>(v * scale);
  return true;
}

int bench(BenchCliOptions& o, const CLI::App& cmd) {
  spdlog::set_level(spdlog::level::from_str(o.log_level));
  bench::HarnessOptions& h = o.h;
  if (!parse_count(o.events, h.events)) {
    if (::access(o.events.c_str(), R_OK) != 0) {
      spdlog::error("--events: '{}' is neither a count (2000000, 2M, 500k) nor a readable JSONL file",
                    o.events);
      return kExitBadConfig;
    }
    h.events_file = o.events;
  }

  // A config brings the sink and, where the command line says nothing, the reference data, the filter,
  // the batch size and the backend of `enrichd run`.
  if (!o.config_path.empty()) {
    auto config = load_config(o.config_path);
    if (!config) {
      spdlog::error("{}", config.status().message());
      return kExitBadConfig;
    }
    h.sink = config->sink;
    // The bench parses with the default engagement schema and encodes the category join only: its rows
    // have no [[enrich.join]] or [[schema.extra]] columns, every fixed column, and action and app as text.
    h.sink.join_columns.clear();
    h.sink.extra_columns.clear();
    h.sink.action_store = {};
    h.sink.app_store = {};
    h.sink.dropped_columns = 0;
    h.sink.event_time_column = "ts";
    if (cmd.count("--geo") == 0) h.geo = config->enrich.geo;
    if (cmd.count("--category-csv") == 0) {
      // The bench reads categories from files only; a database source leaves the synthetic keys.
      h.category_csv = config->enrich.categories().source.pins_csv;
      h.category_names_csv = config->enrich.categories().source.names_csv;
    }
    if (cmd.count("--batch") == 0) h.batch = static_cast<size_t>(config->batch.max_events);
    h.max_message_bytes = static_cast<size_t>(config->batch.max_message_bytes);
    if (o.backends.empty()) o.backends = {config->enrich.backend};
    if (o.include_actions.empty() && o.exclude_actions.empty() && !o.no_filter) h.filter = config->filter;
  } else if (o.include_actions.empty() && o.exclude_actions.empty() && !o.no_filter) {
    h.filter.exclude_actions = {"hide"};  // a filter that does some work: 1 in 5 synthetic events
  }
  if (!o.include_actions.empty() || !o.exclude_actions.empty()) {
    h.filter.include_actions = o.include_actions;
    h.filter.exclude_actions = o.exclude_actions;
  }
  if (o.no_filter) h.filter = FilterConfig{};
  if (!o.dsn.empty()) h.sink.dsn = o.dsn;
  if (cmd.count("--connections") > 0) h.sink.connections = o.connections;
  if (!o.table.empty()) {
    h.sink.table = o.table;
    h.sink.dead_letter_table = o.table + "_dead_letters";
  } else if (o.config_path.empty()) {
    h.sink.table = "enrichd_bench";
    h.sink.dead_letter_table = "enrichd_bench_dead_letters";
  }
  if (h.load && h.sink.dsn.empty()) {
    spdlog::error("--load needs a database: --dsn mysql://user@host:port/db, or -c with a [sink] dsn");
    return kExitBadConfig;
  }
  h.backends = o.backends.empty() ? std::vector<std::string>{"auto"} : o.backends;
  // An .mmdb among the geo sources is the libmaxminddb baseline's file unless --mmdb names others.
  if (h.mmdb.empty()) {
    for (const std::string& g : h.geo) {
      auto kind = detect_geo_source(g);
      if (kind && *kind == GeoSourceKind::kMmdb) h.mmdb.push_back(g);
    }
  } else if (h.geo.empty()) {
    h.geo = h.mmdb;  // compare on the same data: the table is imported from the same files
  }
  h.progress = ::isatty(STDERR_FILENO) == 1;

  bool started = false;
  auto report = bench::run_bench(h, started);
  if (!report) {
    spdlog::error("{}", report.status().message());
    return started ? kExitFailure : kExitBadConfig;
  }
  std::cout << (o.json ? bench::format_json(*report) : bench::format_text(*report));
  std::cout.flush();
  return kExitOk;
}

}  // namespace

void add_bench_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<BenchCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "bench", "End-to-end benchmark: events from memory through parse, filter, enrich and encode");
  cmd->add_option("--events", o->events,
                  "Synthetic events to generate (2000000, 2M, 500k), or a JSONL file to replay")
      ->capture_default_str();
  cmd->add_option("--batch", o->h.batch, "Messages per batch")
      ->capture_default_str()
      ->check(CLI::Range(1, 1 << 24));
  cmd->add_option("--repeat", o->h.repeat, "Passes over the events per backend")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--duration", o->h.duration_s,
                  "Seconds of passes per backend (whole passes, at least one); overrides --repeat")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", o->h.threads, "Worker threads, each running every stage on its own batches")
      ->capture_default_str()
      ->check(CLI::Range(1, 1024));
  cmd->add_option("--backend", o->backends,
                  "auto, cuda, avx2 or scalar; repeat it or give a comma list to compare")
      ->delimiter(',');
  cmd->add_option("--geo", o->h.geo, "Geo source(s): a snapshot, .mmdb or CSV files (default: synthetic)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--geo-v4-ranges", o->h.geo_v4_ranges, "Synthetic geo table: IPv4 ranges")
      ->capture_default_str();
  cmd->add_option("--geo-v6-ranges", o->h.geo_v6_ranges, "Synthetic geo table: IPv6 ranges")
      ->capture_default_str();
  cmd->add_option("--category-csv", o->h.category_csv, "pin_id,category_id CSV (default: synthetic)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--category-names", o->h.category_names_csv, "category_id,name CSV")
      ->check(CLI::ExistingFile);
  cmd->add_option("--category-keys", o->h.category_keys, "Synthetic category table: keys")
      ->capture_default_str();
  cmd->add_option("--v6-fraction", o->h.v6_fraction, "Synthetic events: share with an IPv6 address")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", o->h.seed, "Synthetic data seed")->capture_default_str();
  cmd->add_option("--include-action", o->include_actions, "Filter: keep only these actions (repeatable)");
  cmd->add_option("--exclude-action", o->exclude_actions, "Filter: drop these actions (repeatable)");
  cmd->add_flag("--no-filter", o->no_filter, "No filter rules (the filter stage then does nothing)");
  cmd->add_option("--mmdb", o->h.mmdb,
                  "libmaxminddb baseline on these .mmdb files (default: the .mmdb among --geo)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--load", o->h.load,
                "Load the rows into the database through the sink (and measure raw LOAD DATA beside it)");
  cmd->add_option("--dsn", o->dsn, "Database for --load: mysql://user[:password]@host[:port]/database");
  cmd->add_option("--connections", o->connections,
                  "With --load, also load the same rows over this many sink connections beside raw LOAD DATA "
                  "(default: the config's sink.connections, else 1)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--table", o->table, "Table for --load (default enrichd_bench; raw baseline: <table>_raw)");
  cmd->add_option("-c,--config", o->config_path, "An enrichd run config: its sink, and defaults for the rest")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--check-overhead", o->h.check_overhead,
                "Also run each pass with the stage timers off and compare (not with --load)");
  cmd->add_flag("--json", o->json, "Print one JSON document on stdout instead of the table");
  cmd->add_option("--log-level", o->log_level, "trace, debug, info, warn, error, off")->capture_default_str();
  cmd->footer(
      "Events are generated (or read) into memory first; then each backend runs the same batches through "
      "the\n"
      "stage code of `enrichd run` into a null sink (or, with --load, the database), timing every stage of\n"
      "every batch. Synthetic reference data is GeoLite2-City size (2.57 M IPv4 + 1.1 M IPv6 ranges) with\n"
      "5 M category keys. Without filter options, events with action 'hide' (1 in 5) are filtered out.\n"
      "With --load, each batch is also loaded with one plain LOAD DATA LOCAL INFILE into <table>_raw: the\n"
      "raw baseline. Exit codes: 0 done, 1 failed while running, 2 bad options, data or database.");
  cmd->callback([&action, o, cmd] { action = [o, cmd] { return bench(*o, *cmd); }; });
}

}  // namespace enrichd::cli
