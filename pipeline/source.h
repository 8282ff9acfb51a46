// Sources deliver batches of raw messages with their positions. Offsets are acknowledged only once the
// sink has durably loaded the rows that carry them.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "host/raw_batch.h"
#include "host/status.h"
#include "pipeline/config.h"

namespace enrichd {

// Where a batch's messages of one partition begin: the consumer's position before them (kNoStoredOffset
// when unknown) and the position epoch, which changes whenever the source seeks the partition. The sink
// fences its offset update on start_offset and drops work from epochs it knows to be stale.
struct PartitionStart {
  int32_t partition = 0;
  int64_t start_offset = -1;
  uint64_t epoch = 0;
};

// How far a consumer is behind the end of one partition, in messages (librdkafka's consumer_lag).
struct PartitionLag {
  int32_t partition = 0;
  int64_t lag = 0;
};

class Source {
 public:
  virtual ~Source() = default;

  // Fills `batch` (cleared first) with up to `max_messages` messages, waiting at most `linger` once the
  // first message has arrived, and returning early when `stop` becomes true; `starts` gets one entry per
  // partition present. An empty batch with ok status means "nothing yet"; end_of_input() tells whether
  // more can ever come.
  virtual Status next_batch(RawBatch& batch, std::vector<PartitionStart>& starts, size_t max_messages,
                            std::chrono::milliseconds linger, const std::atomic<bool>& stop) = 0;
  virtual bool end_of_input() const = 0;

  // Called by the sink (one call at a time, from any of its connection threads) after the DB commit of
  // everything of these partitions before these offsets; each partition's calls come in order.
  virtual Status acknowledge(const std::vector<PartitionOffset>& next_offsets) = 0;

  // Leaves cleanly (for Kafka: leaves the group). Called once, after the last acknowledge.
  virtual void close() = 0;

  // The topic name recorded with offsets and dead letters.
  virtual const std::string& topic() const = 0;
  // True when offsets are meaningful to store (Kafka), false for replays (files).
  virtual bool has_offsets() const = 0;
  // Called by the sink (any thread) when a fenced offset update failed: another member loaded this
  // partition. The source re-reads the stored position and seeks there before its next batch.
  virtual void request_reseek(int32_t /*partition*/) {}
  // The consumer lag of each assigned partition, as last reported (Kafka); empty when unknown or not
  // applicable. Safe to call from any thread.
  virtual std::vector<PartitionLag> consumer_lag() const { return {}; }
};

class OffsetStore;

// Builds the source the config names and checks that it is reachable (broker up, topic present, file
// readable); errors name the config key. With an offset store (exactly-once), a Kafka source seeks each
// assigned partition to the offset stored in the database instead of Kafka's committed one.
Result<std::unique_ptr<Source>> make_source(const SourceConfig& config,
                                            std::unique_ptr<OffsetStore> offsets = nullptr);

// The checks make_source makes, without consuming or joining a group: the broker answers and the topic
// exists (its partition count is returned), or the file can be opened for reading (0 is returned).
Result<int> check_source(const SourceConfig& config);

}  // namespace enrichd
