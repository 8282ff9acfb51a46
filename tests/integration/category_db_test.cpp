// The category dimension loaded from the real MariaDB test server (ENRICHD_TEST_DSN): a pins table and a
// categories table created here, read with load_categories_from_db (streamed), every key checked against
// what was inserted, the join end to end through every backend that runs here, and the errors a bad
// row gives (NULLs, non-integers, wrong column counts, conflicting duplicates, unknown parents).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "pipeline/category_source.h"
#include "test_support.h"

namespace enrichd::testing_support {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

class CategoryDb : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test_dsn().empty()) GTEST_SKIP() << "ENRICHD_TEST_DSN is not set; run through scripts/test";
    db_ = connect_test_db();
    ASSERT_TRUE(db_) << "the test database at " << test_dsn() << " is not reachable";
    const std::string suffix = std::to_string(std::random_device{}());
    pins_ = "cat_pins_" + suffix;
    names_ = "cat_names_" + suffix;
    // No keys: duplicates are allowed in the source, so that the loader's own checks can be tested.
    ASSERT_TRUE(db_->execute("CREATE TABLE " + pins_ + " (seq INT NOT NULL, pin_id BIGINT UNSIGNED NULL, " +
                             "category_id INT UNSIGNED NULL, note VARCHAR(20) NULL)"));
    ASSERT_TRUE(db_->execute("CREATE TABLE " + names_ +
                             " (category_id INT UNSIGNED NULL, name VARCHAR(100) NULL, " +
                             "parent_id INT UNSIGNED NULL) CHARACTER SET utf8mb4"));
  }
  void TearDown() override {
    if (!db_) return;
    (void)db_->execute("DROP TABLE IF EXISTS " + pins_);
    (void)db_->execute("DROP TABLE IF EXISTS " + names_);
  }

  // Inserts (pin_id, category_id) rows in order (seq = 1, 2, ...), 500 per statement; "NULL" is NULL.
  void insert_pins(const std::vector<std::pair<std::string, std::string>>& rows) {
    for (size_t first = 0; first < rows.size(); first += 500) {
      std::string sql = "INSERT INTO " + pins_ + " (seq, pin_id, category_id) VALUES ";
      for (size_t i = first; i < rows.size() && i < first + 500; ++i) {
        if (i > first) sql += ",";
        sql += "(" + std::to_string(seq_++) + "," + rows[i].first + "," + rows[i].second + ")";
      }
      const Status s = db_->execute(sql);
      ASSERT_TRUE(s) << s.message();
    }
  }
  void insert_names(const std::string& values) {
    const Status s =
        db_->execute("INSERT INTO " + names_ + " (category_id, name, parent_id) VALUES " + values);
    ASSERT_TRUE(s) << s.message();
  }
  std::string pins_query() const { return "SELECT pin_id, category_id FROM " + pins_ + " ORDER BY seq"; }
  std::string names_query() const {
    return "SELECT category_id, name, parent_id FROM " + names_ + " ORDER BY category_id";
  }
  Status load_error(const std::string& pins, const std::string& names = "") {
    auto t = load_categories_from_db(*db_, pins, names);
    EXPECT_FALSE(t.is_ok()) << "loaded " << (t ? t->size() : 0) << " keys";
    return t.status();
  }

  std::unique_ptr<MysqlConnection> db_;
  std::string pins_, names_;
  int seq_ = 1;
};

TEST_F(CategoryDb, LoadsEveryKeyAndJoinsThroughEveryBackend) {
  // A few thousand pins with 18-digit ids like real ones, the extreme keys, and a repeated row.
  std::mt19937_64 rng(11);
  std::map<uint64_t, uint32_t> want;
  std::vector<std::pair<std::string, std::string>> rows;
  for (int i = 0; i < 5000; ++i) {
    const uint64_t key = 100000000000000000ULL + rng() % 900000000000000000ULL;
    const auto category = static_cast<uint32_t>(1 + rng() % 6);
    if (!want.emplace(key, category).second) continue;
    rows.emplace_back(std::to_string(key), std::to_string(category));
  }
  for (uint64_t key : {uint64_t{0}, UINT64_MAX, UINT64_MAX - 1}) {
    want[key] = 4;
    rows.emplace_back(std::to_string(key), "4");
  }
  rows.push_back(rows.front());  // the same row twice is fine
  insert_pins(rows);
  insert_names(
      "(1,'Food & Drink',NULL),(2,'Baking',1),(3,'Vegan, plant-based',1),(4,'Travel',NULL),"
      "(5,'Beaches',4),(6,'Ünïcödé ☕',NULL)");

  auto loaded = load_categories_from_db(*db_, pins_query(), names_query());
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().message();
  const CategoryTable& table = *loaded;
  EXPECT_EQ(table.size(), want.size());
  for (const auto& [key, category] : want) ASSERT_EQ(table.find(key), category) << key;
  EXPECT_EQ(table.find(1), kNoRecord);
  EXPECT_EQ(table.category_count(), 6U);
  EXPECT_EQ(table.name(3), "Vegan, plant-based");
  EXPECT_EQ(table.name(6), "Ünïcödé ☕");
  EXPECT_EQ(table.parent(2), 1U);
  EXPECT_EQ(table.parent(5), 4U);
  EXPECT_EQ(table.parent(1), kNoRecord);
  // Loaded tables sit at the maximum load.
  EXPECT_GT(table.load_factor(), CategoryTable::kMaxLoad - 0.01);
  EXPECT_LE(static_cast<double>(table.memory_bytes()) / static_cast<double>(table.size()), 16.0);

  // The join end to end: every key and as many absent ones, through every backend that runs here.
  std::vector<uint64_t> keys;
  std::vector<uint32_t> expected;
  for (const auto& [key, category] : want) {
    keys.push_back(key);
    expected.push_back(category);
    const uint64_t absent = key ^ 0x5a5a5a5a5a5aULL;
    keys.push_back(absent);
    expected.push_back(want.count(absent) ? want[absent] : kNoRecord);
  }
  int backends = 0;
  for (const BackendInfo& info : list_backends()) {
    if (!info.available) continue;
    auto backend = make_backend(info.name);
    ASSERT_TRUE(backend.is_ok()) << backend.status().message();
    std::vector<uint32_t> got(keys.size(), 12345);
    ASSERT_TRUE((*backend)->category_join(table.view(), keys, got).is_ok()) << info.name;
    EXPECT_EQ(got, expected) << info.name;
    ++backends;
  }
  EXPECT_GE(backends, 1);
}

TEST_F(CategoryDb, NamesAreOptionalAndParentsMayBeLeftOut) {
  insert_pins({{"7", "1"}, {"8", "2"}});
  auto only_pins = load_categories_from_db(*db_, pins_query(), "");
  ASSERT_TRUE(only_pins.is_ok()) << only_pins.status().message();
  EXPECT_EQ(only_pins->find(8), 2U);
  EXPECT_EQ(only_pins->name(1), "");
  insert_names("(1,'a',NULL),(2,'b',1)");
  auto two_columns = load_categories_from_db(*db_, pins_query(), "SELECT category_id, name FROM " + names_);
  ASSERT_TRUE(two_columns.is_ok()) << two_columns.status().message();
  EXPECT_EQ(two_columns->name(2), "b");
  EXPECT_EQ(two_columns->parent(2), kNoRecord);
}

TEST_F(CategoryDb, ANullRowIsAnErrorNamingItsRowAndColumn) {
  insert_pins({{"1", "1"}, {"2", "1"}, {"3", "NULL"}, {"4", "1"}});
  EXPECT_THAT(load_error(pins_query()).message(),
              AllOf(HasSubstr("pins query"), HasSubstr("row 3"), HasSubstr("column 2"),
                    HasSubstr("category_id"), HasSubstr("NULL")));
  ASSERT_TRUE(db_->execute("UPDATE " + pins_ + " SET category_id = 1, pin_id = NULL WHERE seq = 2"));
  EXPECT_THAT(load_error(pins_query()).message(),
              AllOf(HasSubstr("row 2"), HasSubstr("column 1"), HasSubstr("pin_id"), HasSubstr("NULL")));
}

TEST_F(CategoryDb, NonIntegersAndWrongShapesAreErrors) {
  insert_pins({{"1", "1"}, {"2", "2"}});
  ASSERT_TRUE(db_->execute("UPDATE " + pins_ + " SET note = 'x' WHERE seq = 2"));
  const std::string from = " FROM " + pins_ + " ORDER BY seq";
  EXPECT_THAT(load_error("SELECT pin_id, COALESCE(note, category_id) AS cat" + from).message(),
              AllOf(HasSubstr("row 2"), HasSubstr("column 2"), HasSubstr("'cat'"), HasSubstr("'x'")));
  EXPECT_THAT(load_error("SELECT pin_id, category_id + 0.5" + from).message(),
              AllOf(HasSubstr("row 1"), HasSubstr("column 2"), HasSubstr("not an unsigned 32-bit integer")));
  EXPECT_THAT(load_error("SELECT CAST(pin_id AS SIGNED) - 10, category_id" + from).message(),
              AllOf(HasSubstr("row 1"), HasSubstr("column 1"), HasSubstr("'-9' is not an unsigned 64-bit")));
  EXPECT_THAT(load_error("SELECT pin_id, 4294967296" + from).message(), HasSubstr("32-bit"));
  EXPECT_THAT(load_error("SELECT pin_id, 4294967295" + from).message(),
              AllOf(HasSubstr("row 1"), HasSubstr("reserved")));
  EXPECT_THAT(load_error("SELECT pin_id" + from).message(),
              AllOf(HasSubstr("row 1"), HasSubstr("1 columns")));
  EXPECT_THAT(load_error("SELECT pin_id, category_id, note" + from).message(), HasSubstr("3 columns"));
  // Not a query, and a query the server refuses.
  EXPECT_THAT(load_error("DO 1").message(),
              AllOf(HasSubstr("category pins query"), HasSubstr("no result set")));
  EXPECT_THAT(load_error("SELECT pin_id, category_id FROM no_such_table_here").message(),
              AllOf(HasSubstr("category pins query"), HasSubstr("no_such_table_here")));
  EXPECT_THAT(load_error(pins_query(), "SELECT * FROM no_such_table_here").message(),
              AllOf(HasSubstr("category names query"), HasSubstr("no_such_table_here")));
  EXPECT_THAT(load_error("").message(), HasSubstr("empty"));
  // The connection is still usable after every error (the rest of a result is drained).
  auto ok = load_categories_from_db(*db_, pins_query(), "");
  ASSERT_TRUE(ok.is_ok()) << ok.status().message();
  EXPECT_EQ(ok->size(), 2U);
}

TEST_F(CategoryDb, ConflictingDuplicatesAreErrors) {
  insert_pins({{"10", "1"}, {"11", "2"}, {"10", "1"}, {"11", "3"}});
  EXPECT_THAT(load_error(pins_query()).message(),
              AllOf(HasSubstr("row 4"), HasSubstr("key 11 already maps to category 2")));
}

TEST_F(CategoryDb, RowNumbersHoldPastTheFirstBatch) {
  // Rows go in in batches of 1024; a conflict or a NULL far in still names its own row, and a conflict
  // comes before a later NULL in the same batch.
  std::vector<std::pair<std::string, std::string>> rows;
  for (int i = 0; i < 2500; ++i) rows.emplace_back(std::to_string(1000 + i), "1");
  rows.emplace_back("2000", "2");  // row 2501
  rows.emplace_back("9", "NULL");  // row 2502
  insert_pins(rows);
  EXPECT_THAT(load_error(pins_query()).message(),
              AllOf(HasSubstr("row 2501"), HasSubstr("key 2000 already maps to category 1")));
  ASSERT_TRUE(db_->execute("UPDATE " + pins_ + " SET category_id = 1 WHERE seq = 2501"));
  EXPECT_THAT(load_error(pins_query()).message(), AllOf(HasSubstr("row 2502"), HasSubstr("NULL")));
}

TEST_F(CategoryDb, NameErrorsNameTheirRow) {
  insert_pins({{"1", "1"}});
  insert_names("(1,'a',NULL),(2,'b',9),(3,NULL,NULL)");
  EXPECT_THAT(
      load_error(pins_query(), "SELECT category_id, name, parent_id FROM " + names_ +
                                   " WHERE category_id < 3 ORDER BY category_id")
          .message(),
      AllOf(HasSubstr("names query"), HasSubstr("row 2"), HasSubstr("parent 9"), HasSubstr("no category")));
  EXPECT_THAT(load_error(pins_query(), names_query()).message(),
              AllOf(HasSubstr("row 3"), HasSubstr("column 2"), HasSubstr("NULL")));
  EXPECT_THAT(load_error(pins_query(), "SELECT NULL, 'x'").message(),
              AllOf(HasSubstr("row 1"), HasSubstr("column 1"), HasSubstr("NULL")));
  EXPECT_THAT(load_error(pins_query(), "SELECT 1, 'a' UNION ALL SELECT 1, 'b'").message(),
              AllOf(HasSubstr("row 2"), HasSubstr("already has the name 'a'")));
  EXPECT_THAT(load_error(pins_query(), "SELECT 4294967295, 'none'").message(), HasSubstr("reserved"));
  EXPECT_THAT(load_error(pins_query(), "SELECT 1, 'a', 4294967295").message(),
              AllOf(HasSubstr("column 3"), HasSubstr("reserved")));
  EXPECT_THAT(load_error(pins_query(), "SELECT 1").message(), HasSubstr("1 columns"));
}

TEST_F(CategoryDb, StreamsALargeResult) {
  // A million rows generated by the server (MariaDB's sequence engine), without a table.
  auto seq = db_->query("SELECT COUNT(*) FROM seq_1_to_10");
  if (!seq) GTEST_SKIP() << "no sequence engine: " << seq.status().message();
  auto t = load_categories_from_db(*db_, "SELECT seq * 1000003, seq % 1000 + 1 FROM seq_1_to_1000000",
                                   "SELECT seq, CONCAT('c', seq), NULL FROM seq_1_to_1000");
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(t->size(), 1000000U);
  EXPECT_EQ(t->category_count(), 1000U);
  for (uint64_t s = 1; s <= 1000000; s += 997) ASSERT_EQ(t->find(s * 1000003), s % 1000 + 1) << s;
  EXPECT_EQ(t->find(1000004), kNoRecord);
  EXPECT_EQ(t->name(17), "c17");
}

TEST_F(CategoryDb, BuildsFromASpecOnItsOwnConnection) {
  insert_pins({{"5", "1"}, {"6", "2"}});
  insert_names("(1,'a',NULL),(2,'b',1)");
  CategorySourceSpec spec;
  spec.dsn = test_dsn();
  spec.pins_query = pins_query();
  spec.names_query = names_query();
  auto built = build_category_table(spec);
  ASSERT_TRUE(built.is_ok()) << built.status().message();
  EXPECT_EQ((*built)->find(6), 2U);
  EXPECT_EQ((*built)->parent(2), 1U);
  spec.pins_query = "SELECT pin_id, category_id FROM no_such_table_here";
  auto failed = build_category_table(spec);
  ASSERT_FALSE(failed.is_ok());
  EXPECT_THAT(failed.status().message(),
              AllOf(HasSubstr("categories from"), HasSubstr("no_such_table_here")));
}

TEST(CategorySource, BuildsFromCsvAndRefusesAnEmptySpec) {
  const std::string dir = make_temp_dir("enrichd-categories");
  write_file(dir + "/pins.csv", "pin_id,category_id\n1,10\n2,11\n");
  write_file(dir + "/names.csv", "category_id,name,parent_id\n10,a,\n11,b,10\n");
  CategorySourceSpec spec;
  spec.pins_csv = dir + "/pins.csv";
  spec.names_csv = dir + "/names.csv";
  auto built = build_category_table(spec);
  ASSERT_TRUE(built.is_ok()) << built.status().message();
  EXPECT_EQ((*built)->find(2), 11U);
  EXPECT_EQ((*built)->parent(11), 10U);
  EXPECT_FALSE(build_category_table({}).is_ok());
  spec.dsn = "not-a-dsn";
  EXPECT_THAT(build_category_table(spec).status().message(), HasSubstr("mysql://"));
}

}  // namespace
}  // namespace enrichd::testing_support
