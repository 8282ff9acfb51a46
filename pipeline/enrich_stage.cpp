#include "pipeline/enrich_stage.h"

namespace enrichd {

Status EnrichStage::apply(EventBatch& b, const GeoTable& geo, const CategoryTable& categories) {
  geo_lookup_.clear();
  pin_keys_.clear();
  for (uint32_t row : b.selected) {
    geo_lookup_.add(geo, row, b.ip[row]);
    pin_keys_.push_back(b.pin_id[row]);
  }
  if (Status s = geo_lookup_.run(backend_, geo); !s) return s;
  geo_lookup_.for_each_result([&b](uint32_t row, uint32_t record) { b.geo_record[row] = record; });

  out_.resize(pin_keys_.size());
  if (Status s = backend_.category_join(categories.view(), pin_keys_, out_); !s) return s;
  for (size_t i = 0; i < b.selected.size(); ++i) b.category_id[b.selected[i]] = out_[i];
  return Status::ok();
}

}  // namespace enrichd
