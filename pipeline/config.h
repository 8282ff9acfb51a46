// The `enrichd run` configuration, read from TOML. Every error names the key and says how to fix it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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
};

struct EnrichConfig {
  std::string backend = "auto";
  // Geo sources (host/geo_import.h): one snapshot, or any mix of .mmdb and CSV files.
  std::vector<std::string> geo;
  std::string category_csv;        // pin_id,category_id
  std::string category_names_csv;  // category_id,name (optional)
  // How often the geo file(s) are checked for a change (mtime, size, inode) to reload them; 0: only on
  // SIGHUP. A change is loaded once it has held still for one more check.
  int64_t geo_poll_ms = 1000;
};

enum class Delivery {
  kExactlyOnce,  // offsets stored in the database, in the same transaction as the rows (fenced)
  kAtLeastOnce,  // Kafka offsets committed after the database commit
};

// The DDL enrichd writes when it creates its tables: MySQL/MariaDB (InnoDB), or SingleStore (rows and
// dead letters as columnstore tables with SORT and SHARD keys, the offsets as a rowstore table).
enum class SqlDialect { kMysql, kSingleStore };

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
  // Database connections loading side by side (pipeline/parallel_sink.h). Each partition always goes
  // through the same one (partition mod K), so its offset ranges commit in order.
  int64_t connections = 1;
};

// How events are read (the default engagement schema's fields).
struct SchemaConfig {
  EpochUnit ts_unit = EpochUnit::kMilliseconds;  // unit of numeric "ts" values; RFC 3339 strings always work
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
