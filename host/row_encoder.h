// Encodes enriched events as LOAD DATA text: one line per selected event, tab-separated fields, '\N' for
// NULL, and backslash escapes for tab, newline, carriage return, NUL and backslash — the format of
// `FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n'`.
#pragma once

#include <array>
#include <span>
#include <string>
#include <string_view>

#include "host/category_table.h"
#include "host/dead_letter.h"
#include "host/event_batch.h"
#include "host/geo_table.h"

namespace enrichd {

struct OutputColumn {
  std::string_view name;
  std::string_view mysql_type;  // the type in the MySQL-dialect DDL
};

// The output table, in the order the encoder writes fields.
inline constexpr std::array<OutputColumn, 17> kOutputColumns = {{
    {"event_id", "BIGINT UNSIGNED NOT NULL"},
    {"ts", "DATETIME(3) NOT NULL"},
    {"user_id", "BIGINT UNSIGNED NOT NULL"},
    {"pin_id", "BIGINT UNSIGNED NOT NULL"},
    {"action", "VARCHAR(64) NOT NULL"},  // or enum_column_type (pipeline/memsql_sink.cpp), as app
    {"ip", "VARCHAR(45) NOT NULL"},
    {"app", "VARCHAR(64) NOT NULL"},
    {"ua", "VARCHAR(512) NOT NULL"},
    {"country_code", "CHAR(2) NULL"},
    {"region", "VARCHAR(128) NULL"},
    {"city", "VARCHAR(128) NULL"},
    {"postal_code", "VARCHAR(32) NULL"},
    {"latitude", "DOUBLE NULL"},
    {"longitude", "DOUBLE NULL"},
    {"timezone", "VARCHAR(64) NULL"},
    {"category_id", "INT UNSIGNED NULL"},
    {"category", "VARCHAR(128) NULL"},
}};

// Appends the escaped form of `s` to `out`.
void append_escaped(std::string& out, std::string_view s);

// 'YYYY-MM-DD HH:MM:SS.mmm' in UTC for epoch milliseconds in [0, kMaxTimestampMs].
void append_datetime_ms(std::string& out, int64_t epoch_ms);

// The joins after the category join: table j names the ids of batch.join_id[j], written as two more
// fields per join (<column>_id, <column>) after the fixed columns; then one field per pass-through
// column of the batch (EventBatch::extra).
using JoinTables = std::span<const CategoryTable* const>;

// How a row is laid out beyond the batch itself: the enum columns written as their code (EnumStore::kCode:
// the value's index in the dictionary, from EventBatch::action_code / app_code, or an enum extra column's
// ExtraColumn::bits) instead of their text — such a column's codes must be in the batch, none of them
// kUnknownEnumCode (check_event_schema makes sure of both) — and the fixed columns left out
// ([schema.fields.<column>] drop = true).
struct RowLayout {
  bool action_code = false;
  bool app_code = false;
  uint32_t dropped_columns = 0;  // bit (1 << SchemaColumn) per fixed column not written
  uint64_t extra_code = 0;       // bit j: the enum extra column EventBatch::extra[j] is written as its code
};

// Appends one line per selected row of `batch`.
void encode_rows(const EventBatch& batch, const GeoTable& geo, const CategoryTable& categories,
                 std::string& out, JoinTables joins = {}, RowLayout layout = {});
// Appends the line of one row.
void encode_row(const EventBatch& batch, uint32_t row, const GeoTable& geo, const CategoryTable& categories,
                std::string& out, JoinTables joins = {}, RowLayout layout = {});

// The two output columns of a join after the category join (MySQL-dialect types).
inline constexpr std::string_view kJoinIdType = "INT UNSIGNED NULL";
inline constexpr std::string_view kJoinNameType = "VARCHAR(128) NULL";

// The output column of a pass-through column ([[schema.extra]]), written after the joins' columns, in
// the schema's order (EventBatch::extra); NULL where the event had no value and the column no default.
// An enum column's type follows its store (pipeline/enum_columns.h enum_column_type); this is its text
// store's: VARCHAR(255), one length byte a row like VARCHAR(64), and room for every value an ENUM member
// can be, so that a table can move between the text and enum stores without cutting a value.
constexpr std::string_view extra_column_type(ExtraType type) {
  switch (type) {
    case ExtraType::kU64:
      return "BIGINT UNSIGNED NULL";
    case ExtraType::kI64:
      return "BIGINT NULL";
    case ExtraType::kF64:
      return "DOUBLE NULL";
    case ExtraType::kString:
      return "TEXT NULL";
    case ExtraType::kIp:
      return "VARCHAR(45) NULL";  // as the fixed ip column
    case ExtraType::kTimestamp:
      return "DATETIME(3) NULL";
    case ExtraType::kEnum:
      return "VARCHAR(255) NULL";
  }
  return "TEXT NULL";
}

// The dead-letter table, in the order encode_dead_letter writes fields (received_at is the server's).
inline constexpr std::array<OutputColumn, 6> kDeadLetterColumns = {{
    {"topic", "VARCHAR(255) NOT NULL"},
    {"kafka_partition", "INT NOT NULL"},
    {"kafka_offset", "BIGINT NOT NULL"},
    {"reason", "VARCHAR(32) NOT NULL"},
    {"field", "VARCHAR(255) NULL"},
    {"payload", "LONGBLOB NOT NULL"},
}};
// Appends one dead-letter line: topic, partition, offset, reason, field (\N when none), raw payload.
void encode_dead_letter(const DeadLetter& dead_letter, std::string_view topic, std::string& out);

}  // namespace enrichd
