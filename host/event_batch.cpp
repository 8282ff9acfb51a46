#include "host/event_batch.h"

#include <numeric>

namespace enrichd {

void EventBatch::clear() {
  event_id.clear();
  ts_ms.clear();
  user_id.clear();
  pin_id.clear();
  action.clear();
  ip.clear();
  app.clear();
  ua.clear();
  position.clear();
  action_code.clear();
  app_code.clear();
  for (auto& column : extra) column.clear();
  selected.clear();
  geo_record.clear();
  category_id.clear();
  for (auto& column : join_id) column.clear();
}

void EventBatch::reserve_more(size_t rows) {
  const size_t n = size() + rows;
  event_id.reserve(n);
  ts_ms.reserve(n);
  user_id.reserve(n);
  pin_id.reserve(n);
  ip.reserve(n);
  position.reserve(n);
  selected.reserve(n);
}

void EventBatch::select_all() {
  selected.resize(size());
  std::iota(selected.begin(), selected.end(), 0U);
}

}  // namespace enrichd
