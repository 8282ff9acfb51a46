#include "pipeline/mysql_connection.h"

#include <errmsg.h>

#include <charconv>

#include "host/csv.h"

namespace enrichd {
namespace {

// %XX escapes in user, password and database.
std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned v = 0;
    if (s[i] == '%' && i + 2 < s.size() &&
        std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16).ptr == s.data() + i + 3) {
      out.push_back(static_cast<char>(v));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::string MysqlDsn::address() const {
  return socket.empty() ? fmt::format("{}:{}", host, port) : socket;
}

Result<MysqlDsn> parse_mysql_dsn(const std::string& dsn) {
  constexpr std::string_view kScheme = "mysql://";
  auto bad = [&](std::string_view why) {
    return Status::errorf(
        "'{}' is not a DSN of the form mysql://user[:password]@host[:port]/database"
        "[?socket=/path]: {}",
        dsn, why);
  };
  std::string_view rest(dsn);
  if (!rest.starts_with(kScheme)) return bad("it must start with mysql://");
  rest.remove_prefix(kScheme.size());
  MysqlDsn out;
  const size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return bad("no /database");
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = rest.substr(slash + 1);
  if (const size_t q = path.find('?'); q != std::string_view::npos) {
    std::string_view query = path.substr(q + 1);
    path = path.substr(0, q);
    if (!query.starts_with("socket=")) return bad("the only query parameter is socket=");
    out.socket = percent_decode(query.substr(7));
  }
  out.database = percent_decode(path);
  if (out.database.empty()) return bad("no database name");
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    authority = authority.substr(at + 1);
    const size_t colon = userinfo.find(':');
    out.user = percent_decode(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) out.password = percent_decode(userinfo.substr(colon + 1));
  }
  if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    uint32_t port = 0;
    if (!parse_u32(authority.substr(colon + 1), port) || port == 0 || port > 65535) return bad("bad port");
    out.port = port;
    authority = authority.substr(0, colon);
  }
  if (!authority.empty()) out.host = std::string(authority);
  return out;
}

Result<std::unique_ptr<MysqlConnection>> MysqlConnection::connect(const MysqlDsn& dsn) {
  MYSQL* m = mysql_init(nullptr);
  if (!m) return Status::error("mysql_init failed (out of memory)");
  const unsigned connect_timeout = 5;
  const unsigned io_timeout = 300;
  const my_bool local_infile = 1;
  mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
  mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
  mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
  mysql_options(m, MYSQL_OPT_LOCAL_INFILE, &local_infile);
  mysql_options(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
  const bool use_socket = !dsn.socket.empty();
  if (!mysql_real_connect(m, use_socket ? "localhost" : dsn.host.c_str(), dsn.user.c_str(),
                          dsn.password.empty() ? nullptr : dsn.password.c_str(), dsn.database.c_str(),
                          use_socket ? 0 : dsn.port, use_socket ? dsn.socket.c_str() : nullptr, 0)) {
    Status s = Status::errorf("cannot connect to MySQL at {} as '{}' (database '{}'): {}", dsn.address(),
                              dsn.user, dsn.database, mysql_error(m));
    mysql_close(m);
    return s;
  }
  std::unique_ptr<MysqlConnection> conn(new MysqlConnection(m, dsn));
  if (Status s = conn->execute("SET time_zone = '+00:00'"); !s) return s;
  return conn;
}

MysqlConnection::~MysqlConnection() {
  mysql_close(mysql_);
}

Status MysqlConnection::error(const std::string& what) const {
  return Status::errorf("{}: MySQL error {} at {}: {}", what, mysql_errno(mysql_), dsn_.address(),
                        mysql_error(mysql_));
}

bool MysqlConnection::lost() const {
  const unsigned e = mysql_errno(mysql_);
  return e == CR_SERVER_GONE_ERROR || e == CR_SERVER_LOST || e == CR_CONNECTION_ERROR ||
         e == CR_CONN_HOST_ERROR;
}

Status MysqlConnection::execute(const std::string& sql) {
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) return error(sql.substr(0, 80));
  // Drain any result so the connection is ready for the next statement.
  if (MYSQL_RES* res = mysql_store_result(mysql_)) mysql_free_result(res);
  return Status::ok();
}

Result<std::vector<std::vector<std::string>>> MysqlConnection::query(const std::string& sql) {
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) return error(sql.substr(0, 80));
  MYSQL_RES* res = mysql_store_result(mysql_);
  std::vector<std::vector<std::string>> rows;
  if (!res) {
    if (mysql_field_count(mysql_) != 0) return error(sql.substr(0, 80));
    return rows;
  }
  const unsigned ncols = mysql_num_fields(res);
  while (MYSQL_ROW row = mysql_fetch_row(res)) {
    const unsigned long* lengths = mysql_fetch_lengths(res);
    auto& out = rows.emplace_back();
    for (unsigned c = 0; c < ncols; ++c) out.emplace_back(row[c] ? std::string(row[c], lengths[c]) : "");
  }
  mysql_free_result(res);
  return rows;
}

Result<uint64_t> MysqlConnection::query_streaming(const std::string& sql,
                                                  const std::function<Status(const MysqlRow&)>& on_row) {
  if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) return error(sql.substr(0, 80));
  MYSQL_RES* res = mysql_use_result(mysql_);
  if (!res) {
    if (mysql_field_count(mysql_) != 0) return error(sql.substr(0, 80));
    return Status::errorf("'{}' returned no result set", sql.substr(0, 80));
  }
  const unsigned columns = mysql_num_fields(res);
  const MYSQL_FIELD* fields = mysql_fetch_fields(res);
  uint64_t rows = 0;
  Status stopped;
  while (MYSQL_ROW row = mysql_fetch_row(res)) {
    ++rows;
    stopped = on_row(MysqlRow(row, mysql_fetch_lengths(res), fields, columns));
    if (!stopped) break;
  }
  // mysql_fetch_row returns NULL at the end and on an error (e.g. the connection lost mid-result).
  Status read_error = stopped && mysql_errno(mysql_) != 0 ? error(sql.substr(0, 80)) : Status::ok();
  mysql_free_result(res);  // reads and drops what is left of an unbuffered result
  if (!stopped) return stopped;
  if (!read_error) return read_error;
  return rows;
}

std::string quote_identifier(const std::string& name) {
  std::string out = "`";
  for (char c : name) {
    if (c == '`') out.push_back('`');
    out.push_back(c);
  }
  return out + "`";
}

}  // namespace enrichd
