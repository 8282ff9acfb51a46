// The input schema: for each column of EventBatch, where the parser finds it in a JSON event (a key, or a
// dotted path into nested objects), whether it must be there, what it holds when it is not, and how its
// value may be written. The default is the Pinterest-style engagement schema: every column under its own
// name at the top level, all required except app and ua (which default to "").
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "host/ip_address.h"
#include "host/status.h"
#include "host/timestamp.h"

namespace enrichd {

// The columns of EventBatch the parser fills, in the order missing required fields are reported.
enum class SchemaColumn : uint8_t { kEventId, kTs, kUserId, kPinId, kAction, kIp, kApp, kUa };
inline constexpr size_t kSchemaColumnCount = 8;

// What a column holds: an unsigned 64-bit integer, the event time (epoch number in the configured unit,
// a string of digits, or RFC 3339), a string, or an IPv4/IPv6 address given as a string.
enum class SchemaType : uint8_t { kU64, kTimestamp, kString, kIp };

constexpr std::string_view column_name(SchemaColumn c) {
  constexpr std::array<std::string_view, kSchemaColumnCount> kNames = {"event_id", "ts", "user_id", "pin_id",
                                                                       "action",   "ip", "app",     "ua"};
  return kNames[static_cast<size_t>(c)];
}
constexpr SchemaType column_type(SchemaColumn c) {
  constexpr std::array<SchemaType, kSchemaColumnCount> kTypes = {
      SchemaType::kU64,    SchemaType::kTimestamp, SchemaType::kU64,    SchemaType::kU64,
      SchemaType::kString, SchemaType::kIp,        SchemaType::kString, SchemaType::kString};
  return kTypes[static_cast<size_t>(c)];
}
// The fixed column called `name`, if there is one.
constexpr std::optional<SchemaColumn> schema_column_named(std::string_view name) {
  for (size_t i = 0; i < kSchemaColumnCount; ++i) {
    if (column_name(static_cast<SchemaColumn>(i)) == name) return static_cast<SchemaColumn>(i);
  }
  return std::nullopt;
}
std::string_view to_string(SchemaType type);

// What the parser does with a value of an enum column that is not in its dictionary.
enum class EnumUnknown : uint8_t {
  kKeep,        // keep the string, code kUnknownEnumCode
  kDeadLetter,  // dead letter, reason unknown_value, field = the column's path
};

// How the output table stores an enum column (action, app): its text (VARCHAR), a database ENUM of the
// dictionary in its order (the rows still carry the text; 1-2 bytes a row in the database), or the code
// itself as SMALLINT UNSIGNED (the value's 0-based index in the dictionary, so the dictionary's order must
// stay stable; appending is safe). kEnum and kCode need every value in the dictionary: unknown values
// dead-lettered.
enum class EnumStore : uint8_t { kText, kEnum, kCode };
std::string_view to_string(EnumStore store);

// The code of a value that is not in the dictionary (kept with EnumUnknown::kKeep).
inline constexpr uint16_t kUnknownEnumCode = UINT16_MAX;
// The most values an enum dictionary may hold (codes 0 .. kMaxEnumValues - 1).
inline constexpr size_t kMaxEnumValues = UINT16_MAX;

struct FieldSchema {
  // Not read and not in the output table (the batch holds the default in its place): for events that
  // do not carry the column, or that carry it under the same name with another type (an extra column
  // may then take the name).
  bool drop = false;
  std::string path;  // JSON key, or a dotted path into nested objects ("ctx.client.ip")
  bool required = true;
  // u64 columns: also accept the number as a JSON string of decimal digits ("123").
  bool from_string = false;
  // ip: an IPv6 zone id ("fe80::1%eth0") is checked and left out ([schema.fields.ip] zone_id = "strip");
  // otherwise a '%' makes the text no address (bad_ip).
  bool strip_zone_id = false;
  // The value when the field is absent or null and not required (the one of the column's type).
  uint64_t default_u64 = 0;
  int64_t default_ts_ms = 0;
  std::string default_string;
  IpAddress default_ip;
  // action and app: a dictionary that maps each value to a small code (its index), written to
  // EventBatch::action_code / app_code. Empty: no codes.
  std::vector<std::string> values;
  EnumUnknown unknown = EnumUnknown::kKeep;
  EnumStore store = EnumStore::kText;  // action and app: how the table holds the column
};

// A pass-through column: a value read from the event and written to an output column of its own (after
// the fixed columns and the joins' columns), NULL where absent without a default. kIp, kTimestamp and kEnum
// read their values as the fixed columns ip, ts and action/app do.
enum class ExtraType : uint8_t { kU64, kI64, kF64, kString, kIp, kTimestamp, kEnum };
std::string_view to_string(ExtraType type);

struct ExtraField {
  std::string name;  // the output column
  std::string path;  // as FieldSchema::path
  ExtraType type = ExtraType::kString;
  bool required = false;
  bool from_string = false;  // u64, i64, f64: also accept the number as a JSON string ("-1.5")
  bool has_default = false;  // absent or null: this value, else NULL
  // u64, i64 (two's complement), f64 (bit pattern), timestamp (epoch milliseconds), enum (the default's
  // code, kUnknownEnumCode when it is not in the dictionary).
  uint64_t default_bits = 0;
  std::string default_string;  // string, enum
  IpAddress default_ip;        // ip
  bool strip_zone_id = false;  // ip: as FieldSchema::strip_zone_id
  // timestamp: the unit of numbers and strings of digits; unset, the schema's (ParserOptions::ts_unit,
  // [schema] ts_unit). RFC 3339 strings are always read.
  std::optional<EpochUnit> unit;
  // enum: the dictionary (codes are indexes into it), what an unknown value does, and how the table
  // stores the column, as FieldSchema's for action and app.
  std::vector<std::string> values;
  EnumUnknown unknown = EnumUnknown::kKeep;
  EnumStore store = EnumStore::kText;
};

// The most pass-through columns a schema may add.
inline constexpr size_t kMaxExtraFields = 32;

struct EventSchema {
  std::array<FieldSchema, kSchemaColumnCount> fields;
  std::vector<ExtraField> extra;  // in output order

  FieldSchema& operator[](SchemaColumn c) { return fields[static_cast<size_t>(c)]; }
  const FieldSchema& operator[](SchemaColumn c) const { return fields[static_cast<size_t>(c)]; }
  // Whether `name` is a fixed column that is dropped.
  bool is_dropped(std::string_view name) const {
    const std::optional<SchemaColumn> c = schema_column_named(name);
    return c && (*this)[*c].drop;
  }
  // The index in `extra` of the pass-through column called `name`.
  std::optional<size_t> extra_index(std::string_view name) const {
    for (size_t i = 0; i < extra.size(); ++i) {
      if (extra[i].name == name) return i;
    }
    return std::nullopt;
  }
  // The dropped fixed columns, bit (1 << SchemaColumn) each.
  uint32_t dropped_columns() const {
    uint32_t mask = 0;
    for (size_t i = 0; i < kSchemaColumnCount; ++i) mask |= fields[i].drop ? 1U << i : 0U;
    return mask;
  }
};

// The default engagement schema.
EventSchema default_event_schema();

// Checks what the parser relies on: at most kMaxExtraFields extra columns, every path (of a column not
// dropped) is non-empty with no empty segment, no two columns share a name or a path, no path runs through
// another column's value, dictionaries only on action, app and enum extra columns, without duplicates and at
// most kMaxEnumValues long, a store other than text only with a dictionary whose unknown values are
// dead-lettered, from_string only on u64 columns (and u64/i64/f64 extra columns), every enum extra column
// with a dictionary, a unit only on timestamp extra columns. The message names the column(s).
Status check_event_schema(const EventSchema& schema);

}  // namespace enrichd
