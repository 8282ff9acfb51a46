// Helpers shared by the unit tests of the config reader (schema, filter, joins, enum stores).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "pipeline/config.h"

namespace enrichd::testing_util {

// A file source and a sink: with an [enrich] table, the smallest config parse_config accepts.
inline const std::string kSourceAndSink =
    "[source]\nkind = \"file\"\npath = \"-\"\n[sink]\ndsn = \"mysql://root@h/db\"\n";

// The message of a config that must be refused; the test fails when `config` was accepted.
inline std::string refusal_of(const Result<Config>& parsed, std::string_view config) {
  EXPECT_FALSE(parsed.is_ok()) << config;
  return parsed ? std::string() : parsed.status().message();
}

}  // namespace enrichd::testing_util
