// Parses raw JSON messages into an EventBatch with simdjson's On-Demand API. A message that is not a valid
// event becomes a DeadLetter; it never stops the batch.
#pragma once

#include <memory>
#include <vector>

#include "host/dead_letter.h"
#include "host/event_batch.h"
#include "host/event_schema.h"
#include "host/raw_batch.h"
#include "host/timestamp.h"

namespace enrichd {

struct ParserOptions {
  size_t max_message_bytes = 1 << 20;
  // The unit of numeric "ts" values (numbers, or strings of digits). RFC 3339 strings are always read.
  EpochUnit ts_unit = EpochUnit::kMilliseconds;
  // Where each column is read from; must pass check_event_schema (the config reader checks it).
  EventSchema schema = default_event_schema();
};

class EventParser {
 public:
  explicit EventParser(ParserOptions options = {});
  ~EventParser();
  EventParser(const EventParser&) = delete;
  EventParser& operator=(const EventParser&) = delete;

  // Appends the good events of `raw` to `out` (all selected, no enrichment yet) and the bad ones to
  // `dead_letters`. Every message ends up in exactly one of the two.
  void parse(const RawBatch& raw, EventBatch& out, std::vector<DeadLetter>& dead_letters);

 private:
  struct Impl;
  ParserOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace enrichd
