// The enrich stage: gathers the selected rows' keys into dense arrays (IPv4, IPv6, pin ids), runs the
// backend's lookups over them and scatters the results back into the batch's output columns.
#pragma once

#include <vector>

#include "host/category_table.h"
#include "host/event_batch.h"
#include "host/geo_table.h"
#include "kernels/backend.h"
#include "kernels/geo_lookup.h"

namespace enrichd {

class EnrichStage {
 public:
  EnrichStage(EnrichBackend& backend, const GeoTable& geo, const CategoryTable& categories)
      : backend_(backend), geo_(&geo), categories_(&categories) {}
  // Without fixed tables: each batch names its own (they may be swapped between batches).
  explicit EnrichStage(EnrichBackend& backend) : backend_(backend) {}
  EnrichStage(EnrichBackend& backend, const CategoryTable& categories)
      : backend_(backend), categories_(&categories) {}

  // With the tables given at construction.
  Status apply(EventBatch& batch) { return apply(batch, *geo_, *categories_); }
  Status apply(EventBatch& batch, const GeoTable& geo) { return apply(batch, geo, *categories_); }
  Status apply(EventBatch& batch, const GeoTable& geo, const CategoryTable& categories);

 private:
  EnrichBackend& backend_;
  const GeoTable* geo_ = nullptr;
  const CategoryTable* categories_ = nullptr;
  // Scratch reused across batches.
  GeoLookup geo_lookup_;
  std::vector<uint64_t> pin_keys_;
  std::vector<uint32_t> out_;
};

}  // namespace enrichd
