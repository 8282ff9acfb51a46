// A MySQL-protocol connection (MariaDB Connector/C) to MemSQL/SingleStore or MariaDB, opened from a DSN:
//   mysql://user[:password]@host[:port]/database[?socket=/path/to.sock]
#pragma once

#include <mysql.h>

#include <cstdint>
#include <memory>
#include <string>
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
