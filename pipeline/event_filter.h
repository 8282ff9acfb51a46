// The filter stage: narrows a batch's selection by rules over its columns. It runs after parsing and
// before enrichment, so dropped events cost no lookups. Rules (all must hold for an event to stay):
//   - include/exclude lists on the action and app columns (an empty include list admits every value);
//   - required fields: the optional app / ua columns must be non-empty;
//   - an event-time range [ts_min, ts_max] (epoch ms, inclusive).
#pragma once

#include <cstdint>
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
  using StringSet = std::set<std::string, std::less<>>;
  static bool admits(const StringSet& include, const StringSet& exclude, std::string_view value);
  bool keep(const EventBatch& batch, uint32_t row) const;

  StringSet include_actions_, exclude_actions_, include_apps_, exclude_apps_;
  bool require_app_ = false, require_ua_ = false;
  int64_t ts_min_ = INT64_MIN, ts_max_ = INT64_MAX;
  bool active_ = false;  // any rule at all
};

}  // namespace enrichd
