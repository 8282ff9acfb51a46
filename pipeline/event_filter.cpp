#include "pipeline/event_filter.h"

#include <algorithm>

namespace enrichd {

EventFilter::EventFilter(const FilterConfig& c)
    : include_actions_(c.include_actions.begin(), c.include_actions.end()),
      exclude_actions_(c.exclude_actions.begin(), c.exclude_actions.end()),
      include_apps_(c.include_apps.begin(), c.include_apps.end()),
      exclude_apps_(c.exclude_apps.begin(), c.exclude_apps.end()),
      require_app_(c.require_app),
      require_ua_(c.require_ua),
      ts_min_(c.ts_min_ms),
      ts_max_(c.ts_max_ms) {
  active_ = !include_actions_.empty() || !exclude_actions_.empty() || !include_apps_.empty() ||
            !exclude_apps_.empty() || require_app_ || require_ua_ || ts_min_ != INT64_MIN ||
            ts_max_ != INT64_MAX;
}

bool EventFilter::admits(const StringSet& include, const StringSet& exclude, std::string_view value) {
  if (!include.empty() && include.find(value) == include.end()) return false;
  return exclude.empty() || exclude.find(value) == exclude.end();
}

bool EventFilter::keep(const EventBatch& b, uint32_t row) const {
  const int64_t ts = b.ts_ms[row];
  if (ts < ts_min_ || ts > ts_max_) return false;
  if (require_app_ && b.app[row].empty()) return false;
  if (require_ua_ && b.ua[row].empty()) return false;
  return admits(include_actions_, exclude_actions_, b.action[row]) &&
         admits(include_apps_, exclude_apps_, b.app[row]);
}

size_t EventFilter::apply(EventBatch& batch) const {
  if (!active_) return 0;
  const size_t before = batch.selected.size();
  std::erase_if(batch.selected, [&](uint32_t row) { return !keep(batch, row); });
  return before - batch.selected.size();
}

}  // namespace enrichd
