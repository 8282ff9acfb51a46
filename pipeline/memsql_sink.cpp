#include "pipeline/memsql_sink.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "host/row_encoder.h"
#include "pipeline/local_infile_stream.h"

namespace enrichd {

std::string create_table_sql(const std::string& table) {
  std::string sql = "CREATE TABLE IF NOT EXISTS " + quote_identifier(table) + " (\n";
  for (const auto& col : kOutputColumns) sql += fmt::format("  `{}` {},\n", col.name, col.mysql_type);
  sql += "  KEY (`ts`)\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
  return sql;
}

MemsqlSink::MemsqlSink(SinkConfig config, MysqlDsn dsn, std::unique_ptr<MysqlConnection> conn)
    : config_(std::move(config)), dsn_(std::move(dsn)), conn_(std::move(conn)) {
  std::string cols;
  for (const auto& col : kOutputColumns) cols += fmt::format("{}`{}`", cols.empty() ? "" : ", ", col.name);
  load_sql_prefix_ = fmt::format(
      "INTO TABLE {} CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' "
      "LINES TERMINATED BY '\\n' ({})",
      quote_identifier(config_.table), cols);
}

Result<std::unique_ptr<MemsqlSink>> MemsqlSink::open(const SinkConfig& config) {
  auto dsn = parse_mysql_dsn(config.dsn);
  if (!dsn) return dsn.status().with_context("config key 'sink.dsn'");
  auto conn = MysqlConnection::connect(*dsn);
  if (!conn) return conn.status().with_context("config key 'sink.dsn'");
  std::unique_ptr<MemsqlSink> sink(new MemsqlSink(config, *dsn, std::move(conn).value()));
  if (Status s = sink->ensure_table(); !s) return s;
  return sink;
}

Status MemsqlSink::ensure_table() {
  if (config_.create_table) {
    if (Status s = conn_->execute(create_table_sql(config_.table)); !s) {
      return s.with_context("config key 'sink.table': cannot create table");
    }
  }
  auto rows = conn_->query(
      fmt::format("SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND "
                  "table_name = '{}' ORDER BY ordinal_position",
                  config_.table));
  if (!rows) return rows.status();
  if (rows->empty()) {
    return Status::errorf(
        "config key 'sink.table': table '{}' does not exist in '{}' (set sink.create_table = true)",
        config_.table, dsn_.database);
  }
  for (const auto& col : kOutputColumns) {
    const bool present = std::any_of(rows->begin(), rows->end(), [&](const auto& r) {
      return strcasecmp(r[0].c_str(), std::string(col.name).c_str()) == 0;
    });
    if (!present) {
      return Status::errorf(
          "config key 'sink.table': table '{}' has no column '{}'; expected columns as in: {}", config_.table,
          col.name, create_table_sql(config_.table));
    }
  }
  return Status::ok();
}

Status MemsqlSink::load_once(std::string_view rows, size_t row_count) {
  if (!conn_) {
    auto conn = MysqlConnection::connect(dsn_);
    if (!conn) return conn.status();
    conn_ = std::move(conn).value();
  }
  Status s = conn_->execute("START TRANSACTION");
  if (s) s = load_data(rows, row_count);
  if (s) s = conn_->execute("COMMIT");
  if (!s) {
    if (conn_->lost()) {
      conn_.reset();  // reconnect on the next try
    } else {
      (void)conn_->execute("ROLLBACK");
    }
  }
  return s;
}

Status MemsqlSink::load_data(std::string_view rows, size_t row_count) {
  LocalInfileStream stream(conn_->handle(), fmt::format("enrichd-stream-{}", ++stream_seq_), rows);
  const std::string sql = fmt::format("LOAD DATA LOCAL INFILE '{}' {}", stream.name(), load_sql_prefix_);
  MYSQL* m = conn_->handle();
  if (mysql_real_query(m, sql.data(), sql.size()) != 0) {
    return Status::errorf("LOAD DATA into '{}': MySQL error {}: {}", config_.table, mysql_errno(m),
                          mysql_error(m));
  }
  // LOCAL loads turn bad rows into warnings; a row count short of what was sent would be data loss.
  const auto loaded = mysql_affected_rows(m);
  if (loaded != row_count) {
    return Status::errorf("LOAD DATA into '{}' stored {} of {} rows ({} warnings)", config_.table, loaded,
                          row_count, mysql_warning_count(m));
  }
  if (const unsigned w = mysql_warning_count(m); w > 0) {
    spdlog::warn("LOAD DATA into '{}': {} warnings (values truncated or converted)", config_.table, w);
  }
  return Status::ok();
}

Status MemsqlSink::load(std::string_view rows, size_t row_count) {
  auto backoff = std::chrono::milliseconds(200);
  for (int64_t attempt = 0;; ++attempt) {
    Status s = load_once(rows, row_count);
    if (s) return s;
    if (attempt >= config_.load_retries) {
      return Status::errorf("giving up after {} tries: {}", attempt + 1, s.message());
    }
    ++retries_;
    spdlog::warn("load failed (try {} of {}), retrying in {} ms: {}", attempt + 1, config_.load_retries + 1,
                 backoff.count(), s.message());
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(10'000));
  }
}

}  // namespace enrichd
