// The filter stage on real parts: events produced to the embedded broker, `enrichd run` with a range on a
// pass-through column, a match list on another, and an exclude list resolved to enum codes, and the rows
// the real MariaDB test server holds afterwards. `enrichd check` shows the rules and refuses bad ones.
// (The rules one by one are in tests/unit/event_filter_test.cpp and filter_config_test.cpp.)
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pipeline/mock_broker.h"
#include "pipeline_fixture.h"
#include "test_support.h"

namespace enrichd::testing_support {
namespace {

using namespace std::chrono_literals;

std::string filter_config(const std::string& brokers, const std::string& topic, const std::string& table,
                          const std::string& filter) {
  return fmt::format(R"([source]
brokers = "{}"
topic = "{}"
group = "filter-{}"
[batch]
max_events = 64
linger_ms = 20
[schema.fields.action]
values = ["view", "click", "save", "hide"]
[[schema.extra]]
name = "country"
type = "string"
[[schema.extra]]
name = "dwell_ms"
type = "u64"
[filter]
exclude_actions = ["hide"]
{}
[enrich]
backend = "scalar"
geo = "geo.csv"
category_csv = "pins.csv"
[sink]
dsn = "{}"
table = "{}"
)",
                     brokers, topic, table, filter, test_dsn(), table);
}

constexpr const char* kRules = R"([[filter.range]]
column = "dwell_ms"
min = 100
max = 5000
[[filter.match]]
column = "country"
include = ["US", "DE"]
)";

TEST(EventFilterRun, RangeOnAnExtraColumnAndAMatchListDecideTheLoadedRows) {
  if (test_dsn().empty()) GTEST_SKIP() << "ENRICHD_TEST_DSN is not set; run through scripts/test";
  auto db = connect_test_db();
  ASSERT_TRUE(db) << "the test database at " << test_dsn() << " is not reachable";
  auto broker = MockBroker::start();
  ASSERT_TRUE(broker) << broker.status().message();
  const std::string topic = "filtered";
  ASSERT_TRUE((*broker)->create_topic(topic, 2));
  const std::string dir = make_reference_dir("enrichd-filter");
  const std::string table = unique_name("filter_");

  // Every combination of action, country (NULL included) and dwell time (edges, NULL included).
  const std::vector<const char*> actions = {"view", "hide", "click"};
  const std::vector<const char*> countries = {"US", "DE", "FR", "", nullptr};
  const std::vector<int64_t> dwells = {99, 100, 2500, 5000, 5001, -1};  // -1: absent
  std::vector<std::string> messages;
  std::vector<uint64_t> expected;
  uint64_t id = 1;
  for (const char* action : actions) {
    for (const char* country : countries) {
      for (const int64_t dwell : dwells) {
        std::string extra;
        if (country) extra += fmt::format(R"(,"country":"{}")", country);
        if (dwell >= 0) extra += fmt::format(R"(,"dwell_ms":{})", dwell);
        messages.push_back(fmt::format(
            R"({{"event_id":{},"ts":1700000000000,"user_id":1,"pin_id":1,"action":"{}","ip":"8.8.8.8"{}}})",
            id, action, extra));
        const bool country_ok = country && (std::string(country) == "US" || std::string(country) == "DE");
        if (std::string(action) != "hide" && country_ok && dwell >= 100 && dwell <= 5000)
          expected.push_back(id);
        ++id;
      }
    }
  }
  ASSERT_TRUE(produce_all((*broker)->bootstrap_servers(), topic, messages));

  write_file(dir + "/enrichd.toml", filter_config((*broker)->bootstrap_servers(), topic, table, kRules));
  auto check = run_process({enrichd_binary(), "check", "-c", dir + "/enrichd.toml"}, 60s);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_NE(check.out.find("dwell_ms in [100, 5000] (NULL fails); action not in [hide] (by enum code); "
                           "country in [US, DE] (NULL fails)"),
            std::string::npos)
      << check.out;

  auto r = run_process({enrichd_binary(), "run", "-c", dir + "/enrichd.toml", "--max-messages",
                        std::to_string(messages.size()), "--quiet"},
                       90s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto rows = db->query("SELECT event_id, action, country, dwell_ms FROM `" + table + "` ORDER BY event_id");
  ASSERT_TRUE(rows) << rows.status().message();
  std::vector<uint64_t> loaded;
  for (const auto& row : *rows) {
    loaded.push_back(std::stoull(row[0]));
    EXPECT_NE(row[1], "hide");
    EXPECT_TRUE(row[2] == "US" || row[2] == "DE") << row[2];
    EXPECT_TRUE(std::stoll(row[3]) >= 100 && std::stoll(row[3]) <= 5000) << row[3];
  }
  EXPECT_EQ(loaded, expected);
  EXPECT_EQ(expected.size(), 12U);  // 2 actions x 2 countries x 3 dwell times
  drop_run_tables(*db, table);

  // A rule that does not fit the schema stops check and run at start, naming the key.
  write_file(dir + "/bad.toml", filter_config((*broker)->bootstrap_servers(), topic, table,
                                              "[[filter.range]]\ncolumn = \"country\"\nmin = 1\n"));
  for (const char* command : {"check", "run"}) {
    auto bad = run_process({enrichd_binary(), command, "-c", dir + "/bad.toml"}, 60s);
    EXPECT_EQ(bad.exit_code, 2) << command;
    EXPECT_NE(bad.err.find("'filter.range[0].column' is 'country', a string column"), std::string::npos)
        << command << ": " << bad.err;
  }
}

}  // namespace
}  // namespace enrichd::testing_support
