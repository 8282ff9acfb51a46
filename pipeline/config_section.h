// Internal to the config reader (config.cpp, join_config.cpp): one TOML table read key by key, with
// errors that name the key, and the helpers the readers share.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "host/status.h"
#include "pipeline/config.h"

namespace enrichd::config_detail {

// Reads one section of the TOML document, recording which keys were consumed so that anything left over
// is reported as unknown (a typo must not silently fall back to a default).
class Section {
 public:
  Section(const toml::table* table, std::string name) : table_(table), name_(std::move(name)) {}

  std::string key_name(std::string_view key) const { return name_ + "." + std::string(key); }
  const std::string& name() const { return name_; }

  Status get(std::string_view key, std::string& out, bool required = false) {
    const toml::node* n = find(key);
    if (!n) return required ? missing(key) : Status::ok();
    if (!n->is_string()) return Status::errorf("config key '{}' must be a string", key_name(key));
    out = n->as_string()->get();
    if (required && out.empty()) return Status::errorf("config key '{}' must not be empty", key_name(key));
    return Status::ok();
  }

  Status get(std::string_view key, int64_t& out, int64_t min, int64_t max) {
    const toml::node* n = find(key);
    if (!n) return Status::ok();
    if (!n->is_integer()) return Status::errorf("config key '{}' must be an integer", key_name(key));
    const int64_t v = n->as_integer()->get();
    if (v < min || v > max) {
      return Status::errorf("config key '{}' is {}, must be between {} and {}", key_name(key), v, min, max);
    }
    out = v;
    return Status::ok();
  }

  Status get(std::string_view key, bool& out) {
    const toml::node* n = find(key);
    if (!n) return Status::ok();
    if (!n->is_boolean()) return Status::errorf("config key '{}' must be true or false", key_name(key));
    out = n->as_boolean()->get();
    return Status::ok();
  }

  Status get(std::string_view key, std::vector<std::string>& out) {
    const toml::node* n = find(key);
    if (!n) return Status::ok();
    const toml::array* a = n->as_array();
    if (!a) return Status::errorf("config key '{}' must be an array of strings", key_name(key));
    out.clear();
    for (const auto& e : *a) {
      if (!e.is_string()) return Status::errorf("config key '{}' must be an array of strings", key_name(key));
      out.push_back(e.as_string()->get());
    }
    return Status::ok();
  }

  // A string, or an array of strings (several files of one kind).
  Status get_one_or_many(std::string_view key, std::vector<std::string>& out, bool required) {
    const toml::node* n = find(key);
    if (!n) return required ? missing(key) : Status::ok();
    if (n->is_string()) {
      out = {n->as_string()->get()};
    } else if (Status s = get(key, out); !s) {
      return Status::errorf("config key '{}' must be a file name or an array of file names", key_name(key));
    }
    if (required && (out.empty() || std::any_of(out.begin(), out.end(), [](auto& f) { return f.empty(); }))) {
      return Status::errorf("config key '{}' must name at least one file, and no empty names", key_name(key));
    }
    return Status::ok();
  }

  Status missing(std::string_view key) const {
    return Status::errorf("config key '{}' is required", key_name(key));
  }

  // Any key not read is unknown; the message lists what is known.
  Status check_unknown(const std::set<std::string>& known) const {
    if (!table_) return Status::ok();
    for (const auto& [k, v] : *table_) {
      if (known.count(std::string(k.str())) == 0) {
        std::string list;
        for (const auto& s : known) list += (list.empty() ? "" : ", ") + s;
        return Status::errorf("config key '{}' is unknown (keys in [{}]: {})", key_name(k.str()), name_,
                              list);
      }
    }
    return Status::ok();
  }

  const toml::node* find(std::string_view key) const { return table_ ? table_->get(key) : nullptr; }
  const toml::table* table() const { return table_; }  // null when the section is absent

 private:
  const toml::table* table_;
  std::string name_;
};

inline std::string resolve(const std::string& base_dir, const std::string& path) {
  if (path.empty() || path == "-" || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(base_dir) / path).lexically_normal().string();
}

#define ENRICHD_CONFIG_TRY(expr)            \
  do {                                      \
    if (Status _s = (expr); !_s) return _s; \
  } while (0)

// Reads the category join ([enrich.categories], the old flat keys category_csv / category_names_csv, or a
// [[enrich.join]] with output_column = "category") and the joins of [[enrich.join]] into c.joins
// (join_config.cpp).
Status read_joins(Section& s, EnrichConfig& c, const std::string& base_dir);

// Resolves the key column of every join whose key_field names a [[schema.extra]] column (its index in the
// schema's extras); refuses a name that is no such column, or one that is not u64 (join_config.cpp).
Status resolve_join_keys(EnrichConfig& c, const EventSchema& schema);

}  // namespace enrichd::config_detail
