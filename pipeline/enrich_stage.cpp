#include "pipeline/enrich_stage.h"

#include "pipeline/join_table.h"

namespace enrichd {

Status EnrichStage::apply(EventBatch& b, const GeoTable& geo, const CategoryTable& categories) {
  geo_lookup_.clear();
  if (!ip_.is_extra) {
    for (uint32_t row : b.selected) geo_lookup_.add(geo, row, b.ip[row]);
  } else {
    // An extra IP column ([[schema.extra]] type ip): a NULL address gets no record.
    if (ip_.extra >= b.extra.size() || b.extra[ip_.extra].ip.size() != b.size()) {
      return Status::errorf("IP column '{}' is not an ip column of the batch", ip_.column);
    }
    const ExtraColumn& column = b.extra[ip_.extra];
    for (uint32_t row : b.selected) {
      if (column.present[row]) {
        geo_lookup_.add(geo, row, column.ip[row]);
      } else {
        b.geo_record[row] = kNoRecord;
      }
    }
  }
  if (Status s = geo_lookup_.run(backend_, geo); !s) return s;
  geo_lookup_.for_each_result([&b](uint32_t row, uint32_t record) { b.geo_record[row] = record; });
  return join_column(backend_, b, category_join_, categories, b.category_id, keys_, out_);
}

}  // namespace enrichd
