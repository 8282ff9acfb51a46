// The two forms of the `enrichd bench` report: a readable table and one JSON document (keys documented in
// BENCHMARKS.md; new keys may be added, existing ones keep their name and meaning).
#include <algorithm>
#include <cmath>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "bench/harness.h"
#include "pipeline/event_filter.h"

namespace enrichd::bench {
namespace {

double per_s(double amount, double secs) {
  return secs > 0 ? amount / secs : 0;
}

// ---------------------------------------------------------------------------------------------------------
// JSON

class JsonWriter {
 public:
  std::string take() {
    out_.push_back('\n');
    return std::move(out_);
  }

  JsonWriter& begin_object(std::string_view k = {}) { return open(k, '{'); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array(std::string_view k = {}) { return open(k, '['); }
  JsonWriter& end_array() { return close(']'); }

  JsonWriter& str(std::string_view k, std::string_view v) {
    key(k);
    quote(v);
    return *this;
  }
  JsonWriter& str_or_null(std::string_view k, std::string_view v) {
    if (v.empty()) return null(k);
    return str(k, v);
  }
  JsonWriter& null(std::string_view k) {
    key(k);
    out_ += "null";
    return *this;
  }
  JsonWriter& boolean(std::string_view k, bool v) {
    key(k);
    out_ += v ? "true" : "false";
    return *this;
  }
  JsonWriter& num(std::string_view k, uint64_t v) {
    key(k);
    fmt::format_to(std::back_inserter(out_), "{}", v);
    return *this;
  }
  JsonWriter& num(std::string_view k, int v) {
    key(k);
    fmt::format_to(std::back_inserter(out_), "{}", v);
    return *this;
  }
  // Finite numbers with up to 6 significant digits; NaN and infinities (never expected) as null.
  JsonWriter& real(std::string_view k, double v) {
    key(k);
    if (!std::isfinite(v)) {
      out_ += "null";
    } else {
      fmt::format_to(std::back_inserter(out_), "{}", std::stod(fmt::format("{:.6g}", v)));
    }
    return *this;
  }

 private:
  JsonWriter& open(std::string_view k, char c) {
    key(k);
    out_.push_back(c);
    first_.push_back(true);
    return *this;
  }
  JsonWriter& close(char c) {
    const bool empty = first_.back();
    first_.pop_back();
    if (!empty) newline();
    out_.push_back(c);
    return *this;
  }
  void newline() {
    out_.push_back('\n');
    out_.append(2 * first_.size(), ' ');
  }
  // Separator, indentation and (inside objects) the key; `k` is empty for array elements and the root.
  void key(std::string_view k) {
    if (!first_.empty()) {
      if (!first_.back()) out_.push_back(',');
      first_.back() = false;
      newline();
    }
    if (!k.empty()) {
      quote(k);
      out_ += ": ";
    }
  }
  void quote(std::string_view s) {
    out_.push_back('"');
    for (char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') {
        out_.push_back('\\');
        out_.push_back(c);
      } else if (u < 0x20) {
        fmt::format_to(std::back_inserter(out_), "\\u{:04x}", u);
      } else {
        out_.push_back(c);
      }
    }
    out_.push_back('"');
  }

  std::string out_;
  std::vector<bool> first_;
};

void latency_json(JsonWriter& j, const Percentiles& p) {
  j.begin_object("latency_ms")
      .real("p50", p.p50 * 1e3)
      .real("p90", p.p90 * 1e3)
      .real("p99", p.p99 * 1e3)
      .real("max", p.max * 1e3)
      .end_object();
}

std::vector<double> pass_rates(const RunReport& r) {
  std::vector<double> rates;
  const double per_pass = r.passes > 0 ? static_cast<double>(r.messages) / r.passes : 0;
  for (double s : r.pass_seconds) rates.push_back(per_s(per_pass, s));
  return rates;
}

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double stage_total(const RunReport& r) {
  double s = 0;
  for (const StageReport& st : r.stages) s += st.seconds;
  return s;
}

void run_json(JsonWriter& j, const RunReport& r) {
  j.begin_object();
  j.str("backend_requested", r.requested).str("backend", r.backend).num("passes", r.passes);
  j.begin_array("pass_seconds");
  for (double s : r.pass_seconds) j.real("", s);
  j.end_array();
  j.num("batches", r.batches);
  j.begin_object("counts")
      .num("messages", r.messages)
      .num("json_bytes", r.json_bytes)
      .num("events_parsed", r.events_parsed)
      .num("dead_letters", r.dead_letters)
      .num("filtered_out", r.filtered_out)
      .num("rows", r.rows)
      .num("row_bytes", r.row_bytes)
      .end_object();
  const double total = stage_total(r);
  j.begin_object("stages");
  for (size_t i = 0; i < kStageCount; ++i) {
    const StageReport& st = r.stages[i];
    j.begin_object(kStageNames[i])
        .real("seconds", st.seconds)
        .real("share", per_s(st.seconds, total))
        .num("events", st.items)
        .real("events_per_s", per_s(static_cast<double>(st.items), st.seconds))
        .num("bytes", st.bytes)
        .real("bytes_per_s", per_s(static_cast<double>(st.bytes), st.seconds));
    latency_json(j, st.latency);
    j.end_object();
  }
  j.end_object();
  const std::vector<double> rates = pass_rates(r);
  j.begin_object("end_to_end")
      .real("wall_seconds", r.wall_seconds)
      .real("events_per_s", per_s(static_cast<double>(r.messages), r.wall_seconds))
      .real("json_bytes_per_s", per_s(static_cast<double>(r.json_bytes), r.wall_seconds))
      .real("row_bytes_per_s", per_s(static_cast<double>(r.row_bytes), r.wall_seconds))
      .real("stage_seconds", total)
      .real("events_per_s_per_thread", per_s(static_cast<double>(r.messages), total))
      .real("cpu_seconds", r.cpu_seconds)
      .real("cpu_utilization", per_s(r.cpu_seconds, r.overhead.worker_seconds));
  j.begin_array("pass_events_per_s");
  for (double v : rates) j.real("", v);
  j.end_array();
  j.real("pass_events_per_s_median", median_of(rates));
  latency_json(j, r.batch_latency);
  j.end_object();

  const OverheadReport& o = r.overhead;
  j.begin_object("harness_overhead")
      .real("fraction", o.fraction())
      .real("seconds", o.seconds())
      .real("worker_seconds", o.worker_seconds)
      .real("stage_seconds", o.stage_seconds)
      .real("excluded_seconds", o.excluded_seconds)
      .num("clock_reads", o.clock_reads)
      .real("clock_read_ns", o.clock_read_ns)
      .str("method",
           "(worker loop time - stage time - baseline time + clock reads x cost of one read) / "
           "(worker loop time - baseline time)");
  if (o.timers_off_passes > 0) {
    j.begin_object("timers_off_check")
        .num("passes", o.timers_off_passes)
        .real("median_pass_seconds_timers_on", o.median_pass_on_s)
        .real("median_pass_seconds_timers_off", o.median_pass_off_s)
        .real("difference_fraction", (o.median_pass_on_s - o.median_pass_off_s) / o.median_pass_off_s)
        .end_object();
  } else {
    j.null("timers_off_check");
  }
  j.end_object();

  if (r.load) {
    const LoadReport& l = *r.load;
    const double sink_rate = per_s(static_cast<double>(l.rows), l.sink_seconds);
    const double raw_rate = per_s(static_cast<double>(l.raw_rows), l.raw_seconds);
    j.begin_object("load")
        .str("table", l.table)
        .num("rows", l.rows)
        .num("dead_letters", l.dead_letters)
        .num("bytes", l.bytes)
        .real("sink_seconds", l.sink_seconds)
        .real("sink_rows_per_s", sink_rate)
        .real("sink_bytes_per_s", per_s(static_cast<double>(l.bytes), l.sink_seconds))
        .str("raw_table", l.raw_table)
        .num("raw_rows", l.raw_rows)
        .real("raw_seconds", l.raw_seconds)
        .real("raw_rows_per_s", raw_rate)
        .real("ratio_sink_to_raw", per_s(sink_rate, raw_rate))
        .end_object();
  } else {
    j.null("load");
  }
  j.end_object();
}

// ---------------------------------------------------------------------------------------------------------
// Text

std::string si(double v, std::string_view unit) {
  if (v >= 1e9) return fmt::format("{:.2f} G{}", v / 1e9, unit);
  if (v >= 1e6) return fmt::format("{:.2f} M{}", v / 1e6, unit);
  if (v >= 1e3) return fmt::format("{:.1f} k{}", v / 1e3, unit);
  return fmt::format("{:.0f} {}", v, unit);
}

std::string filter_text(const FilterConfig& f) {
  auto filter = EventFilter::create(f, default_event_schema());
  if (!filter) return filter.status().message();
  return filter->has_rules() ? filter->describe() : "none (every event kept)";
}

}  // namespace

std::string format_json(const BenchReport& rep) {
  JsonWriter j;
  j.begin_object();
  j.str("schema", "enrichd-bench/1");
  const MachineInfo& m = rep.machine;
  j.begin_object("machine")
      .str("cpu_model", m.cpu_model)
      .num("logical_cpus", static_cast<uint64_t>(m.logical_cpus))
      .num("memory_bytes", m.memory_bytes)
      .str_or_null("gpu", m.gpu);
  j.begin_array("backends");
  for (const BackendInfo& b : m.backends) {
    j.begin_object()
        .str("name", b.name)
        .boolean("available", b.available)
        .str("detail", b.detail)
        .end_object();
  }
  j.end_array().end_object();

  const HarnessOptions& o = rep.options;
  j.begin_object("options")
      .num("events", static_cast<uint64_t>(o.events))
      .str_or_null("events_file", o.events_file)
      .num("batch", static_cast<uint64_t>(o.batch))
      .num("threads", o.threads)
      .num("repeat", o.repeat)
      .real("duration_s", o.duration_s);
  j.begin_array("backends");
  for (const std::string& b : o.backends) j.str("", b);
  j.end_array();
  j.begin_object("filter").begin_array("include_actions");
  for (const std::string& a : o.filter.include_actions) j.str("", a);
  j.end_array().begin_array("exclude_actions");
  for (const std::string& a : o.filter.exclude_actions) j.str("", a);
  j.end_array().end_object();
  j.boolean("load", o.load).boolean("check_overhead", o.check_overhead).end_object();

  const DataReport& d = rep.data;
  j.begin_object("data")
      .str("events_source", d.events_source)
      .str("addresses", d.addresses)
      .num("events", d.events)
      .num("payload_bytes", d.payload_bytes)
      .real("avg_event_bytes", per_s(static_cast<double>(d.payload_bytes), static_cast<double>(d.events)))
      .num("batches", d.batches)
      .num("dead_letters", d.dead_letters);
  j.begin_object("geo")
      .str("source", d.geo_source)
      .num("ipv4_ranges", static_cast<uint64_t>(d.geo_v4_ranges))
      .num("ipv6_ranges", static_cast<uint64_t>(d.geo_v6_ranges))
      .num("ipv6_key_bits", d.geo_v6_64bit ? 64 : 128)
      .num("records", static_cast<uint64_t>(d.geo_records))
      .end_object();
  j.begin_object("categories")
      .str("source", d.categories_source)
      .num("keys", static_cast<uint64_t>(d.category_keys))
      .end_object();
  j.real("prepare_seconds", d.prepare_seconds).end_object();

  j.begin_array("runs");
  for (const RunReport& r : rep.runs) run_json(j, r);
  j.end_array();

  j.begin_object("baselines").begin_array("libmaxminddb");
  for (const MmdbFamilyReport& f : rep.mmdb) {
    j.begin_object()
        .str("family", f.family)
        .str("file", f.file)
        .num("addresses", static_cast<uint64_t>(f.addresses))
        .num("rounds", f.rounds)
        .real("libmaxminddb_lookups_per_s", f.libmaxminddb_per_s)
        .num("libmaxminddb_found", f.libmaxminddb_found);
    j.begin_array("backends");
    for (const MmdbBackendRate& b : f.backends) {
      j.begin_object()
          .str("backend", b.backend)
          .real("lookups_per_s", b.lookups_per_s)
          .num("found", b.found)
          .real("ratio_to_libmaxminddb", per_s(b.lookups_per_s, f.libmaxminddb_per_s))
          .end_object();
    }
    j.end_array().end_object();
  }
  j.end_array().end_object();
  if (rep.parallel_load) {
    const ParallelLoadReport& p = *rep.parallel_load;
    const double sink_rate = per_s(static_cast<double>(p.rows) * p.rounds, p.sink_seconds);
    const double raw_rate = per_s(static_cast<double>(p.rows) * p.rounds, p.raw_seconds);
    j.begin_object("parallel_load")
        .str("table", p.table)
        .str("raw_table", p.raw_table)
        .num("connections", p.connections)
        .num("rounds", p.rounds)
        .num("batches", static_cast<uint64_t>(p.batches))
        .num("rows", p.rows)
        .num("bytes", p.bytes)
        .real("sink_seconds", p.sink_seconds)
        .real("sink_rows_per_s", sink_rate)
        .real("raw_seconds", p.raw_seconds)
        .real("raw_rows_per_s", raw_rate)
        .real("ratio_sink_to_raw", per_s(sink_rate, raw_rate))
        .end_object();
  } else {
    j.null("parallel_load");
  }
  j.end_object();
  return j.take();
}

std::string format_text(const BenchReport& rep) {
  std::string s;
  auto out = std::back_inserter(s);
  const MachineInfo& m = rep.machine;
  const HarnessOptions& o = rep.options;
  const DataReport& d = rep.data;
  fmt::format_to(out, "machine: {}, {} logical CPUs, {:.1f} GiB; GPU: {}\n",
                 m.cpu_model.empty() ? "unknown CPU" : m.cpu_model, m.logical_cpus,
                 static_cast<double>(m.memory_bytes) / (1 << 30), m.gpu.empty() ? "none" : m.gpu);
  for (const BackendInfo& b : m.backends) {
    fmt::format_to(out, "  backend {:7} {:11} {}\n", b.name, b.available ? "available" : "unavailable",
                   b.detail);
  }
  fmt::format_to(out, "events: {} {} ({:.1f} MB, {:.0f} B avg, {} dead letters) in {} batches of {}; {}\n",
                 d.events, d.events_source, static_cast<double>(d.payload_bytes) / 1e6,
                 per_s(static_cast<double>(d.payload_bytes), static_cast<double>(d.events)), d.dead_letters,
                 d.batches, o.batch,
                 o.threads == 1 ? "1 worker thread" : fmt::format("{} worker threads", o.threads));
  fmt::format_to(out, "addresses: {}\n", d.addresses);
  fmt::format_to(out, "geo: {}: {} IPv4 + {} IPv6 ranges ({}-bit keys), {} records\n", d.geo_source,
                 d.geo_v4_ranges, d.geo_v6_ranges, d.geo_v6_64bit ? 64 : 128, d.geo_records);
  fmt::format_to(out, "categories: {}: {} keys; filter: {}; sink: {}\n", d.categories_source, d.category_keys,
                 filter_text(o.filter),
                 o.load ? "the database (MemsqlSink), one connection" : "null (bytes counted, dropped)");
  fmt::format_to(out, "prepared in {:.2f} s (not measured)\n", d.prepare_seconds);

  for (const RunReport& r : rep.runs) {
    const double total = stage_total(r);
    const std::vector<double> rates = pass_rates(r);
    fmt::format_to(out, "\nbackend {}{}: {} events in {} pass(es), {:.3f} s: {}, JSON in {}, rows out {}\n",
                   r.backend, r.requested != r.backend ? fmt::format(" (asked: {})", r.requested) : "",
                   r.messages, r.passes, r.wall_seconds,
                   si(per_s(static_cast<double>(r.messages), r.wall_seconds), "events/s"),
                   si(per_s(static_cast<double>(r.json_bytes), r.wall_seconds), "B/s"),
                   si(per_s(static_cast<double>(r.row_bytes), r.wall_seconds), "B/s"));
    std::string passes;
    for (double v : rates) passes += fmt::format("{}{:.3f}", passes.empty() ? "" : " ", v / 1e6);
    fmt::format_to(out, "  per pass (M events/s): {}; median {:.3f}\n", passes, median_of(rates) / 1e6);
    fmt::format_to(out, "  CPU: the workers ran {:.3f} s of their {:.3f} s ({:.0f}%{})\n", r.cpu_seconds,
                   r.overhead.worker_seconds, 100 * per_s(r.cpu_seconds, r.overhead.worker_seconds),
                   r.load ? "; the rest mostly waiting for the database"
                          : "; below ~95% they waited for a core: a busy machine, rates on the low side");
    fmt::format_to(out, "  counts: {} parsed, {} dead letters, {} filtered out, {} rows ({:.1f} MB)\n",
                   r.events_parsed, r.dead_letters, r.filtered_out, r.rows,
                   static_cast<double>(r.row_bytes) / 1e6);
    fmt::format_to(out, "  {:<8} {:>9} {:>6} {:>11} {:>14} {:>11} {:>8} {:>8} {:>8} {:>8}\n", "stage",
                   "time s", "share", "events", "events/s", "MB/s", "p50 ms", "p90 ms", "p99 ms", "max ms");
    const auto row = [&](std::string_view name, double secs, uint64_t items, uint64_t bytes,
                         const Percentiles& p) {
      fmt::format_to(
          out, "  {:<8} {:>9.3f} {:>5.1f}% {:>11} {:>14} {:>11.1f} {:>8.3f} {:>8.3f} {:>8.3f} {:>8.3f}\n",
          name, secs, 100 * per_s(secs, total), items, si(per_s(static_cast<double>(items), secs), ""),
          per_s(static_cast<double>(bytes), secs) / 1e6, p.p50 * 1e3, p.p90 * 1e3, p.p99 * 1e3, p.max * 1e3);
    };
    for (size_t i = 0; i < kStageCount; ++i) {
      row(kStageNames[i], r.stages[i].seconds, r.stages[i].items, r.stages[i].bytes, r.stages[i].latency);
    }
    row("total", total, r.messages, r.json_bytes, r.batch_latency);
    fmt::format_to(
        out,
        "  (MB/s: JSON in for parse, filter, enrich and total; encoded rows out for encode and sink; "
        "events/s per worker thread)\n");
    const OverheadReport& ov = r.overhead;
    fmt::format_to(out, "  harness overhead: {:.3f}% ({:.4f} s of {:.3f} s; {} clock reads at {:.1f} ns){}\n",
                   100 * ov.fraction(), ov.seconds(), ov.worker_seconds - ov.excluded_seconds, ov.clock_reads,
                   ov.clock_read_ns, ov.fraction() > 0.05 ? " — OVER 5%: use bigger batches" : "");
    if (ov.timers_off_passes > 0) {
      fmt::format_to(
          out, "  timers off vs on: median pass {:.4f} s off, {:.4f} s on ({:+.2f}%, {} passes each)\n",
          ov.median_pass_off_s, ov.median_pass_on_s,
          100 * (ov.median_pass_on_s - ov.median_pass_off_s) / ov.median_pass_off_s, ov.timers_off_passes);
    }
    if (r.load) {
      const LoadReport& l = *r.load;
      const double sink_rate = per_s(static_cast<double>(l.rows), l.sink_seconds);
      const double raw_rate = per_s(static_cast<double>(l.raw_rows), l.raw_seconds);
      fmt::format_to(
          out,
          "  load into '{}': {} rows, {} dead letters, sink {} ({:.3f} s); raw LOAD DATA into '{}' "
          "(1 plain connection): {} ({:.3f} s); sink / raw = {:.2f}x\n",
          l.table, l.rows, l.dead_letters, si(sink_rate, "rows/s"), l.sink_seconds, l.raw_table,
          si(raw_rate, "rows/s"), l.raw_seconds, per_s(sink_rate, raw_rate));
    }
  }
  if (rep.parallel_load) {
    const ParallelLoadReport& p = *rep.parallel_load;
    const double sink_rate = per_s(static_cast<double>(p.rows) * p.rounds, p.sink_seconds);
    const double raw_rate = per_s(static_cast<double>(p.rows) * p.rounds, p.raw_seconds);
    fmt::format_to(out,
                   "\nparallel load into '{}' and '{}' ({} batches, {} rows, {:.1f} MB, {} rounds each way, "
                   "taking turns):\n"
                   "  {:<36} {:>16} ({:.3f} s)\n"
                   "  {:<36} {:>16} ({:.3f} s)  {:.2f}x raw\n",
                   p.table, p.raw_table, p.batches, p.rows, static_cast<double>(p.bytes) / 1e6, p.rounds,
                   "raw LOAD DATA, 1 plain connection", si(raw_rate, "rows/s"), p.raw_seconds,
                   fmt::format("sink, {} connection{}", p.connections, p.connections == 1 ? "" : "s"),
                   si(sink_rate, "rows/s"), p.sink_seconds, per_s(sink_rate, raw_rate));
  }
  for (const MmdbFamilyReport& f : rep.mmdb) {
    fmt::format_to(out,
                   "\nlibmaxminddb baseline, {} on {} ({} addresses of the events, median of {} rounds):\n",
                   f.family, f.file, f.addresses, f.rounds);
    fmt::format_to(out, "  libmaxminddb {:>16}  found {:.1f}%\n", si(f.libmaxminddb_per_s, "lookups/s"),
                   100 * per_s(static_cast<double>(f.libmaxminddb_found), static_cast<double>(f.addresses)));
    for (const MmdbBackendRate& b : f.backends) {
      fmt::format_to(out, "  {:<12} {:>16}  found {:.1f}%  {:.2f}x libmaxminddb\n", b.backend,
                     si(b.lookups_per_s, "lookups/s"),
                     100 * per_s(static_cast<double>(b.found), static_cast<double>(f.addresses)),
                     per_s(b.lookups_per_s, f.libmaxminddb_per_s));
    }
  }
  return s;
}

}  // namespace enrichd::bench
