// EventFilter::create: the rules of the config checked against the schema of the events and resolved for
// the hot path (event_filter.cpp). Every error names the config key and the fix.
#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <variant>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "host/timestamp.h"
#include "pipeline/event_filter.h"

namespace enrichd {

using filter_detail::FilterColumn;
using filter_detail::FilterColumnKind;
using filter_detail::MatchRule;
using filter_detail::NumberKind;
using filter_detail::RangeRule;
using filter_detail::RequireRule;

namespace {

// What a column holds, as far as the rules care.
enum class ValueType { kU64, kI64, kF64, kTs, kString, kIp };

std::string_view to_string(ValueType t) {
  switch (t) {
    case ValueType::kU64:
      return "u64";
    case ValueType::kI64:
      return "i64";
    case ValueType::kF64:
      return "f64";
    case ValueType::kTs:
      return "timestamp";
    case ValueType::kString:
      return "string";
    case ValueType::kIp:
      return "ip";
  }
  return "?";
}

// "a u64", "an i64": the type with its article, for messages.
std::string with_article(ValueType t) {
  const bool vowel = t == ValueType::kI64 || t == ValueType::kF64 || t == ValueType::kIp;
  return fmt::format("{} {}", vowel ? "an" : "a", to_string(t));
}

bool is_number(ValueType t) {
  return t == ValueType::kU64 || t == ValueType::kI64 || t == ValueType::kF64 || t == ValueType::kTs;
}

struct ResolvedColumn {
  FilterColumn column;
  ValueType type = ValueType::kU64;
  bool is_extra = false;
  const std::vector<std::string>* dictionary = nullptr;  // action, app, enum extras: the values, when any
  std::string dictionary_key{};                          // the config key that lists them
};

// A bound as the config wrote it, for messages.
std::string bound_text(const FilterBound& b) {
  return std::visit([](const auto& v) { return fmt::format("{}", v); }, b);
}

}  // namespace

// Builds an EventFilter rule by rule (a friend of EventFilter).
class FilterBuilder {
 public:
  explicit FilterBuilder(const EventSchema& schema) : schema_(schema) {}

  Status add_range(const FilterRange& range, const std::string& table);
  Status add_ts_range(int64_t min, int64_t max);
  Status add_require(const std::string& name, const std::string& key);
  Status add_match(const std::string& name, const std::string& column_key,
                   const std::vector<std::string>& include, const std::string& include_key,
                   const std::vector<std::string>& exclude, const std::string& exclude_key);

  EventFilter filter;

 private:
  std::optional<ResolvedColumn> find(std::string_view name) const;
  // " (dropped: ...)" when `name` is a dropped fixed column, for messages.
  std::string dropped_note(std::string_view name) const {
    return schema_.is_dropped(name) ? fmt::format(" (dropped: [schema.fields.{}] drop = true)", name) : "";
  }
  // The names of the columns for which `wanted` holds, for messages.
  template <typename Pred>
  std::string names(Pred wanted) const;
  Status convert_bound(const FilterBound& bound, ValueType type, const std::string& key,
                       std::string_view column, RangeRule& rule, bool is_min) const;

  const EventSchema& schema_;
};

std::optional<ResolvedColumn> FilterBuilder::find(std::string_view name) const {
  static constexpr std::array<std::pair<FilterColumnKind, ValueType>, kSchemaColumnCount> kFixed = {{
      {FilterColumnKind::kEventId, ValueType::kU64},
      {FilterColumnKind::kTs, ValueType::kTs},
      {FilterColumnKind::kUserId, ValueType::kU64},
      {FilterColumnKind::kPinId, ValueType::kU64},
      {FilterColumnKind::kAction, ValueType::kString},
      {FilterColumnKind::kEventId, ValueType::kIp},  // ip: no rule reads it
      {FilterColumnKind::kApp, ValueType::kString},
      {FilterColumnKind::kUa, ValueType::kString},
  }};
  for (size_t i = 0; i < kSchemaColumnCount; ++i) {
    const auto c = static_cast<SchemaColumn>(i);
    if (column_name(c) != name || schema_[c].drop) continue;  // a dropped column's name may be an extra's
    ResolvedColumn r{.column = {.kind = kFixed[i].first}, .type = kFixed[i].second};
    if ((c == SchemaColumn::kAction || c == SchemaColumn::kApp) && !schema_[c].values.empty()) {
      r.dictionary = &schema_[c].values;
      r.dictionary_key = fmt::format("schema.fields.{}.values", name);
    }
    return r;
  }
  for (size_t i = 0; i < schema_.extra.size(); ++i) {
    const ExtraField& e = schema_.extra[i];
    if (e.name != name) continue;
    // An enum reads as a string (by code: it always has a dictionary), a timestamp as ts does.
    constexpr std::array<ValueType, 7> kTypes = {ValueType::kU64,    ValueType::kI64, ValueType::kF64,
                                                 ValueType::kString, ValueType::kIp,  ValueType::kTs,
                                                 ValueType::kString};
    ResolvedColumn r{.column = {.kind = FilterColumnKind::kExtra, .extra = i},
                     .type = kTypes[static_cast<size_t>(e.type)],
                     .is_extra = true};
    if (e.type == ExtraType::kEnum) {
      r.dictionary = &e.values;
      r.dictionary_key = fmt::format("schema.extra[{}].values", i);
    }
    return r;
  }
  return std::nullopt;
}

template <typename Pred>
std::string FilterBuilder::names(Pred wanted) const {
  std::vector<std::string> out;
  for (size_t i = 0; i < kSchemaColumnCount; ++i) {
    const std::string_view name = column_name(static_cast<SchemaColumn>(i));
    if (!schema_.fields[i].drop && wanted(*find(name))) out.emplace_back(name);
  }
  for (const ExtraField& e : schema_.extra) {
    if (wanted(*find(e.name))) out.push_back(e.name);
  }
  return fmt::format("{}", fmt::join(out, ", "));
}

Status FilterBuilder::convert_bound(const FilterBound& bound, ValueType type, const std::string& key,
                                    std::string_view column, RangeRule& rule, bool is_min) const {
  const int64_t* integer = std::get_if<int64_t>(&bound);
  const double* real = std::get_if<double>(&bound);
  const auto wrong = [&](std::string_view what) {
    return Status::errorf("config key '{}' is {}, must be {} ({} is {})", key, bound_text(bound), what,
                          column, to_string(type));
  };
  switch (type) {
    case ValueType::kU64:
      if (!integer || *integer < 0) return wrong("a non-negative integer");
      (is_min ? rule.min_u64 : rule.max_u64) = static_cast<uint64_t>(*integer);
      rule.kind = NumberKind::kU64;
      return Status::ok();
    case ValueType::kI64:
      if (!integer) return wrong("an integer");
      (is_min ? rule.min_i64 : rule.max_i64) = *integer;
      rule.kind = NumberKind::kI64;
      return Status::ok();
    case ValueType::kTs: {
      std::optional<int64_t> ms;
      if (integer) ms = *integer;
      if (const auto* text = std::get_if<std::string>(&bound)) ms = parse_datetime_ms(*text);
      if (!ms) return wrong("epoch milliseconds or an RFC 3339 date-time such as \"2024-01-01T00:00:00Z\"");
      (is_min ? rule.min_i64 : rule.max_i64) = *ms;
      rule.kind = NumberKind::kI64;
      return Status::ok();
    }
    case ValueType::kF64:
      if (!integer && (!real || std::isnan(*real))) return wrong("a number");
      (is_min ? rule.min_f64 : rule.max_f64) = integer ? static_cast<double>(*integer) : *real;
      rule.kind = NumberKind::kF64;
      return Status::ok();
    case ValueType::kString:
    case ValueType::kIp:
      break;
  }
  return wrong("a number");
}

Status FilterBuilder::add_range(const FilterRange& range, const std::string& table) {
  const std::string column_key = table + ".column";
  const auto numeric = [](const ResolvedColumn& c) { return is_number(c.type); };
  const std::optional<ResolvedColumn> c = find(range.column);
  if (!c) {
    return Status::errorf("config key '{}' is '{}', which is no column{}: name one of the numeric columns {}",
                          column_key, range.column, dropped_note(range.column), names(numeric));
  }
  if (!is_number(c->type)) {
    return Status::errorf(
        "config key '{}' is '{}', {} column: a range applies to the numeric columns ({}); lists of values "
        "go in [[filter.match]]",
        column_key, range.column, with_article(c->type), names(numeric));
  }
  if (!range.min && !range.max) {
    return Status::errorf("config table [[{}]] needs min, max or both (inclusive bounds)", table);
  }
  RangeRule rule{.column = c->column, .min_f64 = -HUGE_VAL, .max_f64 = HUGE_VAL};
  if (range.min) {
    if (Status s = convert_bound(*range.min, c->type, table + ".min", range.column, rule, true); !s) return s;
  }
  if (range.max) {
    if (Status s = convert_bound(*range.max, c->type, table + ".max", range.column, rule, false); !s)
      return s;
  }
  const bool empty = rule.kind == NumberKind::kU64   ? rule.min_u64 > rule.max_u64
                     : rule.kind == NumberKind::kI64 ? rule.min_i64 > rule.max_i64
                                                     : rule.min_f64 > rule.max_f64;
  const std::string min_text = range.min ? bound_text(*range.min) : "";
  const std::string max_text = range.max ? bound_text(*range.max) : "";
  if (empty) {
    return Status::errorf(
        "config keys '{0}.min' and '{0}.max' give an empty range ({1} is after {2}): swap them, or fix the "
        "one that is wrong",
        table, min_text, max_text);
  }
  filter.ranges_.push_back(rule);
  filter.descriptions_.push_back(range.min && range.max
                                     ? fmt::format("{} in [{}, {}]", range.column, min_text, max_text)
                                 : range.min ? fmt::format("{} >= {}", range.column, min_text)
                                             : fmt::format("{} <= {}", range.column, max_text));
  if (c->is_extra) filter.descriptions_.back() += " (NULL fails)";
  return Status::ok();
}

Status FilterBuilder::add_ts_range(int64_t min, int64_t max) {
  if (min > max) {
    return Status::error(
        "config keys 'filter.ts_min' and 'filter.ts_max' give an empty range (min after max): swap them");
  }
  if (min == INT64_MIN && max == INT64_MAX) return Status::ok();
  if (schema_[SchemaColumn::kTs].drop) {
    return Status::error(
        "config keys 'filter.ts_min'/'filter.ts_max' read ts, which [schema.fields.ts] drop = true leaves "
        "out: "
        "use a [[filter.range]] on the event-time column instead");
  }
  filter.ranges_.push_back(RangeRule{
      .column = {.kind = FilterColumnKind::kTs}, .kind = NumberKind::kI64, .min_i64 = min, .max_i64 = max});
  filter.descriptions_.push_back(min == INT64_MIN   ? fmt::format("ts <= {} ms", max)
                                 : max == INT64_MAX ? fmt::format("ts >= {} ms", min)
                                                    : fmt::format("ts in [{}, {}] ms", min, max));
  return Status::ok();
}

Status FilterBuilder::add_require(const std::string& name, const std::string& key) {
  const auto requirable = [](const ResolvedColumn& c) { return c.is_extra || c.type == ValueType::kString; };
  const std::optional<ResolvedColumn> c = find(name);
  if (!c) {
    return Status::errorf("config key '{}' names '{}', which is no column{}: name one of {}", key, name,
                          dropped_note(name), names(requirable));
  }
  if (!requirable(*c)) {
    return Status::errorf(
        "config key '{}' names '{}', which every event has (the parser dead-letters events without it, or "
        "fills in its default): remove it there; to demand it in events, leave [schema.fields.{}] "
        "required = true (the default)",
        key, name, name);
  }
  filter.requires_.push_back(RequireRule{c->column});
  filter.descriptions_.push_back(fmt::format("{} {}", name, c->is_extra ? "not NULL" : "not empty"));
  return Status::ok();
}

Status FilterBuilder::add_match(const std::string& name, const std::string& column_key,
                                const std::vector<std::string>& include, const std::string& include_key,
                                const std::vector<std::string>& exclude, const std::string& exclude_key) {
  const auto strings = [](const ResolvedColumn& c) { return c.type == ValueType::kString; };
  const std::optional<ResolvedColumn> c = find(name);
  if (!c) {
    return Status::errorf("config key '{}' is '{}', which is no column{}: name one of the string columns {}",
                          column_key, name, dropped_note(name), names(strings));
  }
  if (!strings(*c)) {
    return Status::errorf(
        "config key '{}' is '{}', {} column: include/exclude lists apply to the string columns ({}); "
        "numbers go in [[filter.range]]",
        column_key, name, with_article(c->type), names(strings));
  }
  MatchRule rule{
      .column = c->column, .include = FilterStringSet(include), .exclude = FilterStringSet(exclude)};
  if (const std::vector<std::string>* dictionary = c->dictionary) {
    for (const auto& [list, key] : {std::pair{&include, &include_key}, std::pair{&exclude, &exclude_key}}) {
      for (const std::string& v : *list) {
        if (std::find(dictionary->begin(), dictionary->end(), v) == dictionary->end()) {
          return Status::errorf(
              "config key '{}' lists '{}', which is not in the dictionary of {} "
              "({}): add it to the dictionary, or remove it from the list",
              *key, v, name, c->dictionary_key);
        }
      }
    }
    // One entry per code, and the last for a kept unknown value, which is in no list.
    rule.admit_by_code.resize(dictionary->size() + 1);
    for (size_t code = 0; code < dictionary->size(); ++code) {
      const std::string& v = (*dictionary)[code];
      rule.admit_by_code[code] = (include.empty() || rule.include.contains(v)) && !rule.exclude.contains(v);
    }
    rule.admit_by_code.back() = include.empty();
  }
  std::string text = name;
  if (!include.empty()) text += fmt::format(" in [{}]", fmt::join(include, ", "));
  if (!include.empty() && !exclude.empty()) text += " and";
  if (!exclude.empty()) text += fmt::format(" not in [{}]", fmt::join(exclude, ", "));
  if (c->dictionary) text += " (by enum code)";
  if (c->is_extra) text += include.empty() ? " (NULL passes)" : " (NULL fails)";
  filter.matches_.push_back(std::move(rule));
  filter.descriptions_.push_back(std::move(text));
  return Status::ok();
}

Result<EventFilter> EventFilter::create(const FilterConfig& config, const EventSchema& schema) {
  FilterBuilder b(schema);
  if (Status s = b.add_ts_range(config.ts_min_ms, config.ts_max_ms); !s) return s;
  for (size_t i = 0; i < config.ranges.size(); ++i) {
    if (Status s = b.add_range(config.ranges[i], fmt::format("filter.range[{}]", i)); !s) return s;
  }
  if (config.require_app) {
    if (Status s = b.add_require("app", "filter.require_app"); !s) return s;
  }
  if (config.require_ua) {
    if (Status s = b.add_require("ua", "filter.require_ua"); !s) return s;
  }
  for (const std::string& name : config.require) {
    if (Status s = b.add_require(name, "filter.require"); !s) return s;
  }
  if (!config.include_actions.empty() || !config.exclude_actions.empty()) {
    if (Status s = b.add_match("action", "filter.include_actions", config.include_actions,
                               "filter.include_actions", config.exclude_actions, "filter.exclude_actions");
        !s) {
      return s;
    }
  }
  if (!config.include_apps.empty() || !config.exclude_apps.empty()) {
    if (Status s = b.add_match("app", "filter.include_apps", config.include_apps, "filter.include_apps",
                               config.exclude_apps, "filter.exclude_apps");
        !s) {
      return s;
    }
  }
  for (size_t i = 0; i < config.matches.size(); ++i) {
    const FilterMatch& m = config.matches[i];
    const std::string table = fmt::format("filter.match[{}]", i);
    if (m.include.empty() && m.exclude.empty()) {
      return Status::errorf("config table [[{}]] lists no values: give include, exclude or both (non-empty)",
                            table);
    }
    if (Status s = b.add_match(m.column, table + ".column", m.include, table + ".include", m.exclude,
                               table + ".exclude");
        !s) {
      return s;
    }
  }
  return std::move(b.filter);
}

}  // namespace enrichd
