// The output columns of the enum columns action and app as their store says ([schema.fields.<column>]
// store, host/event_schema.h EnumStore): the column type the sink creates, and whether an existing
// table's column fits the store.
#pragma once

#include <string>
#include <string_view>

#include "host/event_schema.h"
#include "host/status.h"
#include "pipeline/config.h"

namespace enrichd {

// The type of an enum column (action, app) as its store says: VARCHAR(64), ENUM('v0','v1',...) of the
// dictionary in its order (values SQL-quoted, binary collation), or SMALLINT UNSIGNED for the codes.
std::string enum_column_type(const EnumColumnStore& column);

// Whether the existing enum column `column` of `table`, of information_schema DATA_TYPE `data_type` and
// COLUMN_TYPE `column_type`, can take what the encoder writes for its store: a text column for text, an
// ENUM with every value of the dictionary for enum, an integer column wide enough for the codes for code.
// A mismatch would load wrong values with only warnings, so the error stops start-up and says the fix.
Status check_enum_column(const std::string& table, SchemaColumn column, const EnumColumnStore& want,
                         const std::string& data_type, std::string_view column_type);

}  // namespace enrichd
