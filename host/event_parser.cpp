#include "host/event_parser.h"

#include <simdjson.h>

#include <string_view>

namespace enrichd {

static_assert(RawBatch::kPadding >= simdjson::SIMDJSON_PADDING,
              "RawBatch padding must cover simdjson's reads");

namespace {

using simdjson::error_code;
namespace od = simdjson::ondemand;

// The default engagement schema. Required fields must all be present; optional ones default to "".
enum FieldBit : uint32_t {
  kEventId = 1U << 0,
  kTs = 1U << 1,
  kUserId = 1U << 2,
  kPinId = 1U << 3,
  kAction = 1U << 4,
  kIp = 1U << 5,
};
constexpr uint32_t kRequired = kEventId | kTs | kUserId | kPinId | kAction | kIp;

struct ParsedEvent {
  uint32_t seen = 0;
  uint64_t event_id = 0;
  int64_t ts_ms = 0;
  uint64_t user_id = 0;
  uint64_t pin_id = 0;
  std::string_view action, ip_text, app, ua;  // point into the parser's string buffer
  IpAddress ip;
};

struct Failure {
  DeadLetterReason reason;
  std::string_view field;
};

// NUMBER_ERROR is not here: it means the number text itself is not valid JSON ("12a", "01").
bool is_type_error(error_code e) {
  return e == simdjson::INCORRECT_TYPE || e == simdjson::NUMBER_OUT_OF_RANGE;
}

// A value error is a wrong type when the JSON was fine but the value was not what the schema wants.
Failure value_failure(error_code e, std::string_view field) {
  return {is_type_error(e) ? DeadLetterReason::kWrongType : DeadLetterReason::kMalformedJson, field};
}

std::string_view missing_field_name(uint32_t seen) {
  if (!(seen & kEventId)) return "event_id";
  if (!(seen & kTs)) return "ts";
  if (!(seen & kUserId)) return "user_id";
  if (!(seen & kPinId)) return "pin_id";
  if (!(seen & kAction)) return "action";
  return "ip";
}

// Reads an optional string: absent or null both mean "".
error_code get_optional_string(od::value v, std::string_view& out) {
  bool null = false;
  if (auto e = v.is_null().get(null)) return e;
  if (null) {
    out = {};
    return simdjson::SUCCESS;
  }
  return v.get_string().get(out);
}

// The event time: an epoch number in the configured unit (integer or fractional), a string of digits
// read the same way, or an RFC 3339 date-time string. Anything else is a wrong type.
error_code read_timestamp(od::value v, EpochUnit unit, int64_t& out) {
  od::json_type type;
  if (auto e = v.type().get(type)) return e;
  std::optional<int64_t> ms;
  if (type == od::json_type::number) {
    od::number_type nt;
    if (auto e = v.get_number_type().get(nt)) return e;
    if (nt == od::number_type::floating_point_number) {
      double d = 0;
      if (auto e = v.get_double().get(d)) return e;
      ms = epoch_to_ms(d, unit);
    } else {
      int64_t i = 0;
      if (auto e = v.get_int64().get(i)) return e;
      ms = epoch_to_ms(i, unit);
    }
  } else if (type == od::json_type::string) {
    std::string_view text;
    if (auto e = v.get_string().get(text)) return e;
    const bool all_digits =
        !text.empty() && text.size() <= 18 && text.find_first_not_of("0123456789") == std::string_view::npos;
    if (all_digits) {
      int64_t i = 0;
      for (char c : text) i = i * 10 + (c - '0');
      ms = epoch_to_ms(i, unit);
    } else {
      ms = parse_datetime_ms(text);
    }
  } else {
    return simdjson::INCORRECT_TYPE;
  }
  if (!ms) return simdjson::NUMBER_OUT_OF_RANGE;
  out = *ms;
  return simdjson::SUCCESS;
}

std::optional<Failure> parse_one(od::parser& parser, std::string_view payload, const ParserOptions& options,
                                 ParsedEvent& ev) {
  od::document doc;
  if (parser.iterate(payload.data(), payload.size(), payload.size() + RawBatch::kPadding).get(doc)) {
    return Failure{DeadLetterReason::kMalformedJson, {}};
  }
  od::object obj;
  if (auto e = doc.get_object().get(obj)) {
    return Failure{
        e == simdjson::INCORRECT_TYPE ? DeadLetterReason::kNotObject : DeadLetterReason::kMalformedJson, {}};
  }
  for (auto field_result : obj) {
    if (field_result.error()) return Failure{DeadLetterReason::kMalformedJson, {}};
    od::field field = field_result.value_unsafe();
    std::string_view key;
    if (field.unescaped_key().get(key)) return Failure{DeadLetterReason::kMalformedJson, {}};
    od::value v = field.value();
    error_code e = simdjson::SUCCESS;
    if (key == "event_id") {
      e = v.get_uint64().get(ev.event_id);
      ev.seen |= kEventId;
    } else if (key == "ts") {
      e = read_timestamp(v, options.ts_unit, ev.ts_ms);
      ev.seen |= kTs;
    } else if (key == "user_id") {
      e = v.get_uint64().get(ev.user_id);
      ev.seen |= kUserId;
    } else if (key == "pin_id") {
      e = v.get_uint64().get(ev.pin_id);
      ev.seen |= kPinId;
    } else if (key == "action") {
      e = v.get_string().get(ev.action);
      ev.seen |= kAction;
    } else if (key == "ip") {
      e = v.get_string().get(ev.ip_text);
      ev.seen |= kIp;
    } else if (key == "app") {
      e = get_optional_string(v, ev.app);
    } else if (key == "ua") {
      e = get_optional_string(v, ev.ua);
    } else {
      continue;  // unknown fields are skipped by the iterator
    }
    if (e) return value_failure(e, key);
  }
  // Anything after the closing brace makes the message malformed.
  const char* end = nullptr;
  if (doc.current_location().get(end) != simdjson::OUT_OF_BOUNDS) {
    return Failure{DeadLetterReason::kMalformedJson, {}};
  }
  if ((ev.seen & kRequired) != kRequired) {
    return Failure{DeadLetterReason::kMissingField, missing_field_name(ev.seen)};
  }
  if (ev.ts_ms < 0 || ev.ts_ms > kMaxTimestampMs) return Failure{DeadLetterReason::kWrongType, "ts"};
  auto ip = parse_ip(ev.ip_text);
  if (!ip) return Failure{DeadLetterReason::kBadIp, "ip"};
  ev.ip = *ip;
  return std::nullopt;
}

// On-Demand only validates what it reads, and reports INCORRECT_TYPE for text that is no JSON value at
// all ("not json", "}", "{\"a\":}"). A schema failure (not an object, missing field, wrong type, bad IP)
// is only reported for valid JSON, so those messages are checked with a full DOM parse; this runs on the
// failure path only. The DOM parser rejects integers beyond 64 bits with NUMBER_ERROR although they are
// valid JSON (a huge "ts" is a wrong type, not malformed), so that error keeps the schema reason.
bool is_invalid_json(simdjson::dom::parser& dom, std::string_view payload) {
  const error_code e = dom.parse(payload.data(), payload.size(), false).error();
  return e != simdjson::SUCCESS && e != simdjson::NUMBER_ERROR;
}

}  // namespace

struct EventParser::Impl {
  od::parser parser;
  simdjson::dom::parser dom;  // validation of failed messages only
};

EventParser::EventParser(ParserOptions options) : options_(options), impl_(std::make_unique<Impl>()) {}
EventParser::~EventParser() = default;

void EventParser::parse(const RawBatch& raw, EventBatch& out, std::vector<DeadLetter>& dead_letters) {
  const size_t first_new_row = out.size();
  for (size_t i = 0; i < raw.size(); ++i) {
    const std::string_view payload = raw.payload(i);
    std::optional<Failure> failure;
    ParsedEvent ev;
    if (payload.empty()) {
      failure = Failure{DeadLetterReason::kEmpty, {}};
    } else if (payload.size() > options_.max_message_bytes) {
      failure = Failure{DeadLetterReason::kOversized, {}};
    } else {
      failure = parse_one(impl_->parser, payload, options_, ev);
      if (failure && failure->reason != DeadLetterReason::kMalformedJson &&
          is_invalid_json(impl_->dom, payload)) {
        failure = Failure{DeadLetterReason::kMalformedJson, {}};
      }
    }
    if (failure) {
      dead_letters.push_back(
          DeadLetter{failure->reason, std::string(failure->field), raw.position(i), std::string(payload)});
      continue;
    }
    out.event_id.push_back(ev.event_id);
    out.ts_ms.push_back(ev.ts_ms);
    out.user_id.push_back(ev.user_id);
    out.pin_id.push_back(ev.pin_id);
    out.action.push_back(ev.action);
    out.ip.push_back(ev.ip);
    out.app.push_back(ev.app);
    out.ua.push_back(ev.ua);
    out.position.push_back(raw.position(i));
  }
  // Only the rows added here are selected and reset; rows already in `out` keep their state.
  for (size_t row = first_new_row; row < out.size(); ++row)
    out.selected.push_back(static_cast<uint32_t>(row));
  out.geo_record.resize(out.size(), kNoRecord);
  out.category_id.resize(out.size(), kNoRecord);
}

}  // namespace enrichd
