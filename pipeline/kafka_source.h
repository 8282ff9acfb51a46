// A Kafka consumer-group member: batch consume with a deadline, no auto-commit. With an offset store
// (exactly-once) each assigned partition starts at the offset stored in the database; Kafka commits are
// still made after each database commit, for lag monitoring and for at-least-once delivery.
#pragma once

#include <librdkafka/rdkafka.h>

#include <map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/offset_store.h"
#include "pipeline/source.h"

namespace enrichd {

class KafkaSource final : public Source {
 public:
  static Result<std::unique_ptr<Source>> open(const SourceConfig& config,
                                              std::unique_ptr<OffsetStore> offsets);
  ~KafkaSource() override;

  Status next_batch(RawBatch& batch, std::vector<PartitionStart>& starts, size_t max_messages,
                    std::chrono::milliseconds linger, const std::atomic<bool>& stop) override;
  bool end_of_input() const override { return false; }
  Status acknowledge(const std::vector<PartitionOffset>& next_offsets) override;
  void close() override;
  const std::string& topic() const override { return topic_; }
  bool has_offsets() const override { return true; }
  void request_reseek(int32_t partition) override;
  std::vector<PartitionLag> consumer_lag() const override;

  // The metadata check open() makes, on a client of its own that joins no group.
  static Result<int> probe(const SourceConfig& config);

 private:
  KafkaSource(std::string topic, std::unique_ptr<OffsetStore> offsets);
  static int on_stats(rd_kafka_t* rk, char* json, size_t json_len, void* opaque);
  static void on_rebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                           void* opaque);
  // Sets each partition's start offset from the store (exactly-once) and resets its tracked position.
  Status position_from_store(rd_kafka_topic_partition_list_t* parts);
  Status serve_reseeks();
  // Records a consumed message: the first one of a partition in this batch adds its PartitionStart.
  void note_position(std::vector<PartitionStart>& starts, int32_t partition, int64_t offset);

  rd_kafka_t* rk_ = nullptr;
  rd_kafka_queue_t* queue_ = nullptr;
  std::string topic_;
  std::unique_ptr<OffsetStore> offsets_;
  bool closed_ = false;
  Status fatal_;  // a failure inside a librdkafka callback, reported by the next next_batch

  // Consumer thread only: the next offset expected per assigned partition (-1: unknown) and its epoch.
  std::map<int32_t, int64_t> position_;
  std::map<int32_t, uint64_t> epoch_;
  uint64_t next_epoch_ = 1;

  std::mutex reseek_mu_;
  std::set<int32_t> reseek_;  // requested by the sink thread

  mutable std::mutex lag_mu_;
  std::vector<PartitionLag> lag_;  // from the last statistics callback
};

// The consumer_lag of every partition of `topic` in a librdkafka statistics document
// (topics.<topic>.partitions.<p>.consumer_lag), leaving out the internal partition -1. Where librdkafka
// does not know it yet (-1: nothing of the partition delivered yet, e.g. an empty partition) and the
// partition is being fetched, it is hi_offset minus committed_offset, or else minus next_offset; other
// partitions are left out. Empty when the document has no such topic or cannot be parsed.
std::vector<PartitionLag> parse_consumer_lag(std::string_view stats_json, std::string_view topic);

}  // namespace enrichd
