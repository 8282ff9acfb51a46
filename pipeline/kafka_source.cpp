#include "pipeline/kafka_source.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <memory>

namespace enrichd {
namespace {

constexpr int kMetadataTimeoutMs = 5000;
constexpr size_t kConsumeChunk = 1024;
// librdkafka's statistics (consumer lag for /metrics and the status line) every second.
constexpr const char* kStatisticsIntervalMs = "1000";

Status set(rd_kafka_conf_t* conf, const char* key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key, value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    return Status::errorf("kafka property {}={}: {}", key, value, err);
  }
  return Status::ok();
}

void log_partitions(const char* what, const rd_kafka_topic_partition_list_t* parts) {
  std::string list;
  for (int i = 0; i < parts->cnt; ++i) {
    list += fmt::format("{}{}[{}]", i ? ", " : "", parts->elems[i].topic, parts->elems[i].partition);
  }
  spdlog::info("kafka: {} {}", what, list.empty() ? "(none)" : list);
}

void on_error(rd_kafka_t*, int err, const char* reason, void*) {
  spdlog::warn("kafka: {}: {}", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)), reason);
}

}  // namespace

KafkaSource::KafkaSource(std::string topic, std::unique_ptr<OffsetStore> offsets)
    : topic_(std::move(topic)), offsets_(std::move(offsets)) {}

// Eager and cooperative protocols both end here. Rows of revoked partitions already in flight are still
// loaded: with exactly-once their fenced offset update fails if the new owner got there first; with
// at-least-once their Kafka commit may be refused and the new owner reads them again.
void KafkaSource::on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                               rd_kafka_topic_partition_list_t* parts, void* opaque) {
  auto* self = static_cast<KafkaSource*>(opaque);
  const bool cooperative = std::string_view(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE";
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    log_partitions("assigned", parts);
    if (Status s = self->position_from_store(parts); !s) {
      self->fatal_ = s.with_context("reading stored offsets on assignment");
    }
    if (cooperative) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_assign(rk, parts)) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(rk, parts);
    }
  } else {
    log_partitions("revoked", parts);
    for (int i = 0; i < parts->cnt; ++i) {
      self->position_.erase(parts->elems[i].partition);
      self->epoch_.erase(parts->elems[i].partition);
    }
    if (cooperative) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(rk, parts)) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(rk, nullptr);
    }
  }
}

Status KafkaSource::position_from_store(rd_kafka_topic_partition_list_t* parts) {
  for (int i = 0; i < parts->cnt; ++i) {
    rd_kafka_topic_partition_t& p = parts->elems[i];
    int64_t stored = kNoStoredOffset;
    if (offsets_) {
      auto claimed = offsets_->claim(p.partition);
      if (!claimed) return claimed.status();
      stored = *claimed;
      // A partition this group never loaded starts where Kafka's committed offset or `start` says.
      p.offset = stored == kNoStoredOffset ? RD_KAFKA_OFFSET_INVALID : stored;
      spdlog::info("kafka: {}[{}] starts at {} offset", topic_, p.partition,
                   stored == kNoStoredOffset ? "Kafka's committed / reset"
                                             : "the database's stored " + std::to_string(stored));
    }
    position_[p.partition] = stored;
    epoch_[p.partition] = next_epoch_++;
  }
  return Status::ok();
}

void KafkaSource::request_reseek(int32_t partition) {
  std::lock_guard lock(reseek_mu_);
  reseek_.insert(partition);
}

Status KafkaSource::serve_reseeks() {
  std::set<int32_t> partitions;
  {
    std::lock_guard lock(reseek_mu_);
    partitions.swap(reseek_);
  }
  for (int32_t partition : partitions) {
    if (!position_.count(partition) || !offsets_) continue;  // no longer ours
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic_.c_str(), partition);
    Status s = position_from_store(list);
    if (s) {
      if (list->elems[0].offset == RD_KAFKA_OFFSET_INVALID) list->elems[0].offset = RD_KAFKA_OFFSET_STORED;
      spdlog::warn("kafka: {}[{}] was loaded by another member; seeking to offset {}", topic_, partition,
                   list->elems[0].offset);
      if (rd_kafka_error_t* e = rd_kafka_seek_partitions(rk_, list, 10'000)) {
        s = Status::errorf("kafka seek {}[{}]: {}", topic_, partition, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
      } else if (list->elems[0].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        s = Status::errorf("kafka seek {}[{}]: {}", topic_, partition, rd_kafka_err2str(list->elems[0].err));
      }
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (!s) return s;
  }
  return Status::ok();
}

KafkaSource::~KafkaSource() {
  close();
}

namespace {

// The consumer properties every client of this source uses (the consumer and the start-up probe).
Status configure(rd_kafka_conf_t* conf, const SourceConfig& c) {
  Status s = set(conf, "bootstrap.servers", c.brokers);
  if (s) s = set(conf, "group.id", c.group);
  if (s) s = set(conf, "enable.auto.commit", "false");
  if (s) s = set(conf, "enable.auto.offset.store", "false");
  if (s) s = set(conf, "auto.offset.reset", c.start);
  if (s) s = set(conf, "client.id", "enrichd");
  if (s) s = set(conf, "session.timeout.ms", std::to_string(c.session_timeout_ms));
  if (s)
    s = set(conf, "heartbeat.interval.ms", std::to_string(std::max<int64_t>(100, c.session_timeout_ms / 5)));
  return s.with_context("config key 'source.brokers'");
}

// Fails, naming the key, when the broker cannot be reached or the topic does not exist; else returns the
// topic's partition count.
Result<int> check_topic(rd_kafka_t* rk, const SourceConfig& c) {
  rd_kafka_topic_t* topic = rd_kafka_topic_new(rk, c.topic.c_str(), nullptr);
  const rd_kafka_metadata_t* md = nullptr;
  rd_kafka_resp_err_t merr = rd_kafka_metadata(rk, 0, topic, &md, kMetadataTimeoutMs);
  rd_kafka_topic_destroy(topic);
  if (merr != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::errorf("config key 'source.brokers': cannot reach Kafka at '{}' within {} ms: {}",
                          c.brokers, kMetadataTimeoutMs, rd_kafka_err2str(merr));
  }
  const bool topic_ok = md->topic_cnt == 1 && md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR &&
                        md->topics[0].partition_cnt > 0;
  const int partitions = md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
  const std::string topic_err = md->topic_cnt == 1 ? rd_kafka_err2str(md->topics[0].err) : "not in metadata";
  rd_kafka_metadata_destroy(md);
  if (!topic_ok) {
    return Status::errorf("config key 'source.topic': topic '{}' is not available on '{}': {}", c.topic,
                          c.brokers, topic_err);
  }
  return partitions;
}

}  // namespace

Result<int> KafkaSource::probe(const SourceConfig& c) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (Status s = configure(conf, c); !s) {
    rd_kafka_conf_destroy(conf);
    return s;
  }
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return Status::errorf("config key 'source.brokers': kafka consumer: {}", err);
  }
  Result<int> partitions = check_topic(rk, c);
  rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);  // it never joined the group
  return partitions;
}

Result<std::unique_ptr<Source>> KafkaSource::open(const SourceConfig& c,
                                                  std::unique_ptr<OffsetStore> offsets) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (Status s = configure(conf, c); !s) {
    rd_kafka_conf_destroy(conf);
    return s;
  }
  rd_kafka_conf_set_rebalance_cb(conf, &KafkaSource::on_rebalance);
  rd_kafka_conf_set_error_cb(conf, on_error);
  rd_kafka_conf_set_stats_cb(conf, &KafkaSource::on_stats);
  if (Status s = set(conf, "statistics.interval.ms", kStatisticsIntervalMs); !s) {
    rd_kafka_conf_destroy(conf);
    return s;
  }
  // The rebalance callback reaches the source through the opaque, so the source exists first.
  std::unique_ptr<KafkaSource> source(new KafkaSource(c.topic, std::move(offsets)));
  rd_kafka_conf_set_opaque(conf, source.get());
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    return Status::errorf("kafka consumer: {}", err);
  }
  source->rk_ = rk;
  source->queue_ = rd_kafka_queue_get_consumer(rk);

  // Fail at start, naming the key, when the broker cannot be reached or the topic does not exist.
  if (auto partitions = check_topic(rk, c); !partitions) {
    source->closed_ = true;  // never joined a group: nothing to leave
    return partitions.status();
  }

  rd_kafka_poll_set_consumer(rk);
  rd_kafka_topic_partition_list_t* sub = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(sub, c.topic.c_str(), RD_KAFKA_PARTITION_UA);
  const rd_kafka_resp_err_t merr = rd_kafka_subscribe(rk, sub);
  rd_kafka_topic_partition_list_destroy(sub);
  if (merr != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::errorf("kafka subscribe to '{}': {}", c.topic, rd_kafka_err2str(merr));
  }
  spdlog::info("kafka: consuming '{}' from {} as group '{}'", c.topic, c.brokers, c.group);
  return std::unique_ptr<Source>(std::move(source));
}

// Served from the consumer queue (inside next_batch), like the rebalance callback.
int KafkaSource::on_stats(rd_kafka_t*, char* json, size_t json_len, void* opaque) {
  auto* self = static_cast<KafkaSource*>(opaque);
  std::vector<PartitionLag> lag = parse_consumer_lag({json, json_len}, self->topic_);
  std::lock_guard lock(self->lag_mu_);
  self->lag_ = std::move(lag);
  return 0;  // librdkafka frees the document
}

std::vector<PartitionLag> KafkaSource::consumer_lag() const {
  std::lock_guard lock(lag_mu_);
  return lag_;
}

std::vector<PartitionLag> parse_consumer_lag(std::string_view stats_json, std::string_view topic) {
  std::vector<PartitionLag> out;
  simdjson::dom::parser parser;
  simdjson::dom::object partitions;
  if (parser.parse(simdjson::padded_string(stats_json))["topics"][topic]["partitions"].get(partitions)) {
    return out;
  }
  for (auto [key, value] : partitions) {
    int32_t partition = -1;
    const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), partition);
    if (ec != std::errc() || end != key.data() + key.size() || partition < 0) continue;
    int64_t lag = -1;
    if (value["consumer_lag"].get(lag) || lag < 0) {
      // librdkafka knows the lag only once the application got a message of the partition. Before that
      // (an empty partition, or nothing delivered yet) a fetching partition's lag is the distance from
      // the committed offset, or else from the fetch position, to the high watermark.
      std::string_view state;
      int64_t hi = -1, committed = -1, next = -1;
      if (value["fetch_state"].get(state) || state != "active" || value["hi_offset"].get(hi) || hi < 0)
        continue;
      if (value["committed_offset"].get(committed)) committed = -1;
      if (value["next_offset"].get(next)) next = -1;
      const int64_t from = committed >= 0 ? committed : next;
      if (from < 0) continue;
      lag = std::max<int64_t>(0, hi - from);
    }
    out.push_back({partition, lag});
  }
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) { return x.partition < y.partition; });
  return out;
}

Status KafkaSource::next_batch(RawBatch& batch, std::vector<PartitionStart>& starts, size_t max_messages,
                               std::chrono::milliseconds linger, const std::atomic<bool>& stop) {
  using Clock = std::chrono::steady_clock;
  batch.clear();
  starts.clear();
  if (!fatal_.is_ok()) return fatal_;
  if (Status s = serve_reseeks(); !s) return s;
  // Before the first message, wake up every 100 ms to notice `stop`; after it, wait at most `linger`.
  constexpr auto kIdleWait = std::chrono::milliseconds(100);
  std::optional<Clock::time_point> deadline;
  std::array<rd_kafka_message_t*, kConsumeChunk> msgs{};
  while (batch.size() < max_messages && !stop.load(std::memory_order_relaxed)) {
    auto wait = kIdleWait;
    if (deadline) {
      wait = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now());
      if (wait.count() <= 0) break;
    }
    const size_t want = std::min(msgs.size(), max_messages - batch.size());
    const ssize_t n = rd_kafka_consume_batch_queue(queue_, static_cast<int>(wait.count()), msgs.data(), want);
    if (n < 0) return Status::errorf("kafka consume: {}", rd_kafka_err2str(rd_kafka_last_error()));
    for (ssize_t i = 0; i < n; ++i) {
      rd_kafka_message_t* m = msgs[static_cast<size_t>(i)];
      if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        note_position(starts, m->partition, m->offset);
        // Payload length comes from Kafka, never from a terminator.
        batch.add({static_cast<const char*>(m->payload), m->len}, {m->partition, m->offset});
      } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        spdlog::warn("kafka: {}", rd_kafka_message_errstr(m));
      }
      rd_kafka_message_destroy(m);
    }
    if (!fatal_.is_ok()) return fatal_;  // set by a rebalance served inside the consume call
    if (!deadline && !batch.empty()) deadline = Clock::now() + linger;
    if (!deadline && n == 0) break;  // idle: hand back an empty batch so the caller can check its limits
  }
  return Status::ok();
}

void KafkaSource::note_position(std::vector<PartitionStart>& starts, int32_t partition, int64_t offset) {
  auto [pos, inserted] = position_.try_emplace(partition, kNoStoredOffset);
  if (inserted) epoch_[partition] = next_epoch_++;
  const bool seen = std::any_of(starts.begin(), starts.end(),
                                [&](const PartitionStart& p) { return p.partition == partition; });
  if (!seen) starts.push_back({partition, pos->second, epoch_[partition]});
  if (pos->second != kNoStoredOffset && offset < pos->second) {
    // Kafka offsets only grow: going back means the topic was recreated or the offset was reset.
    spdlog::warn("kafka: {}[{}] went back from offset {} to {} (topic recreated or offset reset)", topic_,
                 partition, pos->second, offset);
  }
  pos->second = offset + 1;
}

Status KafkaSource::acknowledge(const std::vector<PartitionOffset>& next_offsets) {
  if (next_offsets.empty()) return Status::ok();
  rd_kafka_topic_partition_list_t* list =
      rd_kafka_topic_partition_list_new(static_cast<int>(next_offsets.size()));
  for (const auto& po : next_offsets) {
    rd_kafka_topic_partition_list_add(list, topic_.c_str(), po.partition)->offset = po.next_offset;
  }
  const rd_kafka_resp_err_t err = rd_kafka_commit(rk_, list, 0);
  rd_kafka_topic_partition_list_destroy(list);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::errorf("kafka commit: {}", rd_kafka_err2str(err));
  }
  return Status::ok();
}

void KafkaSource::close() {
  if (!rk_) return;
  if (queue_) rd_kafka_queue_destroy(queue_);
  queue_ = nullptr;
  if (!closed_) {
    // Leaves the group at once (the partitions are reassigned without waiting for the session timeout).
    const auto t0 = std::chrono::steady_clock::now();
    if (rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk_)) {
      spdlog::warn("kafka: consumer close: {}", rd_kafka_err2str(err));
    } else {
      spdlog::info(
          "kafka: consumer closed, left the group in {} ms",
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
              .count());
    }
  }
  closed_ = true;
  rd_kafka_destroy(rk_);
  rk_ = nullptr;
}

}  // namespace enrichd
