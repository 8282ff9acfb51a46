#include "bench/harness.h"

#include <arpa/inet.h>
#include <maxminddb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bench/bench_data.h"
#include "host/event_parser.h"
#include "host/geo_import.h"
#include "host/geo_mmdb.h"
#include "host/row_encoder.h"
#include "kernels/geo_lookup.h"
#include "pipeline/enrich_stage.h"
#include "pipeline/event_filter.h"
#include "pipeline/file_source.h"
#include "pipeline/load_job.h"
#include "pipeline/local_infile_stream.h"
#include "pipeline/memsql_sink.h"
#include "pipeline/mysql_connection.h"
#include "pipeline/parallel_sink.h"

namespace enrichd::bench {
namespace {

using Clock = std::chrono::steady_clock;

// What dead letters record as their topic, and what the sink keys its (unused) offsets on.
const std::string kTopic = "enrichd-bench";

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// CPU time of the calling thread: read twice per worker and pass, to tell how much of the wall time the
// worker actually ran (on a shared machine, the rest it waited for a core).
int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

double seconds(int64_t ns) {
  return static_cast<double>(ns) / 1e9;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The cost of one steady_clock read, from a million of them.
double clock_read_ns() {
  constexpr int kReads = 1 << 20;
  const int64_t t0 = now_ns();
  // steady_clock::now() lives in libstdc++ (a call the compiler cannot drop).
  for (int i = 0; i < kReads; ++i) (void)now_ns();
  const int64_t t1 = now_ns();
  return static_cast<double>(t1 - t0) / kReads;
}

// ---------------------------------------------------------------------------------------------------------
// Data

struct Data {
  std::vector<RawBatch> batches;
  std::vector<std::vector<PartitionStart>> starts;  // per batch, as the source gave them
  GeoTable geo;
  CategoryTable categories;
  std::vector<IpAddress> ips;  // every parsed event's address, for the libmaxminddb baseline
  EventFilter filter;          // o.filter over the engagement schema the bench parses with
  DataReport report;
};

Status load_event_file(const HarnessOptions& o, Data& d) {
  auto source = FileSource::open(o.events_file);
  if (!source) return source.status().with_context("--events");
  const std::atomic<bool> stop{false};
  while (!(*source)->end_of_input()) {
    RawBatch batch;
    std::vector<PartitionStart> starts;
    if (Status s = (*source)->next_batch(batch, starts, o.batch, std::chrono::milliseconds(0), stop); !s) {
      return s.with_context("--events");
    }
    if (batch.empty()) continue;
    d.batches.push_back(std::move(batch));
    d.starts.push_back(std::move(starts));
  }
  if (d.batches.empty()) return Status::errorf("--events: '{}' holds no events", o.events_file);
  d.report.events_source = o.events_file;
  d.report.addresses = "as in the file";
  return Status::ok();
}

void generate_events(const HarnessOptions& o, Data& d, const CategoryKeys& pins) {
  // Real reference data: addresses from its ranges and pins from its keys, so that lookups mostly hit as
  // real traffic does. Synthetic tables are uniform already.
  std::vector<IpAddress> v4, v6;
  if (!o.geo.empty()) {
    v4 = addresses_in_ranges(d.geo, false, size_t{1} << 20, o.seed + 101);
    v6 = addresses_in_ranges(d.geo, true, size_t{1} << 20, o.seed + 102);
    d.report.addresses = "drawn from the geo table's ranges (a range uniformly, then an address in it)";
  } else {
    d.report.addresses = "uniform (IPv4 over the whole space, IPv6 over 2000::/3)";
  }
  std::vector<uint64_t> keys;
  if (!o.category_csv.empty()) keys = table_keys(d.categories);
  for (size_t first = 0, b = 0; first < o.events; first += o.batch, ++b) {
    EventSpec spec;
    spec.count = std::min(o.batch, o.events - first);
    spec.first = first;
    spec.v6_fraction = o.v6_fraction;
    spec.pins = pins;
    spec.pin_universe = std::max<size_t>(1, d.categories.size());
    spec.seed = o.seed * 1000003 + b;
    spec.v4_addrs = v4;
    spec.v6_addrs = v6;
    spec.pin_keys = keys;
    spec.pin_table = keys.empty() ? nullptr : &d.categories;
    d.batches.push_back(make_events(spec));
    d.starts.emplace_back();  // a replay: no stored offsets
  }
  d.report.events_source = "synthetic";
}

Status prepare(const HarnessOptions& o, Data& d) {
  // Codes need the column's dictionary, which the default schema has not (and ENUM members the same).
  if (o.sink.action_store.store != EnumStore::kText || o.sink.app_store.store != EnumStore::kText) {
    return Status::error(
        "sink: the bench parses with the default engagement schema (no enum dictionaries), so it loads "
        "action and app as text");
  }
  auto filter = EventFilter::create(o.filter, default_event_schema());
  if (!filter) {
    return filter.status().with_context(
        "filter (the bench parses with the default engagement schema; use --no-filter or --include-action)");
  }
  d.filter = std::move(filter).value();
  const int64_t t0 = now_ns();
  if (!o.geo.empty()) {
    auto geo = load_geo(o.geo);
    if (!geo) return geo.status().with_context("--geo");
    d.geo = std::move(geo).value();
    d.report.geo_source = fmt::format("{}", fmt::join(o.geo, " "));
  } else {
    d.geo = make_geo_table({.v4_ranges = o.geo_v4_ranges,
                            .v6_ranges = o.geo_v6_ranges,
                            .records = o.geo_records,
                            .seed = o.seed + 1});
    d.report.geo_source = "synthetic";
  }
  d.report.geo_v4_ranges = d.geo.v4_range_count();
  d.report.geo_v6_ranges = d.geo.v6_range_count();
  d.report.geo_records = d.geo.record_count();
  d.report.geo_v6_64bit = d.geo.v6_is_64bit();

  const CategoryKeys pins{.seed = o.seed + 2};
  if (!o.category_csv.empty()) {
    auto categories = CategoryTable::load_csv(o.category_csv, o.category_names_csv);
    if (!categories) return categories.status().with_context("--category-csv");
    d.categories = std::move(categories).value();
    d.report.categories_source = o.category_csv;
  } else {
    d.categories = make_category_table(pins, o.category_keys, std::max<uint32_t>(1, o.category_count), true);
    d.report.categories_source = "synthetic";
  }
  d.report.category_keys = d.categories.size();

  if (!o.events_file.empty()) {
    if (Status s = load_event_file(o, d); !s) return s;
  } else {
    if (o.events == 0) return Status::error("--events: at least one event is needed");
    generate_events(o, d, pins);
  }

  // Parse everything once: the counts to check every pass against, and the addresses for the baseline.
  EventParser parser(ParserOptions{o.max_message_bytes});
  EventBatch events;
  std::vector<DeadLetter> dead;
  for (const RawBatch& raw : d.batches) {
    d.report.events += raw.size();
    d.report.payload_bytes += raw.payload_bytes();
    events.clear();
    dead.clear();
    parser.parse(raw, events, dead);
    d.report.dead_letters += dead.size();
    if (!o.mmdb.empty()) d.ips.insert(d.ips.end(), events.ip.begin(), events.ip.end());
  }
  d.report.batches = d.batches.size();
  d.report.prepare_seconds = seconds(now_ns() - t0);
  return Status::ok();
}

// ---------------------------------------------------------------------------------------------------------
// Load: the sink, and the raw LOAD DATA baseline beside it

struct LoadContext {
  std::unique_ptr<MemsqlSink> sink;
  std::unique_ptr<MysqlConnection> raw;
  std::string raw_table;
  std::string columns;
  uint64_t stream_seq = 0;
};

Result<std::unique_ptr<LoadContext>> open_load(const HarnessOptions& o) {
  auto lc = std::make_unique<LoadContext>();
  auto sink = MemsqlSink::open(o.sink, "enrichd-bench", kTopic, /*fenced=*/false);
  if (!sink) return sink.status();
  lc->sink = std::move(sink).value();
  auto raw = MysqlConnection::connect(lc->sink->dsn());
  if (!raw) return raw.status().with_context("raw LOAD DATA connection");
  lc->raw = std::move(raw).value();
  lc->raw_table = o.sink.table + "_raw";
  if (Status s = lc->raw->execute(create_table_sql(lc->raw_table, o.sink)); !s) return s;
  for (const OutputColumn& c : kOutputColumns) {
    lc->columns += fmt::format("{}`{}`", lc->columns.empty() ? "" : ", ", c.name);
  }
  return lc;
}

// The rows of `job` with one plain LOAD DATA LOCAL INFILE (autocommit: no transaction around it), the
// statement the sink sends, into the raw table.
Status raw_load(LoadContext& lc, const LoadJob& job) {
  std::vector<std::string_view> chunks;
  for (const PartitionSegment& seg : job.segments) {
    if (seg.row_count > 0) chunks.push_back(seg.rows);
  }
  const size_t rows = job.row_count();
  if (rows == 0) return Status::ok();
  MYSQL* m = lc.raw->handle();
  LocalInfileStream stream(m, fmt::format("enrichd-bench-raw-{}", ++lc.stream_seq), std::move(chunks));
  const std::string sql = fmt::format(
      "LOAD DATA LOCAL INFILE '{}' INTO TABLE {} CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' "
      "ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({})",
      stream.name(), quote_identifier(lc.raw_table), lc.columns);
  if (mysql_real_query(m, sql.data(), sql.size()) != 0) {
    return Status::errorf("raw LOAD DATA into '{}': MySQL error {}: {}", lc.raw_table, mysql_errno(m),
                          mysql_error(m));
  }
  if (const auto loaded = mysql_affected_rows(m); loaded != rows) {
    return Status::errorf("raw LOAD DATA into '{}' stored {} of {} rows", lc.raw_table, loaded, rows);
  }
  return Status::ok();
}

// Parallel load (ParallelLoadReport): encode once with `backend`, then take turns, round by round.
Result<ParallelLoadReport> parallel_load(const HarnessOptions& o, const Data& d, EnrichBackend& backend,
                                         const LoadContext& passes) {
  // Tables of its own, so that the passes' tables hold each row once.
  SinkConfig sink_config = o.sink;
  sink_config.table = o.sink.table + "_parallel";
  sink_config.dead_letter_table = sink_config.table + "_dead_letters";
  LoadContext lc;
  lc.columns = passes.columns;
  lc.raw_table = sink_config.table + "_raw";
  auto raw = MysqlConnection::connect(passes.sink->dsn());
  if (!raw) return raw.status().with_context("raw LOAD DATA connection");
  lc.raw = std::move(raw).value();
  if (Status s = lc.raw->execute(create_table_sql(lc.raw_table, o.sink)); !s) return s;

  ParallelLoadReport rep;
  rep.table = sink_config.table;
  rep.raw_table = lc.raw_table;
  rep.connections = static_cast<int>(o.sink.connections);
  rep.rounds = std::max(1, o.repeat);
  EventParser parser(ParserOptions{o.max_message_bytes});
  const EventFilter& filter = d.filter;
  EnrichStage enrich(backend, d.geo, d.categories);
  EventBatch events;
  std::vector<DeadLetter> dead;
  std::vector<LoadJob> jobs;
  for (size_t b = 0; b < d.batches.size() && rep.bytes < kParallelLoadBytes; ++b) {
    events.clear();
    dead.clear();
    parser.parse(d.batches[b], events, dead);
    filter.apply(events);
    if (Status s = enrich.apply(events); !s) return s.with_context("enrich");
    jobs.push_back(make_load_job(d.batches[b], d.starts[b], events, dead, d.geo, d.categories, kTopic, {},
                                 o.sink.row_layout()));
    rep.rows += jobs.back().row_count();
    for (const PartitionSegment& seg : jobs.back().segments)
      rep.bytes += seg.rows.size() + seg.dead_letters.size();
  }
  rep.batches = jobs.size();
  for (int round = 0; round < rep.rounds; ++round) {
    int64_t t0 = now_ns();
    for (const LoadJob& job : jobs) {
      if (Status s = raw_load(lc, job); !s) return s;
    }
    rep.raw_seconds += seconds(now_ns() - t0);

    // Connecting and copying the jobs (submit takes them) stay out of the time.
    auto sink = ParallelSink::open(sink_config, "enrichd-bench", kTopic, /*fenced=*/false,
                                   ParallelSink::Spread::kRoundRobin);
    if (!sink) return sink.status();
    std::vector<LoadJob> copies = jobs;
    t0 = now_ns();
    (*sink)->start(4, nullptr, nullptr);
    for (LoadJob& job : copies) {
      if (!(*sink)->submit(std::move(job))) break;
    }
    if (Status s = (*sink)->finish(); !s) return s.with_context("sink");
    rep.sink_seconds += seconds(now_ns() - t0);
  }
  return rep;
}

// ---------------------------------------------------------------------------------------------------------
// Passes

using Sample = std::array<int64_t, kStageCount + 1>;  // stage times, then end to end (ns)

struct WorkerResult {
  std::array<int64_t, kStageCount> stage_ns{};
  std::array<uint64_t, kStageCount> items{}, bytes{};
  uint64_t batches = 0, messages = 0, json_bytes = 0, parsed = 0, dead = 0, filtered = 0, rows = 0,
           row_bytes = 0;
  int64_t loop_ns = 0, excluded_ns = 0, cpu_ns = 0;
  uint64_t clock_reads = 0;
  std::vector<Sample> samples;
  uint64_t loaded_rows = 0, loaded_dead = 0, raw_rows = 0;
  int64_t raw_ns = 0;
  Status failure;
};

struct Progress {
  bool enabled = false;
  std::string label;  // "avx2 pass 2/3"
  int64_t pass_start_ns = 0;
  int64_t last_ns = 0;
  size_t total_batches = 0;
  size_t batch_events = 0;
};

struct PassContext {
  const HarnessOptions& o;
  const Data& d;
  EnrichBackend& backend;
  LoadContext* load;  // null: the null sink
  Progress& progress;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
};

void show_progress(Progress& p, size_t claimed, int64_t now) {
  if (now - p.last_ns < 250'000'000) return;
  p.last_ns = now;
  const size_t done = std::min(claimed, p.total_batches);
  const double elapsed = seconds(now - p.pass_start_ns);
  const double rate = elapsed > 0 ? static_cast<double>(done * p.batch_events) / elapsed : 0;
  std::fprintf(stderr, "\r\033[Kenrichd bench: %s: %zu/%zu batches, %.2f M events/s", p.label.c_str(), done,
               p.total_batches, rate / 1e6);
  std::fflush(stderr);
}

// One worker's share of a pass. With kTimed, every stage of every batch is timed (6 clock reads per
// batch); without, nothing is recorded but failures (the timers-off comparison).
template <bool kTimed>
void work(PassContext& ctx, WorkerResult& r, bool report_progress) {
  const Data& d = ctx.d;
  EventParser parser(ParserOptions{ctx.o.max_message_bytes});
  const EventFilter& filter = d.filter;
  EnrichStage enrich(ctx.backend, d.geo, d.categories);
  EventBatch events;
  std::vector<DeadLetter> dead;
  std::vector<int32_t> fenced_out;
  const int64_t cpu_start = thread_cpu_ns();
  const int64_t loop_start = now_ns();
  for (;;) {
    const size_t b = ctx.next.fetch_add(1, std::memory_order_relaxed);
    if (b >= d.batches.size() || ctx.failed.load(std::memory_order_relaxed)) break;
    const RawBatch& raw = d.batches[b];
    Sample t{};
    if constexpr (kTimed) t[0] = now_ns();

    events.clear();
    dead.clear();
    parser.parse(raw, events, dead);
    if constexpr (kTimed) t[1] = now_ns();

    const size_t removed = filter.apply(events);
    if constexpr (kTimed) t[2] = now_ns();

    if (Status s = enrich.apply(events); !s) {
      r.failure = s.with_context("enrich");
      ctx.failed = true;
      break;
    }
    if constexpr (kTimed) t[3] = now_ns();

    LoadJob job = make_load_job(raw, d.starts[b], events, dead, d.geo, d.categories, kTopic, {},
                                ctx.o.sink.row_layout());
    if constexpr (kTimed) t[4] = now_ns();

    // The sink: the null one counts the encoded bytes and drops them; the real one loads and commits.
    uint64_t out_bytes = 0;
    for (const PartitionSegment& seg : job.segments) out_bytes += seg.rows.size() + seg.dead_letters.size();
    const uint64_t rows = job.row_count();
    const uint64_t dead_rows = job.dead_letter_count();
    if (ctx.load != nullptr) {
      if (Status s = ctx.load->sink->load(job, fenced_out); !s) {
        r.failure = s.with_context("sink");
        ctx.failed = true;
        break;
      }
    } else {
      job = LoadJob{};
    }
    if constexpr (kTimed) {
      t[5] = now_ns();
      // The raw baseline on the same rows, between batches: timed on its own, and kept out of both the
      // stage times and the harness's overhead.
      if (ctx.load != nullptr) {
        if (Status s = raw_load(*ctx.load, job); !s) {
          r.failure = s;
          ctx.failed = true;
          break;
        }
        const int64_t t6 = now_ns();
        r.raw_ns += t6 - t[5];
        r.excluded_ns += t6 - t[5];
        r.raw_rows += rows;
        r.clock_reads += 1;
      }
      Sample sample{};
      for (size_t i = 0; i < kStageCount; ++i) {
        sample[i] = t[i + 1] - t[i];
        r.stage_ns[i] += sample[i];
      }
      sample[kStageCount] = t[kStageCount] - t[0];
      r.samples.push_back(sample);
      r.clock_reads += kStageCount + 1;
      r.items[0] += raw.size();
      r.items[1] += events.size();
      r.items[2] += events.size() - removed;
      r.items[3] += events.size() - removed;
      r.items[4] += rows + dead_rows;
      for (size_t i = 0; i < 3; ++i) r.bytes[i] += raw.payload_bytes();
      r.bytes[3] += out_bytes;
      r.bytes[4] += out_bytes;
      ++r.batches;
      r.messages += raw.size();
      r.json_bytes += raw.payload_bytes();
      r.parsed += events.size();
      r.dead += dead.size();
      r.filtered += removed;
      r.rows += rows;
      r.row_bytes += out_bytes;
      if (ctx.load != nullptr) {
        r.loaded_rows += rows;
        r.loaded_dead += dead_rows;
      }
      if (report_progress) show_progress(ctx.progress, b + 1, t[5]);
    }
  }
  r.loop_ns = now_ns() - loop_start;
  r.cpu_ns = thread_cpu_ns() - cpu_start;
}

struct Run {
  std::string requested;
  std::unique_ptr<EnrichBackend> backend;
  RunReport report;
  std::vector<Sample> samples;
  std::vector<double> off_pass_seconds;
  double pass_seconds_total = 0;
};

// Parse, filter and enrich of the first batch, untimed: the backend builds its search structures (avx2
// trees, device copies) here rather than in the first timed batch.
Status warm_up(const HarnessOptions& o, const Data& d, EnrichBackend& backend) {
  EventParser parser(ParserOptions{o.max_message_bytes});
  EventBatch events;
  std::vector<DeadLetter> dead;
  parser.parse(d.batches.front(), events, dead);
  EnrichStage enrich(backend, d.geo, d.categories);
  return enrich.apply(events).with_context("enrich (warm-up)");
}

Status run_pass(const HarnessOptions& o, const Data& d, Run& run, LoadContext* load, bool timed,
                Progress& progress) {
  PassContext ctx{o, d, *run.backend, timed ? load : nullptr, progress};
  const auto threads = static_cast<size_t>(std::max(1, o.threads));
  std::vector<WorkerResult> results(threads);
  for (auto& r : results) r.samples.reserve(d.batches.size() / threads + 1);
  progress.pass_start_ns = progress.last_ns = now_ns();
  const int64_t t0 = now_ns();
  {
    std::vector<std::jthread> helpers;
    for (size_t i = 1; i < threads; ++i) {
      helpers.emplace_back([&, i] {
        if (timed) {
          work<true>(ctx, results[i], false);
        } else {
          work<false>(ctx, results[i], false);
        }
      });
    }
    if (timed) {
      work<true>(ctx, results[0], progress.enabled);
    } else {
      work<false>(ctx, results[0], false);
    }
  }
  // The raw LOAD DATA baseline runs between batches: not part of the pipeline's time.
  double wall = seconds(now_ns() - t0);
  for (const WorkerResult& r : results) {
    if (!r.failure) return r.failure;
    wall -= seconds(r.excluded_ns) / static_cast<double>(threads);
  }
  if (!timed) {
    run.off_pass_seconds.push_back(wall);
    return Status::ok();
  }
  RunReport& rep = run.report;
  ++rep.passes;
  rep.pass_seconds.push_back(wall);
  rep.wall_seconds += wall;
  run.pass_seconds_total += wall;
  for (WorkerResult& r : results) {
    for (size_t i = 0; i < kStageCount; ++i) {
      rep.stages[i].seconds += seconds(r.stage_ns[i]);
      rep.stages[i].items += r.items[i];
      rep.stages[i].bytes += r.bytes[i];
    }
    rep.batches += r.batches;
    rep.messages += r.messages;
    rep.json_bytes += r.json_bytes;
    rep.events_parsed += r.parsed;
    rep.dead_letters += r.dead;
    rep.filtered_out += r.filtered;
    rep.rows += r.rows;
    rep.row_bytes += r.row_bytes;
    rep.overhead.worker_seconds += seconds(r.loop_ns);
    rep.cpu_seconds += seconds(r.cpu_ns);
    rep.overhead.excluded_seconds += seconds(r.excluded_ns);
    rep.overhead.clock_reads += r.clock_reads;
    for (int64_t ns : r.stage_ns) rep.overhead.stage_seconds += seconds(ns);
    run.samples.insert(run.samples.end(), r.samples.begin(), r.samples.end());
    if (load != nullptr) {
      LoadReport& lr = *rep.load;
      lr.rows += r.loaded_rows;
      lr.dead_letters += r.loaded_dead;
      lr.raw_rows += r.raw_rows;
      lr.raw_seconds += seconds(r.raw_ns);
    }
  }
  if (load != nullptr) {
    rep.load->sink_seconds = rep.stages[4].seconds;
    rep.load->bytes = rep.stages[4].bytes;
  }
  return Status::ok();
}

void finish_run(Run& run, double clock_ns) {
  RunReport& rep = run.report;
  for (size_t i = 0; i <= kStageCount; ++i) {
    std::vector<int64_t> ns;
    ns.reserve(run.samples.size());
    for (const Sample& s : run.samples) ns.push_back(s[i]);
    (i < kStageCount ? rep.stages[i].latency : rep.batch_latency) = percentiles(std::move(ns));
  }
  rep.overhead.clock_read_ns = clock_ns;
  if (!run.off_pass_seconds.empty()) {
    rep.overhead.timers_off_passes = static_cast<int>(run.off_pass_seconds.size());
    rep.overhead.median_pass_on_s = median(rep.pass_seconds);
    rep.overhead.median_pass_off_s = median(run.off_pass_seconds);
  }
}

// ---------------------------------------------------------------------------------------------------------
// libmaxminddb beside the backends: the same file, the same addresses (the events' own)

struct MmdbFile {
  std::string path;
  MMDB_s db{};
  bool open = false;
  ~MmdbFile() {
    if (open) MMDB_close(&db);
  }
};

Result<std::vector<MmdbFamilyReport>> mmdb_baseline(const HarnessOptions& o, const Data& d,
                                                    std::vector<Run>& runs) {
  std::vector<std::unique_ptr<MmdbFile>> files;
  for (const std::string& path : o.mmdb) {
    auto f = std::make_unique<MmdbFile>();
    f->path = path;
    if (const int rc = MMDB_open(path.c_str(), MMDB_MODE_MMAP, &f->db); rc != MMDB_SUCCESS) {
      return Status::errorf("--mmdb: cannot open '{}': {}", path, MMDB_strerror(rc));
    }
    f->open = true;
    files.push_back(std::move(f));
  }
  std::vector<MmdbFamilyReport> out;
  for (const bool v6 : {false, true}) {
    // IPv4 from a file of IPv4 data when there is one (an IPv6 file may hold no IPv4 subtree at all).
    MmdbFile* file = nullptr;
    for (auto& f : files) {
      if (f->db.metadata.ip_version == (v6 ? 6 : 4)) {
        file = f.get();
        break;
      }
    }
    if (file == nullptr && !v6) {
      for (auto& f : files) {
        if (f->db.metadata.ip_version == 6) {
          file = f.get();
          break;
        }
      }
    }
    if (file == nullptr) continue;
    std::vector<IpAddress> ips;
    for (const IpAddress& ip : d.ips) {
      if (ip.is_v6 == v6 && ips.size() < o.mmdb_addresses) ips.push_back(ip);
    }
    if (ips.empty()) continue;
    std::vector<sockaddr_storage> addrs;
    addrs.reserve(ips.size());
    for (const IpAddress& ip : ips) addrs.push_back(to_sockaddr(ip));

    MmdbFamilyReport rep;
    rep.family = v6 ? "ipv6" : "ipv4";
    rep.file = file->path;
    rep.addresses = ips.size();
    rep.rounds = std::max(1, o.mmdb_rounds);
    std::vector<double> lib_s;
    std::vector<std::vector<double>> backend_s(runs.size());
    rep.backends.resize(runs.size());
    GeoLookup lookup;
    for (int round = 0; round < rep.rounds; ++round) {
      uint64_t found = 0;
      int64_t t0 = now_ns();
      for (const sockaddr_storage& a : addrs) {
        int error = 0;
        const MMDB_lookup_result_s r =
            MMDB_lookup_sockaddr(&file->db, reinterpret_cast<const sockaddr*>(&a), &error);
        found += r.found_entry && error == MMDB_SUCCESS ? 1 : 0;
      }
      lib_s.push_back(seconds(now_ns() - t0));
      rep.libmaxminddb_found = found;
      for (size_t k = 0; k < runs.size(); ++k) {
        // The enrich stage's own path: alias check and split by family, then the backend, per batch.
        found = 0;
        t0 = now_ns();
        for (size_t first = 0; first < ips.size(); first += o.batch) {
          lookup.clear();
          const size_t end = std::min(ips.size(), first + o.batch);
          for (size_t i = first; i < end; ++i) lookup.add(d.geo, static_cast<uint32_t>(i), ips[i]);
          if (Status s = lookup.run(*runs[k].backend, d.geo); !s) return s.with_context("geo lookup");
          lookup.for_each_result([&found](uint32_t, uint32_t rec) { found += rec != kNoRecord ? 1 : 0; });
        }
        backend_s[k].push_back(seconds(now_ns() - t0));
        rep.backends[k].backend = runs[k].report.backend;
        rep.backends[k].found = found;
      }
    }
    const auto n = static_cast<double>(ips.size());
    rep.libmaxminddb_per_s = n / median(lib_s);
    for (size_t k = 0; k < runs.size(); ++k) rep.backends[k].lookups_per_s = n / median(backend_s[k]);
    out.push_back(std::move(rep));
  }
  return out;
}

// Everything after the first line of `text` matching `key\s*:` up to the end of that line.
std::string proc_value(const std::string& text, std::string_view key) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t eol = std::min(text.find('\n', pos), text.size());
    const std::string_view line(text.data() + pos, eol - pos);
    if (line.starts_with(key)) {
      const size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string_view v = line.substr(colon + 1);
        while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
        return std::string(v);
      }
    }
    pos = eol + 1;
  }
  return "";
}

std::string slurp(const char* path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

Percentiles percentiles(std::vector<int64_t> ns) {
  Percentiles p;
  if (ns.empty()) return p;
  std::sort(ns.begin(), ns.end());
  const auto at = [&](double q) {
    const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(ns.size())));
    return seconds(ns[std::clamp<size_t>(rank, 1, ns.size()) - 1]);
  };
  p.p50 = at(0.5);
  p.p90 = at(0.9);
  p.p99 = at(0.99);
  p.max = seconds(ns.back());
  return p;
}

double OverheadReport::seconds() const {
  return std::max(0.0, worker_seconds - stage_seconds - excluded_seconds) +
         static_cast<double>(clock_reads) * clock_read_ns / 1e9;
}

double OverheadReport::fraction() const {
  const double measured = worker_seconds - excluded_seconds;
  return measured > 0 ? seconds() / measured : 0;
}

MachineInfo machine_info() {
  MachineInfo m;
  const std::string cpuinfo = slurp("/proc/cpuinfo");
  m.cpu_model = proc_value(cpuinfo, "model name");
  if (m.cpu_model.empty()) m.cpu_model = proc_value(cpuinfo, "Processor");  // some ARM kernels
  size_t processors = 0;
  for (size_t pos = 0; (pos = cpuinfo.find("processor", pos)) != std::string::npos; pos += 9) {
    if (pos == 0 || cpuinfo[pos - 1] == '\n') ++processors;
  }
  m.logical_cpus = processors > 0 ? static_cast<unsigned>(processors) : std::thread::hardware_concurrency();
  const std::string total = proc_value(slurp("/proc/meminfo"), "MemTotal");  // "24576000 kB"
  m.memory_bytes = std::strtoull(total.c_str(), nullptr, 10) * 1024;
  m.backends = list_backends();
  for (const BackendInfo& b : m.backends) {
    if (b.name == "cuda" && b.available) m.gpu = b.detail;
  }
  return m;
}

Result<BenchReport> run_bench(const HarnessOptions& o, bool& started) {
  started = false;
  if (o.batch == 0) return Status::error("--batch must be at least 1");
  if (o.threads < 1) return Status::error("--threads must be at least 1");
  if (o.load && o.threads != 1) {
    return Status::error("--load runs with one worker thread (one sink connection); drop --threads");
  }
  if (o.backends.empty()) return Status::error("--backend: name at least one backend");
  BenchReport report;
  report.options = o;
  report.machine = machine_info();

  // Backends first: a typo should not wait for the data.
  std::vector<Run> runs;
  for (const std::string& name : o.backends) {
    auto backend = make_backend(name);
    if (!backend) return backend.status().with_context("--backend");
    Run run;
    run.requested = name;
    run.report.requested = name;
    run.report.backend = std::string((*backend)->name());
    run.backend = std::move(backend).value();
    runs.push_back(std::move(run));
  }

  Data d;
  if (Status s = prepare(o, d); !s) return s;
  report.data = d.report;

  std::unique_ptr<LoadContext> load;
  if (o.load) {
    auto opened = open_load(o);
    if (!opened) return opened.status();
    load = std::move(opened).value();
    for (Run& run : runs) {
      run.report.load.emplace();
      run.report.load->table = o.sink.table;
      run.report.load->raw_table = load->raw_table;
    }
  }
  started = true;

  const double clock_ns = clock_read_ns();
  for (Run& run : runs) {
    if (Status s = warm_up(o, d, *run.backend); !s) return s;
  }
  Progress progress;
  progress.enabled = o.progress;
  progress.total_batches = d.batches.size();
  progress.batch_events = o.batch;
  const auto done = [&](const Run& run) {
    if (o.duration_s > 0) return run.report.passes >= 1 && run.pass_seconds_total >= o.duration_s;
    return run.report.passes >= std::max(1, o.repeat);
  };
  const bool check = o.check_overhead && !o.load;
  for (bool more = true; more;) {
    more = false;
    for (Run& run : runs) {
      if (done(run)) continue;
      more = true;
      progress.label = o.duration_s > 0
                           ? fmt::format("{} pass {} ({:.0f}/{:.0f} s)", run.report.backend,
                                         run.report.passes + 1, run.pass_seconds_total, o.duration_s)
                           : fmt::format("{} pass {}/{}", run.report.backend, run.report.passes + 1,
                                         std::max(1, o.repeat));
      if (Status s = run_pass(o, d, run, load.get(), true, progress); !s) return s;
      if (check) {
        if (Status s = run_pass(o, d, run, nullptr, false, progress); !s) return s;
      }
    }
  }
  if (progress.enabled) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
  for (Run& run : runs) finish_run(run, clock_ns);
  if (load) {
    auto parallel = parallel_load(o, d, *runs.front().backend, *load);
    if (!parallel) return parallel.status().with_context("parallel load");
    report.parallel_load = *parallel;
  }

  if (!o.mmdb.empty()) {
    auto mmdb = mmdb_baseline(o, d, runs);
    if (!mmdb) return mmdb.status();
    report.mmdb = std::move(mmdb).value();
  }
  for (Run& run : runs) report.runs.push_back(std::move(run.report));
  return report;
}

}  // namespace enrichd::bench
