// RawBatch: payloads end to end with zero padding after each, positions, and next offsets per partition.
#include "host/raw_batch.h"

#include "host/event_batch.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace enrichd {
namespace {

TEST(RawBatchTest, StartsEmpty) {
  RawBatch b;
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.size(), 0U);
  EXPECT_EQ(b.payload_bytes(), 0U);
  EXPECT_TRUE(b.next_offsets().empty());
}

TEST(RawBatchTest, PayloadsPositionsAndPadding) {
  RawBatch b;
  const std::vector<std::string> payloads = {"{\"a\":1}", "", std::string("x\0y", 3), std::string(1000, 'z'),
                                             std::string(RawBatch::kPadding, '\xff')};
  for (size_t i = 0; i < payloads.size(); ++i) {
    b.add(payloads[i], {static_cast<int32_t>(i), static_cast<int64_t>(100 + i)});
  }
  ASSERT_EQ(b.size(), payloads.size());
  EXPECT_FALSE(b.empty());
  size_t total = 0;
  for (size_t i = 0; i < payloads.size(); ++i) {
    SCOPED_TRACE(i);
    const std::string_view p = b.payload(i);
    EXPECT_EQ(p, payloads[i]);
    EXPECT_EQ(p.size(), payloads[i].size());
    EXPECT_EQ(b.position(i).partition, static_cast<int32_t>(i));
    EXPECT_EQ(b.position(i).offset, static_cast<int64_t>(100 + i));
    // kPadding zero bytes follow every payload (a SIMD parser may read them).
    for (size_t k = 0; k < RawBatch::kPadding; ++k) {
      ASSERT_EQ(p.data()[p.size() + k], '\0') << "padding byte " << k;
    }
    total += payloads[i].size();
  }
  EXPECT_EQ(b.payload_bytes(), total);
  EXPECT_GE(RawBatch::kPadding, 64U);
}

TEST(RawBatchTest, PayloadsSurviveGrowth) {
  RawBatch b;
  for (int i = 0; i < 5000; ++i)
    b.add(std::to_string(i) + std::string(static_cast<size_t>(i % 7), '.'), {0, i});
  for (int i = 0; i < 5000; ++i) {
    ASSERT_EQ(b.payload(static_cast<size_t>(i)),
              std::to_string(i) + std::string(static_cast<size_t>(i % 7), '.'));
  }
}

TEST(RawBatchTest, NextOffsetsPerPartition) {
  RawBatch b;
  b.add("a", {3, 10});
  b.add("b", {1, 5});
  b.add("c", {3, 12});
  b.add("d", {3, 11});  // out of order within the partition
  b.add("e", {1, 4});
  b.add("f", {0, 0});
  b.add("g", {-1, 7});
  b.add("h", {2, INT64_MAX - 1});
  EXPECT_EQ(b.next_offsets(),
            (std::vector<PartitionOffset>{{-1, 8}, {0, 1}, {1, 6}, {2, INT64_MAX}, {3, 13}}));
}

TEST(RawBatchTest, ClearResets) {
  RawBatch b;
  b.add("hello", {1, 1});
  b.clear();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.payload_bytes(), 0U);
  EXPECT_TRUE(b.next_offsets().empty());
  b.add("again", {2, 9});
  ASSERT_EQ(b.size(), 1U);
  EXPECT_EQ(b.payload(0), "again");
  EXPECT_EQ(b.payload(0).data()[5], '\0');
  EXPECT_EQ(b.payload_bytes(), 5U);
  EXPECT_EQ(b.next_offsets(), (std::vector<PartitionOffset>{{2, 10}}));
}

TEST(EventBatchTest, StringColumnAndSelectAll) {
  StringColumn c;
  EXPECT_EQ(c.size(), 0U);
  c.push_back("ab");
  c.push_back("");
  c.push_back(std::string_view("c\0d", 3));
  ASSERT_EQ(c.size(), 3U);
  EXPECT_EQ(c[0], "ab");
  EXPECT_EQ(c[1], "");
  EXPECT_EQ(c[2], std::string_view("c\0d", 3));
  c.clear();
  EXPECT_EQ(c.size(), 0U);
  c.push_back("x");
  EXPECT_EQ(c[0], "x");

  EventBatch b;
  for (uint64_t i = 0; i < 3; ++i) b.event_id.push_back(i);
  b.select_all();
  EXPECT_EQ(b.selected, (std::vector<uint32_t>{0, 1, 2}));
  b.clear();
  EXPECT_EQ(b.size(), 0U);
  EXPECT_TRUE(b.selected.empty());
}

}  // namespace
}  // namespace enrichd
