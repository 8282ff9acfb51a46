// The output columns of the enum columns (action and app, [schema.fields.<column>] store, and enum
// [[schema.extra]] columns) as their store says (host/event_schema.h EnumStore): the column type the sink
// creates, and whether an existing table's column fits the store.
#pragma once

#include <string>
#include <string_view>

#include "host/event_schema.h"
#include "host/status.h"
#include "pipeline/config.h"

namespace enrichd {

// The type of an enum column as its store says: text (VARCHAR(64) for action and app, VARCHAR(255) for an
// extra column), ENUM('v0','v1',...) of the dictionary in its order (values SQL-quoted, binary collation),
// or SMALLINT UNSIGNED for the codes; NOT NULL for action and app, NULL for an extra column.
std::string enum_column_type(const EnumColumnStore& column);

// The store of an enum [[schema.extra]] column.
EnumColumnStore enum_store_of(const ExtraField& field);

// The table column type of a pass-through column: extra_column_type, or for an enum its store's.
std::string extra_sql_type(const ExtraField& field);

// Whether the existing enum column `name` of `table`, of information_schema DATA_TYPE `data_type` and
// COLUMN_TYPE `column_type`, can take what the encoder writes for its store: a text column for text, an
// ENUM with every value of the dictionary for enum, an integer column wide enough for the codes for code.
// A mismatch would load wrong values with only warnings, so the error stops start-up and says the fix,
// naming the config table that sets the store (`config_table`: "schema.fields.action", "schema.extra[0]").
Status check_enum_column(const std::string& table, std::string_view name, std::string_view config_table,
                         const EnumColumnStore& want, const std::string& data_type,
                         std::string_view column_type);
// The same for action or app.
Status check_enum_column(const std::string& table, SchemaColumn column, const EnumColumnStore& want,
                         const std::string& data_type, std::string_view column_type);

}  // namespace enrichd
