// The join tables of the config: [enrich.categories] (with the old flat keys as aliases) and
// [[enrich.join]]. See JoinConfig in config.h.
#include <algorithm>
#include <optional>
#include <set>

#include "host/row_encoder.h"
#include "pipeline/config.h"
#include "pipeline/config_section.h"
#include "pipeline/mysql_connection.h"

namespace enrichd {
namespace config_detail {
namespace {

// The source keys of a join table ([enrich.categories] or one [[enrich.join]]), checked together: a
// database (dsn + pins_query [+ names_query] [+ refresh_interval_s]) or files (pins_csv [+ names_csv]).
Status read_join_source(Section& s, JoinSourceConfig& c, const std::string& base_dir) {
  ENRICHD_CONFIG_TRY(s.get("dsn", c.dsn));
  ENRICHD_CONFIG_TRY(s.get("pins_query", c.pins_query));
  ENRICHD_CONFIG_TRY(s.get("names_query", c.names_query));
  ENRICHD_CONFIG_TRY(s.get("pins_csv", c.pins_csv));
  ENRICHD_CONFIG_TRY(s.get("names_csv", c.names_csv));
  const bool has_refresh = s.find("refresh_interval_s") != nullptr;
  c.refresh_interval_s = kDefaultJoinRefreshS;
  ENRICHD_CONFIG_TRY(s.get("refresh_interval_s", c.refresh_interval_s, 0, 7 * 86400));
  if (!c.dsn.empty() && !c.pins_csv.empty()) {
    return Status::errorf(
        "config keys '{}' and '{}' are both given: the table comes from a database (dsn, pins_query, "
        "names_query) or from files (pins_csv, names_csv); remove one",
        s.key_name("dsn"), s.key_name("pins_csv"));
  }
  if (!c.dsn.empty()) {
    if (auto dsn = parse_mysql_dsn(c.dsn); !dsn) {
      return Status::errorf("config key '{}': {}", s.key_name("dsn"), dsn.status().message());
    }
    if (c.pins_query.empty()) {
      return Status::errorf(
          "config key '{}' is required with '{}': a query returning (key, id) rows, e.g. "
          "\"SELECT pin_id, category_id FROM pin_categories\"",
          s.key_name("pins_query"), s.key_name("dsn"));
    }
    if (!c.names_csv.empty()) {
      return Status::errorf("config key '{}' is for a file source; with '{}' use '{}' (a query)",
                            s.key_name("names_csv"), s.key_name("dsn"), s.key_name("names_query"));
    }
    return Status::ok();
  }
  for (const char* key : {"pins_query", "names_query"}) {
    if (s.find(key)) {
      return Status::errorf("config key '{}' needs '{}' (the database to run it on)", s.key_name(key),
                            s.key_name("dsn"));
    }
  }
  if (c.pins_csv.empty()) {
    return Status::errorf(
        "config table [{}] has no source: set '{}' (a key,id CSV file) or '{}' with '{}' (a database)",
        s.name(), s.key_name("pins_csv"), s.key_name("dsn"), s.key_name("pins_query"));
  }
  if (has_refresh) {
    return Status::errorf(
        "config key '{}' applies to a database source; files are reloaded when they change "
        "(enrich.geo_poll_ms) or on SIGHUP",
        s.key_name("refresh_interval_s"));
  }
  c.refresh_interval_s = 0;
  c.pins_csv = resolve(base_dir, c.pins_csv);
  c.names_csv = resolve(base_dir, c.names_csv);
  return Status::ok();
}

const std::set<std::string> kJoinSourceKeys = {"dsn",      "pins_query", "names_query",
                                               "pins_csv", "names_csv",  "refresh_interval_s"};

// Output column names that the fixed columns (or a join's <name>_id) would collide with are refused.
bool is_fixed_output_column(std::string_view name) {
  return std::any_of(kOutputColumns.begin(), kOutputColumns.end(),
                     [&](const OutputColumn& col) { return col.name == name; });
}

// key_field: the join's key column (the join-key role), pin_id when absent and not required.
Status read_key_field(Section& s, JoinConfig& c, bool required) {
  std::string key_field = "pin_id";
  ENRICHD_CONFIG_TRY(s.get("key_field", key_field, required));
  c.key_column = key_field;
  if (key_field == "pin_id") {
    c.key_field = JoinKeyField::kPinId;
  } else if (key_field == "user_id") {
    c.key_field = JoinKeyField::kUserId;
  } else {
    // A [[schema.extra]] column, perhaps (also one that takes the name of a dropped fixed column): the
    // schema is read apart from the joins, so resolve_join_keys checks the name once both are known.
    c.key_field = JoinKeyField::kExtra;
  }
  return Status::ok();
}

Status read_join(Section s, JoinConfig& c, const std::string& base_dir) {
  ENRICHD_CONFIG_TRY(s.get("output_column", c.output_column, true));
  ENRICHD_CONFIG_TRY(read_key_field(s, c, true));
  c.name = c.output_column;
  ENRICHD_CONFIG_TRY(s.get("name", c.name));
  c.config_key = s.name();
  const bool plain = !c.output_column.empty() && c.output_column.size() <= 60 &&
                     std::all_of(c.output_column.begin(), c.output_column.end(), [](char ch) {
                       return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
                     });
  if (!plain) {
    return Status::errorf(
        "config key '{}' is '{}', must be a column name of lower-case letters, digits and _ (up to 60)",
        s.key_name("output_column"), c.output_column);
  }
  if (c.output_column != "category" &&
      (is_fixed_output_column(c.output_column) || is_fixed_output_column(c.output_column + "_id"))) {
    return Status::errorf(
        "config key '{}' is '{}': the output columns '{}_id' and '{}' would clash with a column of the "
        "output table; pick another name",
        s.key_name("output_column"), c.output_column, c.output_column, c.output_column);
  }
  if (c.name.empty()) return Status::errorf("config key '{}' must not be empty", s.key_name("name"));
  ENRICHD_CONFIG_TRY(read_join_source(s, c.source, base_dir));
  std::set<std::string> known = kJoinSourceKeys;
  known.insert({"name", "key_field", "output_column"});
  return s.check_unknown(known);
}

}  // namespace

// The category join: [enrich.categories], the old flat keys, or a [[enrich.join]] with output_column =
// "category" (exactly one of them); then at most one more [[enrich.join]].
Status read_joins(Section& s, EnrichConfig& c, const std::string& base_dir) {
  std::optional<JoinConfig> categories;
  std::vector<JoinConfig> extra;

  const bool flat = s.find("category_csv") || s.find("category_names_csv");
  if (flat) {
    JoinConfig j;
    j.config_key = "enrich";
    ENRICHD_CONFIG_TRY(s.get("category_csv", j.source.pins_csv, true));
    ENRICHD_CONFIG_TRY(s.get("category_names_csv", j.source.names_csv));
    j.source.pins_csv = resolve(base_dir, j.source.pins_csv);
    j.source.names_csv = resolve(base_dir, j.source.names_csv);
    categories = std::move(j);
  }
  if (const toml::node* n = s.find("categories")) {
    if (!n->is_table()) {
      return Status::errorf("config key '{}' must be a table ([enrich.categories])",
                            s.key_name("categories"));
    }
    if (flat) {
      return Status::error(
          "config keys 'enrich.category_csv'/'enrich.category_names_csv' (the old names) and "
          "[enrich.categories] are both given: keep [enrich.categories] (pins_csv, names_csv)");
    }
    Section t(n->as_table(), "enrich.categories");
    JoinConfig j;
    ENRICHD_CONFIG_TRY(read_key_field(t, j, false));
    ENRICHD_CONFIG_TRY(read_join_source(t, j.source, base_dir));
    std::set<std::string> known = kJoinSourceKeys;
    known.insert("key_field");
    ENRICHD_CONFIG_TRY(t.check_unknown(known));
    categories = std::move(j);
  }
  if (const toml::node* n = s.find("join")) {
    const toml::array* a = n->as_array();
    if (!a || !a->is_array_of_tables()) {
      return Status::error("config key 'enrich.join' must be an array of tables ([[enrich.join]])");
    }
    for (size_t i = 0; i < a->size(); ++i) {
      JoinConfig j;
      ENRICHD_CONFIG_TRY(
          read_join(Section(a->get(i)->as_table(), fmt::format("enrich.join[{}]", i + 1)), j, base_dir));
      for (const JoinConfig& other : extra) {
        if (other.name == j.name || other.output_column == j.output_column) {
          return Status::errorf("config tables [{}] and [{}] have the same name or output_column",
                                other.config_key, j.config_key);
        }
      }
      if (j.output_column != "category") {
        extra.push_back(std::move(j));
        continue;
      }
      if (categories) {
        return Status::errorf(
            "config table [{}] is the category join (output_column = \"category\"), which [{}] already "
            "gives; keep one",
            j.config_key, categories->config_key);
      }
      categories = std::move(j);
    }
  }
  if (!categories) {
    return Status::error(
        "config table [enrich.categories] is required: pins_csv = \"FILE\" (pin_id,category_id), or dsn "
        "with pins_query");
  }
  if (extra.size() > 1) {
    return Status::errorf(
        "config table [{}]: one join besides the category join is supported for now ({} given)",
        extra[1].config_key, extra.size());
  }
  c.joins.clear();
  c.joins.push_back(std::move(*categories));
  for (JoinConfig& j : extra) c.joins.push_back(std::move(j));
  return Status::ok();
}

Status resolve_join_keys(EnrichConfig& c, const EventSchema& schema) {
  for (JoinConfig& j : c.joins) {
    // The flat keys ([enrich] category_csv) have no key_field: they key on pin_id.
    const bool flat = j.config_key == "enrich";
    const std::string key = j.config_key + ".key_field";
    const std::optional<SchemaColumn> fixed = schema_column_named(j.key_column);
    const std::optional<size_t> extra = schema.extra_index(j.key_column);
    if (fixed && !schema[*fixed].drop) {
      if (j.key_field == JoinKeyField::kExtra) {
        return Status::errorf(
            "config key '{}' is '{}', a column of its own that cannot be a join key: use \"pin_id\", "
            "\"user_id\" or a [[schema.extra]] column of type \"u64\"",
            key, j.key_column);
      }
      continue;
    }
    if (!extra) {
      if (flat) {
        return Status::errorf(
            "config key 'enrich.category_csv' keys the category join on pin_id, which [schema.fields.pin_id] "
            "drop = true leaves out: use [enrich.categories] with pins_csv and key_field = a u64 column, or "
            "keep pin_id");
      }
      if (fixed) {
        return Status::errorf(
            "config key '{}' is '{}', which [schema.fields.{}] drop = true leaves out: key the join on "
            "another column, or keep {}",
            key, j.key_column, j.key_column, j.key_column);
      }
      if (is_fixed_output_column(j.key_column)) {  // a geo or category output column
        return Status::errorf(
            "config key '{}' is '{}', an output column that cannot be a join key: use \"pin_id\", "
            "\"user_id\" or a [[schema.extra]] column of type \"u64\"",
            key, j.key_column);
      }
      return Status::errorf(
          "config key '{}' is '{}', which is not \"pin_id\", \"user_id\" or a [[schema.extra]] "
          "column: declare it in [[schema.extra]] with name = \"{}\" and type = \"u64\"",
          key, j.key_column, j.key_column);
    }
    const ExtraField& e = schema.extra[*extra];
    if (e.type != ExtraType::kU64) {
      return Status::errorf(
          "config key '{}' is '{}', a [[schema.extra]] column of type {}; a join key must be "
          "u64: declare it in [[schema.extra]] with type = \"u64\"",
          key, j.key_column, to_string(e.type));
    }
    j.key_field = JoinKeyField::kExtra;  // also a dropped pin_id or user_id replaced by an extra of that name
    j.key_extra = *extra;
  }
  return Status::ok();
}

}  // namespace config_detail

std::string_view to_string(JoinKeyField field) {
  switch (field) {
    case JoinKeyField::kUserId:
      return "user_id";
    case JoinKeyField::kExtra:
      return "extra";
    case JoinKeyField::kPinId:
      break;
  }
  return "pin_id";
}

}  // namespace enrichd
