// What the worker hands the sink: per partition, the encoded rows and dead letters of one batch and the
// offsets they cover, so that the sink can fence, load and commit them together (or drop one partition's
// work when another member got there first).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "host/category_table.h"
#include "host/dead_letter.h"
#include "host/event_batch.h"
#include "host/geo_table.h"
#include "host/row_encoder.h"
#include "pipeline/config.h"
#include "pipeline/source.h"

namespace enrichd {

struct PartitionSegment {
  int32_t partition = 0;
  int64_t start_offset = -1;  // the consumer's position before these messages (-1: never stored)
  int64_t next_offset = 0;    // last offset + 1
  uint64_t epoch = 0;         // the source's position epoch for the partition
  std::string rows;           // LOAD DATA text of the output table
  size_t row_count = 0;
  std::string dead_letters;  // LOAD DATA text of the dead-letter table
  size_t dead_letter_count = 0;
  // The newest event time of its rows (the event-time role), epoch ms; -1 when none (no rows, no role).
  // Kept per segment: the sink may split a job by partition and drop segments another member loaded.
  int64_t newest_event_ms = -1;
};

struct LoadJob {
  std::vector<PartitionSegment> segments;

  size_t row_count() const {
    size_t n = 0;
    for (const auto& s : segments) n += s.row_count;
    return n;
  }
  size_t dead_letter_count() const {
    size_t n = 0;
    for (const auto& s : segments) n += s.dead_letter_count;
    return n;
  }
};

// The encode stage: groups a parsed, filtered and enriched batch by partition, with each partition's rows
// (LOAD DATA text of the selected events) and dead letters and the offsets they cover. `raw` is the batch
// `events` and `dead_letters` were parsed from, `starts` where its partitions' runs begin (none for a
// replay without offsets), `topic` what the dead letters record, and `layout` the enum columns the table
// holds as codes and the fixed columns it leaves out (SinkConfig::row_layout).
LoadJob make_load_job(const RawBatch& raw, const std::vector<PartitionStart>& starts,
                      const EventBatch& events, const std::vector<DeadLetter>& dead_letters,
                      const GeoTable& geo, const CategoryTable& categories, const std::string& topic,
                      JoinTables joins = {}, RowLayout layout = {});

// Sets each segment's newest_event_ms: the newest event time among the selected rows of `events` of its
// partition, in the column of the event-time role ([schema.roles] event_time: ts, or a timestamp extra
// whose NULLs are skipped). `job` is make_load_job's for `events`.
void note_newest_event_times(const EventBatch& events, const ColumnRole& event_time, LoadJob& job);

}  // namespace enrichd
