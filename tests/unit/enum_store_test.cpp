// How the table stores the enum columns action and app ([schema.fields.<column>] store): the config keys
// and every refusal, the DDL of each store, the check of an existing table's column type, and the encoder
// writing codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config_test_util.h"
#include "host/category_table.h"
#include "host/event_parser.h"
#include "host/event_schema.h"
#include "host/geo_table.h"
#include "host/row_encoder.h"
#include "pipeline/config.h"
#include "pipeline/enum_columns.h"
#include "pipeline/memsql_sink.h"

namespace enrichd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kHead = testing_util::kSourceAndSink + "[enrich]\ngeo = \"g\"\ncategory_csv = \"p\"\n";

Result<Config> parse(const std::string& schema) {
  return parse_config(kHead + schema, "/base");
}

std::string error_of(const std::string& schema) {
  return testing_util::refusal_of(parse(schema), schema);
}

TEST(EnumStoreConfig, DefaultIsTextAndStoresReachTheSink) {
  auto plain = parse("");
  ASSERT_TRUE(plain) << plain.status().message();
  EXPECT_EQ(plain->sink.action_store.store, EnumStore::kText);
  EXPECT_EQ(plain->sink.app_store.store, EnumStore::kText);
  EXPECT_FALSE(plain->sink.row_layout().action_code);

  auto c = parse(R"(
[schema.fields.action]
values = ["click", "save"]
unknown = "dead-letter"
store = "enum"
[schema.fields.app]
values = ["web", "ios"]
unknown = "dead-letter"
store = "code"
)");
  ASSERT_TRUE(c) << c.status().message();
  EXPECT_EQ(c->schema.fields[SchemaColumn::kAction].store, EnumStore::kEnum);
  EXPECT_EQ(c->sink.action_store.store, EnumStore::kEnum);
  EXPECT_EQ(c->sink.action_store.values, (std::vector<std::string>{"click", "save"}));
  EXPECT_EQ(c->sink.app_store.store, EnumStore::kCode);
  EXPECT_FALSE(c->sink.row_layout().action_code);
  EXPECT_TRUE(c->sink.row_layout().app_code);

  auto text = parse("[schema.fields.app]\nstore = \"text\"\n");  // text needs no dictionary
  ASSERT_TRUE(text) << text.status().message();
  EXPECT_EQ(text->sink.app_store.store, EnumStore::kText);
}

TEST(EnumStoreConfig, EveryRefusalNamesTheKeyAndTheFix) {
  EXPECT_THAT(error_of("[schema.fields.ua]\nstore = \"enum\"\n"),
              HasSubstr("'schema.fields.ua.store': a store applies only to the enum columns action and app"));
  EXPECT_THAT(error_of("[schema.fields.app]\nvalues = [\"a\"]\nunknown = \"dead-letter\"\nstore = \"int\"\n"),
              HasSubstr("'schema.fields.app.store' is 'int', must be \"text\", \"enum\" or \"code\""));
  EXPECT_THAT(error_of("[schema.fields.app]\nstore = 1\n"),
              HasSubstr("'schema.fields.app.store' must be a string"));
  EXPECT_THAT(error_of("[schema.fields.action]\nstore = \"code\"\n"),
              HasSubstr("'schema.fields.action.store' = \"code\" needs a dictionary: add values = [...] to "
                        "[schema.fields.action]"));
  EXPECT_THAT(error_of("[schema.fields.action]\nvalues = [\"a\"]\nstore = \"code\"\n"),
              HasSubstr("'schema.fields.action.store' = \"code\" needs every value in the dictionary: add "
                        "unknown = \"dead-letter\" to [schema.fields.action]"));
  EXPECT_THAT(error_of("[schema.fields.app]\nvalues = [\"a\"]\nunknown = \"keep\"\nstore = \"enum\"\n"),
              HasSubstr("'schema.fields.app.store' = \"enum\" needs every value in the dictionary"));
  EXPECT_THAT(
      error_of("[schema.fields.app]\nvalues = [\"a \"]\nunknown = \"dead-letter\"\nstore = \"enum\"\n"),
      HasSubstr("value 'a ' of schema.fields.app.values ends in a space"));
  EXPECT_THAT(error_of("[schema.fields.app]\nvalues = [\"" + std::string(256, 'x') +
                       "\"]\nunknown = \"dead-letter\"\nstore = \"enum\"\n"),
              HasSubstr("is 256 bytes, an ENUM member at most 255"));
  // The same values are fine stored as codes.
  auto c = parse("[schema.fields.app]\nvalues = [\"a \"]\nunknown = \"dead-letter\"\nstore = \"code\"\n");
  EXPECT_TRUE(c) << c.status().message();
}

TEST(EnumStoreSchema, CheckRefusesAStoreWithoutDeadLetteredDictionary) {
  EventSchema s = default_event_schema();
  s[SchemaColumn::kApp].store = EnumStore::kCode;
  EXPECT_THAT(check_event_schema(s).message(),
              HasSubstr("column 'app': store code needs an enum dictionary"));
  s[SchemaColumn::kApp].values = {"web"};
  EXPECT_FALSE(check_event_schema(s));
  s[SchemaColumn::kApp].unknown = EnumUnknown::kDeadLetter;
  EXPECT_TRUE(check_event_schema(s)) << check_event_schema(s).message();
}

TEST(EnumStoreDdl, EachStoreGivesItsColumnType) {
  SinkConfig config;
  EXPECT_THAT(create_table_sql("ev", config), HasSubstr("`action` VARCHAR(64) NOT NULL,\n"));
  config.action_store = {EnumStore::kEnum, {"click", "it's", "back\\slash"}};
  config.app_store = {EnumStore::kCode, {"web", "ios"}};
  const std::string ddl = create_table_sql("ev", config);
  // A quote and a backslash escaped inside the literal; the members in dictionary order.
  EXPECT_THAT(ddl, HasSubstr("`action` ENUM('click','it\\'s','back\\\\slash') CHARACTER SET utf8mb4 COLLATE "
                             "utf8mb4_bin NOT NULL,\n"));
  EXPECT_THAT(ddl, HasSubstr("`app` SMALLINT UNSIGNED NOT NULL,\n"));
  EXPECT_THAT(ddl, HasSubstr("`ua` VARCHAR(512) NOT NULL"));
  config.dialect = SqlDialect::kSingleStore;
  EXPECT_THAT(create_table_sql("ev", config), HasSubstr("`app` SMALLINT UNSIGNED NOT NULL,\n"));
  EXPECT_EQ(enum_column_type({EnumStore::kText, {"a"}}), "VARCHAR(64) NOT NULL");
}

TEST(EnumStoreTableCheck, ExistingColumnTypeMustFitTheStore) {
  const EnumColumnStore text{EnumStore::kText, {}};
  const EnumColumnStore as_enum{EnumStore::kEnum, {"click", "it's", "back\\slash"}};
  const EnumColumnStore code{EnumStore::kCode, {"a", "b"}};
  const auto check = [](const EnumColumnStore& want, const std::string& data_type, std::string_view type) {
    return check_enum_column("ev", SchemaColumn::kAction, want, data_type, type);
  };
  EXPECT_TRUE(check(text, "varchar", "varchar(64)"));
  EXPECT_TRUE(check(text, "TEXT", "text"));
  EXPECT_TRUE(check(code, "smallint", "smallint(5) unsigned"));
  EXPECT_TRUE(check(code, "int", "int(10) unsigned"));
  // information_schema shows a quote doubled and a backslash escaped; members in any order, more allowed.
  EXPECT_TRUE(check(as_enum, "enum", "enum('back\\\\slash','x','click','it''s')"));
  EXPECT_THAT(
      check(as_enum, "enum", "enum('click','it''s')").message(),
      HasSubstr("table 'ev' column 'action' is enum('click','it''s'), without the value 'back\\slash' "
                "of config key 'schema.fields.action.values': ALTER TABLE `ev` MODIFY `action` ENUM("));
  EXPECT_THAT(
      check(code, "varchar", "varchar(64)").message(),
      HasSubstr("column 'action' is varchar(64), but config key 'schema.fields.action.store' = \"code\" "
                "needs an integer column (SMALLINT UNSIGNED): set schema.fields.action.store = \"text\" "
                "to match the table, or load into a new table (sink.table)"));
  EXPECT_THAT(check(text, "smallint", "smallint(5) unsigned").message(),
              HasSubstr("set schema.fields.action.store = \"code\" to match the table"));
  EXPECT_THAT(check(as_enum, "varchar", "varchar(64)").message(),
              HasSubstr("needs an ENUM of the dictionary"));
  EXPECT_THAT(check(code, "tinyint", "tinyint(3) unsigned").message(),
              HasSubstr("needs an integer column (SMALLINT UNSIGNED): load into a new table"));
  EnumColumnStore many{EnumStore::kCode, {}};
  for (int i = 0; i < 40000; ++i) many.values.push_back(std::to_string(i));
  EXPECT_TRUE(check(many, "smallint", "smallint(5) unsigned"));
  EXPECT_THAT(check(many, "smallint", "smallint(6)").message(), HasSubstr("too small for the 40000 codes"));
}

TEST(EnumStoreEncoder, CodeColumnsAreWrittenAsTheirIndex) {
  EventSchema s = default_event_schema();
  s[SchemaColumn::kAction].values = {"click", "save", "view"};
  s[SchemaColumn::kAction].unknown = EnumUnknown::kDeadLetter;
  s[SchemaColumn::kApp].values = {"web", "ios"};
  s[SchemaColumn::kApp].unknown = EnumUnknown::kDeadLetter;
  ASSERT_TRUE(check_event_schema(s));
  RawBatch raw;
  raw.add(R"({"event_id":1,"ts":0,"user_id":3,"pin_id":4,"ip":"::1","action":"view","app":"ios"})", {0, 0});
  raw.add(R"({"event_id":2,"ts":0,"user_id":3,"pin_id":4,"ip":"::1","action":"click","app":"web"})", {0, 1});
  EventBatch batch;
  std::vector<DeadLetter> dead;
  EventParser(ParserOptions{.schema = s}).parse(raw, batch, dead);
  ASSERT_EQ(batch.size(), 2U);

  const GeoTable geo;
  const CategoryTable categories;
  std::string text, codes, app_only;
  encode_rows(batch, geo, categories, text);
  encode_rows(batch, geo, categories, codes, {}, RowLayout{.action_code = true, .app_code = true});
  encode_rows(batch, geo, categories, app_only, {}, RowLayout{.app_code = true});
  EXPECT_THAT(text, HasSubstr("\t4\tview\t::1\tios\t"));
  EXPECT_THAT(codes, HasSubstr("\t4\t2\t::1\t1\t"));
  EXPECT_THAT(codes, HasSubstr("\t4\t0\t::1\t0\t"));
  EXPECT_THAT(codes, Not(HasSubstr("view")));
  EXPECT_THAT(app_only, HasSubstr("\t4\tview\t::1\t1\t"));
  EXPECT_THAT(app_only, HasSubstr("\t4\tclick\t::1\t0\t"));
}

}  // namespace
}  // namespace enrichd
