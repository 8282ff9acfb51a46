#include "pipeline/load_job.h"

#include <map>

#include "host/row_encoder.h"

namespace enrichd {

LoadJob make_load_job(const RawBatch& raw, const std::vector<PartitionStart>& starts,
                      const EventBatch& events, const std::vector<DeadLetter>& dead_letters,
                      const GeoTable& geo, const CategoryTable& categories, const std::string& topic,
                      JoinTables joins, EnumCodeColumns codes) {
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
    encode_row(events, row, geo, categories, seg.rows, joins, codes);
    ++seg.row_count;
  }
  for (const DeadLetter& d : dead_letters) {
    PartitionSegment& seg = job.segments[index.at(d.position.partition)];
    encode_dead_letter(d, topic, seg.dead_letters);
    ++seg.dead_letter_count;
  }
  return job;
}

}  // namespace enrichd
