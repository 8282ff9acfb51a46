// join_column on each key column through a real backend (scalar): the selected rows get their key's id,
// the others kNoRecord, and a NULL extra key joins to no record (never to the key 0).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "host/category_table.h"
#include "host/event_batch.h"
#include "kernels/backend.h"
#include "pipeline/config.h"
#include "pipeline/join_table.h"

namespace enrichd {
namespace {

using ::testing::ElementsAre;

// Five rows; board_id (extra 1, u64) is NULL on rows 1 and 3, which hold the bits 0 and 7 so that a join
// ignoring the NULL flag would find a record. Row 4 is filtered out.
EventBatch make_batch() {
  EventBatch b;
  b.event_id = {1, 2, 3, 4, 5};
  b.pin_id = {10, 11, 12, 13, 14};
  b.user_id = {20, 21, 22, 23, 24};
  ExtraColumn dwell;
  dwell.type = ExtraType::kI64;
  dwell.bits = {0, 0, 7, 0, 0};
  dwell.present = {1, 1, 1, 1, 1};
  ExtraColumn board;
  board.type = ExtraType::kU64;
  board.bits = {7, 0, 8, 7, 7};
  board.present = {1, 0, 1, 0, 1};
  b.extra = {dwell, board};
  b.selected = {0, 1, 2, 3};
  return b;
}

CategoryTable make_table() {
  CategoryTable t;
  for (const auto& [key, id] : std::vector<std::pair<uint64_t, uint32_t>>{
           {0, 100}, {7, 107}, {10, 110}, {12, 112}, {21, 121}, {22, 122}}) {
    EXPECT_TRUE(t.insert(key, id).is_ok());
  }
  return t;
}

struct JoinColumnTest : ::testing::Test {
  void SetUp() override {
    auto b = make_backend("scalar");
    ASSERT_TRUE(b) << b.status().message();
    backend = std::move(b).value();
  }
  std::vector<uint32_t> join(const JoinConfig& config) {
    std::vector<uint32_t> out;
    Status s = join_column(*backend, batch, config, table, out, keys, values);
    EXPECT_TRUE(s) << s.message();
    return out;
  }
  std::unique_ptr<EnrichBackend> backend;
  EventBatch batch = make_batch();
  CategoryTable table = make_table();
  std::vector<uint64_t> keys;
  std::vector<uint32_t> values;
};

TEST_F(JoinColumnTest, PinAndUserIdKeys) {
  JoinConfig pins;
  EXPECT_THAT(join(pins), ElementsAre(110, kNoRecord, 112, kNoRecord, kNoRecord));
  JoinConfig users;
  users.key_field = JoinKeyField::kUserId;
  EXPECT_THAT(join(users), ElementsAre(kNoRecord, 121, 122, kNoRecord, kNoRecord));
}

TEST_F(JoinColumnTest, AnExtraKeyJoinsItsValuesAndNoRecordWhereNull) {
  JoinConfig boards;
  boards.key_field = JoinKeyField::kExtra;
  boards.key_column = "board_id";
  boards.key_extra = 1;
  EXPECT_THAT(join(boards), ElementsAre(107, kNoRecord, kNoRecord, kNoRecord, kNoRecord));
  EXPECT_THAT(keys, ElementsAre(7, 8));  // only the non-NULL selected rows were looked up

  batch.extra[1].present = {0, 1, 1, 1, 1};  // now the 0 and the 7 of rows 1 and 3 count
  EXPECT_THAT(join(boards), ElementsAre(kNoRecord, 100, kNoRecord, 107, kNoRecord));

  batch.extra[1].present.assign(5, 0);
  EXPECT_THAT(join(boards), ElementsAre(kNoRecord, kNoRecord, kNoRecord, kNoRecord, kNoRecord));
}

TEST_F(JoinColumnTest, AKeyThatIsNotAU64ExtraOfTheBatchIsAnError) {
  JoinConfig boards;
  boards.name = "board";
  boards.key_field = JoinKeyField::kExtra;
  boards.key_column = "dwell_ms";
  std::vector<uint32_t> out;
  for (const size_t extra : {size_t{0}, size_t{2}}) {  // an i64 column; past the batch's extras
    boards.key_extra = extra;
    Status s = join_column(*backend, batch, boards, table, out, keys, values);
    ASSERT_FALSE(s);
    EXPECT_THAT(s.message(), ::testing::HasSubstr("join 'board': key column 'dwell_ms' is not a u64 extra"));
  }
}

}  // namespace
}  // namespace enrichd
