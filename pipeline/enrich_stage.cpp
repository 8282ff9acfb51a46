#include "pipeline/enrich_stage.h"

namespace enrichd {

Status EnrichStage::apply(EventBatch& b) {
  v4_rows_.clear();
  v4_keys_.clear();
  v6_rows_.clear();
  v6_keys_.clear();
  pin_keys_.clear();
  for (uint32_t row : b.selected) {
    const IpAddress& ip = b.ip[row];
    if (ip.is_v6) {
      v6_rows_.push_back(row);
      v6_keys_.push_back(ip.v6);
    } else {
      v4_rows_.push_back(row);
      v4_keys_.push_back(ip.v4);
    }
    pin_keys_.push_back(b.pin_id[row]);
  }
  const GeoTableView geo = geo_.view();

  out_.resize(v4_keys_.size());
  if (Status s = backend_.geo_lookup_v4(geo, v4_keys_, out_); !s) return s;
  for (size_t i = 0; i < v4_rows_.size(); ++i) b.geo_record[v4_rows_[i]] = out_[i];

  out_.resize(v6_keys_.size());
  if (Status s = backend_.geo_lookup_v6(geo, v6_keys_, out_); !s) return s;
  for (size_t i = 0; i < v6_rows_.size(); ++i) b.geo_record[v6_rows_[i]] = out_[i];

  out_.resize(pin_keys_.size());
  if (Status s = backend_.category_join(categories_.view(), pin_keys_, out_); !s) return s;
  for (size_t i = 0; i < b.selected.size(); ++i) b.category_id[b.selected[i]] = out_[i];
  return Status::ok();
}

}  // namespace enrichd
