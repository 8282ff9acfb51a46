#include "pipeline/join_table.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>

#include "pipeline/mysql_connection.h"

namespace enrichd {

CategorySourceSpec to_category_source(const JoinSourceConfig& source) {
  CategorySourceSpec spec;
  spec.dsn = source.dsn;
  spec.pins_query = source.pins_query;
  spec.names_query = source.names_query;
  spec.pins_csv = source.pins_csv;
  spec.names_csv = source.names_csv;
  return spec;
}

std::vector<std::string> JoinTable::files() const {
  const JoinSourceConfig& s = config_.source;
  if (s.from_db()) return {};
  std::vector<std::string> out = {s.pins_csv};
  if (!s.names_csv.empty()) out.push_back(s.names_csv);
  return out;
}

std::string JoinTable::where() const {
  const JoinSourceConfig& s = config_.source;
  if (!s.from_db()) return fmt::format("files {}", fmt::join(files(), ", "));
  auto dsn = parse_mysql_dsn(s.dsn);  // checked by the config; never the password
  return dsn ? fmt::format("database {}/{}", dsn->address(), dsn->database) : std::string("database ?");
}

std::string JoinTable::describe_source() const {
  const JoinSourceConfig& s = config_.source;
  if (!s.from_db()) return where();
  return s.refresh_interval_s > 0
             ? fmt::format("{} (read again every {} s and on SIGHUP)", where(), s.refresh_interval_s)
             : fmt::format("{} (read again on SIGHUP)", where());
}

std::string JoinTable::source_key() const {
  if (config_.config_key == "enrich") return "enrich.category_csv";  // the old flat keys
  return config_.config_key + (config_.source.from_db() ? ".dsn" : ".pins_csv");
}

Result<std::shared_ptr<const CategoryTable>> JoinTable::build() const {
  return build_category_table(to_category_source(config_.source));
}

void JoinTable::publish(std::shared_ptr<const CategoryTable> table) {
  auto state = std::make_shared<CategoryState>();
  state->table = std::move(table);
  state->loaded_unix = static_cast<int64_t>(std::time(nullptr));
  std::lock_guard lock(mu_);
  state_ = std::move(state);
}

std::shared_ptr<const CategoryState> JoinTable::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

Status JoinTable::load() {
  auto table = build();
  if (!table) {
    return table.status().with_context(
        fmt::format("config key '{}' ({} join from {})", source_key(), name(), where()));
  }
  publish(std::move(table).value());
  return Status::ok();
}

Status JoinTable::reload(std::string_view why, Counter& failures_total) {
  const auto t0 = std::chrono::steady_clock::now();
  auto table = build();
  if (!table) {
    failures.add();
    failures_total.add();
    spdlog::error("{} reload ({}) refused, the current table keeps serving: {}", name(), why,
                  table.status().message());
    return table.status();
  }
  const size_t keys = (*table)->size();
  if (before_swap) before_swap(**table);
  publish(std::move(table).value());
  reloads.add();
  spdlog::info("{} table reloaded ({}): {} keys from {} in {:.3f} s", name(), why, keys, where(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return Status::ok();
}

std::string describe_join_key(const JoinConfig& join) {
  if (join.key_field != JoinKeyField::kExtra) return std::string(to_string(join.key_field));
  return fmt::format("{} ([[schema.extra]] u64; NULL: no record)", join.key_column);
}

Status join_column(EnrichBackend& backend, const EventBatch& b, const JoinConfig& join,
                   const CategoryTable& table, std::vector<uint32_t>& out, std::vector<uint64_t>& keys,
                   std::vector<uint32_t>& values) {
  const std::vector<uint64_t>* column = &b.pin_id;
  const uint8_t* present = nullptr;  // an extra's NULL flags: a NULL key is no key, not the key 0
  if (join.key_field == JoinKeyField::kUserId) {
    column = &b.user_id;
  } else if (join.key_field == JoinKeyField::kExtra) {
    if (join.key_extra >= b.extra.size() || b.extra[join.key_extra].type != ExtraType::kU64) {
      return Status::errorf("join '{}': key column '{}' is not a u64 extra column of the batch", join.name,
                            join.key_column);
    }
    column = &b.extra[join.key_extra].bits;
    present = b.extra[join.key_extra].present.data();
  }
  keys.clear();
  for (uint32_t row : b.selected) {
    if (!present || present[row]) keys.push_back((*column)[row]);
  }
  values.resize(keys.size());
  if (Status s = backend.category_join(table.view(), keys, values); !s) return s;
  out.assign(b.size(), kNoRecord);
  size_t next = 0;  // values[] holds the non-NULL selected rows in order
  for (uint32_t row : b.selected) {
    if (!present || present[row]) out[row] = values[next++];
  }
  return Status::ok();
}

}  // namespace enrichd
