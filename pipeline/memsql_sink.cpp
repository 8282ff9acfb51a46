#include "pipeline/memsql_sink.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "host/row_encoder.h"
#include "pipeline/enum_columns.h"
#include "pipeline/local_infile_stream.h"
#include "pipeline/offset_store.h"

namespace enrichd {
namespace {

struct Column {
  std::string name;
  std::string mysql_type;
};

template <size_t N>
std::vector<Column> columns_of(const std::array<OutputColumn, N>& columns) {
  std::vector<Column> out;
  for (const auto& col : columns) out.push_back({std::string(col.name), std::string(col.mysql_type)});
  return out;
}

// The fixed output columns (action and app as their store says, dropped ones left out), then two per join
// after the category join, then the pass-through columns.
std::vector<Column> row_table_columns(const SinkConfig& config) {
  std::vector<Column> out = columns_of(kOutputColumns);
  std::erase_if(out, [&](const Column& col) {
    const std::optional<SchemaColumn> c = schema_column_named(col.name);
    return c && !config.has_column(*c);
  });
  for (Column& col : out) {
    if (col.name == column_name(SchemaColumn::kAction)) {
      col.mysql_type = enum_column_type(config.action_store);
    } else if (col.name == column_name(SchemaColumn::kApp)) {
      col.mysql_type = enum_column_type(config.app_store);
    }
  }
  for (const std::string& c : config.join_columns) {
    out.push_back({c + "_id", std::string(kJoinIdType)});
    out.push_back({c, std::string(kJoinNameType)});
  }
  for (const ExtraField& e : config.extra_columns) {
    out.push_back({e.name, extra_sql_type(e)});
  }
  return out;
}

std::string column_list(const std::vector<Column>& columns) {
  std::string out;
  for (const auto& col : columns) out += fmt::format("{}`{}`", out.empty() ? "" : ", ", col.name);
  return out;
}

std::vector<std::string> column_names(const std::vector<Column>& columns) {
  std::vector<std::string> out;
  for (const auto& col : columns) out.push_back(col.name);
  return out;
}

// `tail` holds the lines after the columns (keys, columns of the server's own); SingleStore tables take no
// engine or charset clause (its default table type is columnstore; a SORT KEY makes one in any case).
std::string create_sql(const std::string& table, const std::vector<Column>& columns,
                       const std::vector<std::string>& tail, SqlDialect dialect) {
  std::vector<std::string> lines;
  for (const auto& col : columns) lines.push_back(fmt::format("  `{}` {}", col.name, col.mysql_type));
  lines.insert(lines.end(), tail.begin(), tail.end());
  std::string sql =
      fmt::format("CREATE TABLE IF NOT EXISTS {} (\n{}\n)", quote_identifier(table), fmt::join(lines, ",\n"));
  if (dialect == SqlDialect::kMysql) sql += " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";
  return sql;
}

}  // namespace

std::string create_table_sql(const std::string& table, const SinkConfig& config) {
  // SingleStore: sorted by event time within each segment, spread over partitions by event id (keyless
  // sharding, an even spread, when event_id is dropped). No time key without an event-time column.
  const std::string& time = config.event_time_column;
  std::vector<std::string> keys;
  if (config.dialect == SqlDialect::kMysql) {
    if (!time.empty()) keys.push_back(fmt::format("  KEY (`{}`)", time));
  } else {
    if (!time.empty()) keys.push_back(fmt::format("  SORT KEY (`{}`)", time));
    keys.emplace_back(config.has_column(SchemaColumn::kEventId) ? "  SHARD KEY (`event_id`)"
                                                                : "  SHARD KEY ()");
  }
  return create_sql(table, row_table_columns(config), keys, config.dialect);
}

std::string create_table_sql(const std::string& table, SqlDialect dialect,
                             const std::vector<std::string>& join_columns,
                             const std::vector<ExtraField>& extra_columns) {
  SinkConfig config;
  config.dialect = dialect;
  config.join_columns = join_columns;
  config.extra_columns = extra_columns;
  return create_table_sql(table, config);
}

std::string create_dead_letter_table_sql(const std::string& table, SqlDialect dialect) {
  std::vector<std::string> tail = {"  `received_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"};
  if (dialect == SqlDialect::kMysql) {
    tail.emplace_back("  KEY (`topic`, `kafka_partition`, `kafka_offset`)");
  } else {
    tail.emplace_back("  SORT KEY (`received_at`)");
    tail.emplace_back("  SHARD KEY (`topic`, `kafka_partition`)");
  }
  return create_sql(table, columns_of(kDeadLetterColumns), tail, dialect);
}

MemsqlSink::MemsqlSink(SinkConfig config, MysqlDsn dsn, std::unique_ptr<MysqlConnection> conn,
                       std::string group, std::string topic, bool fenced, SinkProbe* probe)
    : config_(std::move(config)),
      dsn_(std::move(dsn)),
      conn_(std::move(conn)),
      group_(std::move(group)),
      topic_(std::move(topic)),
      fenced_(fenced),
      row_columns_(column_list(row_table_columns(config_))),
      dead_letter_columns_(column_list(columns_of(kDeadLetterColumns))),
      probe_(probe) {}

Result<std::unique_ptr<MemsqlSink>> MemsqlSink::open(const SinkConfig& config, std::string group,
                                                     std::string topic, bool fenced, SinkProbe* probe) {
  auto dsn = parse_mysql_dsn(config.dsn);
  if (!dsn) return dsn.status().with_context("config key 'sink.dsn'");
  auto conn = MysqlConnection::connect(*dsn);
  if (!conn) return conn.status().with_context("config key 'sink.dsn'");
  std::unique_ptr<MemsqlSink> sink(new MemsqlSink(config, *dsn, std::move(conn).value(), std::move(group),
                                                  std::move(topic), fenced, probe));
  if (Status s = sink->ensure_tables(true, nullptr); !s) return s;
  if (probe) probe->set_reachable();
  return sink;
}

Result<std::unique_ptr<MemsqlSink>> MemsqlSink::open_another() const {
  auto conn = MysqlConnection::connect(dsn_);
  if (!conn) return conn.status().with_context("config key 'sink.dsn'");
  return std::unique_ptr<MemsqlSink>(
      new MemsqlSink(config_, dsn_, std::move(conn).value(), group_, topic_, fenced_, probe_));
}

Result<std::vector<std::string>> MemsqlSink::check(const SinkConfig& config, bool fenced) {
  auto dsn = parse_mysql_dsn(config.dsn);
  if (!dsn) return dsn.status().with_context("config key 'sink.dsn'");
  auto conn = MysqlConnection::connect(*dsn);
  if (!conn) return conn.status().with_context("config key 'sink.dsn'");
  MemsqlSink sink(config, *dsn, std::move(conn).value(), "", "", fenced, nullptr);
  std::vector<std::string> notes;
  if (Status s = sink.ensure_tables(false, &notes); !s) return s;
  return notes;
}

Status MemsqlSink::ensure_tables(bool create, std::vector<std::string>* notes) {
  if (Status s = ensure_table(config_.table, create_table_sql(config_.table, config_),
                              column_names(row_table_columns(config_)), create, notes, true);
      !s) {
    return s.with_context("config key 'sink.table'");
  }
  if (Status s = ensure_table(config_.dead_letter_table,
                              create_dead_letter_table_sql(config_.dead_letter_table, config_.dialect),
                              column_names(columns_of(kDeadLetterColumns)), create, notes);
      !s) {
    return s.with_context("config key 'sink.dead_letter_table'");
  }
  if (fenced_) {
    if (Status s = ensure_table(config_.offsets_table,
                                create_offsets_table_sql(config_.offsets_table, config_.dialect),
                                {"consumer_group", "topic", "kafka_partition", "next_offset"}, create, notes);
        !s) {
      return s.with_context("config key 'sink.offsets_table'");
    }
  }
  return Status::ok();
}

Status MemsqlSink::ensure_table(const std::string& table, const std::string& ddl,
                                const std::vector<std::string>& columns, bool create,
                                std::vector<std::string>* notes, bool row_table) {
  if (create && config_.create_table) {
    if (Status s = conn_->execute(ddl); !s) return s.with_context("cannot create table");
  }
  auto rows = conn_->query(
      fmt::format("SELECT column_name, data_type, column_type FROM information_schema.columns WHERE "
                  "table_schema = DATABASE() AND table_name = {} ORDER BY ordinal_position",
                  sql_string(table)));
  if (!rows) return rows.status();
  if (rows->empty()) {
    if (!create && config_.create_table) {
      if (notes) notes->push_back(fmt::format("table '{}': does not exist yet, will be created", table));
      return Status::ok();
    }
    return Status::errorf("table '{}' does not exist in '{}' (set sink.create_table = true)", table,
                          dsn_.database);
  }
  for (const std::string& col : columns) {
    const auto row = std::find_if(rows->begin(), rows->end(),
                                  [&](const auto& r) { return strcasecmp(r[0].c_str(), col.c_str()) == 0; });
    if (row == rows->end()) {
      return Status::errorf("table '{}' has no column '{}'; expected columns as in: {}", table, col, ddl);
    }
    if (!row_table) continue;
    for (const SchemaColumn column : {SchemaColumn::kAction, SchemaColumn::kApp}) {
      // A dropped action/app's name may be an extra column's, of any type.
      if (col != column_name(column) || !config_.has_column(column)) continue;
      if (Status s = check_enum_column(table, column, config_.enum_store(column), (*row)[1], (*row)[2]); !s) {
        return s;
      }
    }
    for (size_t i = 0; i < config_.extra_columns.size(); ++i) {
      const ExtraField& e = config_.extra_columns[i];
      if (e.type != ExtraType::kEnum || col != e.name) continue;
      if (Status s = check_enum_column(table, e.name, fmt::format("schema.extra[{}]", i), enum_store_of(e),
                                       (*row)[1], (*row)[2]);
          !s) {
        return s;
      }
    }
  }
  if (notes) notes->push_back(fmt::format("table '{}': exists, has every column", table));
  return Status::ok();
}

Status MemsqlSink::fence(const PartitionSegment& seg, bool& won) {
  const std::string sql = fmt::format(
      "UPDATE {} SET next_offset = {}, updated_at = NOW(6) WHERE consumer_group = {} AND topic = {} AND "
      "kafka_partition = {} AND next_offset = {}",
      quote_identifier(config_.offsets_table), seg.next_offset, sql_string(group_), sql_string(topic_),
      seg.partition, seg.start_offset);
  if (Status s = conn_->execute(sql); !s) return s;
  // Exactly one row moved from our start to our end, or someone else owns this range.
  won = mysql_affected_rows(conn_->handle()) == 1;
  return Status::ok();
}

Status MemsqlSink::load_data(const std::string& table, const std::string& columns, std::string_view charset,
                             std::vector<std::string_view> chunks, size_t line_count) {
  LocalInfileStream stream(conn_->handle(), fmt::format("enrichd-stream-{}", ++stream_seq_),
                           std::move(chunks));
  const std::string sql = fmt::format(
      "LOAD DATA LOCAL INFILE '{}' INTO TABLE {} CHARACTER SET {} FIELDS TERMINATED BY '\\t' "
      "ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({})",
      stream.name(), quote_identifier(table), charset, columns);
  MYSQL* m = conn_->handle();
  if (mysql_real_query(m, sql.data(), sql.size()) != 0) {
    return Status::errorf("LOAD DATA into '{}': MySQL error {}: {}", table, mysql_errno(m), mysql_error(m));
  }
  // LOCAL loads turn bad rows into warnings; a row count short of what was sent would be data loss.
  const auto loaded = mysql_affected_rows(m);
  if (loaded != line_count) {
    return Status::errorf("LOAD DATA into '{}' stored {} of {} rows ({} warnings)", table, loaded, line_count,
                          mysql_warning_count(m));
  }
  if (const unsigned w = mysql_warning_count(m); w > 0) {
    spdlog::warn("LOAD DATA into '{}': {} warnings (values truncated or converted)", table, w);
  }
  return Status::ok();
}

Status MemsqlSink::load_once(const LoadJob& job, std::vector<int32_t>& fenced_out) {
  if (!conn_) {
    auto conn = MysqlConnection::connect(dsn_);
    if (!conn) {
      if (probe_) probe_->set_unreachable(conn.status().message());
      return conn.status();
    }
    conn_ = std::move(conn).value();
  }
  Status s = conn_->execute("START TRANSACTION");
  // Fences first: the offset rows stay locked until COMMIT, so a competing member waits, then fails.
  for (const PartitionSegment& seg : job.segments) {
    if (!s || !fenced_) break;
    bool won = false;
    s = fence(seg, won);
    if (s && !won) fenced_out.push_back(seg.partition);
  }
  if (s && fenced_out.empty()) {
    std::vector<std::string_view> rows, dead;
    for (const auto& seg : job.segments) {
      if (seg.row_count) rows.push_back(seg.rows);
      if (seg.dead_letter_count) dead.push_back(seg.dead_letters);
    }
    if (job.row_count() > 0) s = load_data(config_.table, row_columns_, "utf8mb4", rows, job.row_count());
    // Payloads are raw bytes (any encoding, NULs included): loaded as binary into a LONGBLOB.
    if (s && job.dead_letter_count() > 0) {
      s = load_data(config_.dead_letter_table, dead_letter_columns_, "binary", dead, job.dead_letter_count());
    }
    if (s) s = conn_->execute("COMMIT");
  }
  if (!s && conn_->lost()) {
    conn_.reset();  // reconnect on the next try
  } else if (!s || !fenced_out.empty()) {
    (void)conn_->execute("ROLLBACK");
  }
  if (probe_) {
    if (!s) {
      probe_->set_unreachable(s.message());
    } else {
      probe_->set_reachable();
      if (fenced_out.empty()) probe_->transactions.add();
    }
  }
  return s;
}

Status MemsqlSink::load(LoadJob& job, std::vector<int32_t>& fenced_out) {
  fenced_out.clear();
  auto backoff = std::chrono::milliseconds(200);
  int64_t attempt = 0;
  while (!job.segments.empty()) {
    std::vector<int32_t> lost;
    Status s = load_once(job, lost);
    if (s && lost.empty()) return s;
    if (s) {
      // Drop the partitions another member owns and commit the rest.
      std::erase_if(job.segments, [&](const PartitionSegment& seg) {
        return std::find(lost.begin(), lost.end(), seg.partition) != lost.end();
      });
      fenced_out.insert(fenced_out.end(), lost.begin(), lost.end());
      continue;
    }
    if (attempt >= config_.load_retries) {
      return Status::errorf("giving up after {} tries: {}", attempt + 1, s.message());
    }
    ++attempt;
    ++retries_;
    if (probe_) probe_->retries.add();
    spdlog::warn("load failed (try {} of {}), retrying in {} ms: {}", attempt, config_.load_retries + 1,
                 backoff.count(), s.message());
    std::this_thread::sleep_for(backoff);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(10'000));
  }
  return Status::ok();
}

}  // namespace enrichd
