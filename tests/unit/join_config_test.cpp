// The join configuration: [enrich.categories] (and its old flat keys), [[enrich.join]], and the errors
// each bad combination gives, naming the key and the fix.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config_test_util.h"
#include "pipeline/config.h"
#include "pipeline/join_table.h"
#include "pipeline/memsql_sink.h"

namespace enrichd {
namespace {

using ::testing::HasSubstr;

const std::string& kHead = testing_util::kSourceAndSink;
const std::string kDsn = "mysql://reader:secret@127.0.0.1:3306/catalog";

// A config with `enrich` as the [enrich] table's body (and whatever tables follow it).
Result<Config> parse(const std::string& enrich) {
  return parse_config(kHead + "[enrich]\ngeo = \"g\"\n" + enrich, "/base");
}

std::string error_of(const std::string& enrich) {
  return testing_util::refusal_of(parse(enrich), enrich);
}

TEST(JoinConfig, OldFlatKeysStillWork) {
  auto c = parse("category_csv = \"pins.csv\"\ncategory_names_csv = \"names.csv\"\n");
  ASSERT_TRUE(c) << c.status().message();
  ASSERT_EQ(c->enrich.joins.size(), 1U);
  const JoinConfig& j = c->enrich.categories();
  EXPECT_EQ(j.name, "category");
  EXPECT_EQ(j.key_field, JoinKeyField::kPinId);
  EXPECT_EQ(j.output_column, "category");
  EXPECT_EQ(j.source.pins_csv, "/base/pins.csv");
  EXPECT_EQ(j.source.names_csv, "/base/names.csv");
  EXPECT_FALSE(j.source.from_db());
  EXPECT_EQ(j.source.refresh_interval_s, 0);
  EXPECT_TRUE(c->sink.join_columns.empty());
}

TEST(JoinConfig, CategoriesTableFromFiles) {
  auto c = parse("[enrich.categories]\npins_csv = \"p.csv\"\nnames_csv = \"/abs/n.csv\"\n");
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->enrich.categories().source.pins_csv, "/base/p.csv");
  EXPECT_EQ(c->enrich.categories().source.names_csv, "/abs/n.csv");
  EXPECT_EQ(c->enrich.categories().config_key, "enrich.categories");
}

TEST(JoinConfig, CategoriesTableFromADatabaseRefreshesEvery300sByDefault) {
  auto c = parse("[enrich.categories]\ndsn = \"" + kDsn +
                 "\"\npins_query = \"SELECT a, b FROM t\"\nnames_query = \"SELECT c, d FROM u\"\n");
  ASSERT_TRUE(c) << c.status().message();
  const JoinSourceConfig& s = c->enrich.categories().source;
  EXPECT_TRUE(s.from_db());
  EXPECT_EQ(s.dsn, kDsn);
  EXPECT_EQ(s.pins_query, "SELECT a, b FROM t");
  EXPECT_EQ(s.names_query, "SELECT c, d FROM u");
  EXPECT_EQ(s.refresh_interval_s, kDefaultJoinRefreshS);
  auto zero = parse("[enrich.categories]\ndsn = \"" + kDsn +
                    "\"\npins_query = \"SELECT a, b FROM t\"\nrefresh_interval_s = 0\n");
  ASSERT_TRUE(zero) << zero.status().message();
  EXPECT_EQ(zero->enrich.categories().source.refresh_interval_s, 0);
}

TEST(JoinConfig, EachBadCombinationNamesTheKeyAndTheFix) {
  const std::string db = "[enrich.categories]\ndsn = \"" + kDsn + "\"\n";
  EXPECT_THAT(error_of(db), AllOf(HasSubstr("'enrich.categories.pins_query' is required with "
                                            "'enrich.categories.dsn'"),
                                  HasSubstr("SELECT pin_id, category_id")));
  EXPECT_THAT(error_of(db + "pins_query = \"q\"\npins_csv = \"p.csv\"\n"),
              AllOf(HasSubstr("'enrich.categories.dsn' and 'enrich.categories.pins_csv' are both given"),
                    HasSubstr("remove one")));
  EXPECT_THAT(
      error_of(db + "pins_query = \"q\"\nnames_csv = \"n.csv\"\n"),
      HasSubstr("'enrich.categories.names_csv' is for a file source; with 'enrich.categories.dsn' use "
                "'enrich.categories.names_query'"));
  EXPECT_THAT(error_of("[enrich.categories]\npins_csv = \"p.csv\"\npins_query = \"q\"\n"),
              HasSubstr("'enrich.categories.pins_query' needs 'enrich.categories.dsn'"));
  EXPECT_THAT(error_of("[enrich.categories]\npins_csv = \"p.csv\"\nnames_query = \"q\"\n"),
              HasSubstr("'enrich.categories.names_query' needs 'enrich.categories.dsn'"));
  EXPECT_THAT(error_of("[enrich.categories]\nnames_csv = \"n.csv\"\n"),
              AllOf(HasSubstr("[enrich.categories] has no source"), HasSubstr("'enrich.categories.pins_csv'"),
                    HasSubstr("'enrich.categories.dsn'")));
  EXPECT_THAT(error_of("[enrich.categories]\npins_csv = \"p.csv\"\nrefresh_interval_s = 60\n"),
              AllOf(HasSubstr("'enrich.categories.refresh_interval_s' applies to a database source"),
                    HasSubstr("geo_poll_ms")));
  EXPECT_THAT(error_of(db + "pins_query = \"q\"\nrefresh_interval_s = -1\n"),
              HasSubstr("'enrich.categories.refresh_interval_s' is -1, must be between 0 and"));
  EXPECT_THAT(error_of(db + "pins_query = \"q\"\nrefresh_interval_s = \"5m\"\n"),
              HasSubstr("'enrich.categories.refresh_interval_s' must be an integer"));
  EXPECT_THAT(error_of("[enrich.categories]\ndsn = \"postgres://x/y\"\npins_query = \"q\"\n"),
              HasSubstr("config key 'enrich.categories.dsn'"));
  EXPECT_THAT(error_of("[enrich.categories]\npins_csv = \"p.csv\"\npins_file = \"x\"\n"),
              HasSubstr("'enrich.categories.pins_file' is unknown"));
  EXPECT_THAT(error_of("category_csv = \"p.csv\"\n[enrich.categories]\npins_csv = \"p.csv\"\n"),
              HasSubstr("'enrich.category_csv'/'enrich.category_names_csv' (the old names) and "
                        "[enrich.categories] are both given"));
  EXPECT_THAT(error_of("category_names_csv = \"n.csv\"\n"), HasSubstr("'enrich.category_csv' is required"));
  EXPECT_THAT(error_of(""), HasSubstr("[enrich.categories] is required"));
  EXPECT_THAT(error_of("categories = \"p.csv\"\n"), HasSubstr("'enrich.categories' must be a table"));
}

TEST(JoinConfig, AnExtraJoinAddsTwoOutputColumns) {
  auto c = parse(
      "category_csv = \"pins.csv\"\n[[enrich.join]]\nkey_field = \"user_id\"\noutput_column = "
      "\"segment\"\ndsn = \"" +
      kDsn + "\"\npins_query = \"SELECT user_id, segment_id FROM s\"\nrefresh_interval_s = 10\n");
  ASSERT_TRUE(c) << c.status().message();
  ASSERT_EQ(c->enrich.joins.size(), 2U);
  const JoinConfig& j = c->enrich.joins[1];
  EXPECT_EQ(j.name, "segment");
  EXPECT_EQ(j.key_field, JoinKeyField::kUserId);
  EXPECT_EQ(j.output_column, "segment");
  EXPECT_EQ(j.config_key, "enrich.join[1]");
  EXPECT_EQ(j.source.refresh_interval_s, 10);
  EXPECT_EQ(c->sink.join_columns, std::vector<std::string>{"segment"});
  const std::string ddl = create_table_sql("ev", SqlDialect::kMysql, c->sink.join_columns);
  EXPECT_THAT(ddl, HasSubstr("`category` VARCHAR(128) NULL,\n  `segment_id` INT UNSIGNED NULL,\n  `segment` "
                             "VARCHAR(128) NULL,\n"));
}

TEST(JoinConfig, TheCategoryJoinMayBeAJoinTableToo) {
  auto c = parse(
      "[[enrich.join]]\nkey_field = \"pin_id\"\noutput_column = \"category\"\npins_csv = \"p.csv\"\n"
      "[[enrich.join]]\nname = \"board\"\nkey_field = \"pin_id\"\noutput_column = \"board_topic\"\npins_csv "
      "= "
      "\"b.csv\"\n");
  ASSERT_TRUE(c) << c.status().message();
  ASSERT_EQ(c->enrich.joins.size(), 2U);
  EXPECT_EQ(c->enrich.categories().source.pins_csv, "/base/p.csv");
  EXPECT_EQ(c->enrich.categories().config_key, "enrich.join[1]");
  EXPECT_EQ(c->enrich.joins[1].name, "board");
  EXPECT_EQ(c->sink.join_columns, std::vector<std::string>{"board_topic"});
}

TEST(JoinConfig, BadJoinTablesNameTheKey) {
  const std::string cat = "category_csv = \"pins.csv\"\n";
  const std::string join = "[[enrich.join]]\npins_csv = \"s.csv\"\n";
  EXPECT_THAT(error_of(cat + join + "key_field = \"user_id\"\n"),
              HasSubstr("'enrich.join[1].output_column' is required"));
  EXPECT_THAT(error_of(cat + join + "output_column = \"segment\"\n"),
              HasSubstr("'enrich.join[1].key_field' is required"));
  EXPECT_THAT(error_of(cat + join + "output_column = \"segment\"\nkey_field = \"app\"\n"),
              HasSubstr("'enrich.join[1].key_field' is 'app', a column of its own that cannot be a join "
                        "key: use \"pin_id\", \"user_id\" or a [[schema.extra]] column of type \"u64\""));
  EXPECT_THAT(error_of(cat + join + "output_column = \"Seg-ment\"\nkey_field = \"user_id\"\n"),
              HasSubstr("'enrich.join[1].output_column' is 'Seg-ment', must be a column name"));
  EXPECT_THAT(error_of(cat + join + "output_column = \"city\"\nkey_field = \"user_id\"\n"),
              HasSubstr("'enrich.join[1].output_column' is 'city': the output columns 'city_id' and 'city' "
                        "would clash"));
  EXPECT_THAT(error_of(cat + join + "output_column = \"pin\"\nkey_field = \"user_id\"\n"),
              HasSubstr("would clash"));  // pin_id
  EXPECT_THAT(error_of(cat + join + "output_column = \"category\"\nkey_field = \"pin_id\"\n"),
              HasSubstr("[enrich.join[1]] is the category join (output_column = \"category\"), which "
                        "[enrich] already gives; keep one"));
  EXPECT_THAT(error_of(cat + join + "output_column = \"segment\"\nkey_field = \"user_id\"\n" + join +
                       "output_column = \"segment\"\nkey_field = \"pin_id\"\n"),
              HasSubstr("[enrich.join[1]] and [enrich.join[2]] have the same name or output_column"));
  EXPECT_THAT(error_of(cat + join + "output_column = \"a\"\nkey_field = \"user_id\"\n" + join +
                       "output_column = \"b\"\nkey_field = \"pin_id\"\n"),
              HasSubstr("one join besides the category join is supported for now (2 given)"));
  EXPECT_THAT(error_of(cat + join + "output_column = \"segment\"\nkey_field = \"user_id\"\ncolor = 1\n"),
              HasSubstr("'enrich.join[1].color' is unknown"));
  EXPECT_THAT(error_of(cat + "[[enrich.join]]\noutput_column = \"segment\"\nkey_field = \"user_id\"\n"),
              HasSubstr("[enrich.join[1]] has no source"));
  EXPECT_THAT(error_of(cat + "join = 3\n"), HasSubstr("'enrich.join' must be an array of tables"));
}

// A join keyed on a [[schema.extra]] column: the config names the column, parse_config finds it in the
// schema (the extras may come after the joins in the file) and refuses what cannot be a key.
const std::string kBoardJoin =
    "category_csv = \"pins.csv\"\n[[enrich.join]]\nkey_field = \"board_id\"\noutput_column = "
    "\"board_topic\"\npins_csv = \"boards.csv\"\n";

TEST(JoinConfig, AJoinMayKeyOnAU64ExtraColumn) {
  auto c = parse(kBoardJoin +
                 "[[schema.extra]]\nname = \"dwell_ms\"\ntype = \"i64\"\n"
                 "[[schema.extra]]\nname = \"board_id\"\npath = \"ctx.board\"\ntype = \"u64\"\n");
  ASSERT_TRUE(c) << c.status().message();
  ASSERT_EQ(c->enrich.joins.size(), 2U);
  const JoinConfig& j = c->enrich.joins[1];
  EXPECT_EQ(j.key_field, JoinKeyField::kExtra);
  EXPECT_EQ(j.key_column, "board_id");
  EXPECT_EQ(j.key_extra, 1U);
  EXPECT_EQ(c->sink.join_columns, std::vector<std::string>{"board_topic"});
  EXPECT_EQ(describe_join_key(j), "board_id ([[schema.extra]] u64; NULL: no record)");
  EXPECT_EQ(c->enrich.categories().key_column, "pin_id");
  EXPECT_EQ(describe_join_key(c->enrich.categories()), "pin_id");
}

TEST(JoinConfig, AnExtraKeyMustBeADeclaredU64Column) {
  EXPECT_THAT(
      error_of(kBoardJoin),
      HasSubstr("'enrich.join[1].key_field' is 'board_id', which is not \"pin_id\", \"user_id\" or a "
                "[[schema.extra]] column: declare it in [[schema.extra]] with name = \"board_id\" and "
                "type = \"u64\""));
  EXPECT_THAT(error_of(kBoardJoin + "[[schema.extra]]\nname = \"board\"\ntype = \"u64\"\n"),
              HasSubstr("'enrich.join[1].key_field' is 'board_id', which is not"));
  for (const char* type : {"i64", "f64", "string"}) {
    EXPECT_THAT(
        error_of(kBoardJoin + "[[schema.extra]]\nname = \"board_id\"\ntype = \"" + type + "\"\n"),
        HasSubstr(std::string("'enrich.join[1].key_field' is 'board_id', a [[schema.extra]] column of "
                              "type ") +
                  type + "; a join key must be u64: declare it in [[schema.extra]] with type = \"u64\""));
  }
  // The category join's key is checked the same way.
  EXPECT_THAT(error_of("[[enrich.join]]\nkey_field = \"board_id\"\noutput_column = \"category\"\npins_csv = "
                       "\"p.csv\"\n[[schema.extra]]\nname = \"board_id\"\ntype = \"f64\"\n"),
              HasSubstr("'enrich.join[1].key_field' is 'board_id', a [[schema.extra]] column of type f64"));
  EXPECT_THAT(
      error_of("[enrich.categories]\nkey_field = \"ua\"\npins_csv = \"p.csv\"\n"),
      HasSubstr("'enrich.categories.key_field' is 'ua', a column of its own that cannot be a join key"));
}

TEST(JoinConfig, TheCategoryJoinMayKeyOnAnyU64Column) {
  // [enrich.categories] key_field, or the [[enrich.join]] form with output_column = "category".
  auto c = parse("[enrich.categories]\nkey_field = \"user_id\"\npins_csv = \"p.csv\"\n");
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->enrich.categories().key_field, JoinKeyField::kUserId);
  c = parse(
      "[[enrich.join]]\nkey_field = \"board_id\"\noutput_column = \"category\"\npins_csv = "
      "\"p.csv\"\n[[schema.extra]]\nname = \"board_id\"\ntype = \"u64\"\n");
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->enrich.categories().key_field, JoinKeyField::kExtra);
  EXPECT_EQ(c->enrich.categories().key_extra, 0U);
  EXPECT_TRUE(c->sink.join_columns.empty());
  // Without key_field: pin_id.
  c = parse("[enrich.categories]\npins_csv = \"p.csv\"\n");
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->enrich.categories().key_field, JoinKeyField::kPinId);
}

}  // namespace
}  // namespace enrichd
