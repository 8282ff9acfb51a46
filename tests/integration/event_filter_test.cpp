// The filter stage's rules over a parsed batch (no services needed; it lives with the pipeline code).
#include "pipeline/event_filter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "host/event_parser.h"

namespace enrichd {
namespace {

EventBatch batch_of(const std::vector<std::string>& messages) {
  RawBatch raw;
  for (size_t i = 0; i < messages.size(); ++i) raw.add(messages[i], {0, static_cast<int64_t>(i)});
  EventParser parser;
  EventBatch batch;
  std::vector<DeadLetter> dead;
  parser.parse(raw, batch, dead);
  EXPECT_TRUE(dead.empty());
  return batch;
}

std::string event(int id, const char* action, const char* app, const char* ua, int64_t ts) {
  return "{\"event_id\":" + std::to_string(id) + ",\"ts\":" + std::to_string(ts) +
         ",\"user_id\":1,\"pin_id\":1,\"action\":\"" + action + "\",\"ip\":\"1.2.3.4\",\"app\":\"" + app +
         "\",\"ua\":\"" + ua + "\"}";
}

std::vector<uint64_t> kept_ids(const FilterConfig& config, EventBatch batch, size_t* removed = nullptr) {
  const size_t n = EventFilter(config).apply(batch);
  if (removed) *removed = n;
  std::vector<uint64_t> ids;
  for (uint32_t row : batch.selected) ids.push_back(batch.event_id[row]);
  return ids;
}

TEST(EventFilterTest, EveryRuleAndTheirCombination) {
  const EventBatch b = batch_of({event(1, "view", "ios", "UA", 1000), event(2, "click", "web", "", 2000),
                                 event(3, "hide", "", "UA", 3000), event(4, "save", "android", "UA", 4000)});
  size_t removed = 0;
  EXPECT_EQ(kept_ids({}, b, &removed), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(removed, 0U);
  EXPECT_EQ(kept_ids({.include_actions = {"view", "save"}}, b), (std::vector<uint64_t>{1, 4}));
  EXPECT_EQ(kept_ids({.exclude_actions = {"hide"}}, b), (std::vector<uint64_t>{1, 2, 4}));
  EXPECT_EQ(kept_ids({.include_apps = {"ios", "web"}}, b), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(kept_ids({.exclude_apps = {"web"}}, b), (std::vector<uint64_t>{1, 3, 4}));
  EXPECT_EQ(kept_ids({.require_app = true}, b), (std::vector<uint64_t>{1, 2, 4}));
  EXPECT_EQ(kept_ids({.require_ua = true}, b), (std::vector<uint64_t>{1, 3, 4}));
  EXPECT_EQ(kept_ids({.ts_min_ms = 2000, .ts_max_ms = 3000}, b), (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(kept_ids({.exclude_actions = {"view"}, .require_ua = true, .ts_max_ms = 3999}, b, &removed),
            (std::vector<uint64_t>{3}));
  EXPECT_EQ(removed, 3U);
}

TEST(EventFilterTest, OnlySelectedRowsAreConsidered) {
  EventBatch b = batch_of({event(1, "view", "ios", "UA", 1), event(2, "view", "ios", "UA", 2)});
  b.selected = {1};
  EXPECT_EQ(kept_ids({.exclude_actions = {"click"}}, b), (std::vector<uint64_t>{2}));
}

}  // namespace
}  // namespace enrichd
