// The filter stage: narrows a batch's selection by rules over its columns (for now the action include /
// exclude lists). It runs after parsing and before enrichment, so dropped events cost no lookups.
#pragma once

#include <set>
#include <string>

#include "host/event_batch.h"
#include "pipeline/config.h"

namespace enrichd {

class EventFilter {
 public:
  explicit EventFilter(const FilterConfig& config);
  // Removes rejected rows from batch.selected; returns how many were removed.
  size_t apply(EventBatch& batch) const;

 private:
  bool keep(std::string_view action) const;
  std::set<std::string, std::less<>> include_, exclude_;
};

}  // namespace enrichd
