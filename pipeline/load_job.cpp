#include "pipeline/load_job.h"

#include <algorithm>
#include <map>

#include "host/row_encoder.h"

namespace enrichd {

LoadJob make_load_job(const RawBatch& raw, const std::vector<PartitionStart>& starts,
                      const EventBatch& events, const std::vector<DeadLetter>& dead_letters,
                      const GeoTable& geo, const CategoryTable& categories, const std::string& topic,
                      JoinTables joins, RowLayout layout) {
  LoadJob job;
  std::map<int32_t, size_t> index;
  for (const PartitionOffset& po : raw.next_offsets()) {
    index[po.partition] = job.segments.size();
    PartitionSegment seg;
    seg.partition = po.partition;
    seg.next_offset = po.next_offset;
    for (const PartitionStart& st : starts) {
      if (st.partition == po.partition) {
        seg.start_offset = st.start_offset;
        seg.epoch = st.epoch;
      }
    }
    job.segments.push_back(std::move(seg));
  }
  for (uint32_t row : events.selected) {
    PartitionSegment& seg = job.segments[index.at(events.position[row].partition)];
    encode_row(events, row, geo, categories, seg.rows, joins, layout);
    ++seg.row_count;
  }
  for (const DeadLetter& d : dead_letters) {
    PartitionSegment& seg = job.segments[index.at(d.position.partition)];
    encode_dead_letter(d, topic, seg.dead_letters);
    ++seg.dead_letter_count;
  }
  return job;
}

void note_newest_event_times(const EventBatch& events, const ColumnRole& event_time, LoadJob& job) {
  if (event_time.none() || job.segments.empty()) return;
  const int64_t* ms = events.ts_ms.data();
  const uint8_t* present = nullptr;  // an extra's NULL flags
  if (event_time.is_extra) {
    if (event_time.extra >= events.extra.size()) return;
    const ExtraColumn& column = events.extra[event_time.extra];
    ms = reinterpret_cast<const int64_t*>(column.bits.data());  // epoch ms as int64_t bits
    present = column.present.data();
  }
  PartitionSegment* seg = &job.segments.front();  // rows come in runs of one partition
  for (uint32_t row : events.selected) {
    if (present && !present[row]) continue;
    const int32_t partition = events.position[row].partition;
    if (seg->partition != partition) {
      for (PartitionSegment& other : job.segments) {
        if (other.partition == partition) seg = &other;
      }
    }
    seg->newest_event_ms = std::max(seg->newest_event_ms, ms[row]);
  }
}

}  // namespace enrichd
