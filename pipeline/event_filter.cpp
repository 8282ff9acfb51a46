#include "pipeline/event_filter.h"

#include <algorithm>

namespace enrichd {

EventFilter::EventFilter(const FilterConfig& config)
    : include_(config.include_actions.begin(), config.include_actions.end()),
      exclude_(config.exclude_actions.begin(), config.exclude_actions.end()) {}

bool EventFilter::keep(std::string_view action) const {
  if (!include_.empty() && include_.find(action) == include_.end()) return false;
  return exclude_.find(action) == exclude_.end();
}

size_t EventFilter::apply(EventBatch& batch) const {
  if (include_.empty() && exclude_.empty()) return 0;
  const size_t before = batch.selected.size();
  std::erase_if(batch.selected, [&](uint32_t row) { return !keep(batch.action[row]); });
  return before - batch.selected.size();
}

}  // namespace enrichd
