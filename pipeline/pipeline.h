// The pipeline, wired in one place: source -> [queue] -> parse, filter, enrich, encode -> [queue] -> sink,
// with offsets acknowledged to the source only after the sink has committed the rows that carry them.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "host/category_table.h"
#include "host/dead_letter.h"
#include "host/geo_table.h"
#include "kernels/backend.h"
#include "pipeline/config.h"
#include "pipeline/memsql_sink.h"
#include "pipeline/source.h"

namespace enrichd {

// A batch as the source thread hands it on: messages plus where each partition's run of them starts.
struct SourceBatch {
  RawBatch raw;
  std::vector<PartitionStart> starts;
};

struct RunLimits {
  uint64_t max_messages = 0;               // stop after this many messages (0: no limit)
  std::chrono::milliseconds idle_exit{0};  // stop after this long without a message (0: never)
};

// Counters shared by the stages (written by one stage each, read by anyone).
struct PipelineStats {
  std::atomic<uint64_t> messages{0};
  std::atomic<uint64_t> payload_bytes{0};
  std::atomic<uint64_t> events_parsed{0};
  std::atomic<uint64_t> events_filtered{0};
  std::atomic<uint64_t> rows_loaded{0};
  std::atomic<uint64_t> batches_loaded{0};
  std::atomic<uint64_t> dead_letters_stored{0};
  std::atomic<uint64_t> fenced_out{0};  // partition segments dropped because another member loaded them
  std::array<std::atomic<uint64_t>, kDeadLetterReasonCount> dead_letters{};
  // Steady-clock nanoseconds of the first message received and of the last commit: the throughput
  // figure is over this span (start-up and group joining excluded).
  std::atomic<int64_t> first_message_ns{0};
  std::atomic<int64_t> last_commit_ns{0};

  double active_seconds() const;
  uint64_t dead_letters_total() const;
  std::string summary() const;
};

class Pipeline {
 public:
  // Loads the reference data, picks the backend, connects the sink and opens the source, in that order;
  // any failure stops here with a message naming the config key.
  static Result<std::unique_ptr<Pipeline>> create(const Config& config);

  // Runs until the source ends, a limit is reached, `stop` becomes true (then drains what is in flight),
  // or a stage fails. Returns the first failure.
  Status run(const RunLimits& limits, const std::atomic<bool>& stop);

  const PipelineStats& stats() const { return stats_; }
  std::string_view backend_name() const { return backend_->name(); }

 private:
  Pipeline() = default;
  Config config_;
  GeoTable geo_;
  CategoryTable categories_;
  std::unique_ptr<EnrichBackend> backend_;
  std::unique_ptr<MemsqlSink> sink_;
  std::unique_ptr<Source> source_;
  PipelineStats stats_;
};

}  // namespace enrichd
