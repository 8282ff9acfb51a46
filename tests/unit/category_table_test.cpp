// CategoryTable: inserts and lookups against std::unordered_map, the reserved empty key, duplicates,
// growth, and the CSV loader.
#include "host/category_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/scalar/scalar_backend.h"
#include "test_util.h"

namespace enrichd {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

uint32_t lookup(const CategoryTable& t, uint64_t key) {
  return scalar_category_lookup(t.view(), key);
}

TEST(CategoryTableTest, EmptyTableMissesEverything) {
  CategoryTable t;
  EXPECT_EQ(t.size(), 0U);
  const CategoryTableView v = t.view();
  EXPECT_GT(v.slots.size(), 0U);
  EXPECT_EQ(v.slots.size() & (v.slots.size() - 1), 0U) << "slot count must be a power of two";
  EXPECT_EQ(v.mask, v.slots.size() - 1);
  EXPECT_FALSE(v.has_empty_key);
  for (uint64_t k : {uint64_t{0}, uint64_t{1}, uint64_t{12345}, UINT64_MAX - 1, UINT64_MAX}) {
    EXPECT_EQ(lookup(t, k), kNoRecord) << k;
  }
}

TEST(CategoryTableTest, ExtremeKeys) {
  CategoryTable t;
  ASSERT_TRUE(t.insert(0, 5).is_ok());
  EXPECT_EQ(lookup(t, UINT64_MAX), kNoRecord);
  ASSERT_TRUE(t.insert(UINT64_MAX, 7).is_ok());  // the key the slots use for "empty"
  ASSERT_TRUE(t.insert(UINT64_MAX - 1, 9).is_ok());
  EXPECT_EQ(t.size(), 3U);
  EXPECT_EQ(lookup(t, 0), 5U);
  EXPECT_EQ(lookup(t, UINT64_MAX), 7U);
  EXPECT_EQ(lookup(t, UINT64_MAX - 1), 9U);
  EXPECT_EQ(lookup(t, 1), kNoRecord);
  EXPECT_TRUE(t.view().has_empty_key);
  EXPECT_EQ(t.view().empty_key_value, 7U);
  // The same checks for duplicates hold for the reserved key.
  EXPECT_TRUE(t.insert(UINT64_MAX, 7).is_ok());
  EXPECT_EQ(t.size(), 3U);
  const Status s = t.insert(UINT64_MAX, 8);
  ASSERT_FALSE(s.is_ok());
  EXPECT_THAT(s.message(), AllOf(HasSubstr("18446744073709551615"), HasSubstr("7")));
  EXPECT_EQ(lookup(t, UINT64_MAX), 7U);
}

TEST(CategoryTableTest, DuplicateKeys) {
  CategoryTable t;
  ASSERT_TRUE(t.insert(42, 3).is_ok());
  EXPECT_TRUE(t.insert(42, 3).is_ok());  // same value: fine
  EXPECT_EQ(t.size(), 1U);
  const Status s = t.insert(42, 4);
  ASSERT_FALSE(s.is_ok());
  EXPECT_THAT(s.message(), AllOf(HasSubstr("42"), HasSubstr("3")));
  EXPECT_EQ(lookup(t, 42), 3U);  // the first value is kept
  EXPECT_EQ(t.size(), 1U);
}

TEST(CategoryTableTest, RandomKeysAgreeWithUnorderedMap) {
  std::mt19937_64 rng(2718);
  CategoryTable t;
  std::unordered_map<uint64_t, uint32_t> ref;
  std::vector<uint64_t> keys;
  for (int i = 0; i < 100000; ++i) {
    // Mix of dense small keys (colliding low bits), sparse random keys and repeats.
    uint64_t key = 0;
    switch (rng() % 4) {
      case 0:
        key = rng() % 5000;
        break;
      case 1:
        key = (rng() % 5000) << 32;  // differ only in high bits
        break;
      default:
        key = rng();
    }
    const uint32_t value = static_cast<uint32_t>(key % 1000003);  // a function of the key: repeats agree
    ASSERT_TRUE(t.insert(key, value).is_ok()) << key;
    ref.emplace(key, value);
    keys.push_back(key);
    if (i % 10000 == 0) {
      ASSERT_EQ(t.size(), ref.size());
    }
  }
  ASSERT_EQ(t.size(), ref.size());
  const CategoryTableView v = t.view();
  EXPECT_LE(t.size() * 2, v.slots.size()) << "load factor above 1/2";
  for (const auto& [k, val] : ref) {
    ASSERT_EQ(scalar_category_lookup(v, k), val) << k;
  }
  size_t misses = 0;
  for (int i = 0; i < 100000; ++i) {
    const uint64_t k = rng() % 2 ? rng() : (rng() % 10000) << (rng() % 2 ? 32 : 0);
    auto it = ref.find(k);
    const uint32_t want = it == ref.end() ? kNoRecord : it->second;
    misses += it == ref.end();
    ASSERT_EQ(scalar_category_lookup(v, k), want) << k;
  }
  EXPECT_GT(misses, 1000U);
  // A conflicting insert of an existing key is refused after growth too.
  EXPECT_FALSE(t.insert(keys[123], static_cast<uint32_t>(keys[123] % 1000003) + 1).is_ok());
}

TEST(CategoryTableTest, GrowthKeepsEveryKey) {
  CategoryTable t;
  const size_t initial_slots = t.view().slots.size();
  for (uint32_t i = 0; i < 200000; ++i) {
    ASSERT_TRUE(t.insert(uint64_t{i} * 0x9E3779B97F4A7C15ULL, i).is_ok());
  }
  EXPECT_EQ(t.size(), 200000U);
  EXPECT_GT(t.view().slots.size(), initial_slots);
  EXPECT_LE(t.size() * 2, t.view().slots.size());
  for (uint32_t i = 0; i < 200000; ++i) {
    ASSERT_EQ(lookup(t, uint64_t{i} * 0x9E3779B97F4A7C15ULL), i);
  }
  EXPECT_EQ(lookup(t, 1), kNoRecord);
}

TEST(CategoryTableTest, Names) {
  CategoryTable t;
  EXPECT_EQ(t.name(1), "");
  t.set_name(1, "Food & Drink");
  t.set_name(UINT32_MAX - 1, "last");
  EXPECT_EQ(t.name(1), "Food & Drink");
  EXPECT_EQ(t.name(UINT32_MAX - 1), "last");
  EXPECT_EQ(t.name(2), "");
}

TEST(CategoryTableTest, HashKeyMixesBits) {
  // Keys differing in one bit land in different low bits (what the slot index uses) most of the time.
  int same_low = 0;
  for (int bit = 0; bit < 64; ++bit) {
    if ((hash_key(0) & 0xffff) == (hash_key(uint64_t{1} << bit) & 0xffff)) ++same_low;
  }
  EXPECT_LE(same_low, 1);
  EXPECT_NE(hash_key(1), hash_key(2));
}

// --- CSV loader ---

TEST(CategoryTableCsvTest, LoadsPinsAndNames) {
  const std::string pins = testing_util::write_temp_file(
      "pins.csv", "pin_id,category_id\n# comment\n\n1,10\r\n18446744073709551615,11\n0,10\n2,\"12\"\n1,10\n");
  const std::string names = testing_util::write_temp_file(
      "names.csv", "category_id,name\n10,\"Food, Drink\"\n11,Travel\n# 12 has no name\n");
  auto t = CategoryTable::load_csv(pins, names);
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(t->size(), 4U);
  EXPECT_EQ(lookup(*t, 1), 10U);
  EXPECT_EQ(lookup(*t, UINT64_MAX), 11U);
  EXPECT_EQ(lookup(*t, 0), 10U);
  EXPECT_EQ(lookup(*t, 2), 12U);
  EXPECT_EQ(lookup(*t, 3), kNoRecord);
  EXPECT_EQ(t->name(10), "Food, Drink");
  EXPECT_EQ(t->name(11), "Travel");
  EXPECT_EQ(t->name(12), "");
}

TEST(CategoryTableCsvTest, HeaderAndNamesAreOptional) {
  const std::string pins = testing_util::write_temp_file("pins.csv", "5,6\n7,8\n");
  auto t = CategoryTable::load_csv(pins, "");
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(t->size(), 2U);
  EXPECT_EQ(lookup(*t, 5), 6U);  // the first line is data, not a header
  EXPECT_EQ(lookup(*t, 7), 8U);
  EXPECT_EQ(t->name(6), "");
}

TEST(CategoryTableCsvTest, BadLinesNameTheLine) {
  struct Case {
    std::string pins;
    std::string names;
    std::string expect_file;  // "pins" or "names"
    std::string line;
    std::string detail;
  };
  const std::vector<Case> cases = {
      {"pin_id,category_id\n1,2\nx,3\n", "", "pins", ":3:", "pin_id,category_id"},
      {"1,2\n2,-3\n", "", "pins", ":2:", "unsigned"},
      {"1,2\n2,3,4\n", "", "pins", ":2:", "pin_id"},
      {"1,2\n\n# c\n2\n", "", "pins", ":4:", "pin_id"},
      {"1,2\n3, 4\n", "", "pins", ":2:", "unsigned"},
      {"1,2\n3,4294967296\n", "", "pins", ":2:", "unsigned"},
      {"1,2\n18446744073709551616,4\n", "", "pins", ":2:", "unsigned"},
      {"1,2\n3,4294967295\n", "", "pins", ":2:", "reserved"},
      {"1,2\n3,\"4\n", "", "pins", ":2:", "unterminated"},
      {"id,cat\n1,2\n5,6\n1,3\n", "", "pins", ":4:", "already maps to category 2"},
      {"1,2\n", "category_id,name\n1,a\nx,b\n", "names", ":3:", "category_id,name"},
      {"1,2\n", "1,a,b\n", "names", ":1:", "category_id,name"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    SCOPED_TRACE(c.pins + " | " + c.names);
    const std::string pins = testing_util::write_temp_file("pins" + std::to_string(i) + ".csv", c.pins);
    const std::string names =
        c.names.empty() ? "" : testing_util::write_temp_file("names" + std::to_string(i) + ".csv", c.names);
    auto t = CategoryTable::load_csv(pins, names);
    ASSERT_FALSE(t.is_ok());
    const std::string& file = c.expect_file == "pins" ? pins : names;
    EXPECT_THAT(t.status().message(), AllOf(HasSubstr(file + c.line), HasSubstr(c.detail)));
  }
}

TEST(CategoryTableCsvTest, MissingFilesAreErrors) {
  const std::string missing = ::testing::TempDir() + "/enrichd_no_such_dir/pins.csv";
  auto t = CategoryTable::load_csv(missing, "");
  ASSERT_FALSE(t.is_ok());
  EXPECT_THAT(t.status().message(), HasSubstr(missing));

  const std::string pins = testing_util::write_temp_file("pins.csv", "1,2\n");
  auto n = CategoryTable::load_csv(pins, missing);
  ASSERT_FALSE(n.is_ok());
  EXPECT_THAT(n.status().message(), HasSubstr(missing));
}

}  // namespace
}  // namespace enrichd
