// The filter stage: narrows a batch's selection by rules over its columns. It runs after parsing and
// before enrichment, so dropped events cost no lookups. Every rule must hold for an event to stay:
//   - ranges: a numeric column (event_id, user_id, pin_id, ts, a u64/i64/f64/timestamp [[schema.extra]]
//     column) in [min, max], inclusive ([[filter.range]], and ts_min/ts_max);
//   - required fields: action, app or ua non-empty, a [[schema.extra]] column not NULL (filter.require,
//     require_app, require_ua);
//   - include/exclude lists on a string column (action, app, ua, a string or enum [[schema.extra]] column)
//     ([[filter.match]], include_actions and the like). An empty include list admits every value.
// An ip [[schema.extra]] column takes only filter.require.
// A NULL extra has no value: it fails a range and an include list, and passes an exclude list (add the
// column to filter.require to drop NULLs there too). An f64 NaN fails every range.
//
// On a column with an enum dictionary ([schema.fields.<column>] values, an enum extra column) a list is
// resolved once, here, into a table indexed by code, so a row costs one load and no string compare. A
// listed value must then be in the dictionary (else a config error: it could only be a typo, or a value
// the dictionary should name). Kept unknown values (code kUnknownEnumCode) are thus in no list: an include
// list drops them, an exclude list keeps them, as comparing their strings would.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "host/event_batch.h"
#include "host/event_schema.h"
#include "host/status.h"
#include "pipeline/config.h"

namespace enrichd {

// The strings of one include or exclude list. The usual handful are compared one by one (length first,
// cheaper than a tree or a hash for so few); longer lists go into a hash set.
class FilterStringSet {
 public:
  FilterStringSet() = default;
  explicit FilterStringSet(const std::vector<std::string>& values);
  bool empty() const { return small_.empty() && large_.empty(); }
  bool contains(std::string_view value) const {
    if (large_.empty()) {
      for (const std::string& s : small_) {
        if (s == value) return true;
      }
      return false;
    }
    return large_.find(value) != large_.end();
  }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  static constexpr size_t kMaxSmall = 8;
  std::vector<std::string> small_;
  std::unordered_set<std::string, Hash, std::equal_to<>> large_;
};

namespace filter_detail {

// The column a rule reads.
enum class FilterColumnKind : uint8_t { kEventId, kUserId, kPinId, kTs, kAction, kApp, kUa, kExtra };
struct FilterColumn {
  FilterColumnKind kind = FilterColumnKind::kEventId;
  size_t extra = 0;  // kExtra: the index into EventBatch::extra
};

enum class NumberKind : uint8_t { kU64, kI64, kF64 };

struct RangeRule {
  FilterColumn column;
  NumberKind kind = NumberKind::kU64;
  uint64_t min_u64 = 0, max_u64 = UINT64_MAX;
  int64_t min_i64 = INT64_MIN, max_i64 = INT64_MAX;
  double min_f64 = 0, max_f64 = 0;
};

struct RequireRule {
  FilterColumn column;
};

struct MatchRule {
  FilterColumn column;
  FilterStringSet include, exclude;
  // With a dictionary: 1 where the value of that code is admitted, one entry per code and a last one for
  // every code past the dictionary (kUnknownEnumCode). Empty: no dictionary.
  std::vector<uint8_t> admit_by_code{};
};

}  // namespace filter_detail

class EventFilter {
 public:
  // No rules: every event stays.
  EventFilter() = default;
  // Checks the rules against the schema of the events (columns exist and have the rule's type, bounds fit
  // the column, listed values are in the column's dictionary) and resolves them. Errors name the config
  // key and the fix.
  static Result<EventFilter> create(const FilterConfig& config, const EventSchema& schema);

  // Removes rejected rows from batch.selected; returns how many were removed.
  size_t apply(EventBatch& batch) const;

  bool has_rules() const { return !ranges_.empty() || !requires_.empty() || !matches_.empty(); }
  // The rules, one phrase each ("action in [view, click] (enum codes); ts in [0, 1000]").
  std::string describe() const;

 private:
  friend class FilterBuilder;
  void apply_range(const filter_detail::RangeRule& rule, EventBatch& batch) const;
  void apply_require(const filter_detail::RequireRule& rule, EventBatch& batch) const;
  void apply_match(const filter_detail::MatchRule& rule, EventBatch& batch) const;

  // Applied in this order: the cheap numeric compares first, the string lists last.
  std::vector<filter_detail::RangeRule> ranges_;
  std::vector<filter_detail::RequireRule> requires_;
  std::vector<filter_detail::MatchRule> matches_;
  std::vector<std::string> descriptions_;
};

}  // namespace enrichd
