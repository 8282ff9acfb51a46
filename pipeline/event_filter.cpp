// The filter's hot path: each rule is one pass over the rows still selected, reading only its column, and
// compacting the selection without a branch on the outcome (selections are often unpredictable).
#include "pipeline/event_filter.h"

#include <algorithm>
#include <bit>

#include <fmt/format.h>

namespace enrichd {

using filter_detail::FilterColumnKind;
using filter_detail::MatchRule;
using filter_detail::NumberKind;
using filter_detail::RangeRule;
using filter_detail::RequireRule;

namespace {

// Keeps the rows of `selected` for which keep(row) holds, in order.
template <typename Keep>
void keep_rows(std::vector<uint32_t>& selected, Keep keep) {
  uint32_t* out = selected.data();
  size_t kept = 0;
  for (const uint32_t row : selected) {
    out[kept] = row;
    kept += keep(row) ? 1 : 0;
  }
  selected.resize(kept);
}

// `present` is null for columns that always have a value.
template <typename T, typename Load>
void keep_in_range(std::vector<uint32_t>& selected, const uint8_t* present, T min, T max, Load load) {
  if (present) {
    keep_rows(selected, [&](uint32_t row) {
      const T v = load(row);
      return (present[row] != 0) & (min <= v) & (v <= max);
    });
  } else {
    keep_rows(selected, [&](uint32_t row) {
      const T v = load(row);
      return (min <= v) & (v <= max);
    });
  }
}

const std::vector<uint64_t>* u64_column(const EventBatch& b, FilterColumnKind kind) {
  switch (kind) {
    case FilterColumnKind::kEventId:
      return &b.event_id;
    case FilterColumnKind::kUserId:
      return &b.user_id;
    case FilterColumnKind::kPinId:
      return &b.pin_id;
    default:
      return nullptr;
  }
}

const StringColumn& string_column(const EventBatch& b, const filter_detail::FilterColumn& c) {
  switch (c.kind) {
    case FilterColumnKind::kAction:
      return b.action;
    case FilterColumnKind::kApp:
      return b.app;
    case FilterColumnKind::kUa:
      return b.ua;
    default:
      return b.extra[c.extra].str;
  }
}

}  // namespace

FilterStringSet::FilterStringSet(const std::vector<std::string>& values) {
  for (const std::string& v : values) {
    if (std::find(small_.begin(), small_.end(), v) == small_.end()) small_.push_back(v);
  }
  if (small_.size() > kMaxSmall) {
    large_.insert(small_.begin(), small_.end());
    small_.clear();
  }
}

void EventFilter::apply_range(const RangeRule& r, EventBatch& b) const {
  std::vector<uint32_t>& sel = b.selected;
  if (r.column.kind == FilterColumnKind::kTs) {
    const int64_t* ts = b.ts_ms.data();
    keep_in_range(sel, nullptr, r.min_i64, r.max_i64, [ts](uint32_t row) { return ts[row]; });
    return;
  }
  if (const std::vector<uint64_t>* column = u64_column(b, r.column.kind)) {
    const uint64_t* v = column->data();
    keep_in_range(sel, nullptr, r.min_u64, r.max_u64, [v](uint32_t row) { return v[row]; });
    return;
  }
  const ExtraColumn& extra = b.extra[r.column.extra];
  const uint64_t* bits = extra.bits.data();
  const uint8_t* present = extra.present.data();
  switch (r.kind) {
    case NumberKind::kU64:
      keep_in_range(sel, present, r.min_u64, r.max_u64, [bits](uint32_t row) { return bits[row]; });
      break;
    case NumberKind::kI64:
      keep_in_range(sel, present, r.min_i64, r.max_i64,
                    [bits](uint32_t row) { return static_cast<int64_t>(bits[row]); });
      break;
    case NumberKind::kF64:
      keep_in_range(sel, present, r.min_f64, r.max_f64,
                    [bits](uint32_t row) { return std::bit_cast<double>(bits[row]); });
      break;
  }
}

void EventFilter::apply_require(const RequireRule& r, EventBatch& b) const {
  if (r.column.kind == FilterColumnKind::kExtra) {
    const uint8_t* present = b.extra[r.column.extra].present.data();
    keep_rows(b.selected, [present](uint32_t row) { return present[row] != 0; });
    return;
  }
  const StringColumn& column = string_column(b, r.column);
  keep_rows(b.selected, [&column](uint32_t row) { return !column[row].empty(); });
}

void EventFilter::apply_match(const MatchRule& r, EventBatch& b) const {
  if (!r.admit_by_code.empty() && r.column.kind == FilterColumnKind::kExtra) {
    // An enum extra column: its codes are its bits; NULL is in no list.
    const ExtraColumn& extra = b.extra[r.column.extra];
    const uint64_t* code = extra.bits.data();
    const uint8_t* present = extra.present.data();
    const uint8_t* admit = r.admit_by_code.data();
    const size_t past_dictionary = r.admit_by_code.size() - 1;
    const bool null_admitted = r.include.empty();
    keep_rows(b.selected, [=](uint32_t row) {
      return present[row] != 0 ? admit[std::min<uint64_t>(code[row], past_dictionary)] != 0 : null_admitted;
    });
    return;
  }
  const std::vector<uint16_t>* codes = r.column.kind == FilterColumnKind::kAction ? &b.action_code
                                       : r.column.kind == FilterColumnKind::kApp  ? &b.app_code
                                                                                  : nullptr;
  // A batch without codes (parsed without the dictionary) takes the string path below.
  if (!r.admit_by_code.empty() && codes && codes->size() == b.size()) {
    const uint16_t* code = codes->data();
    const uint8_t* admit = r.admit_by_code.data();
    const size_t past_dictionary = r.admit_by_code.size() - 1;
    keep_rows(b.selected,
              [=](uint32_t row) { return admit[std::min<size_t>(code[row], past_dictionary)] != 0; });
    return;
  }
  const StringColumn& column = string_column(b, r.column);
  const uint8_t* present =
      r.column.kind == FilterColumnKind::kExtra ? b.extra[r.column.extra].present.data() : nullptr;
  const bool any_value = r.include.empty();  // NULL: in no list
  keep_rows(b.selected, [&](uint32_t row) {
    if (present && present[row] == 0) return any_value;
    const std::string_view v = column[row];
    return (any_value || r.include.contains(v)) && !r.exclude.contains(v);
  });
}

size_t EventFilter::apply(EventBatch& batch) const {
  const size_t before = batch.selected.size();
  for (const RangeRule& r : ranges_) {
    if (batch.selected.empty()) break;
    apply_range(r, batch);
  }
  for (const RequireRule& r : requires_) {
    if (batch.selected.empty()) break;
    apply_require(r, batch);
  }
  for (const MatchRule& r : matches_) {
    if (batch.selected.empty()) break;
    apply_match(r, batch);
  }
  return before - batch.selected.size();
}

std::string EventFilter::describe() const {
  if (descriptions_.empty()) return "no rules: every event passes";
  return fmt::format("{}", fmt::join(descriptions_, "; "));
}

}  // namespace enrichd
