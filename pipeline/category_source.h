// Where the category dimension comes from: CSV files, or a MySQL-protocol database (SingleStore/MemSQL,
// MariaDB) read with two configurable queries. Building a table touches nothing shared, so a reload can
// build the next table on any thread while the pipeline keeps joining against the current one, and swap
// it in between batches.
#pragma once

#include <memory>
#include <string>

#include "host/category_table.h"
#include "host/status.h"
#include "pipeline/mysql_connection.h"

namespace enrichd {

// Loads a table from a database, reading both results as streams (row by row, never a whole result in
// client memory), then sizes the table to its maximum load (CategoryTable::shrink_to_fit).
//  - pins_query returns (key, category_id) rows: an unsigned 64-bit key and an unsigned 32-bit category
//    id other than 4294967295 (reserved for "none"). A key given twice with the same category is fine,
//    with different ones an error.
//  - names_query, optional ("" for none), returns (category_id, name) or (category_id, name, parent_id)
//    rows; a NULL parent_id means a top-level category; a parent_id must name a category of the result.
// Column names do not matter, only their order and count. A NULL (other than parent_id), a value that is
// not an unsigned integer of the column's width, or a wrong column count is an error that names the query,
// the row (1-based, in the order the query returns them) and the column.
Result<CategoryTable> load_categories_from_db(MysqlConnection& db, const std::string& pins_query,
                                              const std::string& names_query);

// Everything a category table can be built from.
struct CategorySourceSpec {
  // A database when dsn is set (mysql://user[:password]@host[:port]/database[?socket=...]), else CSV.
  std::string dsn;
  std::string pins_query;   // required with dsn
  std::string names_query;  // optional
  std::string pins_csv;     // required without dsn
  std::string names_csv;    // optional
};

// Builds a fresh table from `spec`: opens its own database connection (closed before returning), or
// reads the CSV files. Safe to run on any thread, off the hot path. Errors name the source (the DSN's
// address or the file) and the row or line.
Result<std::shared_ptr<const CategoryTable>> build_category_table(const CategorySourceSpec& spec);

}  // namespace enrichd
