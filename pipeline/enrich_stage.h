// The enrich stage: gathers the selected rows' keys into dense arrays (IPv4, IPv6, category keys), runs
// the backend's lookups over them and scatters the results back into the batch's output columns.
#pragma once

#include <vector>

#include "host/category_table.h"
#include "host/event_batch.h"
#include "host/geo_table.h"
#include "kernels/backend.h"
#include "kernels/geo_lookup.h"
#include "pipeline/config.h"

namespace enrichd {

class EnrichStage {
 public:
  EnrichStage(EnrichBackend& backend, const GeoTable& geo, const CategoryTable& categories)
      : backend_(backend), geo_(&geo), categories_(&categories) {}
  // Without fixed tables: each batch names its own (they may be swapped between batches).
  explicit EnrichStage(EnrichBackend& backend) : backend_(backend) {}
  EnrichStage(EnrichBackend& backend, const CategoryTable& categories)
      : backend_(backend), categories_(&categories) {}

  // The columns the lookups read (the roles): the IP address ([schema.roles] ip) and the category join's
  // key (its key_field). By default the fixed columns ip and pin_id.
  void set_columns(ColumnRole ip, JoinConfig category_join) {
    ip_ = std::move(ip);
    category_join_ = std::move(category_join);
  }

  // With the tables given at construction.
  Status apply(EventBatch& batch) { return apply(batch, *geo_, *categories_); }
  Status apply(EventBatch& batch, const GeoTable& geo) { return apply(batch, geo, *categories_); }
  Status apply(EventBatch& batch, const GeoTable& geo, const CategoryTable& categories);

 private:
  EnrichBackend& backend_;
  const GeoTable* geo_ = nullptr;
  const CategoryTable* categories_ = nullptr;
  ColumnRole ip_{"ip"};
  JoinConfig category_join_;
  // Scratch reused across batches.
  GeoLookup geo_lookup_;
  std::vector<uint64_t> keys_;
  std::vector<uint32_t> out_;
};

}  // namespace enrichd
