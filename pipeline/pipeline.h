// The pipeline, wired in one place: source -> [queue] -> parse, filter, enrich, encode -> [queue] -> sink,
// with offsets acknowledged to the source only after the sink has committed the rows that carry them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "host/category_table.h"
#include "host/dead_letter.h"
#include "host/geo_table.h"
#include "kernels/backend.h"
#include "pipeline/config.h"
#include "pipeline/event_filter.h"
#include "pipeline/join_table.h"
#include "pipeline/memsql_sink.h"
#include "pipeline/metrics_server.h"
#include "pipeline/parallel_sink.h"
#include "pipeline/probes.h"
#include "pipeline/source.h"

namespace enrichd {

// What the geo watcher compares: a file replaced (new inode), rewritten (mtime) or resized.
struct FileStamp {
  bool exists = false;
  int64_t mtime_ns = 0;
  int64_t size = 0;
  uint64_t inode = 0;
  friend bool operator==(const FileStamp&, const FileStamp&) = default;
};

// A batch as the source thread hands it on: messages plus where each partition's run of them starts.
struct SourceBatch {
  RawBatch raw;
  std::vector<PartitionStart> starts;
  uint64_t seq = 0;  // 0, 1, 2, ... in the order the source read them
};

struct RunLimits {
  uint64_t max_messages = 0;               // stop after this many messages (0: no limit)
  std::chrono::milliseconds idle_exit{0};  // stop after this long without a message (0: never)
};

// The probes of every stage (each written by one stage, read by anyone).
struct PipelineStats {
  SourceProbe source;
  ParseProbe parse;
  FilterProbe filter;
  EnrichProbe enrich;
  EncodeProbe encode;
  SinkProbe sink;
  ReloadProbe reload;
  // Steady-clock nanoseconds of the first message received and of the last commit: the throughput
  // figure is over this span (start-up and group joining excluded).
  std::atomic<int64_t> first_message_ns{0};
  std::atomic<int64_t> last_commit_ns{0};

  double active_seconds() const;
  uint64_t dead_letters_total() const { return parse.dead_letters_total(); }
  std::string summary() const;
};

// The geo table in use and where it came from. Published whole: a batch keeps its shared_ptr from enrich
// to encode, so one batch never mixes two tables, and an old table is freed when its last batch is done.
struct GeoState {
  std::shared_ptr<const GeoTable> table;
  int64_t loaded_unix = 0;  // wall-clock seconds
  std::string source;       // the configured file(s)
};

// The roles for `enrichd check` and the start-up log ("geo lookup reads ip; event time ts"), and the
// dropped fixed columns ("" when none).
std::string describe_roles(const SchemaConfig& schema);
std::string describe_dropped_columns(const EventSchema& schema);

// What `enrichd check` found: what the run would use, line by line, and every problem (naming its key).
struct CheckReport {
  std::vector<std::pair<std::string, std::string>> lines;  // (what, description)
  std::vector<std::string> errors;
  bool ok() const { return errors.empty(); }
};

class Pipeline {
 public:
  // Loads the reference data, picks the backend, connects the sink and opens the source, in that order;
  // any failure stops here with a message naming the config key.
  static Result<std::unique_ptr<Pipeline>> create(const Config& config);

  // The checks create() makes, changing nothing and consuming nothing: reference data loadable, backend
  // available, database reachable and existing tables compatible, broker reachable and topic present (or
  // the file readable), metrics address usable. Independent checks all run, so every problem is listed.
  static CheckReport check(const Config& config);

  // Runs until the source ends, a limit is reached, `stop` becomes true (then drains what is in flight),
  // or a stage fails. Returns the first failure. Meanwhile a watcher thread reloads the geo and join
  // tables when `reload_request` (SIGHUP) is set, and each one from files when its file(s) change; a
  // refresher thread reads each join table from a database again every refresh_interval_s.
  Status run(const RunLimits& limits, const std::atomic<bool>& stop,
             std::atomic<bool>* reload_request = nullptr);

  // Loads the configured geo file(s) again, off the hot path, and swaps the new table in for the next
  // batch. A file that fails to load is refused (logged, counted) and the current table keeps serving.
  Status reload_geo(std::string_view why);
  // The same for the category join's source (file(s) or database).
  Status reload_categories(std::string_view why);
  // The same for joins()[join].
  Status reload_join(size_t join, std::string_view why);

  const PipelineStats& stats() const { return stats_; }
  std::string_view backend_name() const { return backend_->name(); }
  const EnrichBackend& backend() const { return *backend_; }
  std::shared_ptr<const GeoState> geo() const;
  // The category join's table in use (joins()[0]).
  std::shared_ptr<const CategoryState> categories() const;
  const std::vector<std::unique_ptr<JoinTable>>& joins() const { return joins_; }
  std::vector<PartitionLag> consumer_lag() const { return source_->consumer_lag(); }
  // Reference data is loaded once the pipeline exists; healthy while the sink is reachable.
  HealthReport health() const;
  // Every probe in the Prometheus text format (pipeline_metrics.cpp). Safe from any thread.
  std::string metrics_text() const;

 private:
  Pipeline() = default;
  void publish_geo(GeoTable table);
  void prepare_backend(const GeoTableView& geo, const CategoryTableView& categories);
  // The refresher thread of run(): reads the database joins again when due or when `reload_requested`
  // (SIGHUP) is set, until `done`; `mu` guards both flags, `cv` is notified when one changes.
  void refresh_joins(std::mutex& mu, std::condition_variable& cv, const bool& done, bool& reload_requested);

  Config config_;
  EventFilter filter_;  // the rules of config_.filter, resolved against the schema; shared by the workers
  mutable std::mutex geo_mu_;
  std::shared_ptr<const GeoState> geo_;
  std::vector<FileStamp> geo_stamps_;                // of the geo file(s) as first loaded
  std::vector<std::unique_ptr<JoinTable>> joins_;    // [0]: the category join
  std::vector<std::vector<FileStamp>> join_stamps_;  // of each join's file(s) as first loaded
  std::unique_ptr<EnrichBackend> backend_;
  std::unique_ptr<ParallelSink> sink_;
  std::unique_ptr<Source> source_;
  PipelineStats stats_;
};

// Metrics that need no pipeline (build info), for /metrics before the pipeline exists.
std::string process_metrics_text();

}  // namespace enrichd
