// A joined dimension at run time (the category join, or a [[enrich.join]]): the table in use, built from
// its configured source, and its reloads. The table is published whole, like the geo table: a batch keeps
// its shared_ptr from enrich to encode, so one batch never mixes two tables, and a new table is built off
// the hot path and swapped in between batches.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "host/category_table.h"
#include "host/event_batch.h"
#include "host/status.h"
#include "kernels/backend.h"
#include "pipeline/category_source.h"
#include "pipeline/config.h"
#include "pipeline/probes.h"

namespace enrichd {

// A table in use and when it was built.
struct CategoryState {
  std::shared_ptr<const CategoryTable> table;
  int64_t loaded_unix = 0;  // wall-clock seconds
};

CategorySourceSpec to_category_source(const JoinSourceConfig& source);

class JoinTable {
 public:
  explicit JoinTable(JoinConfig config) : config_(std::move(config)) {}

  // Builds the first table (start-up, enrichd check); the error names the config key and the source.
  Status load();
  // Builds a new table and swaps it in for the next batch. A source that fails (a file that does not
  // load, a query that fails) is refused: logged, counted in `failures` (and `failures_total`), and the
  // current table keeps serving. `why` says what asked for it (SIGHUP, a file change, a refresh).
  Status reload(std::string_view why, Counter& failures_total);

  std::shared_ptr<const CategoryState> state() const;
  const JoinConfig& config() const { return config_; }
  const std::string& name() const { return config_.name; }
  bool from_db() const { return config_.source.from_db(); }
  // The files of a file source (watched for changes); empty for a database.
  std::vector<std::string> files() const;
  // "files pins.csv, names.csv" or "database 127.0.0.1:3306/catalog" (never a password).
  std::string where() const;
  // where(), and for a database when it is read again: "... (read again every 300 s and on SIGHUP)".
  std::string describe_source() const;
  // The config key of the source, for messages: e.g. 'enrich.categories.dsn' or 'enrich.category_csv'.
  std::string source_key() const;

  // Called with a reloaded table just before it is swapped in (from the reloading thread): the backend
  // uploads its device copy there while the current table serves.
  std::function<void(const CategoryTable&)> before_swap;

  Counter reloads;   // tables swapped in after the first
  Counter failures;  // reloads refused

 private:
  Result<std::shared_ptr<const CategoryTable>> build() const;
  void publish(std::shared_ptr<const CategoryTable> table);

  JoinConfig config_;
  mutable std::mutex mu_;
  std::shared_ptr<const CategoryState> state_;
};

// The key column of `join` for `enrichd check` and the start-up log: "pin_id", "user_id", or an extra's name
// with what it is ("board_id ([[schema.extra]] u64; NULL: no record)").
std::string describe_join_key(const JoinConfig& join);

// Joins the selected rows of `batch` on the key column of `join` (pin_id, user_id or a u64 extra column)
// against `table` through `backend`, writing `out` (indexed like the batch, kNoRecord for rows not
// selected, absent keys and NULL extra values). `keys` and `values` are scratch reused across batches.
Status join_column(EnrichBackend& backend, const EventBatch& batch, const JoinConfig& join,
                   const CategoryTable& table, std::vector<uint32_t>& out, std::vector<uint64_t>& keys,
                   std::vector<uint32_t>& values);

}  // namespace enrichd
