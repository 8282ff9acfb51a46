// The `enrichd run` configuration, read from TOML. Every error names the key and says how to fix it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "host/event_schema.h"
#include "host/row_encoder.h"
#include "host/status.h"
#include "host/timestamp.h"

namespace enrichd {

enum class SourceKind { kKafka, kFile };

struct SourceConfig {
  SourceKind kind = SourceKind::kKafka;
  std::string brokers;                 // kafka: bootstrap servers
  std::string topic;                   // kafka
  std::string group = "enrichd";       // kafka: consumer group
  std::string start = "earliest";      // kafka: where a group with no committed offset starts
  int64_t session_timeout_ms = 10000;  // kafka: how long the group waits for a member that vanished
  std::string path;                    // file: JSON lines, "-" for stdin
};

struct BatchConfig {
  int64_t max_events = 16384;  // messages per batch
  int64_t linger_ms = 100;     // how long a source waits to fill a batch
  int64_t max_message_bytes = 1 << 20;
  int64_t queue_depth = 4;  // batches in flight between stages
  // Threads that parse, filter, enrich and encode batches side by side (loads still reach the sink in
  // source order). Parsing is the ceiling of a node: more workers than cores minus two (source, sink)
  // buys nothing.
  int64_t workers = 1;
};

// A bound of a [[filter.range]] as written: an integer, a float (f64 columns), or an RFC 3339 date-time
// (ts). The filter checks it against the column's type (pipeline/event_filter.h).
using FilterBound = std::variant<int64_t, double, std::string>;

// [[filter.range]]: keep events whose column value lies in [min, max] (inclusive; either may be absent).
struct FilterRange {
  std::string column;  // event_id, user_id, pin_id, ts, or a numeric [[schema.extra]] column
  std::optional<FilterBound> min{}, max{};
};

// [[filter.match]]: keep events whose string column value is in `include` (when not empty) and not in
// `exclude`.
struct FilterMatch {
  std::string column;  // action, app, ua, or a string [[schema.extra]] column
  std::vector<std::string> include{}, exclude{};
};

struct FilterConfig {
  std::vector<std::string> include_actions{};  // empty: every action
  std::vector<std::string> exclude_actions{};
  std::vector<std::string> include_apps{};  // empty: every app
  std::vector<std::string> exclude_apps{};
  bool require_app = false;  // drop events whose app is missing or empty
  bool require_ua = false;
  int64_t ts_min_ms = INT64_MIN;  // keep events with ts in [ts_min_ms, ts_max_ms]
  int64_t ts_max_ms = INT64_MAX;
  // The general rules; every rule must hold for an event to stay.
  std::vector<FilterRange> ranges{};
  std::vector<FilterMatch> matches{};
  std::vector<std::string> require{};  // action, app, ua (non-empty) or [[schema.extra]] columns (not NULL)
};

// The event columns a join can take its key from: the fixed u64 columns pin_id and user_id, or a u64
// [[schema.extra]] column (a NULL value there joins to no record).
enum class JoinKeyField { kPinId, kUserId, kExtra };
std::string_view to_string(JoinKeyField field);

// Where a join's table comes from (pipeline/category_source.h builds it): a MySQL-protocol database read
// with two queries, or CSV files. Exactly one of dsn and pins_csv is set.
struct JoinSourceConfig {
  std::string dsn;          // mysql://user[:password]@host[:port]/database[?socket=/path]
  std::string pins_query;   // with dsn: (key, id) rows
  std::string names_query;  // with dsn, optional: (id, name[, parent_id]) rows
  std::string pins_csv;     // key,id
  std::string names_csv;    // optional: id,name[,parent_id]
  // A database is read again this often (off the hot path, swapped in between batches); 0: only at start
  // and on SIGHUP. Files are watched instead (enrich.geo_poll_ms).
  int64_t refresh_interval_s = 0;

  bool from_db() const { return !dsn.empty(); }
};

// A dimension joined to every event: the key column's value -> (id, name) from a table, written to the
// output columns <output_column>_id and <output_column>. The first join is always the category join
// (pin_id -> category_id, category), from [enrich.categories] (or the old flat keys category_csv and
// category_names_csv, or a [[enrich.join]] with output_column = "category"); [[enrich.join]] adds one
// more dimension (e.g. user_id -> segment_id, segment, or a u64 [[schema.extra]] column board_id ->
// board_topic_id, board_topic).
struct JoinConfig {
  std::string name = "category";  // in logs, metrics and errors
  JoinKeyField key_field = JoinKeyField::kPinId;
  // The key column as configured (pin_id, user_id or an extra's name), for `enrichd check` and the logs.
  std::string key_column = "pin_id";
  // kExtra: the column's index in EventSchema::extra and EventBatch::extra. parse_config resolves it
  // once both the schema and the joins are read.
  size_t key_extra = 0;
  std::string output_column = "category";
  JoinSourceConfig source;
  std::string config_key = "enrich.categories";  // the config table it came from, for messages
};

// The default refresh interval of a database join source.
inline constexpr int64_t kDefaultJoinRefreshS = 300;

struct EnrichConfig {
  std::string backend = "auto";
  int64_t cuda_device = 0;  // the CUDA device for backends cuda and auto (`--device`)
  // Geo sources (host/geo_import.h): one snapshot, or any mix of .mmdb and CSV files.
  std::vector<std::string> geo;
  // joins[0] is the category join; at most one more follows.
  std::vector<JoinConfig> joins;
  // How often the geo file(s) and the join files are checked for a change (mtime, size, inode) to
  // reload them; 0: only on SIGHUP. A change is loaded once it has held still for one more check.
  int64_t geo_poll_ms = 1000;

  const JoinConfig& categories() const { return joins.front(); }
};

enum class Delivery {
  kExactlyOnce,  // offsets stored in the database, in the same transaction as the rows (fenced)
  kAtLeastOnce,  // Kafka offsets committed after the database commit
};

// The DDL enrichd writes when it creates its tables: MySQL/MariaDB (InnoDB), or SingleStore (rows and
// dead letters as columnstore tables with SORT and SHARD keys, the offsets as a rowstore table).
enum class SqlDialect { kMysql, kSingleStore };

// How the table stores an enum column ([schema.fields.<action|app>] store), with the column's dictionary:
// the ENUM's members, or what the codes index.
struct EnumColumnStore {
  EnumStore store = EnumStore::kText;
  std::vector<std::string> values;
  // An enum [[schema.extra]] column rather than action or app: NULL where absent, and its text store is
  // extra_column_type(ExtraType::kEnum).
  bool pass_through = false;
};

struct SinkConfig {
  std::string dsn;  // mysql://user[:password]@host[:port]/database[?socket=/path]
  SqlDialect dialect = SqlDialect::kMysql;
  std::string table = "engagements";
  std::string dead_letter_table;  // default: <table>_dead_letters
  std::string offsets_table = "enrichd_offsets";
  Delivery delivery = Delivery::kExactlyOnce;
  bool create_table = true;
  // Retries after a failed load; backoff 0.2 s doubling to 10 s, so 20 rides out ~2.5 minutes of outage
  // (consumption pauses meanwhile: the queues fill and the source blocks).
  int64_t load_retries = 20;
  // Not a key of [sink]: the output columns of the joins after the category join (from [[enrich.join]]),
  // each adding `<name>_id INT UNSIGNED NULL, <name> VARCHAR(128) NULL` after the fixed columns.
  std::vector<std::string> join_columns;
  // Not a key of [sink]: the pass-through columns of the schema ([[schema.extra]]), one column each after
  // the joins' columns (host/row_encoder.h extra_column_type).
  std::vector<ExtraField> extra_columns;
  // Not keys of [sink]: how action and app are stored (from [schema.fields.<column>] store and values).
  EnumColumnStore action_store, app_store;
  EnumColumnStore& enum_store(SchemaColumn column) {
    return column == SchemaColumn::kApp ? app_store : action_store;
  }
  const EnumColumnStore& enum_store(SchemaColumn column) const {
    return column == SchemaColumn::kApp ? app_store : action_store;
  }
  // Not a key of [sink]: the fixed columns left out of the table ([schema.fields.<column>] drop = true),
  // bit (1 << SchemaColumn) each.
  uint32_t dropped_columns = 0;
  // Not a key of [sink]: the column of the event-time role ([schema.roles] event_time), which the table is
  // keyed (MySQL) or sorted (SingleStore) on; "" for none.
  std::string event_time_column = "ts";
  bool has_column(SchemaColumn c) const { return (dropped_columns >> static_cast<uint32_t>(c) & 1) == 0; }
  // What the encoder writes: the enum columns as codes, the fixed columns left out.
  RowLayout row_layout() const {
    RowLayout layout{action_store.store == EnumStore::kCode, app_store.store == EnumStore::kCode,
                     dropped_columns};
    for (size_t j = 0; j < extra_columns.size(); ++j) {
      if (extra_columns[j].type == ExtraType::kEnum && extra_columns[j].store == EnumStore::kCode) {
        layout.extra_code |= uint64_t{1} << j;
      }
    }
    return layout;
  }
  // Database connections loading side by side (pipeline/parallel_sink.h). Each partition always goes
  // through the same one (partition mod K), so its offset ranges commit in order.
  int64_t connections = 1;
};

// The column a role reads ([schema.roles]): a fixed column, or a [[schema.extra]] column by index.
struct ColumnRole {
  std::string column;  // as configured; "" for none
  bool is_extra = false;
  size_t extra = 0;  // EventSchema::extra / EventBatch::extra index when is_extra
  bool none() const { return column.empty(); }
};

// Which column is the IP address the geo lookup reads, and which the event time ([schema.roles]). The
// join keys are roles too, given per join (key_field).
struct SchemaRoles {
  ColumnRole ip{"ip"};
  // The event time: the newest loaded one is in /metrics (enrichd_loaded_event_time_seconds) with how far
  // it trails the clock. None when ts is dropped and no other column is named.
  ColumnRole event_time{"ts"};
};

// How events are read: the unit of numeric event times, where each column comes from
// ([schema.fields.<column>], [[schema.extra]]; the default engagement schema when absent), and the roles.
struct SchemaConfig {
  EpochUnit ts_unit = EpochUnit::kMilliseconds;  // unit of numeric "ts" values; RFC 3339 strings always work
  EventSchema fields = default_event_schema();
  SchemaRoles roles;
};

struct MetricsConfig {
  // "ADDRESS:PORT" for /metrics and /healthz (ADDRESS: IPv4, [IPv6] or localhost); empty: off.
  std::string listen;
};

enum class LogFormat { kText, kJson };

struct Config {
  SourceConfig source;
  BatchConfig batch;
  SchemaConfig schema;
  FilterConfig filter;
  EnrichConfig enrich;
  SinkConfig sink;
  MetricsConfig metrics;
  std::string log_level = "info";
  LogFormat log_format = LogFormat::kText;
};

// Parses TOML text. Relative file paths are resolved against `base_dir`.
Result<Config> parse_config(std::string_view toml_text, const std::string& base_dir,
                            const std::string& source_name = "config");
Result<Config> load_config(const std::string& path);

// "text" or "json"; the error names `key`.
Result<LogFormat> parse_log_format(std::string_view text, std::string_view key);
// Checks a metrics.listen value and returns it in civetweb's form ("localhost" becomes 127.0.0.1).
Result<std::string> parse_listen_address(std::string_view text, std::string_view key);

}  // namespace enrichd
