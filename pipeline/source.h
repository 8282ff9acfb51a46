// Sources deliver batches of raw messages with their positions. Offsets are acknowledged only once the
// sink has durably loaded the rows that carry them.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "host/raw_batch.h"
#include "host/status.h"
#include "pipeline/config.h"

namespace enrichd {

class Source {
 public:
  virtual ~Source() = default;

  // Fills `batch` (cleared first) with up to `max_messages` messages, waiting at most `linger` once the
  // first message has arrived, and returning early when `stop` becomes true. An empty batch with ok status
  // means "nothing yet"; end_of_input() tells whether more can ever come.
  virtual Status next_batch(RawBatch& batch, size_t max_messages, std::chrono::milliseconds linger,
                            const std::atomic<bool>& stop) = 0;
  virtual bool end_of_input() const = 0;

  // Called by the sink thread, in batch order, after the DB commit of everything before these offsets.
  virtual Status acknowledge(const std::vector<PartitionOffset>& next_offsets) = 0;

  // Leaves cleanly (for Kafka: leaves the group). Called once, after the last acknowledge.
  virtual void close() = 0;
};

// Builds the source the config names and checks that it is reachable (broker up, topic present, file
// readable); errors name the config key.
Result<std::unique_ptr<Source>> make_source(const SourceConfig& config);

}  // namespace enrichd
