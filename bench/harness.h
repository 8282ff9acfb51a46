// The end-to-end benchmark behind `enrichd bench`: events replayed from memory through the stage code of
// `enrichd run` — parse (host/event_parser), filter (pipeline/event_filter), enrich (pipeline/enrich_stage
// on a chosen backend), encode (pipeline/load_job, host/row_encoder) — into a null sink that counts the
// encoded bytes and drops them, or (load) into the database through pipeline/memsql_sink. Every batch is
// timed per stage; the report has per-stage and total rates, shares and batch latency percentiles, the
// machine, the harness's own overhead, and baselines measured in the same run: libmaxminddb on the same
// .mmdb and addresses, and raw LOAD DATA LOCAL INFILE of the same rows over one plain connection.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/status.h"
#include "kernels/backend.h"
#include "pipeline/config.h"

namespace enrichd::bench {

struct HarnessOptions {
  // Events: `events` generated ones (bench_data.h make_events), or every line of `events_file`.
  size_t events = 2'000'000;
  std::string events_file;
  double v6_fraction = 0.1;
  uint64_t seed = 1;
  size_t batch = 16384;  // messages per batch, as batch.max_events of `enrichd run`
  size_t max_message_bytes = 1 << 20;

  // Passes over the events per backend: `repeat`, or as many as fit in `duration_s` (at least one) when
  // that is > 0. Backends take turns pass by pass, so that a slow spell of a shared machine hits all.
  int repeat = 3;
  double duration_s = 0;
  int threads = 1;  // worker threads, each with its own parser, filter, enrich stage and encoder
  std::vector<std::string> backends = {"auto"};

  // Reference data: geo sources for load_geo (host/geo_import.h), else a synthetic table of these sizes
  // (GeoLite2-City size by default); a category CSV (and names), else `category_keys` synthetic keys.
  std::vector<std::string> geo;
  size_t geo_v4_ranges = 2'570'000;
  size_t geo_v6_ranges = 1'100'000;
  size_t geo_records = 120'000;
  std::string category_csv;
  std::string category_names_csv;
  size_t category_keys = 5'000'000;
  uint32_t category_count = 500;

  FilterConfig filter;

  // libmaxminddb baseline: .mmdb files (one per family is used: IPv4 from a v4 file when there is one).
  std::vector<std::string> mmdb;
  size_t mmdb_addresses = size_t{1} << 20;  // per family, at most
  int mmdb_rounds = 3;

  // Load into the database through the sink (and the raw LOAD DATA baseline) instead of the null sink.
  // Then also the parallel load: the same rows through sink.connections connections, beside raw LOAD DATA
  // over one plain connection.
  bool load = false;
  SinkConfig sink;

  // Also run, per backend, as many passes with the stage timers off, to compare wall times.
  bool check_overhead = false;
  // A progress line on stderr (the caller decides: only when stderr is a terminal).
  bool progress = false;
};

inline constexpr size_t kStageCount = 5;
inline constexpr std::array<std::string_view, kStageCount> kStageNames = {"parse", "filter", "enrich",
                                                                          "encode", "sink"};

struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0, max = 0;  // seconds
};
// Nearest-rank percentiles of `ns` (nanoseconds); all zero when empty.
Percentiles percentiles(std::vector<int64_t> ns);

struct StageReport {
  double seconds = 0;   // summed over batches (and worker threads)
  uint64_t items = 0;   // what the stage took in: messages, parsed events, selected events, rows
  uint64_t bytes = 0;   // JSON in (parse, filter, enrich); encoded rows + dead letters out (encode, sink)
  Percentiles latency;  // per batch
};

struct LoadReport {
  std::string table, raw_table;
  uint64_t rows = 0;
  uint64_t bytes = 0;
  uint64_t dead_letters = 0;
  double sink_seconds = 0;  // in MemsqlSink::load
  double raw_seconds = 0;   // raw LOAD DATA of the same rows, one plain autocommit connection
  uint64_t raw_rows = 0;
};

// With --load, after the passes: the rows of the first batches (at most kParallelLoadBytes of them),
// encoded once, loaded `rounds` times each way, taking turns: raw LOAD DATA over one plain autocommit
// connection into `raw_table`, and through ParallelSink with `connections` connections into `table`
// (one transaction per batch, the batches dealt to the connections in turn). Wall-clock seconds, summed
// over the rounds; tables of its own (<table>_parallel, <table>_parallel_raw).
struct ParallelLoadReport {
  std::string table, raw_table;
  int connections = 0;
  int rounds = 0;
  size_t batches = 0;
  uint64_t rows = 0;   // per round
  uint64_t bytes = 0;  // per round: rows and dead letters
  double sink_seconds = 0;
  double raw_seconds = 0;
};
inline constexpr uint64_t kParallelLoadBytes = uint64_t{96} << 20;

struct OverheadReport {
  double worker_seconds = 0;    // summed wall time of the workers' batch loops
  double stage_seconds = 0;     // summed stage time
  double excluded_seconds = 0;  // baselines run between batches (raw LOAD DATA): neither stage nor harness
  uint64_t clock_reads = 0;
  double clock_read_ns = 0;  // the cost of one read, measured at start
  // The harness's share of the measured time: the loops' time outside every stage, plus the clock reads
  // (counted whole, though part of each falls outside the stages): an upper bound.
  double seconds() const;
  double fraction() const;
  // With check_overhead: median pass wall time with the stage timers on and off.
  int timers_off_passes = 0;
  double median_pass_on_s = 0, median_pass_off_s = 0;
};

struct RunReport {
  std::string requested;  // as asked ("auto")
  std::string backend;    // what ran ("avx2")
  int passes = 0;
  std::vector<double> pass_seconds;  // wall time, less the raw LOAD DATA baseline run between batches
  double wall_seconds = 0;           // all passes
  // CPU time of the worker threads over their batch loops (raw LOAD DATA baseline included); beside
  // overhead.worker_seconds it says how much of the time the workers had a core.
  double cpu_seconds = 0;
  uint64_t batches = 0;
  uint64_t messages = 0, json_bytes = 0, events_parsed = 0, dead_letters = 0, filtered_out = 0, rows = 0,
           row_bytes = 0;
  std::array<StageReport, kStageCount> stages;
  Percentiles batch_latency;  // end to end, per batch
  OverheadReport overhead;
  std::optional<LoadReport> load;
};

struct MmdbBackendRate {
  std::string backend;
  double lookups_per_s = 0;
  uint64_t found = 0;
};
struct MmdbFamilyReport {
  std::string family;  // "ipv4" or "ipv6"
  std::string file;
  size_t addresses = 0;
  int rounds = 0;
  double libmaxminddb_per_s = 0;
  uint64_t libmaxminddb_found = 0;
  std::vector<MmdbBackendRate> backends;
};

struct MachineInfo {
  std::string cpu_model;
  unsigned logical_cpus = 0;
  uint64_t memory_bytes = 0;
  std::string gpu;  // empty when the cuda backend is not available
  std::vector<BackendInfo> backends;
};
MachineInfo machine_info();

struct DataReport {
  std::string events_source;  // "synthetic" or the file
  std::string addresses;      // how synthetic addresses were drawn
  uint64_t events = 0, payload_bytes = 0, batches = 0, dead_letters = 0;
  std::string geo_source;  // "synthetic" or the files
  size_t geo_v4_ranges = 0, geo_v6_ranges = 0, geo_records = 0;
  bool geo_v6_64bit = false;
  std::string categories_source;
  size_t category_keys = 0;
  double prepare_seconds = 0;
};

struct BenchReport {
  MachineInfo machine;
  HarnessOptions options;
  DataReport data;
  std::vector<RunReport> runs;
  std::vector<MmdbFamilyReport> mmdb;
  std::optional<ParallelLoadReport> parallel_load;  // with --load
};

// Prepares the data, runs every backend, then the baselines. A failure to start (bad file, backend not
// available, database unreachable) and a failure while running both come back as errors; `started`
// tells them apart.
Result<BenchReport> run_bench(const HarnessOptions& options, bool& started);

// A readable report, and one JSON document with stable keys (see BENCHMARKS.md).
std::string format_text(const BenchReport& report);
std::string format_json(const BenchReport& report);

}  // namespace enrichd::bench
