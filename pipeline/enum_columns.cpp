#include "pipeline/enum_columns.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <vector>

#include "host/row_encoder.h"
#include "pipeline/mysql_connection.h"
#include "pipeline/offset_store.h"

namespace enrichd {
namespace {

// The members of an ENUM as information_schema.columns.column_type shows them: enum('a','it''s','b\\c').
std::vector<std::string> enum_members(std::string_view column_type) {
  std::vector<std::string> members;
  size_t i = column_type.find('(');
  if (i == std::string_view::npos) return members;
  ++i;
  while (i < column_type.size() && column_type[i] == '\'') {
    std::string member;
    for (++i; i < column_type.size(); ++i) {
      const char c = column_type[i];
      if (c == '\'' && i + 1 < column_type.size() && column_type[i + 1] == '\'') {
        member.push_back(c);
        ++i;
      } else if (c == '\'') {
        break;
      } else if (c == '\\' && i + 1 < column_type.size()) {
        member.push_back(column_type[++i]);
      } else {
        member.push_back(c);
      }
    }
    members.push_back(std::move(member));
    i += 1;  // the closing quote
    if (i < column_type.size() && column_type[i] == ',') ++i;
  }
  return members;
}

// The store an existing column's type (information_schema DATA_TYPE) fits, or "" when none does.
std::string_view store_of_data_type(std::string data_type) {
  std::transform(data_type.begin(), data_type.end(), data_type.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (std::string_view t : {"char", "varchar", "tinytext", "text", "mediumtext", "longtext"}) {
    if (data_type == t) return to_string(EnumStore::kText);
  }
  if (data_type == "enum") return to_string(EnumStore::kEnum);
  for (std::string_view t : {"smallint", "mediumint", "int", "bigint"}) {
    if (data_type == t) return to_string(EnumStore::kCode);
  }
  return "";
}

// The text store's column without its NULL clause.
std::string_view text_type(const EnumColumnStore& column) {
  return column.pass_through ? "VARCHAR(255)" : "VARCHAR(64)";
}
static_assert(extra_column_type(ExtraType::kEnum) == "VARCHAR(255) NULL",
              "an enum extra column's text store is the type extra_column_type gives it");

}  // namespace

std::string enum_column_type(const EnumColumnStore& column) {
  const std::string_view null = column.pass_through ? " NULL" : " NOT NULL";
  switch (column.store) {
    case EnumStore::kText:
      break;
    case EnumStore::kEnum: {
      // A binary collation, so that members differing only in letter case are distinct, as in the dictionary.
      std::string type = "ENUM(";
      for (size_t i = 0; i < column.values.size(); ++i) type += (i ? "," : "") + sql_string(column.values[i]);
      return type + ") CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" + std::string(null);
    }
    case EnumStore::kCode:
      return "SMALLINT UNSIGNED" + std::string(null);
  }
  return std::string(text_type(column)) + std::string(null);
}

EnumColumnStore enum_store_of(const ExtraField& field) {
  return {.store = field.store, .values = field.values, .pass_through = true};
}

Status check_enum_column(const std::string& table, SchemaColumn column, const EnumColumnStore& want,
                         const std::string& data_type, std::string_view column_type) {
  const std::string_view name = column_name(column);
  return check_enum_column(table, name, fmt::format("schema.fields.{}", name), want, data_type, column_type);
}

Status check_enum_column(const std::string& table, std::string_view name, std::string_view config_table,
                         const EnumColumnStore& want, const std::string& data_type,
                         std::string_view column_type) {
  const std::string key = fmt::format("{}.store", config_table);
  const std::string_view fits = store_of_data_type(data_type);
  const std::string_view wanted = to_string(want.store);
  if (fits != wanted) {
    const std::string needs = want.store == EnumStore::kText
                                  ? fmt::format("a text column such as {}", text_type(want))
                              : want.store == EnumStore::kEnum ? "an ENUM of the dictionary"
                                                               : "an integer column (SMALLINT UNSIGNED)";
    return Status::errorf(
        "table '{}' column '{}' is {}, but config key '{}' = \"{}\" needs {}: {}load into a new table "
        "(sink.table)",
        table, name, column_type, key, wanted, needs,
        fits.empty() ? "" : fmt::format("set {} = \"{}\" to match the table, or ", key, fits));
  }
  // A signed SMALLINT ends at 32767: a larger code would be clipped with only a warning.
  if (want.store == EnumStore::kCode && store_of_data_type(data_type) == to_string(EnumStore::kCode) &&
      column_type.starts_with("smallint") && column_type.find("unsigned") == std::string_view::npos &&
      want.values.size() > 32768) {
    return Status::errorf(
        "table '{}' column '{}' is {}, too small for the {} codes of config key '{}.values': "
        "ALTER TABLE {} MODIFY `{}` {}",
        table, name, column_type, want.values.size(), config_table, quote_identifier(table), name,
        enum_column_type(want));
  }
  if (want.store == EnumStore::kEnum) {
    const std::vector<std::string> members = enum_members(column_type);
    for (const std::string& v : want.values) {
      if (std::find(members.begin(), members.end(), v) == members.end()) {
        return Status::errorf(
            "table '{}' column '{}' is {}, without the value '{}' of config key '{}.values': "
            "ALTER TABLE {} MODIFY `{}` {}",
            table, name, column_type, v, config_table, quote_identifier(table), name, enum_column_type(want));
      }
    }
  }
  return Status::ok();
}

std::string extra_sql_type(const ExtraField& field) {
  return field.type == ExtraType::kEnum ? enum_column_type(enum_store_of(field))
                                        : std::string(extra_column_type(field.type));
}

}  // namespace enrichd
