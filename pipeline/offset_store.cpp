#include "pipeline/offset_store.h"

#include <fmt/format.h>

#include "host/csv.h"

namespace enrichd {

std::string create_offsets_table_sql(const std::string& table, SqlDialect dialect) {
  // SingleStore: a rowstore table, for the fenced single-row updates every load makes.
  return std::string(dialect == SqlDialect::kMysql ? "CREATE TABLE" : "CREATE ROWSTORE TABLE") +
         " IF NOT EXISTS " + quote_identifier(table) +
         " (\n"
         "  `consumer_group` VARCHAR(255) NOT NULL,\n"
         "  `topic` VARCHAR(255) NOT NULL,\n"
         "  `kafka_partition` INT NOT NULL,\n"
         "  `next_offset` BIGINT NOT NULL,\n"
         "  `updated_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),\n"
         "  PRIMARY KEY (`consumer_group`, `topic`, `kafka_partition`)\n"
         ")" +
         std::string(dialect == SqlDialect::kMysql ? " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4" : "");
}

std::string sql_string(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\\' || c == '\'') out.push_back('\\');
    if (c == '\0') {
      out += "\\0";
      continue;
    }
    out.push_back(c);
  }
  return out + "'";
}

Result<std::unique_ptr<OffsetStore>> OffsetStore::open(const MysqlDsn& dsn, std::string table,
                                                       std::string group, std::string topic) {
  auto conn = MysqlConnection::connect(dsn);
  if (!conn) return conn.status();
  return std::unique_ptr<OffsetStore>(
      new OffsetStore(std::move(conn).value(), std::move(table), std::move(group), std::move(topic)));
}

Result<int64_t> OffsetStore::claim(int32_t partition) {
  // A plain SELECT is a non-locking read of the last committed value: it never waits for a member that
  // is mid-transaction on this row (even one frozen there). If that member then commits, this member's
  // fenced update fails and it seeks again, so reading the older value is safe.
  const std::string select = fmt::format(
      "SELECT next_offset FROM {} WHERE consumer_group = {} AND topic = {} AND kafka_partition = {}",
      quote_identifier(table_), sql_string(group_), sql_string(topic_), partition);
  auto rows = conn_->query(select);
  if (!rows) return rows.status();
  if (rows->empty()) {
    if (Status s = conn_->execute(fmt::format("INSERT IGNORE INTO {} (consumer_group, topic, "
                                              "kafka_partition, next_offset) VALUES ({}, {}, {}, {})",
                                              quote_identifier(table_), sql_string(group_),
                                              sql_string(topic_), partition, kNoStoredOffset));
        !s) {
      return s;
    }
    rows = conn_->query(select);
    if (!rows) return rows.status();
  }
  if (rows->size() != 1) return Status::errorf("no offsets row for partition {}", partition);
  const std::string& text = (*rows)[0][0];
  if (text == "-1") return kNoStoredOffset;
  uint64_t v = 0;
  if (!parse_u64(text, v))
    return Status::errorf("offsets table holds '{}' for partition {}", text, partition);
  return static_cast<int64_t>(v);
}

}  // namespace enrichd
