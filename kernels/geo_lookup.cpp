#include "kernels/geo_lookup.h"

namespace enrichd {

void GeoLookup::clear() {
  v4_rows_.clear();
  v4_keys_.clear();
  v6_rows_.clear();
  v6_keys_.clear();
}

void GeoLookup::add(const GeoTable& table, uint32_t row, const IpAddress& ip) {
  if (!ip.is_v6) {
    v4_rows_.push_back(row);
    v4_keys_.push_back(ip.v4);
  } else if (auto v4 = table.v4_alias_of(ip.v6)) {
    v4_rows_.push_back(row);
    v4_keys_.push_back(*v4);
  } else {
    v6_rows_.push_back(row);
    v6_keys_.push_back(ip.v6);
  }
}

Status GeoLookup::run(EnrichBackend& backend, const GeoTable& table) {
  const GeoTableView view = table.view();
  v4_out_.resize(v4_keys_.size());
  if (Status s = backend.geo_lookup_v4(view, v4_keys_, v4_out_); !s) return s;
  v6_out_.resize(v6_keys_.size());
  return backend.geo_lookup_v6(view, v6_keys_, v6_out_);
}

}  // namespace enrichd
