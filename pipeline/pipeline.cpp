#include "pipeline/pipeline.h"

#include <spdlog/spdlog.h>

#include <mutex>
#include <optional>
#include <thread>

#include "host/event_parser.h"
#include "host/row_encoder.h"
#include "pipeline/bounded_queue.h"
#include "pipeline/enrich_stage.h"
#include "pipeline/event_filter.h"

namespace enrichd {
namespace {

using Clock = std::chrono::steady_clock;

// What the worker hands the sink: encoded rows plus the offsets they make safe to commit.
struct LoadJob {
  std::string rows;
  size_t row_count = 0;
  std::vector<PartitionOffset> next_offsets;
};

// Printable, bounded excerpt of a payload for the log.
std::string excerpt(std::string_view payload) {
  constexpr size_t kMax = 200;
  std::string out;
  for (char c : payload.substr(0, kMax)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out.push_back(c);
    }
  }
  if (payload.size() > kMax) out += fmt::format("... ({} bytes)", payload.size());
  return out;
}

// The first failure wins; every queue is aborted so all stages stop promptly.
class FailureLatch {
 public:
  void fail(Status s) {
    std::lock_guard lock(mu_);
    if (first_.is_ok()) first_ = std::move(s);
  }
  Status first() const {
    std::lock_guard lock(mu_);
    return first_;
  }

 private:
  mutable std::mutex mu_;
  Status first_;
};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

}  // namespace

double PipelineStats::active_seconds() const {
  const int64_t first = first_message_ns.load();
  const int64_t last = last_commit_ns.load();
  return first > 0 && last > first ? static_cast<double>(last - first) / 1e9 : 0;
}

uint64_t PipelineStats::dead_letters_total() const {
  uint64_t total = 0;
  for (const auto& d : dead_letters) total += d.load();
  return total;
}

std::string PipelineStats::summary() const {
  std::string dl;
  for (size_t r = 0; r < kDeadLetterReasonCount; ++r) {
    if (const uint64_t n = dead_letters[r].load()) {
      dl += fmt::format("{}{}={}", dl.empty() ? "" : ", ", to_string(static_cast<DeadLetterReason>(r)), n);
    }
  }
  const double active = active_seconds();
  const double rate = active > 0 ? static_cast<double>(messages.load()) / active : 0;
  return fmt::format(
      "{} messages ({:.1f} MB), {} events parsed, {} filtered, {} rows loaded in {} batches, {} dead "
      "letters{}; "
      "{:.3f} s active, {:.0f} messages/s",
      messages.load(), static_cast<double>(payload_bytes.load()) / 1e6, events_parsed.load(),
      events_filtered.load(), rows_loaded.load(), batches_loaded.load(), dead_letters_total(),
      dl.empty() ? "" : " (" + dl + ")", active, rate);
}

Result<std::unique_ptr<Pipeline>> Pipeline::create(const Config& config) {
  std::unique_ptr<Pipeline> p(new Pipeline());
  p->config_ = config;

  auto geo = GeoTable::load_csv(config.enrich.geo_csv);
  if (!geo) return geo.status().with_context("config key 'enrich.geo_csv'");
  p->geo_ = std::move(geo).value();
  spdlog::info("geo table: {} IPv4 ranges, {} IPv6 ranges, {} records from {}", p->geo_.v4_range_count(),
               p->geo_.v6_range_count(), p->geo_.record_count(), config.enrich.geo_csv);

  auto categories = CategoryTable::load_csv(config.enrich.category_csv, config.enrich.category_names_csv);
  if (!categories) return categories.status().with_context("config key 'enrich.category_csv'");
  p->categories_ = std::move(categories).value();
  spdlog::info("category table: {} keys from {}", p->categories_.size(), config.enrich.category_csv);

  auto backend = make_backend(config.enrich.backend);
  if (!backend) return backend.status().with_context("config key 'enrich.backend'");
  p->backend_ = std::move(backend).value();
  spdlog::info("backend: {}", p->backend_->name());

  auto sink = MemsqlSink::open(config.sink);
  if (!sink) return sink.status();
  p->sink_ = std::move(sink).value();

  auto source = make_source(config.source);
  if (!source) return source.status();
  p->source_ = std::move(source).value();
  return p;
}

Status Pipeline::run(const RunLimits& limits, const std::atomic<bool>& stop) {
  BoundedQueue<RawBatch> raw_queue(static_cast<size_t>(config_.batch.queue_depth));
  BoundedQueue<LoadJob> load_queue(static_cast<size_t>(config_.batch.queue_depth));
  FailureLatch failure;
  auto fail = [&](Status s) {
    failure.fail(std::move(s));
    raw_queue.abort();
    load_queue.abort();
  };
  std::atomic<bool> source_stop{false};

  std::thread source_thread([&] {
    const auto linger = std::chrono::milliseconds(config_.batch.linger_ms);
    auto last_message = Clock::now();
    uint64_t consumed = 0;
    while (!stop.load() && !source_stop.load()) {
      size_t want = static_cast<size_t>(config_.batch.max_events);
      if (limits.max_messages > 0) {
        if (consumed >= limits.max_messages) break;
        want = std::min<uint64_t>(want, limits.max_messages - consumed);
      }
      RawBatch batch;
      if (Status s = source_->next_batch(batch, want, linger, stop); !s) {
        fail(s);
        break;
      }
      if (batch.empty()) {
        if (source_->end_of_input()) break;
        if (limits.idle_exit.count() > 0 && Clock::now() - last_message >= limits.idle_exit) {
          spdlog::info("no message for {} ms: stopping", limits.idle_exit.count());
          break;
        }
        continue;
      }
      last_message = Clock::now();
      if (stats_.first_message_ns.load() == 0) stats_.first_message_ns = now_ns();
      consumed += batch.size();
      stats_.messages += batch.size();
      stats_.payload_bytes += batch.payload_bytes();
      if (!raw_queue.push(std::move(batch))) break;
    }
    raw_queue.close();
  });

  std::thread worker_thread([&] {
    EventParser parser(ParserOptions{static_cast<size_t>(config_.batch.max_message_bytes)});
    EventFilter filter(config_.filter);
    EnrichStage enrich(*backend_, geo_, categories_);
    EventBatch events;
    std::vector<DeadLetter> dead;
    while (auto raw = raw_queue.pop()) {
      events.clear();
      dead.clear();
      parser.parse(*raw, events, dead);
      stats_.events_parsed += events.size();
      for (const DeadLetter& d : dead) {
        // Dead-letter storage in the database is a later issue; until then each is logged in full detail.
        const uint64_t n = stats_.dead_letters[static_cast<size_t>(d.reason)]++;
        if (n < 100 || n % 1000 == 0) {
          spdlog::warn("dead letter: reason={} field={} partition={} offset={} payload='{}'",
                       to_string(d.reason), d.field.empty() ? "-" : d.field, d.position.partition,
                       d.position.offset, excerpt(d.payload));
        }
      }
      stats_.events_filtered += filter.apply(events);
      if (Status s = enrich.apply(events); !s) {
        fail(s.with_context("enrich"));
        break;
      }
      LoadJob job;
      encode_rows(events, geo_, categories_, job.rows);
      job.row_count = events.selected.size();
      job.next_offsets = raw->next_offsets();
      if (!load_queue.push(std::move(job))) break;
    }
    load_queue.close();
  });

  // The sink runs here: load, commit, then acknowledge the offsets (at-least-once).
  auto last_progress = Clock::now();
  while (auto job = load_queue.pop()) {
    if (job->row_count > 0) {
      if (Status s = sink_->load(job->rows, job->row_count); !s) {
        fail(s.with_context("sink"));
        break;
      }
    }
    stats_.rows_loaded += job->row_count;
    ++stats_.batches_loaded;
    stats_.last_commit_ns = now_ns();
    if (Status s = source_->acknowledge(job->next_offsets); !s) {
      // The rows are in the database; a failed commit only means they may be delivered again.
      spdlog::warn("{} (rows are loaded; they may be re-delivered)", s.message());
    }
    if (Clock::now() - last_progress >= std::chrono::seconds(5)) {
      spdlog::info("progress: {}", stats_.summary());
      last_progress = Clock::now();
    }
  }
  source_stop = true;
  source_thread.join();
  worker_thread.join();
  source_->close();
  return failure.first();
}

}  // namespace enrichd
