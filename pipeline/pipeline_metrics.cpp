// The /metrics page: every probe of the pipeline in the Prometheus text format. Names follow Prometheus
// conventions: enrichd_ prefix, _total for counters, base units (seconds, bytes), _info gauges for labels.
#include <spdlog/spdlog.h>

#include <chrono>
#include <limits>

#include "kernels/routing_backend.h"
#include "pipeline/pipeline.h"
#include "pipeline/prometheus.h"

namespace enrichd {
namespace {

void counter(PrometheusText& t, std::string_view name, std::string_view help, uint64_t value) {
  t.family(name, "counter", help);
  t.sample(name, {}, value);
}

void gauge(PrometheusText& t, std::string_view name, std::string_view help, double value) {
  t.family(name, "gauge", help);
  t.sample(name, {}, value);
}

void write_process_metrics(PrometheusText& t) {
  t.family("enrichd_build_info", "gauge", "The enrichd version; always 1.");
  t.sample("enrichd_build_info", {{"version", ENRICHD_VERSION}}, uint64_t{1});
}

}  // namespace

std::string process_metrics_text() {
  PrometheusText t;
  write_process_metrics(t);
  return t.text();
}

std::string Pipeline::metrics_text() const {
  PrometheusText t;
  write_process_metrics(t);
  const PipelineStats& s = stats_;

  counter(t, "enrichd_messages_consumed_total", "Messages consumed from the source (dead letters included).",
          s.source.messages.get());
  counter(t, "enrichd_consumed_bytes_total", "Payload bytes of the messages consumed.", s.source.bytes.get());
  counter(t, "enrichd_events_parsed_total", "Messages parsed into events.", s.parse.events.get());
  counter(t, "enrichd_events_filtered_out_total", "Events dropped by the filter rules.",
          s.filter.filtered_out.get());
  counter(t, "enrichd_events_enriched_total", "Events enriched (geo lookup and category join).",
          s.enrich.events.get());
  counter(t, "enrichd_rows_loaded_total", "Rows committed to the sink table.", s.sink.rows_loaded.get());

  t.family("enrichd_dead_letters_total", "counter", "Messages that could not become events, by reason.");
  for (size_t r = 0; r < kDeadLetterReasonCount; ++r) {
    t.sample("enrichd_dead_letters_total",
             {{"reason", std::string(to_string(static_cast<DeadLetterReason>(r)))}},
             s.parse.dead_letters[r].get());
  }
  counter(t, "enrichd_dead_letters_stored_total", "Dead letters committed to the dead-letter table.",
          s.sink.dead_letters_stored.get());
  counter(t, "enrichd_load_transactions_total", "Load transactions committed to the database.",
          s.sink.transactions.get());
  counter(t, "enrichd_load_retries_total", "Load tries that failed and were retried.", s.sink.retries.get());
  counter(t, "enrichd_fenced_out_total",
          "Partition segments dropped because another group member had loaded them.",
          s.sink.fenced_out.get());
  gauge(t, "enrichd_sink_up", "1 when the last try to reach the database succeeded, else 0.",
        s.sink.reachable() ? 1 : 0);
  // Freshness: how far the newest committed event trails the clock (event-time role; absent without one
  // and before the first commit).
  if (const int64_t newest_ms = s.sink.newest_event_ms(); newest_ms >= 0) {
    const double newest = static_cast<double>(newest_ms) / 1000.0;
    const double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    gauge(t, "enrichd_loaded_event_time_seconds",
          "The newest event time among the committed rows (the [schema.roles] event_time column, Unix time).",
          newest);
    gauge(t, "enrichd_loaded_event_age_seconds",
          "How far the newest committed event time trails the wall clock (negative: events from the future).",
          now - newest);
  }

  t.family("enrichd_stage_duration_seconds", "histogram", "Time one batch spent in each stage.");
  const std::pair<std::string_view, const DurationHistogram*> stages[] = {
      {"parse", &s.parse.duration},   {"filter", &s.filter.duration}, {"enrich", &s.enrich.duration},
      {"encode", &s.encode.duration}, {"load", &s.sink.duration},
  };
  for (const auto& [stage, h] : stages) {
    const DurationHistogram::Snapshot snap = h->snapshot();
    t.histogram("enrichd_stage_duration_seconds", {{"stage", std::string(stage)}}, DurationHistogram::kBounds,
                snap.counts, snap.sum_seconds);
  }

  t.family("enrichd_kafka_consumer_lag", "gauge",
           "Messages between the consumer's position and the end of each assigned partition (librdkafka "
           "statistics, refreshed every second).");
  for (const PartitionLag& l : consumer_lag()) {
    t.sample("enrichd_kafka_consumer_lag",
             {{"topic", source_->topic()}, {"partition", std::to_string(l.partition)}},
             static_cast<double>(l.lag));
  }

  t.family("enrichd_backend_info", "gauge", "The enrich backend in use; always 1.");
  t.sample("enrichd_backend_info", {{"backend", std::string(backend_name())}}, uint64_t{1});
  if (const auto* routed = dynamic_cast<const RoutingBackend*>(&backend())) {
    const RoutingBackend::Stats r = routed->stats();
    t.family("enrichd_backend_calls_total", "counter",
             "Lookup calls (one per operation per batch) by where they ran: the GPU or the CPU backend.");
    t.sample("enrichd_backend_calls_total", {{"device", "gpu"}, {"backend", std::string(routed->gpu_name())}},
             r.gpu_calls);
    t.sample("enrichd_backend_calls_total", {{"device", "cpu"}, {"backend", std::string(routed->cpu_name())}},
             r.cpu_calls);
    counter(t, "enrichd_backend_gpu_fallbacks_total",
            "GPU failures after which every batch runs on the CPU (the failed one redone there).",
            r.fallbacks);
    t.family("enrichd_backend_crossover_queries", "gauge",
             "backend auto: the batch size from which an operation goes to the GPU (+Inf: never), as "
             "measured at start on the live tables.");
    for (size_t i = 0; i < kLookupOps; ++i) {
      const RoutingBackend::Calibration& c = r.calibration[i];
      if (!c.done && c.crossover != 0) continue;
      t.sample("enrichd_backend_crossover_queries", {{"op", lookup_op_name(static_cast<LookupOp>(i))}},
               c.crossover == RoutingBackend::kNever ? std::numeric_limits<double>::infinity()
                                                     : static_cast<double>(c.crossover));
    }
  }

  const std::shared_ptr<const GeoState> geo = this->geo();
  t.family("enrichd_geo_ranges", "gauge", "Ranges of the geo table in use (gap-free, so gaps count too).");
  t.sample("enrichd_geo_ranges", {{"family", "ipv4"}}, static_cast<uint64_t>(geo->table->v4_range_count()));
  t.sample("enrichd_geo_ranges", {{"family", "ipv6"}}, static_cast<uint64_t>(geo->table->v6_range_count()));
  gauge(t, "enrichd_geo_records", "Distinct location records of the geo table in use.",
        static_cast<double>(geo->table->record_count()));
  gauge(t, "enrichd_geo_loaded_timestamp_seconds", "When the geo table in use was loaded (Unix time).",
        static_cast<double>(geo->loaded_unix));
  t.family("enrichd_geo_info", "gauge", "Where the geo table in use came from; always 1.");
  t.sample("enrichd_geo_info", {{"source", geo->source}}, uint64_t{1});
  counter(t, "enrichd_geo_reloads_total", "Geo tables loaded again and swapped in (SIGHUP or file change).",
          s.reload.reloads.get());
  counter(t, "enrichd_reload_failures_total",
          "Reloads refused because the new file(s) failed to load (the old table kept serving).",
          s.reload.failures.get());
  counter(t, "enrichd_category_reloads_total",
          "Category tables loaded again and swapped in (SIGHUP or file change).",
          s.reload.category_reloads.get());
  gauge(t, "enrichd_category_keys", "Keys (pin ids) of the category table.",
        static_cast<double>(categories()->table->size()));

  // Every join (the category join first), labelled by its name.
  t.family("enrichd_join_keys", "gauge", "Keys of each join's table in use.");
  for (const auto& j : joins_)
    t.sample("enrichd_join_keys", {{"join", j->name()}}, j->state()->table->size());
  t.family("enrichd_join_loaded_timestamp_seconds", "gauge",
           "When each join's table in use was built (Unix time).");
  for (const auto& j : joins_) {
    t.sample("enrichd_join_loaded_timestamp_seconds", {{"join", j->name()}},
             static_cast<double>(j->state()->loaded_unix));
  }
  t.family("enrichd_join_reloads_total", "counter",
           "Join tables built again and swapped in (SIGHUP, file change or database refresh).");
  for (const auto& j : joins_)
    t.sample("enrichd_join_reloads_total", {{"join", j->name()}}, j->reloads.get());
  t.family("enrichd_join_reload_failures_total", "counter",
           "Join reloads refused because the source failed (the old table kept serving).");
  for (const auto& j : joins_) {
    t.sample("enrichd_join_reload_failures_total", {{"join", j->name()}}, j->failures.get());
  }
  return t.text();
}

}  // namespace enrichd
