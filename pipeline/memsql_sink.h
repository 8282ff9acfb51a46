// The MemSQL/SingleStore sink: each batch is one transaction holding, per partition, the fenced offset
// update (exactly-once), the rows (LOAD DATA LOCAL INFILE streamed from memory) and the dead letters. The
// LOCAL INFILE handler serves only the stream this sink named, so a server can never make it read a file.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "host/status.h"
#include "pipeline/config.h"
#include "pipeline/enum_columns.h"
#include "pipeline/load_job.h"
#include "pipeline/mysql_connection.h"
#include "pipeline/probes.h"

namespace enrichd {

class MemsqlSink {
 public:
  // Connects (errors name sink.dsn and the address), creates the tables if missing and allowed, and
  // checks that existing ones have the expected columns. `group`/`topic` key the stored offsets;
  // `fenced` turns on the exactly-once offset update (only meaningful for a source with offsets).
  // `probe` (optional, must outlive the sink) gets the reachability, transactions and retries.
  static Result<std::unique_ptr<MemsqlSink>> open(const SinkConfig& config, std::string group,
                                                  std::string topic, bool fenced, SinkProbe* probe = nullptr);

  // Another sink like this one on a connection of its own, without the table checks open() made (for
  // parallel loading: pipeline/parallel_sink.h). Errors name sink.dsn.
  Result<std::unique_ptr<MemsqlSink>> open_another() const;

  // What open() checks, changing nothing: the database answers, and each table that exists has every
  // column (one that does not is fine when create_table allows creating it). Returns a line per table.
  static Result<std::vector<std::string>> check(const SinkConfig& config, bool fenced);

  // Loads and commits `job`. Partitions whose fenced offset update fails (another member loaded them
  // first) are removed from `job` and reported in `fenced_out`; the rest commit. Other failures roll
  // back and retry with backoff (reconnecting when the connection was lost); an error is returned only
  // when every try failed, and then nothing of the job is committed.
  Status load(LoadJob& job, std::vector<int32_t>& fenced_out);

  uint64_t retries() const { return retries_; }
  const MysqlDsn& dsn() const { return dsn_; }

 private:
  MemsqlSink(SinkConfig config, MysqlDsn dsn, std::unique_ptr<MysqlConnection> conn, std::string group,
             std::string topic, bool fenced, SinkProbe* probe);
  // One transaction. Fills `fenced_out` and rolls back when a fence fails.
  Status load_once(const LoadJob& job, std::vector<int32_t>& fenced_out);
  Status fence(const PartitionSegment& segment, bool& won);
  Status load_data(const std::string& table, const std::string& columns, std::string_view charset,
                   std::vector<std::string_view> chunks, size_t line_count);
  // Creates missing tables (when allowed and `create`) and checks the columns of existing ones (and, for
  // the row table, that action and app have the type their store needs); `notes` (optional) gets a line
  // per table.
  Status ensure_tables(bool create, std::vector<std::string>* notes);
  Status ensure_table(const std::string& table, const std::string& ddl,
                      const std::vector<std::string>& columns, bool create, std::vector<std::string>* notes,
                      bool row_table = false);

  SinkConfig config_;
  MysqlDsn dsn_;
  std::unique_ptr<MysqlConnection> conn_;
  std::string group_, topic_;
  bool fenced_;
  std::string row_columns_, dead_letter_columns_;
  uint64_t stream_seq_ = 0;
  uint64_t retries_ = 0;
  SinkProbe* probe_ = nullptr;
};

// The CREATE TABLE statement of the row table `table` as `config` shapes it: dialect, action and app
// stores, the joins' and the pass-through columns.
std::string create_table_sql(const std::string& table, const SinkConfig& config);

// CREATE TABLE statements (MySQL dialect by default). `join_columns`: the output columns of the joins after
// the category join (SinkConfig::join_columns), two columns each after the fixed ones; `extra_columns`: the
// pass-through columns (SinkConfig::extra_columns), one each after those.
std::string create_table_sql(const std::string& table, SqlDialect dialect = SqlDialect::kMysql,
                             const std::vector<std::string>& join_columns = {},
                             const std::vector<ExtraField>& extra_columns = {});
std::string create_dead_letter_table_sql(const std::string& table, SqlDialect dialect = SqlDialect::kMysql);

}  // namespace enrichd
