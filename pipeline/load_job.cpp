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

int64_t newest_event_time_ms(const EventBatch& events, const ColumnRole& event_time) {
  int64_t newest = -1;
  if (event_time.none()) return newest;
  if (!event_time.is_extra) {
    for (uint32_t row : events.selected) newest = std::max(newest, events.ts_ms[row]);
    return newest;
  }
  if (event_time.extra >= events.extra.size()) return newest;
  const ExtraColumn& column = events.extra[event_time.extra];
  for (uint32_t row : events.selected) {
    if (column.present[row]) newest = std::max(newest, static_cast<int64_t>(column.bits[row]));
  }
  return newest;
}

}  // namespace enrichd
