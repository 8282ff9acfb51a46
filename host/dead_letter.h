// A message that could not become an event: kept with its reason, the field at fault, where it came from
// and its raw payload, so that nothing is lost silently.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "host/raw_batch.h"

namespace enrichd {

enum class DeadLetterReason : uint8_t {
  kEmpty,          // zero-length message
  kOversized,      // longer than the configured maximum
  kMalformedJson,  // not valid JSON
  kNotObject,      // valid JSON, but not an object
  kMissingField,   // a required field is absent
  kWrongType,      // a field has the wrong JSON type or is out of range
  kBadIp,          // the IP field is not an IPv4/IPv6 address
  kUnknownValue,   // an enum field's value is not in its dictionary (schema unknown = "dead-letter")
};
inline constexpr size_t kDeadLetterReasonCount = 8;

constexpr std::string_view to_string(DeadLetterReason r) {
  constexpr std::array<std::string_view, kDeadLetterReasonCount> kNames = {
      "empty",         "oversized",  "malformed_json", "not_object",
      "missing_field", "wrong_type", "bad_ip",         "unknown_value"};
  return kNames[static_cast<size_t>(r)];
}

struct DeadLetter {
  DeadLetterReason reason = DeadLetterReason::kMalformedJson;
  std::string field;  // the offending field, empty when the message as a whole is at fault
  MessagePosition position;
  std::string payload;
};

}  // namespace enrichd
