// The MemSQL/SingleStore sink: encoded rows streamed from memory with LOAD DATA LOCAL INFILE inside one
// transaction per batch. The LOCAL INFILE handler serves only the stream name this sink put in its own
// statement, so a server can never make the client read a file from disk.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "host/status.h"
#include "pipeline/config.h"
#include "pipeline/mysql_connection.h"

namespace enrichd {

class MemsqlSink {
 public:
  // Connects (error names sink.dsn and the address), creates the table if missing and allowed, and checks
  // that an existing table has the expected columns.
  static Result<std::unique_ptr<MemsqlSink>> open(const SinkConfig& config);

  // Loads `rows` (LOAD DATA text, `row_count` lines) and commits. On failure the transaction is rolled
  // back and retried with backoff (reconnecting when the connection was lost); an error is returned only
  // when every try failed, and then nothing of this batch is committed.
  Status load(std::string_view rows, size_t row_count);

  const std::string& table() const { return config_.table; }
  uint64_t retries() const { return retries_; }

 private:
  MemsqlSink(SinkConfig config, MysqlDsn dsn, std::unique_ptr<MysqlConnection> conn);
  Status load_once(std::string_view rows, size_t row_count);
  // The LOAD DATA statement alone, inside the transaction load_once opened.
  Status load_data(std::string_view rows, size_t row_count);
  Status ensure_table();

  SinkConfig config_;
  MysqlDsn dsn_;
  std::unique_ptr<MysqlConnection> conn_;
  std::string load_sql_prefix_;
  uint64_t stream_seq_ = 0;
  uint64_t retries_ = 0;
};

// The CREATE TABLE statement (MySQL dialect) for the output table.
std::string create_table_sql(const std::string& table);

}  // namespace enrichd
