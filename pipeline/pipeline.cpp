#include "pipeline/pipeline.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <condition_variable>
#include <ctime>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "host/event_parser.h"
#include "host/geo_import.h"
#include "pipeline/bounded_queue.h"
#include "pipeline/enrich_stage.h"
#include "pipeline/enum_columns.h"
#include "pipeline/event_filter.h"
#include "pipeline/load_job.h"
#include "pipeline/offset_store.h"
#include "pipeline/ordered_handoff.h"

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

std::vector<FileStamp> stamp_files(const std::vector<std::string>& paths) {
  std::vector<FileStamp> out;
  for (const auto& path : paths) {
    struct stat st {};
    FileStamp f;
    if (::stat(path.c_str(), &st) == 0) {
      f.exists = true;
      f.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
      f.size = static_cast<int64_t>(st.st_size);
      f.inode = static_cast<uint64_t>(st.st_ino);
    }
    out.push_back(f);
  }
  return out;
}

Result<GeoTable> load_geo_table(const EnrichConfig& config) {
  auto geo = load_geo(config.geo);
  if (!geo) return geo.status().with_context("config key 'enrich.geo'");
  return geo;
}

Result<std::unique_ptr<EnrichBackend>> pick_backend(const EnrichConfig& config) {
  BackendSettings settings;
  settings.device = static_cast<int>(config.cuda_device);
  settings.warn = [](const std::string& line) { spdlog::error("{}", line); };
  settings.info = [](const std::string& line) { spdlog::info("{}", line); };
  auto backend = make_backend(config.backend, settings);
  if (!backend) return backend.status().with_context("config key 'enrich.backend'");
  return backend;
}

// Offsets live in the database only for a Kafka source in exactly-once mode; a file replay has none.
bool fenced_delivery(const Config& config) {
  return config.source.kind == SourceKind::kKafka && config.sink.delivery == Delivery::kExactlyOnce;
}

const std::string& source_name(const Config& config) {
  return config.source.kind == SourceKind::kKafka ? config.source.topic : config.source.path;
}

// One [[schema.extra]] column for `enrichd check`: where it is read from, how, and its table column.
std::string describe_extra(const ExtraField& e, EpochUnit ts_unit) {
  std::string how(to_string(e.type));
  switch (e.type) {
    case ExtraType::kTimestamp:
      how += fmt::format(", numbers in {}{} or RFC 3339", to_string(e.unit.value_or(ts_unit)),
                         e.unit ? "" : " (schema.ts_unit)");
      break;
    case ExtraType::kEnum:
      how += fmt::format(", {} values, unknown {}; store = {}", e.values.size(),
                         e.unknown == EnumUnknown::kKeep ? "kept" : "dead-lettered", to_string(e.store));
      break;
    default:
      if (e.from_string) how += ", also from strings";
      break;
  }
  std::string absent = "NULL";
  if (e.required) {
    absent = "dead letter";
  } else if (e.has_default) {
    switch (e.type) {
      case ExtraType::kU64:
        absent = fmt::format("{}", e.default_bits);
        break;
      case ExtraType::kI64:
        absent = fmt::format("{}", static_cast<int64_t>(e.default_bits));
        break;
      case ExtraType::kF64:
        absent = fmt::format("{}", std::bit_cast<double>(e.default_bits));
        break;
      case ExtraType::kTimestamp:
        absent.clear();
        append_datetime_ms(absent, static_cast<int64_t>(e.default_bits));
        absent += " UTC";
        break;
      case ExtraType::kIp:
        absent = format_ip(e.default_ip);
        break;
      case ExtraType::kString:
      case ExtraType::kEnum:
        absent = fmt::format("'{}'", e.default_string);
        break;
    }
  }
  return fmt::format("extra {} <- '{}': {}; absent: {}; column {}", e.name, e.path, how, absent,
                     extra_sql_type(e));
}

std::string describe_delivery(const Config& config) {
  if (fenced_delivery(config)) {
    return fmt::format("exactly-once (offsets stored with the rows in table '{}')",
                       config.sink.offsets_table);
  }
  if (config.source.kind == SourceKind::kFile) return "file replay (no offsets to store)";
  return "at-least-once (Kafka offsets committed after the database commit)";
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace

double PipelineStats::active_seconds() const {
  const int64_t first = first_message_ns.load();
  const int64_t last = last_commit_ns.load();
  return first > 0 && last > first ? static_cast<double>(last - first) / 1e9 : 0;
}

std::string PipelineStats::summary() const {
  std::string dl;
  for (size_t r = 0; r < kDeadLetterReasonCount; ++r) {
    if (const uint64_t n = parse.dead_letters[r].get()) {
      dl += fmt::format("{}{}={}", dl.empty() ? "" : ", ", to_string(static_cast<DeadLetterReason>(r)), n);
    }
  }
  const double active = active_seconds();
  const uint64_t messages = source.messages.get();
  const double rate = active > 0 ? static_cast<double>(messages) / active : 0;
  return fmt::format(
      "{} messages ({:.1f} MB), {} events parsed, {} filtered, {} rows loaded in {} batches, "
      "{} dead letters{} ({} stored); {:.3f} s active, {:.0f} messages/s",
      messages, static_cast<double>(source.bytes.get()) / 1e6, parse.events.get(), filter.filtered_out.get(),
      sink.rows_loaded.get(), sink.transactions.get(), dead_letters_total(),
      dl.empty() ? "" : " (" + dl + ")", sink.dead_letters_stored.get(), active, rate);
}

void Pipeline::publish_geo(GeoTable table) {
  auto state = std::make_shared<GeoState>();
  state->table = std::make_shared<const GeoTable>(std::move(table));
  state->loaded_unix = static_cast<int64_t>(std::time(nullptr));
  state->source = fmt::format("{}", fmt::join(config_.enrich.geo, ", "));
  if (backend_ != nullptr) prepare_backend(state->table->view(), categories()->table->view());
  std::lock_guard lock(geo_mu_);
  geo_ = std::move(state);
}

// A device backend uploads the new table's copy here, while the old one serves; not fatal (the backend
// says so and falls back itself, or the first batch uploads).
void Pipeline::prepare_backend(const GeoTableView& geo, const CategoryTableView& categories) {
  if (Status s = backend_->prepare_tables(geo, categories); !s) {
    spdlog::warn("backend {}: preparing the new tables failed ({}); the first batch will try again",
                 backend_->name(), s.message());
  }
}

std::shared_ptr<const CategoryState> Pipeline::categories() const {
  return joins_.front()->state();
}

Status Pipeline::reload_categories(std::string_view why) {
  return reload_join(0, why);
}

Status Pipeline::reload_join(size_t join, std::string_view why) {
  Status s = joins_[join]->reload(why, stats_.reload.failures);
  if (s && join == 0) stats_.reload.category_reloads.add();
  return s;
}

void Pipeline::refresh_joins(std::mutex& mu, std::condition_variable& cv, const bool& done,
                             bool& reload_requested) {
  // When each database join is next read: every refresh_interval_s after the last read ended (never
  // when 0); SIGHUP reads them all now.
  constexpr auto kNever = Clock::time_point::max();
  std::vector<Clock::time_point> due(joins_.size(), kNever);
  auto schedule = [&](size_t j) {
    const int64_t every = joins_[j]->config().source.refresh_interval_s;
    due[j] = joins_[j]->from_db() && every > 0 ? Clock::now() + std::chrono::seconds(every) : kNever;
  };
  for (size_t j = 0; j < joins_.size(); ++j) schedule(j);
  std::unique_lock lock(mu);
  while (!done) {
    const auto next =
        std::min(*std::min_element(due.begin(), due.end()), Clock::now() + std::chrono::hours(1));
    cv.wait_until(lock, next, [&] { return done || reload_requested || Clock::now() >= next; });
    if (done) break;
    const bool hup = std::exchange(reload_requested, false);
    lock.unlock();
    for (size_t j = 0; j < joins_.size(); ++j) {
      if (!joins_[j]->from_db() || (!hup && Clock::now() < due[j])) continue;
      (void)reload_join(j, hup ? "SIGHUP" : "refresh");
      schedule(j);
    }
    lock.lock();
  }
}

std::shared_ptr<const GeoState> Pipeline::geo() const {
  std::lock_guard lock(geo_mu_);
  return geo_;
}

HealthReport Pipeline::health() const {
  if (!stats_.sink.reachable()) return {false, "sink unreachable: " + stats_.sink.unreachable_reason()};
  return {true, "ok"};
}

Status Pipeline::reload_geo(std::string_view why) {
  const auto t0 = Clock::now();
  auto table = load_geo(config_.enrich.geo);
  Status s = table.status();
  if (s && table->record_count() == 0) s = Status::error("the new table has no records");
  if (!s) {
    stats_.reload.failures.add();
    spdlog::error("geo reload ({}) refused, the current table keeps serving: {}", why, s.message());
    return s;
  }
  const std::string sizes = table->summary();
  publish_geo(std::move(table).value());
  stats_.reload.reloads.add();
  spdlog::info("geo table reloaded ({}): {} from {} in {:.3f} s", why, sizes,
               fmt::join(config_.enrich.geo, ", "), seconds_since(t0));
  return Status::ok();
}

Result<std::unique_ptr<Pipeline>> Pipeline::create(const Config& config) {
  std::unique_ptr<Pipeline> p(new Pipeline());
  p->config_ = config;
  auto filter = EventFilter::create(config.filter, config.schema.fields);
  if (!filter) return filter.status();
  p->filter_ = std::move(filter).value();

  const auto t0 = Clock::now();
  p->geo_stamps_ = stamp_files(config.enrich.geo);  // before loading: a change meanwhile is seen later
  auto geo = load_geo_table(config.enrich);
  if (!geo) return geo.status();
  spdlog::info("geo table: {} from {} in {:.3f} s", geo->summary(), fmt::join(config.enrich.geo, ", "),
               seconds_since(t0));
  p->publish_geo(std::move(geo).value());

  for (const JoinConfig& join : config.enrich.joins) {
    auto table = std::make_unique<JoinTable>(join);
    p->join_stamps_.push_back(stamp_files(table->files()));  // before loading, as for the geo files
    const auto t1 = Clock::now();
    if (Status s = table->load(); !s) return s;
    spdlog::info("{} table: {} keys, {} names from {} in {:.3f} s; key {}", table->name(),
                 table->state()->table->size(), table->state()->table->category_count(),
                 table->describe_source(), seconds_since(t1), describe_join_key(join));
    p->joins_.push_back(std::move(table));
  }

  auto backend = pick_backend(config.enrich);
  if (!backend) return backend.status();
  p->backend_ = std::move(backend).value();
  p->prepare_backend(p->geo()->table->view(), p->categories()->table->view());
  for (size_t j = 0; j < p->joins_.size(); ++j) {
    if (j > 0) p->prepare_backend(GeoTableView{}, p->joins_[j]->state()->table->view());
    Pipeline* self = p.get();
    p->joins_[j]->before_swap = [self](const CategoryTable& t) {
      self->prepare_backend(GeoTableView{}, t.view());
    };
  }
  spdlog::info("backend: {}", p->backend_->describe());

  const bool fenced = fenced_delivery(config);
  // Kafka offsets (stored or committed) must advance in order per partition; a file replay has none.
  const auto spread = config.source.kind == SourceKind::kKafka ? ParallelSink::Spread::kByPartition
                                                               : ParallelSink::Spread::kRoundRobin;
  auto sink = ParallelSink::open(config.sink, config.source.group, source_name(config), fenced, spread,
                                 &p->stats_.sink);
  if (!sink) return sink.status();
  p->sink_ = std::move(sink).value();
  if (p->sink_->connections() > 1) spdlog::info("sink: {} connections", p->sink_->connections());

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
  spdlog::info("delivery: {}", describe_delivery(config));
  spdlog::info("schema: {}", describe_roles(config.schema));
  if (const std::string dropped = describe_dropped_columns(config.schema.fields); !dropped.empty()) {
    spdlog::info("schema: {}", dropped);
  }
  return p;
}

std::string describe_roles(const SchemaConfig& schema) {
  const auto describe = [](const ColumnRole& role, std::string_view type) {
    if (role.none()) return std::string("none");
    return role.is_extra ? fmt::format("{} ([[schema.extra]] {}; NULL: none)", role.column, type)
                         : role.column;
  };
  return fmt::format("geo lookup reads {}; event time {}", describe(schema.roles.ip, "ip"),
                     describe(schema.roles.event_time, "timestamp"));
}

std::string describe_dropped_columns(const EventSchema& schema) {
  std::vector<std::string_view> names;
  for (size_t i = 0; i < kSchemaColumnCount; ++i) {
    if (schema.fields[i].drop) names.push_back(column_name(static_cast<SchemaColumn>(i)));
  }
  if (names.empty()) return "";
  return fmt::format("dropped (not read, not in the table): {}", fmt::join(names, ", "));
}

CheckReport Pipeline::check(const Config& config) {
  CheckReport r;
  auto line = [&](std::string what, std::string text) {
    r.lines.emplace_back(std::move(what), std::move(text));
  };
  auto error = [&](const Status& s) { r.errors.push_back(s.message()); };

  if (config.source.kind == SourceKind::kKafka) {
    auto partitions = check_source(config.source);
    if (partitions) {
      line("source",
           fmt::format("kafka topic '{}' ({} partitions) on {}, group '{}', start {}", config.source.topic,
                       *partitions, config.source.brokers, config.source.group, config.source.start));
    } else {
      error(partitions.status());
    }
  } else if (auto ok = check_source(config.source); ok) {
    line("source", fmt::format("file '{}'", config.source.path));
  } else {
    error(ok.status());
  }

  const bool fenced = fenced_delivery(config);
  auto dsn = parse_mysql_dsn(config.sink.dsn);
  auto tables = MemsqlSink::check(config.sink, fenced);
  if (tables) {
    line("sink", fmt::format("table '{}' in database '{}' at {} as '{}', {} connection{}", config.sink.table,
                             dsn ? dsn->database : "?", dsn ? dsn->address() : "?", dsn ? dsn->user : "?",
                             config.sink.connections, config.sink.connections == 1 ? "" : "s"));
    for (const auto& note : *tables) line("", note);
  } else {
    error(tables.status());
  }
  line("delivery", describe_delivery(config));

  auto backend = pick_backend(config.enrich);
  if (backend) {
    line("backend", fmt::format("{} (enrich.backend = {})", (*backend)->name(), config.enrich.backend));
  } else {
    error(backend.status());
  }

  const auto t0 = Clock::now();
  auto geo = load_geo_table(config.enrich);
  if (geo) {
    line("geo", fmt::format("{} from {} (loaded in {:.3f} s)", geo->summary(),
                            fmt::join(config.enrich.geo, ", "), seconds_since(t0)));
    line("", config.enrich.geo_poll_ms > 0
                 ? fmt::format("reloaded on SIGHUP and when the file(s) change (checked every {} ms)",
                               config.enrich.geo_poll_ms)
                 : std::string("reloaded on SIGHUP"));
  } else {
    error(geo.status());
  }
  for (const JoinConfig& join : config.enrich.joins) {
    JoinTable table(join);
    if (Status s = table.load(); !s) {
      error(s);
      continue;
    }
    const bool categories = join.output_column == "category";
    line(categories ? "categories" : "join",
         fmt::format("{}{} keys, {} names from {}; {} -> {}_id, {}", categories ? "" : join.name + ": ",
                     table.state()->table->size(), table.state()->table->category_count(),
                     table.describe_source(), describe_join_key(join), join.output_column,
                     join.output_column));
  }

  for (const SchemaColumn column : {SchemaColumn::kAction, SchemaColumn::kApp}) {
    const FieldSchema& f = config.schema.fields[column];
    if (f.values.empty()) continue;
    const std::string_view as = f.store == EnumStore::kText ? "text, VARCHAR(64)"
                                : f.store == EnumStore::kEnum
                                    ? "enum, an ENUM of the values in their order"
                                    : "code, SMALLINT UNSIGNED (0-based index in values)";
    line("schema",
         fmt::format("{}: {} enum values, unknown {}; store = {}", column_name(column), f.values.size(),
                     f.unknown == EnumUnknown::kKeep ? "kept" : "dead-lettered", as));
  }
  for (const ExtraField& e : config.schema.fields.extra)
    line("schema", describe_extra(e, config.schema.ts_unit));
  line("schema", describe_roles(config.schema));
  if (const std::string dropped = describe_dropped_columns(config.schema.fields); !dropped.empty()) {
    line("", dropped);
  }
  if (auto filter = EventFilter::create(config.filter, config.schema.fields)) {
    line("filter", filter->describe());
  } else {
    error(filter.status());
  }
  line("batch",
       fmt::format("up to {} messages, linger {} ms, queue depth {}, {} worker(s)", config.batch.max_events,
                   config.batch.linger_ms, config.batch.queue_depth, config.batch.workers));
  if (config.metrics.listen.empty()) {
    line("metrics", "off (no [metrics] listen)");
  } else if (auto note = check_listen_address(config.metrics.listen); note) {
    line("metrics", fmt::format("http://{}/metrics and /healthz{}", config.metrics.listen, *note));
  } else {
    error(note.status());
  }
  return r;
}

Status Pipeline::run(const RunLimits& limits, const std::atomic<bool>& stop,
                     std::atomic<bool>* reload_request) {
  BoundedQueue<SourceBatch> raw_queue(static_cast<size_t>(config_.batch.queue_depth));
  BoundedQueue<LoadJob> load_queue(static_cast<size_t>(config_.batch.queue_depth));
  OrderedHandoff<LoadJob> handoff(load_queue);
  FailureLatch failure;
  auto fail = [&](Status s) {
    failure.fail(std::move(s));
    raw_queue.abort();
    load_queue.abort();
    handoff.abort();
    sink_->abort();
  };
  std::atomic<bool> source_stop{false};

  // The sink's connections (parallel_sink.h) load and commit (with the fenced offsets in exactly-once
  // mode); after each commit the connection's thread acknowledges the offsets to the source, which
  // commits them to Kafka too (for lag monitoring, and what at-least-once relies on). Acknowledgements
  // are made one at a time; each partition's come in order, as it always loads on the same connection.
  std::mutex ack_mu;
  uint64_t commit_failures = 0;
  auto on_loaded = [&](const LoadJob& job, const std::vector<int32_t>& fenced_out) {
    for (int32_t partition : fenced_out) {
      source_->request_reseek(partition);
      stats_.sink.fenced_out.add();
    }
    std::vector<PartitionOffset> next_offsets;
    for (const auto& seg : job.segments) next_offsets.push_back({seg.partition, seg.next_offset});
    stats_.sink.rows_loaded.add(job.row_count());
    stats_.sink.dead_letters_stored.add(job.dead_letter_count());
    for (const auto& seg : job.segments) {
      if (seg.newest_event_ms >= 0) stats_.sink.note_event_time(seg.newest_event_ms);
    }
    stats_.last_commit_ns = now_ns();
    std::lock_guard lock(ack_mu);
    if (Status s = source_->acknowledge(next_offsets); !s) {
      // The rows are in the database; a failed Kafka commit (routine during a rebalance) only means
      // re-delivery under at-least-once and a stale lag figure under exactly-once. Logged sparingly.
      if (commit_failures++ % 100 == 0) {
        spdlog::warn("{} (rows are loaded; {} Kafka commits failed so far)", s.message(), commit_failures);
      }
    }
  };
  sink_->start(static_cast<size_t>(config_.batch.queue_depth), on_loaded,
               [&](const Status& s) { fail(s.with_context("sink")); });

  std::thread source_thread([&] {
    const auto linger = std::chrono::milliseconds(config_.batch.linger_ms);
    auto last_message = Clock::now();
    uint64_t consumed = 0;
    uint64_t seq = 0;  // the order the workers hand their loads to the sink in
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
      stats_.source.messages.add(batch.size());
      stats_.source.bytes.add(batch.payload_bytes());
      item.seq = seq++;
      if (!raw_queue.push(std::move(item))) break;
    }
    raw_queue.close();
  });

  // Workers: each takes the next batch and runs parse, filter, enrich and encode on it; the loads reach
  // the sink in source order (OrderedHandoff), so several workers change throughput, never offsets.
  const size_t worker_count = static_cast<size_t>(config_.batch.workers);
  std::atomic<size_t> workers_running{worker_count};
  auto worker = [&] {
    EventParser parser(
        ParserOptions{.max_message_bytes = static_cast<size_t>(config_.batch.max_message_bytes),
                      .ts_unit = config_.schema.ts_unit,
                      .schema = config_.schema.fields});
    EnrichStage enrich(*backend_);
    enrich.set_columns(config_.schema.roles.ip, config_.enrich.categories());
    EventBatch events;
    std::vector<DeadLetter> dead;
    // The joins after the category join: their tables of this batch, and scratch.
    std::vector<std::shared_ptr<const CategoryState>> join_states(joins_.size() - 1);
    std::vector<const CategoryTable*> join_tables(join_states.size());
    events.join_id.resize(join_states.size());
    std::vector<uint64_t> join_keys;
    std::vector<uint32_t> join_values;
    while (auto item = raw_queue.pop()) {
      // The table of this batch, for the lookups and the row encoder alike; a reload swaps it for the next.
      const std::shared_ptr<const GeoState> geo = this->geo();
      const std::shared_ptr<const CategoryState> categories = this->categories();
      for (size_t j = 1; j < joins_.size(); ++j) join_states[j - 1] = joins_[j]->state();
      for (size_t j = 0; j < join_states.size(); ++j) join_tables[j] = join_states[j]->table.get();
      const RawBatch& raw = item->raw;
      events.clear();
      dead.clear();
      {
        ScopedTimer timer(stats_.parse.duration);
        parser.parse(raw, events, dead);
      }
      stats_.parse.events.add(events.size());
      for (const DeadLetter& d : dead) {
        Counter& counter = stats_.parse.dead_letters[static_cast<size_t>(d.reason)];
        const uint64_t n = counter.get();
        counter.add();
        if (n < 20 || n % 1000 == 0) {
          spdlog::warn("dead letter: reason={} field={} partition={} offset={} payload='{}'",
                       to_string(d.reason), d.field.empty() ? "-" : d.field, d.position.partition,
                       d.position.offset, excerpt(d.payload));
        }
      }
      {
        ScopedTimer timer(stats_.filter.duration);
        stats_.filter.filtered_out.add(filter_.apply(events));
      }
      Status enriched;
      {
        ScopedTimer timer(stats_.enrich.duration);
        enriched = enrich.apply(events, *geo->table, *categories->table);
        for (size_t j = 0; enriched && j < join_tables.size(); ++j) {
          enriched = join_column(*backend_, events, joins_[j + 1]->config(), *join_tables[j],
                                 events.join_id[j], join_keys, join_values);
        }
      }
      if (!enriched) {
        fail(enriched.with_context("enrich"));
        break;
      }
      stats_.enrich.events.add(events.selected.size());
      std::optional<LoadJob> job;
      {
        ScopedTimer timer(stats_.encode.duration);
        job = make_load_job(raw, item->starts, events, dead, *geo->table, *categories->table,
                            source_->topic(), join_tables, config_.sink.row_layout());
        note_newest_event_times(events, config_.schema.roles.event_time, *job);
      }
      if (!handoff.deliver(item->seq, std::move(job))) break;
    }
    if (workers_running.fetch_sub(1) == 1) load_queue.close();  // the last one out
  };
  std::vector<std::thread> worker_threads;
  for (size_t w = 0; w < worker_count; ++w) worker_threads.emplace_back(worker);

  // The reference-data watcher: SIGHUP (checked every 100 ms) reloads every table (those from a database
  // through the refresher); every geo_poll_ms, a change of a table's files that has held still for one
  // more check (so a file being written is not loaded half-way) reloads that table.
  std::mutex watch_mu;
  std::condition_variable watch_cv;
  bool watch_done = false;
  bool db_reload_requested = false;  // SIGHUP, for the refresher
  std::thread refresher_thread([&] { refresh_joins(watch_mu, watch_cv, watch_done, db_reload_requested); });
  std::thread watcher_thread([&] {
    const auto poll_every = std::chrono::milliseconds(config_.enrich.geo_poll_ms);
    // One watched set of files: what was loaded, and a change seen once (pending) but not yet loaded.
    struct Watched {
      std::function<std::vector<FileStamp>()> stamp;
      std::function<void(std::string_view)> reload;
      std::vector<FileStamp> loaded;
      std::optional<std::vector<FileStamp>> pending;
    };
    std::vector<Watched> watched = {
        {[&] { return stamp_files(config_.enrich.geo); },
         [&](std::string_view why) { (void)reload_geo(why); }, geo_stamps_, std::nullopt},
    };
    std::vector<std::string> changed = {"geo file changed"};
    for (size_t j = 0; j < joins_.size(); ++j) {
      if (joins_[j]->from_db()) continue;  // the refresher's
      watched.push_back({[this, j] { return stamp_files(joins_[j]->files()); },
                         [this, j](std::string_view why) { (void)reload_join(j, why); }, join_stamps_[j],
                         std::nullopt});
      changed.push_back(joins_[j]->name() + " file changed");
    }
    auto next_poll = Clock::now() + poll_every;
    std::unique_lock lock(watch_mu);
    while (!watch_done) {
      watch_cv.wait_for(lock, std::chrono::milliseconds(100));
      if (watch_done) break;
      const bool hup = reload_request && reload_request->exchange(false);
      if (hup) {
        db_reload_requested = true;
        watch_cv.notify_all();
      }
      const bool poll = poll_every.count() > 0 && Clock::now() >= next_poll;
      if (!hup && !poll) continue;
      if (poll) next_poll = Clock::now() + poll_every;
      lock.unlock();
      for (size_t i = 0; i < watched.size(); ++i) {
        Watched& w = watched[i];
        const std::vector<FileStamp> now = w.stamp();
        if (hup) {
          w.reload("SIGHUP");
          w.loaded = now;
          w.pending.reset();
        } else if (now != w.loaded) {
          if (w.pending && *w.pending == now) {
            w.reload(changed[i]);
            w.loaded = now;
            w.pending.reset();
          } else {
            w.pending = now;  // load it once it holds still
          }
        }
      }
      lock.lock();
    }
  });

  // Hands the encoded jobs to the sink's connections, blocking while the connection a job goes to is busy
  // (backpressure reaches the source through the queues). At the end every connection drains and commits
  // what it holds; after a failure they stop once their load in progress ended.
  while (auto job = load_queue.pop()) {
    if (!sink_->submit(std::move(*job))) break;
  }
  (void)sink_->finish();  // a connection's failure already went to fail()
  source_stop = true;
  source_thread.join();
  for (std::thread& t : worker_threads) t.join();
  {
    std::lock_guard lock(watch_mu);
    watch_done = true;
  }
  watch_cv.notify_all();
  watcher_thread.join();
  refresher_thread.join();
  source_->close();
  return failure.first();
}

}  // namespace enrichd
