// A MySQL-protocol connection (MariaDB Connector/C) to MemSQL/SingleStore or MariaDB, opened from a DSN:
//   mysql://user[:password]@host[:port]/database[?socket=/path/to.sock]
#pragma once

#include <mysql.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "host/status.h"

namespace enrichd {

struct MysqlDsn {
  std::string user = "root";
  std::string password;
  std::string host = "127.0.0.1";
  unsigned port = 3306;
  std::string database;
  std::string socket;           // when set, host/port are ignored and the unix socket is used
  std::string address() const;  // for messages: "host:port" or the socket path
};

Result<MysqlDsn> parse_mysql_dsn(const std::string& dsn);

// One row of a streamed result (MysqlConnection::query_streaming), valid only during the callback.
class MysqlRow {
 public:
  MysqlRow(MYSQL_ROW row, const unsigned long* lengths, const MYSQL_FIELD* fields, unsigned columns)
      : row_(row), lengths_(lengths), fields_(fields), columns_(columns) {}
  unsigned columns() const { return columns_; }
  bool is_null(unsigned column) const { return row_[column] == nullptr; }
  // The column's text ("" for NULL: check is_null).
  std::string_view text(unsigned column) const {
    return row_[column] ? std::string_view(row_[column], lengths_[column]) : std::string_view();
  }
  // The column's name in the result (its alias, if the query gave one).
  std::string_view column_name(unsigned column) const { return fields_[column].name; }

 private:
  MYSQL_ROW row_;
  const unsigned long* lengths_;
  const MYSQL_FIELD* fields_;
  unsigned columns_;
};

class MysqlConnection {
 public:
  // Connects with LOCAL INFILE enabled, utf8mb4 and UTC session time.
  static Result<std::unique_ptr<MysqlConnection>> connect(const MysqlDsn& dsn);
  ~MysqlConnection();
  MysqlConnection(const MysqlConnection&) = delete;
  MysqlConnection& operator=(const MysqlConnection&) = delete;

  Status execute(const std::string& sql);
  // Runs a query and returns every row as strings ("" for NULL) — for small results only.
  Result<std::vector<std::vector<std::string>>> query(const std::string& sql);
  // Runs a query and hands its rows to `on_row` one at a time as they arrive (mysql_use_result), so a
  // result of any size never sits in client memory at once. An error from `on_row` stops the query and
  // is returned; the rest of the result is then read and dropped, so that the connection stays usable
  // (for a huge result that takes as long as reading it). A statement without a result set is an error.
  // Returns the number of rows handed over.
  Result<uint64_t> query_streaming(const std::string& sql,
                                   const std::function<Status(const MysqlRow&)>& on_row);
  MYSQL* handle() { return mysql_; }
  const MysqlDsn& dsn() const { return dsn_; }
  // True when the last error means the connection is gone and a reconnect is needed.
  bool lost() const;

 private:
  MysqlConnection(MYSQL* mysql, MysqlDsn dsn) : mysql_(mysql), dsn_(std::move(dsn)) {}
  Status error(const std::string& what) const;
  MYSQL* mysql_;
  MysqlDsn dsn_;
};

// `name` quoted as a MySQL identifier.
std::string quote_identifier(const std::string& name);

}  // namespace enrichd
