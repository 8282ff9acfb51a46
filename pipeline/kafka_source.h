// A Kafka consumer-group member: batch consume with a deadline, no auto-commit, offsets committed only
// when the sink acknowledges them (at-least-once).
#pragma once

#include <librdkafka/rdkafka.h>

#include <string>

#include "pipeline/source.h"

namespace enrichd {

class KafkaSource final : public Source {
 public:
  static Result<std::unique_ptr<Source>> open(const SourceConfig& config);
  ~KafkaSource() override;

  Status next_batch(RawBatch& batch, size_t max_messages, std::chrono::milliseconds linger,
                    const std::atomic<bool>& stop) override;
  bool end_of_input() const override { return false; }
  Status acknowledge(const std::vector<PartitionOffset>& next_offsets) override;
  void close() override;

 private:
  KafkaSource(rd_kafka_t* rk, std::string topic);
  rd_kafka_t* rk_;
  rd_kafka_queue_t* queue_ = nullptr;
  std::string topic_;
  bool closed_ = false;
};

}  // namespace enrichd
