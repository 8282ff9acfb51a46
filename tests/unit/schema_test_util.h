// Helpers shared by the unit tests of the input schema (event_schema_test, extra_types_test,
// schema_roles_test): messages parsed with a schema, a pass-through column, a [schema] config, the fields of
// encoded rows.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "config_test_util.h"
#include "host/event_parser.h"
#include "host/event_schema.h"
#include "pipeline/config.h"

namespace enrichd::testing_util {

struct Parsed {
  EventBatch batch;
  std::vector<DeadLetter> dead;
};

// `messages` (partition 0, offsets 0..) parsed with `schema`, which must pass check_event_schema; every
// message becomes an event or a dead letter.
inline Parsed parse_with(const EventSchema& schema, const std::vector<std::string>& messages,
                         EpochUnit ts_unit = EpochUnit::kMilliseconds) {
  EXPECT_TRUE(check_event_schema(schema)) << check_event_schema(schema).message();
  RawBatch raw;
  for (size_t i = 0; i < messages.size(); ++i) raw.add(messages[i], {0, static_cast<int64_t>(i)});
  Parsed p;
  EventParser parser(ParserOptions{.ts_unit = ts_unit, .schema = schema});
  parser.parse(raw, p.batch, p.dead);
  EXPECT_EQ(p.batch.size() + p.dead.size(), messages.size());
  return p;
}

inline ExtraField extra_field(std::string name, std::string path, ExtraType type) {
  ExtraField f;
  f.name = std::move(name);
  f.path = std::move(path);
  f.type = type;
  return f;
}

// A config of a file source, geo, the category join, a sink, and `schema` as the [schema] table's body
// (keys, then its sub-tables).
inline Result<Config> parse_schema_config(const std::string& schema) {
  return parse_config(kSourceAndSink + "[enrich]\ngeo = \"g\"\ncategory_csv = \"p\"\n[schema]\n" + schema,
                      "/base");
}
// The message that config is refused with; the test fails when it was accepted.
inline std::string schema_config_refusal(const std::string& schema) {
  return refusal_of(parse_schema_config(schema), schema);
}

// The parts of `s` between `sep`s (no empty part after a trailing `sep`).
inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string part;
  std::istringstream in(s);
  while (std::getline(in, part, sep)) out.push_back(part);
  return out;
}

}  // namespace enrichd::testing_util
