// CategoryTable: the key code and its inverse, inserts and lookups against std::unordered_map, the layout's
// invariants at every load, the memory bound, the reserved empty key, duplicates, growth, the tail, copies,
// the category dimension (names, parents) and the CSV loader.
#include "host/category_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "kernels/scalar/scalar_backend.h"
#include "test_util.h"
#include "tests/unit/category_fixture.h"

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
  EXPECT_GE(v.home_buckets, 1U);
  EXPECT_GT(v.buckets.size(), v.home_buckets);
  EXPECT_EQ(testing_util::check_category_view(v), "");
  EXPECT_FALSE(v.has_empty_key);
  EXPECT_EQ(t.find(0), kNoRecord);
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
  EXPECT_EQ(testing_util::check_category_view(v), "");
  EXPECT_GE(t.load_factor(), CategoryTable::kMinLoad);
  EXPECT_LE(t.load_factor(), CategoryTable::kMaxLoad);
  for (const auto& [k, val] : ref) {
    ASSERT_EQ(scalar_category_lookup(v, k), val) << k;
    ASSERT_EQ(t.find(k), val) << k;
  }
  size_t misses = 0;
  for (int i = 0; i < 100000; ++i) {
    const uint64_t k = rng() % 2 ? rng() : (rng() % 10000) << (rng() % 2 ? 32 : 0);
    auto it = ref.find(k);
    const uint32_t want = it == ref.end() ? kNoRecord : it->second;
    misses += it == ref.end();
    ASSERT_EQ(scalar_category_lookup(v, k), want) << k;
    ASSERT_EQ(t.find(k), want) << k;
  }
  EXPECT_GT(misses, 1000U);
  // A conflicting insert of an existing key is refused after growth too.
  EXPECT_FALSE(t.insert(keys[123], static_cast<uint32_t>(keys[123] % 1000003) + 1).is_ok());
}

TEST(CategoryTableTest, GrowthKeepsEveryKey) {
  CategoryTable t;
  const size_t initial_buckets = t.view().buckets.size();
  double lowest = 1, highest = 0;
  for (uint32_t i = 0; i < 200000; ++i) {
    ASSERT_TRUE(t.insert(uint64_t{i} * 0x9E3779B97F4A7C15ULL, i).is_ok());
    if (i >= 1000) {  // past the first growths of a tiny table (whole buckets round the load)
      lowest = std::min(lowest, t.load_factor());
      highest = std::max(highest, t.load_factor());
    }
  }
  EXPECT_EQ(t.size(), 200000U);
  EXPECT_GT(t.view().buckets.size(), initial_buckets);
  // The grow policy: never past the maximum load, and growth leaves it at the minimum.
  EXPECT_LE(highest, CategoryTable::kMaxLoad);
  EXPECT_GT(highest, CategoryTable::kMaxLoad - 0.01);
  EXPECT_GE(lowest, CategoryTable::kMinLoad - 0.005);
  EXPECT_LT(lowest, CategoryTable::kMinLoad + 0.01);
  EXPECT_EQ(testing_util::check_category_view(t.view()), "");
  for (uint32_t i = 0; i < 200000; ++i) {
    ASSERT_EQ(lookup(t, uint64_t{i} * 0x9E3779B97F4A7C15ULL), i);
  }
  EXPECT_EQ(lookup(t, 1), kNoRecord);
}

TEST(CategoryTableTest, CodesAreABijectionAndOnlyTheReservedKeyHasTheEmptyCode) {
  EXPECT_EQ(category_code(UINT64_MAX), CategoryTableView::kEmptyCode);
  EXPECT_EQ(category_key(CategoryTableView::kEmptyCode), UINT64_MAX);
  std::mt19937_64 rng(77);
  for (uint64_t k : {uint64_t{0}, uint64_t{1}, UINT64_MAX - 1, uint64_t{1} << 63}) {
    EXPECT_EQ(category_key(category_code(k)), k);
    EXPECT_NE(category_code(k), CategoryTableView::kEmptyCode);
  }
  for (int i = 0; i < 100000; ++i) {
    const uint64_t k = rng();
    ASSERT_EQ(category_key(category_code(k)), k);
    ASSERT_EQ(category_code(category_key(k)), k);
  }
  // The home bucket is monotone in the code (what keeps the table ordered) and covers every bucket.
  for (uint64_t homes : {uint64_t{1}, uint64_t{3}, uint64_t{1000003}}) {
    EXPECT_EQ(category_home(0, homes), 0U);
    EXPECT_EQ(category_home(UINT64_MAX, homes), homes - 1);
    uint64_t prev_code = 0;
    for (int i = 0; i < 1000; ++i) {
      const uint64_t c = prev_code + rng() % (uint64_t{1} << 54);
      if (c < prev_code) break;
      EXPECT_LE(category_home(prev_code, homes), category_home(c, homes));
      prev_code = c;
    }
  }
}

TEST(CategoryTableTest, LayoutInvariantsAtEveryLoad) {
  for (auto& c : testing_util::category_cases({0, 1, 4, 5, 6, 21, 1000, 50000}, 5)) {
    SCOPED_TRACE(c.name);
    const CategoryTableView v = c.table.view();
    ASSERT_EQ(testing_util::check_category_view(v), "");
    for (uint64_t k : testing_util::join_queries(v, 2000, 6)) {
      ASSERT_EQ(scalar_category_lookup(v, k), c.table.find(k)) << k;
    }
    for (uint64_t k : testing_util::stored_keys(v))
      ASSERT_EQ(c.table.find(k), testing_util::value_for(k)) << k;
  }
}

TEST(CategoryTableTest, TheLayoutDependsOnlyOnTheKeys) {
  std::mt19937_64 rng(8);
  std::vector<uint64_t> keys(20000);
  for (auto& k : keys) k = rng();
  CategoryTable a, b;
  b.reserve(keys.size());  // b never grows: a different history, the same table
  for (uint64_t k : keys) ASSERT_TRUE(a.insert(k, testing_util::value_for(k)).is_ok());
  std::shuffle(keys.begin(), keys.end(), rng);
  for (uint64_t k : keys) ASSERT_TRUE(b.insert(k, testing_util::value_for(k)).is_ok());
  a.shrink_to_fit();
  b.shrink_to_fit();
  ASSERT_EQ(a.view().buckets.size(), b.view().buckets.size());
  EXPECT_EQ(std::memcmp(a.view().buckets.data(), b.view().buckets.data(), a.memory_bytes()), 0);
}

TEST(CategoryTableTest, AtMostSixteenBytesPerKeyOnceLoaded) {
  std::mt19937_64 rng(9);
  for (size_t n : {size_t{1000}, size_t{100000}, size_t{1000000}}) {
    CategoryTable t;
    for (size_t i = 0; i < n; ++i) ASSERT_TRUE(t.insert(rng(), static_cast<uint32_t>(i % 5000)).is_ok());
    // As grown: between the minimum and maximum load, so at most 12.8 / kMinLoad bytes per key.
    EXPECT_GE(t.load_factor(), CategoryTable::kMinLoad - 0.001) << n;
    EXPECT_LE(t.load_factor(), CategoryTable::kMaxLoad) << n;
    t.shrink_to_fit();  // what the loaders do
    const double bytes_per_key = static_cast<double>(t.memory_bytes()) / static_cast<double>(t.size());
    EXPECT_LE(bytes_per_key, 16.0) << n;
    EXPECT_GT(t.load_factor(), CategoryTable::kMaxLoad - 0.01) << n;
    EXPECT_EQ(testing_util::check_category_view(t.view()), "");
    // reserve() sizes for the maximum load too.
    CategoryTable r;
    r.reserve(n);
    EXPECT_LE(static_cast<double>(r.memory_bytes()) / static_cast<double>(n), 16.0) << n;
  }
}

TEST(CategoryTableTest, RunsSpillIntoTheTailAndTheTailGrows) {
  // Keys chosen by their codes: all at the top of the code space, so all in the last home bucket,
  // and a run far longer than the tail the table starts with.
  CategoryTable t;
  ASSERT_TRUE(t.rehash(1000).is_ok());
  std::vector<uint64_t> keys;
  for (uint64_t i = 0; i < 300; ++i) keys.push_back(category_key(CategoryTableView::kEmptyCode - 1 - 3 * i));
  for (uint64_t k : keys) ASSERT_TRUE(t.insert(k, testing_util::value_for(k)).is_ok());
  const CategoryTableView v = t.view();
  EXPECT_EQ(v.home_buckets, 1000U);  // no growth: the load is low
  EXPECT_GE(v.buckets.size(), v.home_buckets + 300 / CategoryBucket::kSlots);
  ASSERT_EQ(testing_util::check_category_view(v), "");
  for (uint64_t k : keys) ASSERT_EQ(t.find(k), testing_util::value_for(k));
  for (uint64_t i = 0; i < 300; ++i) {  // the codes in between, all absent
    ASSERT_EQ(t.find(category_key(CategoryTableView::kEmptyCode - 2 - 3 * i)), kNoRecord);
  }
  // And at the bottom: the first home bucket overflows into the next ones.
  for (uint64_t i = 0; i < 50; ++i) {
    const uint64_t k = category_key(2 * i);
    ASSERT_TRUE(t.insert(k, testing_util::value_for(k)).is_ok());
  }
  ASSERT_EQ(testing_util::check_category_view(t.view()), "");
  for (uint64_t i = 0; i < 50; ++i) {
    EXPECT_EQ(t.find(category_key(2 * i)), testing_util::value_for(category_key(2 * i)));
    EXPECT_EQ(t.find(category_key(2 * i + 1)), kNoRecord);
  }
}

TEST(CategoryTableTest, RebuildsInPlaceBothWays) {
  // Rebuilds move the codes within the table's own memory (right when it grows, left when it shrinks);
  // large tables are mapped memory that grows and shrinks in place. Small and large, up and down.
  std::mt19937_64 rng(10);
  for (size_t n : {size_t{3000}, size_t{300000}}) {
    CategoryTable t;
    std::vector<uint64_t> keys(n);
    for (auto& k : keys) {
      k = rng();
      ASSERT_TRUE(t.insert(k, testing_util::value_for(k)).is_ok());
    }
    const uint64_t full = (n + CategoryBucket::kSlots - 1) / CategoryBucket::kSlots;
    for (uint64_t homes : {full, 3 * full, full + 1, 10 * full, 2 * full, full}) {
      SCOPED_TRACE(std::to_string(n) + " keys in " + std::to_string(homes) + " home buckets");
      ASSERT_TRUE(t.rehash(homes).is_ok());
      ASSERT_EQ(t.view().home_buckets, homes);
      ASSERT_EQ(testing_util::check_category_view(t.view()), "");
      for (uint64_t k : keys) ASSERT_EQ(t.find(k), testing_util::value_for(k)) << k;
      ASSERT_EQ(t.find(keys[0] + 1), kNoRecord);
    }
    t.shrink_to_fit();
    ASSERT_EQ(testing_util::check_category_view(t.view()), "");
    for (uint64_t k : keys) ASSERT_EQ(t.find(k), testing_util::value_for(k)) << k;
  }
}

TEST(CategoryTableTest, RehashRefusesTooFewBuckets) {
  CategoryTable t;
  for (uint64_t k = 0; k < 11; ++k) ASSERT_TRUE(t.insert(k, 1).is_ok());
  EXPECT_FALSE(t.rehash(2).is_ok());
  EXPECT_FALSE(t.rehash(0).is_ok());
  ASSERT_TRUE(t.rehash(3).is_ok());
  EXPECT_NEAR(t.load_factor(), 11.0 / 15.0, 1e-9);
  for (uint64_t k = 0; k < 11; ++k) EXPECT_EQ(t.find(k), 1U);
  // Past the maximum load, the next insert grows the table.
  ASSERT_TRUE(t.insert(100, 2).is_ok());
  EXPECT_LE(t.load_factor(), CategoryTable::kMaxLoad);
  EXPECT_EQ(t.find(100), 2U);
}

TEST(CategoryTableTest, CopiesAndMoves) {
  CategoryTable a;
  for (uint64_t k = 0; k < 1000; ++k) ASSERT_TRUE(a.insert(k, static_cast<uint32_t>(k)).is_ok());
  ASSERT_TRUE(a.insert(UINT64_MAX, 7).is_ok());
  ASSERT_TRUE(a.add_category(3, "three").is_ok());
  CategoryTable b = a;
  EXPECT_NE(b.view().buckets.data(), a.view().buckets.data());
  ASSERT_TRUE(b.insert(5000, 1).is_ok());
  EXPECT_EQ(a.find(5000), kNoRecord);
  EXPECT_EQ(b.find(999), 999U);
  EXPECT_EQ(b.find(UINT64_MAX), 7U);
  EXPECT_EQ(b.name(3), "three");
  CategoryTable c = std::move(b);
  EXPECT_EQ(c.find(5000), 1U);
  EXPECT_EQ(c.size(), 1002U);
  // A moved-from table is empty and usable.
  EXPECT_EQ(b.size(), 0U);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(b.find(5000), kNoRecord);
  EXPECT_EQ(scalar_category_lookup(b.view(), 5000), kNoRecord);
  ASSERT_TRUE(b.insert(5000, 2).is_ok());
  EXPECT_EQ(b.find(5000), 2U);
  a = c;
  EXPECT_EQ(a.find(5000), 1U);
  a = std::move(c);
  EXPECT_EQ(a.size(), 1002U);
}

TEST(CategoryTableTest, TheReservedCategoryIsRefused) {
  CategoryTable t;
  const Status s = t.insert(5, kNoRecord);
  ASSERT_FALSE(s.is_ok());
  EXPECT_THAT(s.message(), HasSubstr("reserved"));
  EXPECT_FALSE(t.insert(UINT64_MAX, kNoRecord).is_ok());
  EXPECT_EQ(t.size(), 0U);
}

TEST(CategoryTableTest, Names) {
  CategoryTable t;
  EXPECT_EQ(t.name(1), "");
  t.set_name(1, "Food & Drink");
  t.set_name(UINT32_MAX - 1, "last");
  EXPECT_EQ(t.name(1), "Food & Drink");
  EXPECT_EQ(t.name(UINT32_MAX - 1), "last");
  EXPECT_EQ(t.name(2), "");
  EXPECT_EQ(t.parent(1), kNoRecord);
}

TEST(CategoryTableTest, CategoriesWithParents) {
  CategoryTable t;
  ASSERT_TRUE(t.add_category(10, "Food").is_ok());
  ASSERT_TRUE(t.add_category(11, "Baking", 10).is_ok());
  ASSERT_TRUE(t.add_category(12, "Vegan", 99).is_ok());  // parent checked later
  EXPECT_EQ(t.parent(11), 10U);
  EXPECT_EQ(t.parent(10), kNoRecord);
  EXPECT_EQ(t.parent(12345), kNoRecord);
  EXPECT_EQ(t.name(11), "Baking");
  EXPECT_TRUE(t.has_category(12));
  EXPECT_EQ(t.category_count(), 3U);
  // The same category again is fine; a different name or parent is not.
  EXPECT_TRUE(t.add_category(11, "Baking", 10).is_ok());
  EXPECT_THAT(t.add_category(11, "Bread", 10).message(), AllOf(HasSubstr("11"), HasSubstr("Baking")));
  EXPECT_THAT(t.add_category(11, "Baking").message(), HasSubstr("parent 10"));
  EXPECT_THAT(t.add_category(10, "Food", 11).message(), HasSubstr("no parent"));
  EXPECT_EQ(t.parent(11), 10U);
  EXPECT_THAT(t.add_category(kNoRecord, "none").message(), HasSubstr("reserved"));
  EXPECT_THAT(t.add_category(13, "self", 13).message(), HasSubstr("own parent"));
  // 12's parent names no category.
  EXPECT_THAT(t.check_parents().message(), AllOf(HasSubstr("12"), HasSubstr("99")));
  ASSERT_TRUE(t.add_category(99, "Diet").is_ok());
  EXPECT_TRUE(t.check_parents().is_ok());
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
      {"1,2\n", "1,a\n2,b,x\n", "names", ":2:", "category_id,name[,parent_id]"},
      {"1,2\n", "1,a,2,3\n", "names", ":1:", "category_id,name"},
      {"1,2\n", "1,a,-1\n", "names", ":1:", "category_id,name"},
      {"1,2\n", "id,name,parent\n1,a\n# c\n1,b\n", "names", ":4:", "already has the name 'a'"},
      {"1,2\n", "1,a\n1,a,1\n", "names", ":2:", "own parent"},
      {"1,2\n", "1,a\n2,b,1\n2,b\n", "names", ":3:", "parent 1"},
      {"1,2\n", "4294967295,none\n", "names", ":1:", "reserved"},
      {"1,2\n", "1,a\n2,b,4294967295\n", "names", ":2:", "reserved"},
      {"1,2\n", "1,a\n2,b,7\n3,c,1\n", "names", ":2:", "the parent 7 of category 2 names no category"},
      {"1,2\n", "2,b,9\n3,c,8\n8,h\n", "names", ":1:", "the parent 9"},
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

TEST(CategoryTableCsvTest, LoadsParentsAndComesBackCompact) {
  std::string pins = "pin_id,category_id\n";
  for (int i = 0; i < 20000; ++i)
    pins += std::to_string(1000003ULL * i + 7) + "," + std::to_string(i % 4 + 1) + "\n";
  const std::string pins_path = testing_util::write_temp_file("pins.csv", pins);
  // Parents may come after their children; an empty parent is none; the same row twice is fine.
  const std::string names = testing_util::write_temp_file(
      "names.csv",
      "category_id,name,parent_id\n2,Baking,1\n1,Food,\n3,\"Vegan, plant-based\",1\n4,Travel\n2,Baking,1\n");
  auto t = CategoryTable::load_csv(pins_path, names);
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(t->size(), 20000U);
  EXPECT_EQ(t->category_count(), 4U);
  EXPECT_EQ(t->parent(2), 1U);
  EXPECT_EQ(t->parent(3), 1U);
  EXPECT_EQ(t->parent(1), kNoRecord);
  EXPECT_EQ(t->parent(4), kNoRecord);
  EXPECT_EQ(t->name(3), "Vegan, plant-based");
  EXPECT_EQ(t->find(7), 1U);
  EXPECT_EQ(t->find(1000003ULL * 19999 + 7), 4U);
  EXPECT_EQ(t->find(8), kNoRecord);
  EXPECT_TRUE(t->check_parents().is_ok());
  // The loader leaves the table at its maximum load.
  EXPECT_GT(t->load_factor(), CategoryTable::kMaxLoad - 0.01);
  EXPECT_LE(static_cast<double>(t->memory_bytes()) / static_cast<double>(t->size()), 16.0);
}

TEST(CategoryTableCsvTest, ErrorsPastTheFirstBatchNameTheirLine) {
  // Rows go in in batches of 1024: the line numbers still come out right, and the first bad line wins.
  std::string pins = "pin_id,category_id\n";
  for (int i = 0; i < 3000; ++i) pins += std::to_string(i) + ",1\n";
  const std::string conflict = testing_util::write_temp_file("conflict.csv", pins + "2499,2\n5,x\n");
  EXPECT_THAT(CategoryTable::load_csv(conflict, "").status().message(),
              AllOf(HasSubstr(conflict + ":3002:"), HasSubstr("key 2499 already maps to category 1")));
  // A conflict before a malformed line in the same batch is reported first.
  const std::string both = testing_util::write_temp_file("both.csv", "1,1\n2,2\n1,3\n4\n");
  EXPECT_THAT(CategoryTable::load_csv(both, "").status().message(), HasSubstr(both + ":3:"));
  const std::string bad = testing_util::write_temp_file("bad.csv", pins + "7,1\nnope\n");
  EXPECT_THAT(CategoryTable::load_csv(bad, "").status().message(), HasSubstr(bad + ":3003:"));
}

TEST(CategoryTableTest, InsertBatchStopsAtTheFirstError) {
  CategoryTable t;
  const std::vector<uint64_t> keys = {1, 2, 3, 2, 5};
  const std::vector<uint32_t> values = {1, 2, 3, 4, 5};
  size_t done = 99;
  const Status s = t.insert_batch(keys, values, done);
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(done, 3U);
  EXPECT_THAT(s.message(), HasSubstr("key 2 already maps to category 2"));
  EXPECT_EQ(t.find(3), 3U);
  EXPECT_EQ(t.find(5), kNoRecord);
  ASSERT_TRUE(t.insert_batch(std::span(keys).first(3), std::span(values).first(3), done).is_ok());
  EXPECT_EQ(done, 3U);
  EXPECT_FALSE(t.insert_batch(keys, std::span(values).first(2), done).is_ok());
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

// Device copies (the cuda backend) are keyed on the view's generation: every change of the buckets must
// give a new one, a move must carry it along, and a copy is another table.
TEST(CategoryTableTest, GenerationChangesWithEveryChange) {
  CategoryTable t;
  const uint64_t empty = t.view().generation;
  EXPECT_NE(empty, 0u);
  ASSERT_TRUE(t.insert(1, 5).is_ok());
  const uint64_t one = t.view().generation;
  EXPECT_NE(one, empty);
  ASSERT_TRUE(t.insert(1, 5).is_ok());  // confirmed, unchanged
  EXPECT_EQ(t.view().generation, one);
  ASSERT_TRUE(t.insert(0, 7).is_ok());  // same buckets (no growth), new content
  const uint64_t two = t.view().generation;
  EXPECT_NE(two, one);
  ASSERT_TRUE(t.rehash(64).is_ok());
  EXPECT_NE(t.view().generation, two);
  const uint64_t before_move = t.view().generation;
  CategoryTable moved(std::move(t));
  EXPECT_EQ(moved.view().generation, before_move);
  EXPECT_NE(t.view().generation, before_move);  // NOLINT(bugprone-use-after-move): the moved-from table
  const CategoryTable copy(moved);
  EXPECT_NE(copy.view().generation, moved.view().generation);
  EXPECT_EQ(copy.find(0), 7u);
}

}  // namespace
}  // namespace enrichd
