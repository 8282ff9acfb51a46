#include "pipeline/pipeline.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "host/event_parser.h"
#include "host/geo_import.h"
#include "pipeline/bounded_queue.h"
#include "pipeline/enrich_stage.h"
#include "pipeline/event_filter.h"
#include "pipeline/load_job.h"
#include "pipeline/offset_store.h"

namespace enrichd {
namespace {

using Clock = std::chrono::steady_clock;

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
      "{} messages ({:.1f} MB), {} events parsed, {} filtered, {} rows loaded in {} batches, "
      "{} dead letters{} ({} stored); {:.3f} s active, {:.0f} messages/s",
      messages.load(), static_cast<double>(payload_bytes.load()) / 1e6, events_parsed.load(),
      events_filtered.load(), rows_loaded.load(), batches_loaded.load(), dead_letters_total(),
      dl.empty() ? "" : " (" + dl + ")", dead_letters_stored.load(), active, rate);
}

Result<std::unique_ptr<Pipeline>> Pipeline::create(const Config& config) {
  std::unique_ptr<Pipeline> p(new Pipeline());
  p->config_ = config;

  auto geo = load_geo(config.enrich.geo);
  if (!geo) return geo.status().with_context("config key 'enrich.geo'");
  p->geo_ = std::move(geo).value();
  spdlog::info("geo table: {} IPv4 ranges, {} IPv6 ranges, {} records from {}", p->geo_.v4_range_count(),
               p->geo_.v6_range_count(), p->geo_.record_count(), fmt::join(config.enrich.geo, ", "));

  auto categories = CategoryTable::load_csv(config.enrich.category_csv, config.enrich.category_names_csv);
  if (!categories) return categories.status().with_context("config key 'enrich.category_csv'");
  p->categories_ = std::move(categories).value();
  spdlog::info("category table: {} keys from {}", p->categories_.size(), config.enrich.category_csv);

  auto backend = make_backend(config.enrich.backend);
  if (!backend) return backend.status().with_context("config key 'enrich.backend'");
  p->backend_ = std::move(backend).value();
  spdlog::info("backend: {}", p->backend_->name());

  // Offsets live in the database only for a Kafka source in exactly-once mode; a file replay has none.
  const bool kafka = config.source.kind == SourceKind::kKafka;
  const bool fenced = kafka && config.sink.delivery == Delivery::kExactlyOnce;
  auto sink = MemsqlSink::open(config.sink, config.source.group,
                               kafka ? config.source.topic : config.source.path, fenced);
  if (!sink) return sink.status();
  p->sink_ = std::move(sink).value();

  std::unique_ptr<OffsetStore> offsets;
  if (fenced) {
    auto store = OffsetStore::open(p->sink_->dsn(), config.sink.offsets_table, config.source.group,
                                   config.source.topic);
    if (!store) return store.status().with_context("config key 'sink.dsn'");
    offsets = std::move(store).value();
  }
  auto source = make_source(config.source, std::move(offsets));
  if (!source) return source.status();
  p->source_ = std::move(source).value();
  spdlog::info("delivery: {}", fenced ? "exactly-once (offsets stored with the rows in the database)"
                                      : "at-least-once (Kafka offsets committed after the database commit)");
  return p;
}

Status Pipeline::run(const RunLimits& limits, const std::atomic<bool>& stop) {
  BoundedQueue<SourceBatch> raw_queue(static_cast<size_t>(config_.batch.queue_depth));
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
      SourceBatch item;
      RawBatch& batch = item.raw;
      if (Status s = source_->next_batch(batch, item.starts, want, linger, stop); !s) {
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
      if (!raw_queue.push(std::move(item))) break;
    }
    raw_queue.close();
  });

  std::thread worker_thread([&] {
    EventParser parser(
        ParserOptions{.max_message_bytes = static_cast<size_t>(config_.batch.max_message_bytes),
                      .ts_unit = config_.schema.ts_unit});
    EventFilter filter(config_.filter);
    EnrichStage enrich(*backend_, geo_, categories_);
    EventBatch events;
    std::vector<DeadLetter> dead;
    while (auto item = raw_queue.pop()) {
      const RawBatch& raw = item->raw;
      events.clear();
      dead.clear();
      parser.parse(raw, events, dead);
      stats_.events_parsed += events.size();
      for (const DeadLetter& d : dead) {
        const uint64_t n = stats_.dead_letters[static_cast<size_t>(d.reason)]++;
        if (n < 20 || n % 1000 == 0) {
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
      if (!load_queue.push(
              make_load_job(raw, item->starts, events, dead, geo_, categories_, source_->topic()))) {
        break;
      }
    }
    load_queue.close();
  });

  // The sink runs here: load and commit (with the fenced offsets in exactly-once mode), then commit the
  // offsets to Kafka too (for lag monitoring, and what at-least-once relies on).
  std::map<int32_t, uint64_t> stale_through_epoch;  // work of these epochs was fenced out: drop it
  std::vector<int32_t> fenced_out;
  uint64_t commit_failures = 0;
  auto last_progress = Clock::now();
  while (auto job = load_queue.pop()) {
    std::erase_if(job->segments, [&](const PartitionSegment& seg) {
      auto it = stale_through_epoch.find(seg.partition);
      return it != stale_through_epoch.end() && seg.epoch <= it->second;
    });
    std::map<int32_t, uint64_t> epochs;
    for (const auto& seg : job->segments) epochs[seg.partition] = seg.epoch;
    if (Status s = sink_->load(*job, fenced_out); !s) {
      fail(s.with_context("sink"));
      break;
    }
    for (int32_t partition : fenced_out) {
      // Another member loaded this range: this one's work on the partition up to now is void.
      stale_through_epoch[partition] = epochs[partition];
      source_->request_reseek(partition);
      ++stats_.fenced_out;
    }
    std::vector<PartitionOffset> next_offsets;
    for (const auto& seg : job->segments) next_offsets.push_back({seg.partition, seg.next_offset});
    stats_.rows_loaded += job->row_count();
    stats_.dead_letters_stored += job->dead_letter_count();
    ++stats_.batches_loaded;
    stats_.last_commit_ns = now_ns();
    if (Status s = source_->acknowledge(next_offsets); !s) {
      // The rows are in the database; a failed Kafka commit (routine during a rebalance) only means
      // re-delivery under at-least-once and a stale lag figure under exactly-once. Logged sparingly.
      if (commit_failures++ % 100 == 0) {
        spdlog::warn("{} (rows are loaded; {} Kafka commits failed so far)", s.message(), commit_failures);
      }
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
