// The filter stage's rules over parsed batches: every rule on every kind of column, NULL extras, enum codes
// (and that they are what decides), and the code path against the string path on random batches.
#include "pipeline/event_filter.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "host/event_parser.h"

namespace enrichd {
namespace {

// The engagement schema plus pass-through columns of every type, and optionally dictionaries.
EventSchema test_schema(bool dictionaries) {
  EventSchema s = default_event_schema();
  for (const auto& [name, type] :
       {std::pair{"country", ExtraType::kString}, std::pair{"dwell_ms", ExtraType::kU64},
        std::pair{"delta", ExtraType::kI64}, std::pair{"score", ExtraType::kF64}}) {
    ExtraField e;
    e.name = e.path = name;
    e.type = type;
    s.extra.push_back(e);
  }
  if (dictionaries) {
    s[SchemaColumn::kAction].values = {"view", "click", "save", "hide"};
    s[SchemaColumn::kApp].values = {"ios", "android", "web", ""};
  }
  return s;
}

EventBatch parse(const std::vector<std::string>& messages, const EventSchema& schema) {
  RawBatch raw;
  for (size_t i = 0; i < messages.size(); ++i) raw.add(messages[i], {0, static_cast<int64_t>(i)});
  EventParser parser(ParserOptions{.schema = schema});
  EventBatch batch;
  std::vector<DeadLetter> dead;
  parser.parse(raw, batch, dead);
  EXPECT_TRUE(dead.empty()) << (dead.empty() ? "" : std::string(to_string(dead[0].reason)));
  return batch;
}

std::string event(int id, const char* action, const char* app, const char* ua, int64_t ts,
                  const std::string& extra = "") {
  return fmt::format(
      R"({{"event_id":{},"ts":{},"user_id":{},"pin_id":{},"action":"{}","ip":"1.2.3.4","app":"{}","ua":"{}"{}}})",
      id, ts, id * 10, id * 100, action, app, ua, extra.empty() ? "" : "," + extra);
}

// The event ids `config` keeps of `batch` (filter built over `schema`).
std::vector<uint64_t> kept_ids(const FilterConfig& config, EventBatch batch, const EventSchema& schema,
                               size_t* removed = nullptr) {
  auto filter = EventFilter::create(config, schema);
  EXPECT_TRUE(filter) << filter.status().message();
  if (!filter) return {};
  const size_t n = filter->apply(batch);
  if (removed) *removed = n;
  std::vector<uint64_t> ids;
  for (uint32_t row : batch.selected) ids.push_back(batch.event_id[row]);
  return ids;
}

using Ids = std::vector<uint64_t>;

class EventFilterTest : public ::testing::Test {
 protected:
  const EventSchema plain_ = test_schema(false);
  const EventSchema coded_ = test_schema(true);
  // Extras: 1 all set, 2 all NULL, 3 and 4 set with other values, 5 empty country.
  const std::vector<std::string> messages_ = {
      event(1, "view", "ios", "UA", 1000, R"("country":"US","dwell_ms":0,"delta":-5,"score":0.5)"),
      event(2, "click", "web", "", 2000),
      event(3, "hide", "", "UA", 3000, R"("country":"DE","dwell_ms":1500,"delta":7,"score":-2.25)"),
      event(4, "save", "android", "UA", 4000,
            R"("country":"FR","dwell_ms":18446744073709551615,"delta":-9223372036854775808,"score":1e300)"),
      event(5, "view", "ios", "UA", 5000, R"("country":"","dwell_ms":10,"delta":0,"score":0)")};
  const EventBatch plain_batch_ = parse(messages_, plain_);
  const EventBatch coded_batch_ = parse(messages_, coded_);

  // The same answer with and without dictionaries.
  Ids kept(const FilterConfig& config, size_t* removed = nullptr) {
    const Ids by_string = kept_ids(config, plain_batch_, plain_, removed);
    EXPECT_EQ(kept_ids(config, coded_batch_, coded_), by_string) << "codes and strings disagree";
    return by_string;
  }
};

TEST_F(EventFilterTest, TheOldKeysAndTheirCombination) {
  size_t removed = 0;
  EXPECT_EQ(kept({}, &removed), (Ids{1, 2, 3, 4, 5}));
  EXPECT_EQ(removed, 0U);
  EXPECT_EQ(kept({.include_actions = {"view", "save"}}), (Ids{1, 4, 5}));
  EXPECT_EQ(kept({.exclude_actions = {"hide"}}), (Ids{1, 2, 4, 5}));
  EXPECT_EQ(kept({.include_apps = {"ios", "web"}}), (Ids{1, 2, 5}));
  EXPECT_EQ(kept({.exclude_apps = {"web"}}), (Ids{1, 3, 4, 5}));
  EXPECT_EQ(kept({.include_actions = {"view", "click"}, .exclude_actions = {"click"}}), (Ids{1, 5}));
  EXPECT_EQ(kept({.require_app = true}), (Ids{1, 2, 4, 5}));
  EXPECT_EQ(kept({.require_ua = true}), (Ids{1, 3, 4, 5}));
  EXPECT_EQ(kept({.ts_min_ms = 2000, .ts_max_ms = 3000}), (Ids{2, 3}));
  EXPECT_EQ(kept({.exclude_actions = {"view"}, .require_ua = true, .ts_max_ms = 3999}, &removed), (Ids{3}));
  EXPECT_EQ(removed, 4U);
}

TEST_F(EventFilterTest, OnlySelectedRowsAreConsidered) {
  EventBatch b = plain_batch_;
  b.selected = {1, 3};
  EXPECT_EQ(kept_ids({.exclude_actions = {"click"}}, b, plain_), (Ids{4}));
}

TEST_F(EventFilterTest, RangesOnTheFixedColumnsAreInclusive) {
  EXPECT_EQ(kept({.ranges = {{.column = "event_id", .min = int64_t{2}, .max = int64_t{4}}}}), (Ids{2, 3, 4}));
  EXPECT_EQ(kept({.ranges = {{.column = "user_id", .min = int64_t{30}}}}), (Ids{3, 4, 5}));
  EXPECT_EQ(kept({.ranges = {{.column = "pin_id", .max = int64_t{200}}}}), (Ids{1, 2}));
  EXPECT_EQ(
      kept({.ranges = {{.column = "ts", .min = int64_t{2000}, .max = std::string("1970-01-01T00:00:04Z")}}}),
      (Ids{2, 3, 4}));
  EXPECT_EQ(kept({.ranges = {{.column = "ts", .min = int64_t{4000}, .max = int64_t{4000}}}}), (Ids{4}));
  // Every rule must hold.
  EXPECT_EQ(kept({.ranges = {{.column = "event_id", .min = int64_t{2}},
                             {.column = "pin_id", .max = int64_t{300}}}}),
            (Ids{2, 3}));
}

TEST_F(EventFilterTest, RangesOnExtraColumnsAndNullFails) {
  EXPECT_EQ(kept({.ranges = {{.column = "dwell_ms", .min = int64_t{0}}}}), (Ids{1, 3, 4, 5})) << "NULL fails";
  EXPECT_EQ(kept({.ranges = {{.column = "dwell_ms", .min = int64_t{10}, .max = int64_t{1500}}}}),
            (Ids{3, 5}));
  EXPECT_EQ(kept({.ranges = {{.column = "dwell_ms", .min = int64_t{1501}}}}), (Ids{4}))
      << "u64 above INT64_MAX";
  EXPECT_EQ(kept({.ranges = {{.column = "delta", .max = int64_t{-1}}}}), (Ids{1, 4})) << "i64 is signed";
  EXPECT_EQ(kept({.ranges = {{.column = "delta", .min = int64_t{-5}, .max = int64_t{0}}}}), (Ids{1, 5}));
  EXPECT_EQ(kept({.ranges = {{.column = "score", .min = -2.25, .max = 0.5}}}), (Ids{1, 3, 5}));
  EXPECT_EQ(kept({.ranges = {{.column = "score", .min = int64_t{0}}}}), (Ids{1, 4, 5})) << "integer bound";
  EXPECT_EQ(kept({.ranges = {{.column = "score", .max = 0.4999}}}), (Ids{3, 5}));
}

TEST_F(EventFilterTest, MatchListsOnStringColumnsAndNull) {
  // NULL is in no list: an include list drops it, an exclude list keeps it.
  EXPECT_EQ(kept({.matches = {{.column = "country", .include = {"US", "FR"}}}}), (Ids{1, 4}));
  EXPECT_EQ(kept({.matches = {{.column = "country", .exclude = {"US", "FR"}}}}), (Ids{2, 3, 5}));
  EXPECT_EQ(kept({.matches = {{.column = "country", .include = {""}}}}), (Ids{5})) << "empty is not NULL";
  EXPECT_EQ(kept({.matches = {{.column = "country", .include = {"US", "DE"}, .exclude = {"DE"}}}}), (Ids{1}));
  EXPECT_EQ(kept({.matches = {{.column = "ua", .include = {""}}}}), (Ids{2}));
  EXPECT_EQ(kept({.matches = {{.column = "action", .exclude = {"view"}},
                              {.column = "app", .include = {"web", ""}}}}),
            (Ids{2, 3}));
  // More values than the short list holds: the hash set.
  std::vector<std::string> many = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "DE", "FR"};
  EXPECT_EQ(kept({.matches = {{.column = "country", .include = many}}}), (Ids{3, 4}));
  EXPECT_EQ(kept({.matches = {{.column = "country", .exclude = many}}}), (Ids{1, 2, 5}));
}

TEST_F(EventFilterTest, RequireMeansNonEmptyStringsAndNonNullExtras) {
  EXPECT_EQ(kept({.require = {"app"}}), (Ids{1, 2, 4, 5}));
  EXPECT_EQ(kept({.require = {"ua", "app"}}), (Ids{1, 4, 5}));
  EXPECT_EQ(kept({.require = {"country"}}), (Ids{1, 3, 4, 5})) << "an empty extra string is not NULL";
  EXPECT_EQ(kept({.require = {"score", "action"}}), (Ids{1, 3, 4, 5}));
}

TEST_F(EventFilterTest, KeptUnknownEnumValuesAreInNoList) {
  const std::vector<std::string> messages = {
      event(1, "view", "ios", "UA", 1), event(2, "scroll", "tv", "UA", 2), event(3, "hide", "web", "UA", 3)};
  const EventBatch coded = parse(messages, coded_);
  ASSERT_EQ(coded.action_code[1], kUnknownEnumCode);
  ASSERT_EQ(coded.app_code[1], kUnknownEnumCode);
  const EventBatch plain = parse(messages, plain_);
  for (const FilterConfig& c :
       {FilterConfig{.include_actions = {"view", "hide"}}, FilterConfig{.exclude_actions = {"view"}},
        FilterConfig{.exclude_apps = {"web"}},
        FilterConfig{.include_apps = {"ios", "web"}, .exclude_apps = {"ios"}}}) {
    EXPECT_EQ(kept_ids(c, coded, coded_), kept_ids(c, plain, plain_));
  }
  EXPECT_EQ(kept_ids({.include_actions = {"view", "hide"}}, coded, coded_), (Ids{1, 3}));
  EXPECT_EQ(kept_ids({.exclude_actions = {"view"}}, coded, coded_), (Ids{2, 3}));
}

TEST_F(EventFilterTest, WithADictionaryTheCodeDecidesNotTheString) {
  // Codes that contradict the strings show which one the filter reads.
  EventBatch b = coded_batch_;
  b.action_code.assign(b.size(), 3);  // "hide" for every row
  EXPECT_EQ(kept_ids({.exclude_actions = {"hide"}}, b, coded_), Ids{});
  EXPECT_EQ(kept_ids({.include_actions = {"hide"}}, b, coded_), (Ids{1, 2, 3, 4, 5}));
  // A batch parsed without the dictionary has no codes: the same filter compares strings.
  EXPECT_EQ(kept_ids({.include_actions = {"hide"}}, plain_batch_, coded_), (Ids{3}));
}

TEST_F(EventFilterTest, DescribesEveryRule) {
  auto f = EventFilter::create({.include_actions = {"view"},
                                .require_ua = true,
                                .ts_min_ms = 5,
                                .ranges = {{.column = "dwell_ms", .max = int64_t{9}}},
                                .matches = {{.column = "country", .exclude = {"XX"}}},
                                .require = {"score"}},
                               coded_);
  ASSERT_TRUE(f) << f.status().message();
  EXPECT_EQ(f->describe(),
            "ts >= 5 ms; dwell_ms <= 9 (NULL fails); ua not empty; score not NULL; action in [view] (by enum "
            "code); country not in [XX] (NULL passes)");
  EXPECT_FALSE(EventFilter().has_rules());
  EXPECT_EQ(EventFilter().describe(), "no rules: every event passes");
}

// Random batches and random lists: the enum-code path selects exactly the rows the string path selects.
TEST(EventFilterRandomTest, CodesSelectWhatStringsSelect) {
  std::mt19937_64 rng(20261126);
  const std::vector<std::string> actions = {"view", "click", "save", "hide", "closeup", "x"};
  const std::vector<std::string> apps = {"ios", "android", "web", "", "tv"};
  const EventSchema plain = test_schema(false);
  EventSchema coded = test_schema(true);
  const auto pick = [&](const std::vector<std::string>& from) { return from[rng() % from.size()]; };
  const auto sublist = [&](const std::vector<std::string>& dictionary) {
    std::vector<std::string> out;
    for (const std::string& v : dictionary) {
      if (rng() % 3 == 0) out.push_back(v);
    }
    return out;
  };
  int mixed = 0;
  for (int round = 0; round < 200; ++round) {
    // Dictionaries of a random part of the values (the rest are kept unknowns).
    coded[SchemaColumn::kAction].values = {"view", "click", "save", "hide"};
    if (round % 2) coded[SchemaColumn::kAction].values.push_back("closeup");
    coded[SchemaColumn::kApp].values = {"web", "ios", ""};
    std::vector<std::string> messages;
    const size_t n = rng() % 300;
    for (size_t i = 0; i < n; ++i) {
      messages.push_back(event(static_cast<int>(i), pick(actions).c_str(), pick(apps).c_str(),
                               rng() % 2 ? "UA" : "", static_cast<int64_t>(rng() % 100),
                               fmt::format(R"("dwell_ms":{})", rng() % 50)));
    }
    FilterConfig c{
        .include_actions = sublist(coded[SchemaColumn::kAction].values),
        .exclude_actions = sublist(coded[SchemaColumn::kAction].values),
        .include_apps = sublist(coded[SchemaColumn::kApp].values),
        .exclude_apps = sublist(coded[SchemaColumn::kApp].values),
        .require_ua = rng() % 4 == 0,
        .matches = {{.column = "action", .exclude = sublist(coded[SchemaColumn::kAction].values)}}};
    if (c.matches[0].exclude.empty()) c.matches.clear();
    if (rng() % 2) c.ranges.push_back({.column = "dwell_ms", .min = int64_t(rng() % 30)});
    const EventBatch plain_batch = parse(messages, plain);
    const EventBatch coded_batch = parse(messages, coded);
    ASSERT_EQ(coded_batch.action_code.size(), n);
    const Ids by_string = kept_ids(c, plain_batch, plain);
    ASSERT_EQ(kept_ids(c, coded_batch, coded), by_string) << "round " << round;
    if (!by_string.empty() && by_string.size() < n) ++mixed;
  }
  EXPECT_GE(mixed, 50) << "too few rounds kept some rows and dropped others to compare anything";
}

}  // namespace
}  // namespace enrichd
