#include "host/event_parser.h"

#include <simdjson.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "host/json_text.h"

namespace enrichd {

static_assert(RawBatch::kPadding >= simdjson::SIMDJSON_PADDING,
              "RawBatch padding must cover simdjson's reads");

namespace {

using namespace json_text;
using simdjson::error_code;
namespace od = simdjson::ondemand;

constexpr size_t kColumns = kSchemaColumnCount;
constexpr uint32_t bit(SchemaColumn c) {
  return 1U << static_cast<uint32_t>(c);
}

constexpr size_t col(SchemaColumn c) {
  return static_cast<size_t>(c);
}

// One event's values, indexed by column: u64[] for the u64 columns, str[] for the string columns and the
// text of the IP (views into the parser's string buffer).
struct ParsedEvent {
  uint32_t seen = 0;
  int64_t ts_ms = 0;
  std::array<uint64_t, kColumns> u64{};
  std::array<std::string_view, kColumns> str{};
  IpAddress ip;
  uint16_t action_code = kUnknownEnumCode;
  uint16_t app_code = kUnknownEnumCode;
  // The pass-through columns (EventSchema::extra): which were read, and their values.
  uint64_t extra_seen = 0;
  std::vector<uint64_t> extra_bits;
  std::vector<std::string_view> extra_str;
  std::vector<IpAddress> extra_ip;  // ip columns: the address of extra_str
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

// The event time: an epoch number in the configured unit (integer or fractional), a string of digits
// read the same way, or an RFC 3339 date-time string. Anything else is a wrong type.
error_code read_timestamp(od::value v, EpochUnit unit, int64_t& out) {
  // The token's first byte tells the type without asking the iterator; its text tells integer from
  // fraction (simdjson reports a fraction read with get_int64 as a wrong type).
  const std::string_view token = v.raw_json_token();
  std::optional<int64_t> ms;
  if (!token.empty() && (token[0] == '-' || (token[0] >= '0' && token[0] <= '9'))) {
    uint64_t u = 0;
    if (fast_u64(token, u) && u <= static_cast<uint64_t>(INT64_MAX)) {
      ms = epoch_to_ms(static_cast<int64_t>(u), unit);
    } else if (token.find_first_of(".eE") == std::string_view::npos) {
      int64_t i = 0;
      if (auto e = v.get_int64().get(i)) return e;
      ms = epoch_to_ms(i, unit);
    } else {
      double d = 0;
      if (auto e = v.get_double().get(d)) return e;
      ms = epoch_to_ms(d, unit);
    }
  } else if (!token.empty() && token[0] == '"') {
    std::string_view text;
    if (auto e = read_string(v, text)) return e;
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
    // Not a number or string: the type error, or the error get_int64 finds in a broken token.
    int64_t i = 0;
    if (auto e = v.get_int64().get(i)) return e;
    return simdjson::INCORRECT_TYPE;
  }
  if (!ms) return simdjson::NUMBER_OUT_OF_RANGE;
  out = *ms;
  return simdjson::SUCCESS;
}

// A u64 given as a JSON string of 1 to 20 decimal digits that fits 64 bits (from_string = true).
error_code read_u64_or_string(od::value v, uint64_t& out) {
  od::json_type type;
  if (auto e = v.type().get(type)) return e;
  if (type != od::json_type::string) return v.get_uint64().get(out);
  std::string_view text;
  if (auto e = read_string(v, text)) return e;
  if (text.empty() || text.size() > 20) return simdjson::INCORRECT_TYPE;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return simdjson::INCORRECT_TYPE;
    const auto digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return simdjson::NUMBER_OUT_OF_RANGE;
    value = value * 10 + digit;
  }
  out = value;
  return simdjson::SUCCESS;
}

// How a column's value is read, resolved at start: a chain of well-predicted branches per field, where
// a switch on the column was an indirect jump.
enum ReadKind : uint8_t {
  kReadU64,
  kReadU64OrString,
  kReadString,
  kReadTimestamp,
  kReadOptional = 0x80,  // flag: null means absent
};

uint8_t read_kind_of(SchemaColumn c, const FieldSchema& f) {
  uint8_t kind = kReadString;
  switch (column_type(c)) {
    case SchemaType::kU64:
      kind = f.from_string ? kReadU64OrString : kReadU64;
      break;
    case SchemaType::kTimestamp:
      kind = kReadTimestamp;
      break;
    case SchemaType::kString:
    case SchemaType::kIp:
      kind = kReadString;
      break;
  }
  return f.required ? kind : static_cast<uint8_t>(kind | kReadOptional);
}

// The schema's paths as a tree of objects: node 0 is the event itself; each child is a key that holds
// either a column's value (column >= 0) or a nested object (node > 0), never both.
struct PathNode {
  struct Child {
    std::string_view key;
    int8_t column = -1;
    int16_t node = -1;
    uint8_t read = 0;  // ReadKind of the column
    // The key may be matched against a message's raw key text (no backslash in it, and short enough
    // that reading it past a message's end stays inside RawBatch::kPadding).
    bool raw_match = false;
  };
  std::vector<Child> children;
  std::string_view path;  // the dotted path of this object ("" for the event), for failures

  // The child a key may be: slots[hash(key)], found with one comparison (the multipliers are picked at
  // start so that no two children share a slot; linear search when none fit).
  static constexpr size_t kSlots = 64;
  std::array<int8_t, kSlots> slots{};
  uint32_t mul_len = 0, mul_first = 0;
  bool hashed = false;

  size_t hash(std::string_view key) const {
    const size_t n = key.size();
    const uint32_t first = n ? static_cast<unsigned char>(key[0]) : 0;
    const uint32_t last = n ? static_cast<unsigned char>(key[n - 1]) : 0;
    return (static_cast<uint32_t>(n) * mul_len + first * mul_first + last) % kSlots;
  }

  void build_slots() {
    for (uint32_t a = 1; a < 64 && !hashed; ++a) {
      for (uint32_t b = 1; b < 64 && !hashed; ++b) {
        mul_len = a;
        mul_first = b;
        slots.fill(-1);
        hashed = true;
        for (size_t i = 0; i < children.size() && hashed; ++i) {
          int8_t& slot = slots[hash(children[i].key)];
          if (slot >= 0) hashed = false;
          slot = static_cast<int8_t>(i);
        }
      }
    }
  }

  [[gnu::always_inline]] const Child* find(std::string_view key) const {
    if (hashed) {
      const int8_t i = slots[hash(key)];
      return i >= 0 && key_equal(children[static_cast<size_t>(i)].key, key)
                 ? &children[static_cast<size_t>(i)]
                 : nullptr;
    }
    for (const auto& ch : children) {
      if (key_equal(ch.key, key)) return &ch;
    }
    return nullptr;
  }
};

// An enum column's dictionary: each value to its code.
using EnumDictionary = std::unordered_map<std::string_view, uint16_t>;

// Each value of `values` to its index (views into `values`).
EnumDictionary make_dictionary(const std::vector<std::string>& values) {
  EnumDictionary dict;
  for (size_t i = 0; i < values.size(); ++i)
    dict.emplace(std::string_view(values[i]), static_cast<uint16_t>(i));
  return dict;
}

// The schema resolved once: the path tree, and per column what a failure names and how a value is read.
struct CompiledSchema {
  CompiledSchema(const EventSchema& s, EpochUnit ts_unit) : schema(s) {
    nodes.emplace_back();
    // Columns kColumns.. are the pass-through columns.
    for (size_t c = 0; c < kColumns + schema.extra.size(); ++c) {
      if (c < kColumns && schema.fields[c].drop) continue;  // never read: the default stands in
      const std::string_view path = c < kColumns ? std::string_view(schema.fields[c].path)
                                                 : std::string_view(schema.extra[c - kColumns].path);
      size_t node = 0;
      size_t begin = 0;
      for (;;) {
        const size_t dot = path.find('.', begin);
        const std::string_view key =
            path.substr(begin, dot == std::string_view::npos ? path.npos : dot - begin);
        auto& children = nodes[node].children;
        auto it =
            std::find_if(children.begin(), children.end(), [&](const auto& ch) { return ch.key == key; });
        if (dot == std::string_view::npos) {
          if (it == children.end()) {
            children.push_back(
                {key, static_cast<int8_t>(c), -1,
                 c < kColumns ? read_kind_of(static_cast<SchemaColumn>(c), schema.fields[c]) : uint8_t{0}});
          }
          break;
        }
        if (it == children.end()) {
          children.push_back({key, -1, static_cast<int16_t>(nodes.size())});
          nodes.emplace_back();
          nodes.back().path = path.substr(0, dot);
          node = nodes.size() - 1;
        } else {
          node = static_cast<size_t>(it->node);  // check_event_schema: never a column's value
        }
        begin = dot + 1;
      }
    }
    for (PathNode& n : nodes) {
      for (PathNode::Child& ch : n.children) {
        ch.raw_match = ch.key.size() < RawBatch::kPadding && ch.key.find('\\') == std::string_view::npos;
      }
      n.build_slots();
    }
    for (size_t i = 0; i < schema.extra.size(); ++i) {
      if (schema.extra[i].required) extra_required |= uint64_t{1} << i;
    }
    for (size_t c = 0; c < kColumns; ++c) {
      const FieldSchema& f = schema.fields[c];
      if (f.drop) continue;
      if (f.required) required |= 1U << c;
      has_dictionary = has_dictionary || !f.values.empty();
      dictionary[c] = make_dictionary(f.values);
    }
    for (size_t i = 0; i < schema.extra.size(); ++i) {
      const ExtraField& e = schema.extra[i];
      extra_unit.push_back(e.unit.value_or(ts_unit));
      if (e.type == ExtraType::kIp || e.type == ExtraType::kEnum) extra_checked.push_back(i);
      extra_dictionary.push_back(make_dictionary(e.values));
    }
  }
  CompiledSchema(const CompiledSchema&) = delete;
  CompiledSchema& operator=(const CompiledSchema&) = delete;

  const FieldSchema& field(SchemaColumn c) const { return schema[c]; }
  std::string_view path(SchemaColumn c) const { return schema[c].path; }
  std::string_view extra_path(size_t i) const { return schema.extra[i].path; }

  EventSchema schema;  // owns the strings the views below point into; never changed
  std::vector<PathNode> nodes;
  uint32_t required = 0;
  uint64_t extra_required = 0;
  bool has_dictionary = false;
  std::array<EnumDictionary, kColumns> dictionary;
  // Per extra column: the unit of its timestamps, and its enum dictionary (empty for other types).
  std::vector<EpochUnit> extra_unit;
  std::vector<EnumDictionary> extra_dictionary;
  // The extra columns whose text is checked once the event is read (ip, enum), in schema order.
  std::vector<size_t> extra_checked;
};

// Reads one column's value and marks it seen; null in a field that is not required means absent.
[[gnu::always_inline]] inline error_code read_column(od::value v, size_t column, uint8_t kind, EpochUnit unit,
                                                     ParsedEvent& ev) {
  if (kind & kReadOptional) {
    bool null = false;
    if (auto e = v.is_null().get(null)) return e;
    if (null) return simdjson::SUCCESS;  // the default applies
    kind &= static_cast<uint8_t>(~kReadOptional);
  }
  ev.seen |= 1U << column;
  if (kind == kReadU64) {
    return fast_u64(v.raw_json_token(), ev.u64[column]) ? simdjson::SUCCESS
                                                        : v.get_uint64().get(ev.u64[column]);
  }
  if (kind == kReadString) return read_string(v, ev.str[column]);
  if (kind == kReadTimestamp) return read_timestamp(v, unit, ev.ts_ms);
  return read_u64_or_string(v, ev.u64[column]);
}

// A number given as a JSON string (from_string): the whole string must be the number.
template <typename T>
error_code number_from_string(od::value v, T& out) {
  std::string_view text;
  if (auto e = read_string(v, text)) return e;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, out);
  if (ec == std::errc::result_out_of_range) return simdjson::NUMBER_OUT_OF_RANGE;
  return ec == std::errc() && ptr == end && !text.empty() ? simdjson::SUCCESS : simdjson::INCORRECT_TYPE;
}

// Reads a pass-through column's value (null: absent, or a wrong type where it is required). The text of ip
// and enum columns is checked after the event is read (check_extra_text), as the fixed ip's and action's is.
error_code read_extra(od::value v, size_t i, const ExtraField& f, EpochUnit unit, ParsedEvent& ev) {
  if (!f.required) {
    bool null = false;
    if (auto e = v.is_null().get(null)) return e;
    if (null) return simdjson::SUCCESS;
  }
  bool is_string = false;
  if (f.from_string) {
    od::json_type type;
    if (auto e = v.type().get(type)) return e;
    is_string = type == od::json_type::string;
  }
  error_code e = simdjson::SUCCESS;
  switch (f.type) {
    case ExtraType::kU64:
      e = is_string ? read_u64_or_string(v, ev.extra_bits[i]) : v.get_uint64().get(ev.extra_bits[i]);
      break;
    case ExtraType::kI64: {
      int64_t x = 0;
      e = is_string ? number_from_string(v, x) : v.get_int64().get(x);
      ev.extra_bits[i] = static_cast<uint64_t>(x);
      break;
    }
    case ExtraType::kF64: {
      double x = 0;
      e = is_string ? number_from_string(v, x) : v.get_double().get(x);
      if (!e && !std::isfinite(x)) e = simdjson::INCORRECT_TYPE;  // "nan", "inf" as strings
      ev.extra_bits[i] = std::bit_cast<uint64_t>(x);
      break;
    }
    case ExtraType::kString:
    case ExtraType::kIp:
    case ExtraType::kEnum:
      e = read_string(v, ev.extra_str[i]);
      break;
    case ExtraType::kTimestamp: {
      int64_t ms = 0;
      e = read_timestamp(v, unit, ms);
      // Outside what DATETIME holds: a wrong type, as for ts.
      if (!e && (ms < 0 || ms > kMaxTimestampMs)) e = simdjson::NUMBER_OUT_OF_RANGE;
      ev.extra_bits[i] = static_cast<uint64_t>(ms);
      break;
    }
  }
  if (!e) ev.extra_seen |= uint64_t{1} << i;
  return e;
}

// Reads the columns of one object of the path tree (the event itself, or a nested object).
// The event itself (kRoot) is read inline in parse_one; nested objects recurse. kExtra: the schema has
// pass-through columns (without them, their code is compiled out of the default schema's path).
template <bool kRoot, bool kExtra>
std::optional<Failure> parse_object(od::object obj, size_t node_index, const CompiledSchema& cs,
                                    EpochUnit unit, ParsedEvent& ev) {
  const PathNode& node = cs.nodes[node_index];
  size_t next = 0;
  for (auto field_result : obj) {
    if (field_result.error()) return Failure{DeadLetterReason::kMalformedJson, {}};
    od::field field = field_result.value_unsafe();
    // Events of one stream keep their keys in one order: the child after the last one matched is tried
    // first, against the key's raw text (its bytes and the closing quote after them), which is right in
    // one comparison without finding the key's end. Otherwise the key is read and looked up.
    const PathNode::Child* child = nullptr;
    if (next < node.children.size() && node.children[next].raw_match &&
        raw_key_is(field.key().raw(), node.children[next].key)) {
      child = &node.children[next];
    } else {
      std::string_view key;
      if (read_key(field, key)) return Failure{DeadLetterReason::kMalformedJson, {}};
      child = node.find(key);
      if (!child) continue;  // unknown fields are skipped by the iterator
    }
    next = static_cast<size_t>(child - node.children.data()) + 1;
    od::value v = field.value();
    if (child->column >= 0) {
      const auto column = static_cast<size_t>(child->column);
      if (kExtra && column >= kColumns) {
        const size_t i = column - kColumns;
        if (auto e = read_extra(v, i, cs.schema.extra[i], cs.extra_unit[i], ev)) {
          return value_failure(e, cs.extra_path(i));
        }
        continue;
      }
      if (auto e = read_column(v, column, child->read, unit, ev)) {
        return value_failure(e, cs.path(static_cast<SchemaColumn>(column)));
      }
      continue;
    }
    const PathNode& sub = cs.nodes[static_cast<size_t>(child->node)];
    bool null = false;
    if (auto e = v.is_null().get(null)) return value_failure(e, sub.path);
    if (null) continue;  // everything below is absent
    od::object inner;
    if (auto e = v.get_object().get(inner)) return value_failure(e, sub.path);
    if (auto failure = parse_object<false, kExtra>(inner, static_cast<size_t>(child->node), cs, unit, ev)) {
      return failure;
    }
  }
  return std::nullopt;
}

// Looks `value` up in an enum dictionary: its code, or kUnknownEnumCode when kept; a dead letter naming
// `path` when unknown values are dead-lettered.
std::optional<Failure> lookup_enum(const EnumDictionary& dict, std::string_view value, EnumUnknown unknown,
                                   std::string_view path, uint16_t& code) {
  const auto it = dict.find(value);
  if (it != dict.end()) {
    code = it->second;
  } else if (unknown == EnumUnknown::kDeadLetter) {
    return Failure{DeadLetterReason::kUnknownValue, path};
  } else {
    code = kUnknownEnumCode;
  }
  return std::nullopt;
}

// Looks a fixed enum column's value up in its dictionary (none: no code).
std::optional<Failure> encode_enum(const CompiledSchema& cs, SchemaColumn column, std::string_view value,
                                   uint16_t& code) {
  const EnumDictionary& dict = cs.dictionary[static_cast<size_t>(column)];
  if (dict.empty()) return std::nullopt;
  return lookup_enum(dict, value, cs.field(column).unknown, cs.path(column), code);
}

// An address as the column takes it: with strip_zone_id an IPv6 zone id is checked and left out (the text
// before it is still followed by readable bytes: the zone's and the padding).
[[gnu::always_inline]] inline bool read_ip_text(std::string_view text, bool strip_zone_id, IpAddress& out) {
  if (strip_zone_id) {
    const std::optional<std::string_view> address = without_zone_id(text);
    if (!address) return false;
    text = *address;
  }
  return parse_ip_padded(text, out);
}

// The ip and enum extra columns read: the address parsed, the value looked up in the dictionary.
std::optional<Failure> check_extra_text(const CompiledSchema& cs, ParsedEvent& ev) {
  for (const size_t i : cs.extra_checked) {
    if (((ev.extra_seen >> i) & 1) == 0) continue;
    const ExtraField& f = cs.schema.extra[i];
    if (f.type == ExtraType::kIp) {
      // The text lies in the message (followed by its padding) or in simdjson's padded string buffer.
      if (!read_ip_text(ev.extra_str[i], f.strip_zone_id, ev.extra_ip[i])) {
        return Failure{DeadLetterReason::kBadIp, cs.extra_path(i)};
      }
      continue;
    }
    uint16_t code = kUnknownEnumCode;
    if (auto failure =
            lookup_enum(cs.extra_dictionary[i], ev.extra_str[i], f.unknown, cs.extra_path(i), code)) {
      return failure;
    }
    ev.extra_bits[i] = code;
  }
  return std::nullopt;
}

template <bool kExtra>
[[gnu::always_inline]] inline std::optional<Failure> parse_one(od::parser& parser, std::string_view payload,
                                                               const CompiledSchema& cs, EpochUnit unit,
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
  if (auto failure = parse_object<true, kExtra>(obj, 0, cs, unit, ev)) return failure;
  // Anything after the closing brace makes the message malformed.
  const char* end = nullptr;
  if (doc.current_location().get(end) != simdjson::OUT_OF_BOUNDS) {
    return Failure{DeadLetterReason::kMalformedJson, {}};
  }
  if ((ev.seen & cs.required) != cs.required) {
    const uint32_t missing = cs.required & ~ev.seen;
    return Failure{DeadLetterReason::kMissingField,
                   cs.path(static_cast<SchemaColumn>(std::countr_zero(missing)))};
  }
  if (kExtra && (ev.extra_seen & cs.extra_required) != cs.extra_required) {
    const uint64_t missing = cs.extra_required & ~ev.extra_seen;
    return Failure{DeadLetterReason::kMissingField,
                   cs.extra_path(static_cast<size_t>(std::countr_zero(missing)))};
  }
  if (ev.seen != (1U << kColumns) - 1) {  // absent optional fields take their defaults
    const auto absent = [&](SchemaColumn c) { return (ev.seen & bit(c)) == 0; };
    if (absent(SchemaColumn::kEventId))
      ev.u64[col(SchemaColumn::kEventId)] = cs.field(SchemaColumn::kEventId).default_u64;
    if (absent(SchemaColumn::kTs)) ev.ts_ms = cs.field(SchemaColumn::kTs).default_ts_ms;
    if (absent(SchemaColumn::kUserId))
      ev.u64[col(SchemaColumn::kUserId)] = cs.field(SchemaColumn::kUserId).default_u64;
    if (absent(SchemaColumn::kPinId))
      ev.u64[col(SchemaColumn::kPinId)] = cs.field(SchemaColumn::kPinId).default_u64;
    if (absent(SchemaColumn::kAction))
      ev.str[col(SchemaColumn::kAction)] = cs.field(SchemaColumn::kAction).default_string;
    if (absent(SchemaColumn::kApp))
      ev.str[col(SchemaColumn::kApp)] = cs.field(SchemaColumn::kApp).default_string;
    if (absent(SchemaColumn::kUa))
      ev.str[col(SchemaColumn::kUa)] = cs.field(SchemaColumn::kUa).default_string;
  }
  if (ev.ts_ms < 0 || ev.ts_ms > kMaxTimestampMs) {
    return Failure{DeadLetterReason::kWrongType, cs.path(SchemaColumn::kTs)};
  }
  if (ev.seen & bit(SchemaColumn::kIp)) {
    // The text lies in the message (followed by its padding) or in simdjson's padded string buffer.
    if (!read_ip_text(ev.str[col(SchemaColumn::kIp)], cs.field(SchemaColumn::kIp).strip_zone_id, ev.ip)) {
      return Failure{DeadLetterReason::kBadIp, cs.path(SchemaColumn::kIp)};
    }
  } else {
    ev.ip = cs.field(SchemaColumn::kIp).default_ip;
  }
  if (cs.has_dictionary) {
    if (auto failure =
            encode_enum(cs, SchemaColumn::kAction, ev.str[col(SchemaColumn::kAction)], ev.action_code))
      return failure;
    if (auto failure = encode_enum(cs, SchemaColumn::kApp, ev.str[col(SchemaColumn::kApp)], ev.app_code))
      return failure;
  }
  if (kExtra && !cs.extra_checked.empty()) return check_extra_text(cs, ev);
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
  explicit Impl(const ParserOptions& options) : schema(options.schema, options.ts_unit) {}
  CompiledSchema schema;
  od::parser parser;
  simdjson::dom::parser dom;  // validation of failed messages only
};

EventParser::EventParser(ParserOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>(options_)) {}
EventParser::~EventParser() = default;

void EventParser::parse(const RawBatch& raw, EventBatch& out, std::vector<DeadLetter>& dead_letters) {
  const size_t first_new_row = out.size();
  out.reserve_more(raw.size());  // every message may become an event
  const bool has_action_codes = !impl_->schema.dictionary[static_cast<size_t>(SchemaColumn::kAction)].empty();
  const bool has_app_codes = !impl_->schema.dictionary[static_cast<size_t>(SchemaColumn::kApp)].empty();
  // Reused: every column of a good event is written (read, or its default), so only these are reset.
  ParsedEvent ev;
  const std::vector<ExtraField>& extra = impl_->schema.schema.extra;
  ev.extra_bits.resize(extra.size());
  ev.extra_str.resize(extra.size());
  ev.extra_ip.resize(extra.size());
  if (out.extra.size() != extra.size()) {
    out.extra.resize(extra.size());
    for (size_t j = 0; j < extra.size(); ++j) out.extra[j].type = extra[j].type;
  }
  for (size_t i = 0; i < raw.size(); ++i) {
    const std::string_view payload = raw.payload(i);
    std::optional<Failure> failure;
    ev.seen = 0;
    ev.action_code = kUnknownEnumCode;
    ev.app_code = kUnknownEnumCode;
    ev.extra_seen = 0;
    if (payload.empty()) {
      failure = Failure{DeadLetterReason::kEmpty, {}};
    } else if (payload.size() > options_.max_message_bytes) {
      failure = Failure{DeadLetterReason::kOversized, {}};
    } else {
      failure = extra.empty() ? parse_one<false>(impl_->parser, payload, impl_->schema, options_.ts_unit, ev)
                              : parse_one<true>(impl_->parser, payload, impl_->schema, options_.ts_unit, ev);
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
    out.event_id.push_back(ev.u64[col(SchemaColumn::kEventId)]);
    out.ts_ms.push_back(ev.ts_ms);
    out.user_id.push_back(ev.u64[col(SchemaColumn::kUserId)]);
    out.pin_id.push_back(ev.u64[col(SchemaColumn::kPinId)]);
    out.action.push_back(ev.str[col(SchemaColumn::kAction)]);
    out.ip.push_back(ev.ip);
    out.app.push_back(ev.str[col(SchemaColumn::kApp)]);
    out.ua.push_back(ev.str[col(SchemaColumn::kUa)]);
    out.position.push_back(raw.position(i));
    if (has_action_codes) out.action_code.push_back(ev.action_code);
    if (has_app_codes) out.app_code.push_back(ev.app_code);
    for (size_t j = 0; j < extra.size(); ++j) {
      ExtraColumn& column = out.extra[j];
      const bool seen = (ev.extra_seen >> j) & 1;
      column.present.push_back(seen || extra[j].has_default);
      column.bits.push_back(seen ? ev.extra_bits[j] : extra[j].default_bits);
      // An ip column keeps only the address.
      column.str.push_back(column.type == ExtraType::kIp ? std::string_view()
                           : seen                        ? ev.extra_str[j]
                                                         : std::string_view(extra[j].default_string));
      // default_ip is IpAddress{} where there is no default.
      if (column.type == ExtraType::kIp) column.ip.push_back(seen ? ev.extra_ip[j] : extra[j].default_ip);
    }
  }
  // Only the rows added here are selected and reset; rows already in `out` keep their state.
  for (size_t row = first_new_row; row < out.size(); ++row)
    out.selected.push_back(static_cast<uint32_t>(row));
  out.geo_record.resize(out.size(), kNoRecord);
  out.category_id.resize(out.size(), kNoRecord);
}

}  // namespace enrichd
