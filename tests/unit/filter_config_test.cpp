// The [filter] config: every key read, and every refusal at start naming the key and the fix (the rules
// are checked against [schema] when the config is parsed, so `enrichd check` and `run` both refuse).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "config_test_util.h"
#include "pipeline/config.h"

namespace enrichd {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

const std::string kHead = testing_util::kSourceAndSink +
                          "[enrich]\ngeo = \"g\"\ncategory_csv = \"c\"\n"
                          "[schema.fields.action]\nvalues = [\"view\", \"click\"]\n"
                          "[[schema.extra]]\nname = \"country\"\ntype = \"string\"\n"
                          "[[schema.extra]]\nname = \"dwell_ms\"\ntype = \"u64\"\n"
                          "[[schema.extra]]\nname = \"delta\"\ntype = \"i64\"\n"
                          "[[schema.extra]]\nname = \"score\"\ntype = \"f64\"\n";

Result<Config> parse(const std::string& filter) {
  return parse_config(kHead + filter, "/base");
}

std::string error_of(const std::string& filter) {
  return testing_util::refusal_of(parse(filter), filter);
}

TEST(FilterConfig, EveryKeyIsRead) {
  auto c = parse(R"([filter]
include_actions = ["view"]
exclude_apps = ["web"]
require_app = true
require = ["ua", "country"]
ts_min = "2024-01-01T00:00:00Z"
ts_max = 1800000000000
[[filter.range]]
column = "dwell_ms"
min = 10
max = 20
[[filter.range]]
column = "score"
max = 0.5
[[filter.range]]
column = "ts"
min = "2024-06-01T00:00:00Z"
[[filter.match]]
column = "country"
include = ["US", "DE"]
exclude = ["DE"]
)");
  ASSERT_TRUE(c) << c.status().message();
  const FilterConfig& f = c->filter;
  EXPECT_EQ(f.include_actions, std::vector<std::string>{"view"});
  EXPECT_EQ(f.exclude_apps, std::vector<std::string>{"web"});
  EXPECT_TRUE(f.require_app);
  EXPECT_EQ(f.require, (std::vector<std::string>{"ua", "country"}));
  EXPECT_EQ(f.ts_min_ms, 1704067200000);
  EXPECT_EQ(f.ts_max_ms, 1800000000000);
  ASSERT_EQ(f.ranges.size(), 3U);
  EXPECT_EQ(f.ranges[0].column, "dwell_ms");
  EXPECT_EQ(f.ranges[0].min, FilterBound(int64_t{10}));
  EXPECT_EQ(f.ranges[0].max, FilterBound(int64_t{20}));
  EXPECT_FALSE(f.ranges[1].min);
  EXPECT_EQ(f.ranges[1].max, FilterBound(0.5));
  EXPECT_EQ(f.ranges[2].min, FilterBound(std::string("2024-06-01T00:00:00Z")));
  ASSERT_EQ(f.matches.size(), 1U);
  EXPECT_EQ(f.matches[0].column, "country");
  EXPECT_EQ(f.matches[0].include, (std::vector<std::string>{"US", "DE"}));
  EXPECT_EQ(f.matches[0].exclude, std::vector<std::string>{"DE"});
}

TEST(FilterConfig, RangeErrors) {
  const auto range = [](const std::string& body) { return error_of("[[filter.range]]\n" + body); };
  EXPECT_THAT(range("column = \"dwel_ms\"\nmin = 1\n"),
              AllOf(HasSubstr("'filter.range[0].column' is 'dwel_ms', which is no column"),
                    HasSubstr("event_id, ts, user_id, pin_id, dwell_ms, delta, score")));
  EXPECT_THAT(range("column = \"country\"\nmin = 1\n"),
              AllOf(HasSubstr("'filter.range[0].column' is 'country', a string column"),
                    HasSubstr("[[filter.match]]")));
  EXPECT_THAT(range("column = \"ip\"\nmin = 1\n"), HasSubstr("'ip', an ip column"));
  EXPECT_THAT(range("column = \"user_id\"\n"), HasSubstr("[[filter.range[0]]] needs min, max or both"));
  EXPECT_THAT(
      range("column = \"user_id\"\nmin = 5\nmax = 4\n"),
      HasSubstr("'filter.range[0].min' and 'filter.range[0].max' give an empty range (5 is after 4): swap"));
  EXPECT_THAT(range("column = \"score\"\nmin = 0.5\nmax = -1\n"), HasSubstr("empty range (0.5 is after -1)"));
  EXPECT_THAT(range("column = \"ts\"\nmin = \"2024-02-01T00:00:00Z\"\nmax = \"2024-01-01T00:00:00Z\"\n"),
              HasSubstr("empty range"));
  EXPECT_THAT(range("column = \"user_id\"\nmin = -1\n"),
              HasSubstr("'filter.range[0].min' is -1, must be a non-negative integer (user_id is u64)"));
  EXPECT_THAT(range("column = \"dwell_ms\"\nmax = 1.5\n"),
              HasSubstr("'filter.range[0].max' is 1.5, must be a non-negative integer (dwell_ms is u64)"));
  EXPECT_THAT(range("column = \"delta\"\nmin = 0.5\n"), HasSubstr("must be an integer (delta is i64)"));
  EXPECT_THAT(range("column = \"score\"\nmin = \"1\"\n"), HasSubstr("must be a number (score is f64)"));
  EXPECT_THAT(range("column = \"score\"\nmin = nan\n"), HasSubstr("must be a number (score is f64)"));
  EXPECT_THAT(range("column = \"ts\"\nmin = \"yesterday\"\n"),
              HasSubstr("'filter.range[0].min' is yesterday, must be epoch milliseconds or an RFC 3339"));
  EXPECT_THAT(range("column = \"ts\"\nmin = 1.5\n"), HasSubstr("must be epoch milliseconds"));
  EXPECT_THAT(range("column = \"user_id\"\nmin = true\n"),
              HasSubstr("'filter.range[0].min' must be a number"));
  EXPECT_THAT(range("column = \"user_id\"\nmin = 1\nmaximum = 2\n"),
              HasSubstr("'filter.range[0].maximum' is unknown"));
  EXPECT_THAT(range("min = 1\n"), HasSubstr("'filter.range[0].column' is required"));
  EXPECT_THAT(error_of("[filter]\nrange = 1\n"),
              HasSubstr("'filter.range' must be an array of tables ([[filter.range]])"));
  // The second table is named by its index.
  EXPECT_THAT(error_of("[[filter.range]]\ncolumn = \"user_id\"\nmin = 1\n[[filter.range]]\ncolumn = \"x\"\n"),
              HasSubstr("'filter.range[1].column' is 'x'"));
}

TEST(FilterConfig, MatchErrors) {
  const auto match = [](const std::string& body) { return error_of("[[filter.match]]\n" + body); };
  EXPECT_THAT(match("column = \"contry\"\ninclude = [\"US\"]\n"),
              AllOf(HasSubstr("'filter.match[0].column' is 'contry', which is no column"),
                    HasSubstr("action, app, ua, country")));
  EXPECT_THAT(match("column = \"dwell_ms\"\ninclude = [\"1\"]\n"),
              AllOf(HasSubstr("'dwell_ms', a u64 column"), HasSubstr("[[filter.range]]")));
  EXPECT_THAT(match("column = \"ts\"\ninclude = [\"1\"]\n"), HasSubstr("'ts', a timestamp column"));
  EXPECT_THAT(match("column = \"country\"\n"), HasSubstr("[[filter.match[0]]] lists no values"));
  EXPECT_THAT(match("column = \"country\"\ninclude = []\nexclude = []\n"), HasSubstr("lists no values"));
  EXPECT_THAT(match("column = \"country\"\ninclude = [1]\n"),
              HasSubstr("'filter.match[0].include' must be an array of strings"));
  EXPECT_THAT(match("column = \"country\"\nvalues = [\"US\"]\n"),
              HasSubstr("'filter.match[0].values' is unknown"));
  EXPECT_THAT(
      match("column = \"action\"\nexclude = [\"veiw\"]\n"),
      AllOf(HasSubstr("'filter.match[0].exclude' lists 'veiw', which is not in the dictionary of action"),
            HasSubstr("schema.fields.action.values"),
            HasSubstr("add it to the dictionary, or remove it from the list")));
}

TEST(FilterConfig, ListedValuesMustBeInTheDictionary) {
  EXPECT_THAT(error_of("[filter]\ninclude_actions = [\"view\", \"save\"]\n"),
              HasSubstr("'filter.include_actions' lists 'save', which is not in the dictionary of action"));
  EXPECT_THAT(error_of("[filter]\nexclude_actions = [\"hide\"]\n"),
              HasSubstr("'filter.exclude_actions' lists 'hide'"));
  // app has no dictionary here: any value goes.
  EXPECT_TRUE(parse("[filter]\ninclude_apps = [\"anything\"]\n"));
  auto with_app_dictionary =
      parse_config(kHead + "[schema.fields.app]\nvalues = [\"ios\"]\nunknown = \"keep\"\n" +
                       "[filter]\nexclude_apps = [\"web\"]\n",
                   "/base");
  ASSERT_FALSE(with_app_dictionary);
  EXPECT_THAT(with_app_dictionary.status().message(), HasSubstr("'filter.exclude_apps' lists 'web'"));
}

TEST(FilterConfig, RequireErrors) {
  EXPECT_THAT(error_of("[filter]\nrequire = [\"ua\", \"agent\"]\n"),
              AllOf(HasSubstr("'filter.require' names 'agent', which is no column"),
                    HasSubstr("action, app, ua, country, dwell_ms, delta, score")));
  EXPECT_THAT(error_of("[filter]\nrequire = [\"user_id\"]\n"),
              AllOf(HasSubstr("'filter.require' names 'user_id', which every event has"),
                    HasSubstr("[schema.fields.user_id] required = true")));
  EXPECT_THAT(error_of("[filter]\nrequire = [\"ip\"]\n"), HasSubstr("names 'ip', which every event has"));
  EXPECT_THAT(error_of("[filter]\nrequire = \"ua\"\n"),
              HasSubstr("'filter.require' must be an array of strings"));
}

TEST(FilterConfig, OldKeyErrorsStillNameTheirKeys) {
  EXPECT_THAT(error_of("[filter]\nts_min = 5\nts_max = 4\n"),
              HasSubstr("'filter.ts_min' and 'filter.ts_max' give an empty range"));
  EXPECT_THAT(error_of("[filter]\nts_min = \"soon\"\n"),
              HasSubstr("'filter.ts_min' must be epoch milliseconds"));
  EXPECT_THAT(error_of("[filter]\ninclude_action = [\"view\"]\n"),
              HasSubstr("'filter.include_action' is unknown"));
}

}  // namespace
}  // namespace enrichd
