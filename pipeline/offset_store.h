// Kafka offsets kept in the database (exactly-once delivery): one row per (consumer group, topic,
// partition) holding the next offset to load. The sink advances it in the same transaction as the rows,
// fenced on its old value; the source seeks to it when a partition is assigned.
#pragma once

#include <memory>
#include <string>

#include "host/status.h"
#include "pipeline/config.h"
#include "pipeline/mysql_connection.h"

namespace enrichd {

// Offsets not yet written: the partition has never been loaded by this group.
inline constexpr int64_t kNoStoredOffset = -1;

class OffsetStore {
 public:
  // Own connection, for the source thread (the sink has its own).
  static Result<std::unique_ptr<OffsetStore>> open(const MysqlDsn& dsn, std::string table, std::string group,
                                                   std::string topic);

  // Makes sure the partition's row exists and returns its next offset (kNoStoredOffset when new).
  Result<int64_t> claim(int32_t partition);

 private:
  OffsetStore(std::unique_ptr<MysqlConnection> conn, std::string table, std::string group, std::string topic)
      : conn_(std::move(conn)),
        table_(std::move(table)),
        group_(std::move(group)),
        topic_(std::move(topic)) {}
  std::unique_ptr<MysqlConnection> conn_;
  std::string table_, group_, topic_;
};

// DDL of the offsets table (MySQL dialect).
std::string create_offsets_table_sql(const std::string& table, SqlDialect dialect = SqlDialect::kMysql);

// `s` as a single-quoted SQL string literal (backslash and quote escaped).
std::string sql_string(std::string_view s);

}  // namespace enrichd
