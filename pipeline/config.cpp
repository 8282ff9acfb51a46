#include "pipeline/config.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <arpa/inet.h>
#include <fmt/format.h>
#include <toml++/toml.h>

#include "host/event_batch.h"
#include "host/event_schema.h"
#include "host/ip_address.h"
#include "host/row_encoder.h"
#include "host/timestamp.h"
#include "pipeline/config_section.h"
#include "pipeline/event_filter.h"

namespace enrichd {
namespace {

using config_detail::resolve;
using config_detail::Section;

// The longest ENUM member MySQL and SingleStore take (255 characters; bytes, to be safe with UTF-8).
constexpr size_t kMaxEnumMemberBytes = 255;

Status read_source(Section s, SourceConfig& c) {
  std::string kind = "kafka";
  ENRICHD_CONFIG_TRY(s.get("kind", kind));
  if (kind == "kafka") {
    c.kind = SourceKind::kKafka;
    ENRICHD_CONFIG_TRY(s.get("brokers", c.brokers, true));
    ENRICHD_CONFIG_TRY(s.get("topic", c.topic, true));
    ENRICHD_CONFIG_TRY(s.get("group", c.group));
    ENRICHD_CONFIG_TRY(s.get("start", c.start));
    ENRICHD_CONFIG_TRY(s.get("session_timeout_ms", c.session_timeout_ms, 1'000, 3'600'000));
    if (c.start != "earliest" && c.start != "latest") {
      return Status::errorf("config key 'source.start' is '{}', must be \"earliest\" or \"latest\"", c.start);
    }
    if (c.group.empty()) return Status::error("config key 'source.group' must not be empty");
  } else if (kind == "file") {
    c.kind = SourceKind::kFile;
    ENRICHD_CONFIG_TRY(s.get("path", c.path, true));
  } else {
    return Status::errorf("config key 'source.kind' is '{}', must be \"kafka\" or \"file\"", kind);
  }
  return s.check_unknown({"kind", "brokers", "topic", "group", "start", "session_timeout_ms", "path"});
}

Status read_batch(Section s, BatchConfig& c) {
  ENRICHD_CONFIG_TRY(s.get("max_events", c.max_events, 1, 10'000'000));
  ENRICHD_CONFIG_TRY(s.get("linger_ms", c.linger_ms, 0, 60'000));
  ENRICHD_CONFIG_TRY(s.get("max_message_bytes", c.max_message_bytes, 1, 64 << 20));
  ENRICHD_CONFIG_TRY(s.get("queue_depth", c.queue_depth, 1, 1024));
  ENRICHD_CONFIG_TRY(s.get("workers", c.workers, 1, 256));
  return s.check_unknown({"max_events", "linger_ms", "max_message_bytes", "queue_depth", "workers"});
}

// An event-time bound: epoch milliseconds, or an RFC 3339 date-time string.
Status read_time_bound(Section& s, std::string_view key, int64_t& out) {
  const toml::node* n = s.find(key);
  if (!n) return Status::ok();
  if (n->is_integer()) {
    out = n->as_integer()->get();
    return Status::ok();
  }
  if (n->is_string()) {
    if (auto ms = parse_datetime_ms(n->as_string()->get())) {
      out = *ms;
      return Status::ok();
    }
  }
  return Status::errorf(
      "config key '{}' must be epoch milliseconds or an RFC 3339 date-time such as "
      "\"2024-01-01T00:00:00Z\"",
      s.key_name(key));
}

// A [[filter.range]] bound as written; the filter checks it against the column (pipeline/event_filter.h).
Status read_filter_bound(Section& s, std::string_view key, std::optional<FilterBound>& out) {
  const toml::node* n = s.find(key);
  if (!n) return Status::ok();
  if (n->is_integer()) {
    out = n->as_integer()->get();
  } else if (n->is_floating_point()) {
    out = n->as_floating_point()->get();
  } else if (n->is_string()) {
    out = n->as_string()->get();
  } else {
    return Status::errorf("config key '{}' must be a number (or, for ts, an RFC 3339 date-time string)",
                          s.key_name(key));
  }
  return Status::ok();
}

// filter.<key>: an array of tables ([[filter.<key>]]), each read by `read`.
template <typename T, typename Read>
Status read_filter_tables(Section& s, std::string_view key, std::vector<T>& out, Read read) {
  const toml::node* n = s.find(key);
  if (!n) return Status::ok();
  const toml::array* tables = n->as_array();
  if (!tables || !tables->is_array_of_tables()) {
    return Status::errorf("config key '{}' must be an array of tables ([[{}]])", s.key_name(key),
                          s.key_name(key));
  }
  for (size_t i = 0; i < tables->size(); ++i) {
    Section t((*tables)[i].as_table(), fmt::format("{}[{}]", s.key_name(key), i));
    T rule;
    ENRICHD_CONFIG_TRY(t.get("column", rule.column, true));
    ENRICHD_CONFIG_TRY(read(t, rule));
    out.push_back(std::move(rule));
  }
  return Status::ok();
}

Status read_filter_range(Section& t, FilterRange& r) {
  ENRICHD_CONFIG_TRY(read_filter_bound(t, "min", r.min));
  ENRICHD_CONFIG_TRY(read_filter_bound(t, "max", r.max));
  return t.check_unknown({"column", "min", "max"});
}

Status read_filter_match(Section& t, FilterMatch& m) {
  ENRICHD_CONFIG_TRY(t.get("include", m.include));
  ENRICHD_CONFIG_TRY(t.get("exclude", m.exclude));
  return t.check_unknown({"column", "include", "exclude"});
}

// [filter]: the keys are read here; what they mean for the schema's columns (names, types, dictionaries) is
// checked by EventFilter::create, once the schema is known (parse_config).
Status read_filter(Section s, FilterConfig& c) {
  ENRICHD_CONFIG_TRY(s.get("include_actions", c.include_actions));
  ENRICHD_CONFIG_TRY(s.get("exclude_actions", c.exclude_actions));
  ENRICHD_CONFIG_TRY(s.get("include_apps", c.include_apps));
  ENRICHD_CONFIG_TRY(s.get("exclude_apps", c.exclude_apps));
  ENRICHD_CONFIG_TRY(s.get("require_app", c.require_app));
  ENRICHD_CONFIG_TRY(s.get("require_ua", c.require_ua));
  ENRICHD_CONFIG_TRY(s.get("require", c.require));
  ENRICHD_CONFIG_TRY(read_time_bound(s, "ts_min", c.ts_min_ms));
  ENRICHD_CONFIG_TRY(read_time_bound(s, "ts_max", c.ts_max_ms));
  ENRICHD_CONFIG_TRY(read_filter_tables(s, "range", c.ranges, read_filter_range));
  ENRICHD_CONFIG_TRY(read_filter_tables(s, "match", c.matches, read_filter_match));
  return s.check_unknown({"include_actions", "exclude_actions", "include_apps", "exclude_apps", "require_app",
                          "require_ua", "require", "ts_min", "ts_max", "range", "match"});
}

Status read_enrich(Section s, EnrichConfig& c, const std::string& base_dir) {
  ENRICHD_CONFIG_TRY(s.get("backend", c.backend));
  ENRICHD_CONFIG_TRY(s.get_one_or_many("geo", c.geo, true));
  ENRICHD_CONFIG_TRY(config_detail::read_joins(s, c, base_dir));
  ENRICHD_CONFIG_TRY(s.get("geo_poll_ms", c.geo_poll_ms, 0, 3'600'000));
  ENRICHD_CONFIG_TRY(s.get("cuda_device", c.cuda_device, 0, 1023));
  for (std::string& f : c.geo) f = resolve(base_dir, f);
  return s.check_unknown({"backend", "geo", "category_csv", "category_names_csv", "categories", "join",
                          "geo_poll_ms", "cuda_device"});
}

Status check_table_name(const Section& s, std::string_view key, const std::string& name) {
  const bool plain_name = !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '$';
  });
  if (!plain_name) {
    return Status::errorf("config key '{}' is '{}', must be a table name of letters, digits, _ or $",
                          s.key_name(key), name);
  }
  return Status::ok();
}

// sink.compression: only "none" for now. MySQL and MariaDB have no compressed LOCAL INFILE. SingleStore
// documents a COMPRESSION { AUTO | NONE | LZ4 | GZIP } clause for LOAD DATA, but enrichd has no SingleStore
// server to test a compressed stream against, so it refuses the key rather than send an untested
// statement.
Status read_compression(Section& s, SqlDialect dialect) {
  std::string compression = "none";
  ENRICHD_CONFIG_TRY(s.get("compression", compression));
  if (compression == "none") return Status::ok();
  if (compression != "gzip" && compression != "lz4") {
    return Status::errorf("config key 'sink.compression' is '{}', must be \"none\", \"gzip\" or \"lz4\"",
                          compression);
  }
  if (dialect == SqlDialect::kMysql) {
    return Status::errorf(
        "config key 'sink.compression' is '{}', but MySQL and MariaDB (sink.dialect = \"mysql\") cannot load "
        "a compressed LOCAL INFILE stream: use \"none\"",
        compression);
  }
  return Status::errorf(
      "config key 'sink.compression' is '{}': compressed LOAD DATA streams for SingleStore are not "
      "supported yet (untested against a SingleStore server): use \"none\"",
      compression);
}

Status read_sink(Section s, SinkConfig& c) {
  ENRICHD_CONFIG_TRY(s.get("dsn", c.dsn, true));
  ENRICHD_CONFIG_TRY(s.get("table", c.table));
  ENRICHD_CONFIG_TRY(s.get("dead_letter_table", c.dead_letter_table));
  ENRICHD_CONFIG_TRY(s.get("offsets_table", c.offsets_table));
  ENRICHD_CONFIG_TRY(s.get("create_table", c.create_table));
  ENRICHD_CONFIG_TRY(s.get("load_retries", c.load_retries, 0, 1000));
  ENRICHD_CONFIG_TRY(s.get("connections", c.connections, 1, 64));
  std::string delivery = "exactly-once";
  ENRICHD_CONFIG_TRY(s.get("delivery", delivery));
  if (delivery == "exactly-once") {
    c.delivery = Delivery::kExactlyOnce;
  } else if (delivery == "at-least-once") {
    c.delivery = Delivery::kAtLeastOnce;
  } else {
    return Status::errorf("config key 'sink.delivery' is '{}', must be \"exactly-once\" or \"at-least-once\"",
                          delivery);
  }
  std::string dialect = "mysql";
  ENRICHD_CONFIG_TRY(s.get("dialect", dialect));
  if (dialect == "mysql") {
    c.dialect = SqlDialect::kMysql;
  } else if (dialect == "singlestore") {
    c.dialect = SqlDialect::kSingleStore;
  } else {
    return Status::errorf(
        "config key 'sink.dialect' is '{}', must be \"mysql\" (MySQL, MariaDB) or \"singlestore\"", dialect);
  }
  ENRICHD_CONFIG_TRY(read_compression(s, c.dialect));
  if (c.dead_letter_table.empty()) c.dead_letter_table = c.table + "_dead_letters";
  ENRICHD_CONFIG_TRY(check_table_name(s, "table", c.table));
  ENRICHD_CONFIG_TRY(check_table_name(s, "dead_letter_table", c.dead_letter_table));
  ENRICHD_CONFIG_TRY(check_table_name(s, "offsets_table", c.offsets_table));
  return s.check_unknown({"dsn", "dialect", "table", "dead_letter_table", "offsets_table", "delivery",
                          "create_table", "load_retries", "connections", "compression"});
}

// The keys of an enum column (action and app in [schema.fields.<column>], an enum [[schema.extra]] column):
// values (the dictionary), unknown ("keep" or "dead-letter") and store ("text", "enum" or "code",
// host/event_schema.h EnumStore). The caller has checked that the column takes them.
Status read_enum_keys(Section& s, std::vector<std::string>& values, EnumUnknown& unknown_values,
                      EnumStore& store_kind) {
  if (s.find("values")) {
    ENRICHD_CONFIG_TRY(s.get("values", values));
    if (values.empty())
      return Status::errorf("config key '{}' must list at least one value", s.key_name("values"));
    if (values.size() > kMaxEnumValues) {
      return Status::errorf("config key '{}' lists {} values, at most {}", s.key_name("values"),
                            values.size(), kMaxEnumValues);
    }
    std::set<std::string> seen;
    for (const std::string& v : values) {
      if (!seen.insert(v).second) {
        return Status::errorf("config key '{}' lists '{}' twice: remove one", s.key_name("values"), v);
      }
    }
  }
  std::string unknown = "keep";
  ENRICHD_CONFIG_TRY(s.get("unknown", unknown));
  if (unknown == "keep") {
    unknown_values = EnumUnknown::kKeep;
  } else if (unknown == "dead-letter") {
    unknown_values = EnumUnknown::kDeadLetter;
  } else {
    return Status::errorf("config key '{}' is '{}', must be \"keep\" or \"dead-letter\"",
                          s.key_name("unknown"), unknown);
  }
  if (s.find("unknown") && values.empty()) {
    return Status::errorf("config key '{}' needs a dictionary: add values = [...] to [{}]",
                          s.key_name("unknown"), s.name());
  }
  if (!s.find("store")) return Status::ok();
  const std::string key = s.key_name("store");
  std::string store;
  ENRICHD_CONFIG_TRY(s.get("store", store));
  if (store == "text") {
    store_kind = EnumStore::kText;
    return Status::ok();
  }
  if (store == "enum") {
    store_kind = EnumStore::kEnum;
  } else if (store == "code") {
    store_kind = EnumStore::kCode;
  } else {
    return Status::errorf("config key '{}' is '{}', must be \"text\", \"enum\" or \"code\"", key, store);
  }
  if (values.empty()) {
    return Status::errorf("config key '{}' = \"{}\" needs a dictionary: add values = [...] to [{}]", key,
                          store, s.name());
  }
  // A kept unknown value has no code and no place in an ENUM: it would be lost or refused by the database.
  if (unknown_values != EnumUnknown::kDeadLetter) {
    return Status::errorf(
        "config key '{}' = \"{}\" needs every value in the dictionary: add unknown = \"dead-letter\" to [{}] "
        "(or store = \"text\" to keep unknown values)",
        key, store, s.name());
  }
  if (store_kind == EnumStore::kEnum) {
    // The database strips trailing spaces from ENUM members and caps them at 255 characters, so such a
    // value would not read back as itself.
    for (const std::string& v : values) {
      if (!v.empty() && v.back() == ' ') {
        return Status::errorf(
            "config key '{}' = \"enum\": value '{}' of {} ends in a space, which an ENUM drops: use store = "
            "\"code\" or \"text\"",
            key, v, s.key_name("values"));
      }
      if (v.size() > kMaxEnumMemberBytes) {
        return Status::errorf(
            "config key '{}' = \"enum\": a value of {} is {} bytes, an ENUM member at most {}: use store = "
            "\"code\" or \"text\"",
            key, s.key_name("values"), v.size(), kMaxEnumMemberBytes);
      }
    }
  }
  return Status::ok();
}

// zone_id = "reject" (the default) | "strip" on an ip column: whether an IPv6 zone id is left out or makes
// the text a bad address. `is_ip` says whether the column is one.
Status read_zone_id(Section& s, bool is_ip, std::string_view column, bool& strip) {
  if (!s.find("zone_id")) return Status::ok();
  if (!is_ip) {
    return Status::errorf("config key '{}' applies only to ip columns ({} is not one): remove it",
                          s.key_name("zone_id"), column);
  }
  std::string zone = "reject";
  ENRICHD_CONFIG_TRY(s.get("zone_id", zone));
  if (zone != "reject" && zone != "strip") {
    return Status::errorf(
        "config key '{}' is '{}', must be \"reject\" (a zone id makes the address bad) or \"strip\" "
        "(\"fe80::1%eth0\" "
        "is read as fe80::1)",
        s.key_name("zone_id"), zone);
  }
  strip = zone == "strip";
  return Status::ok();
}

// [schema.fields.<column>]: path, required, default, from_string, zone_id, values, unknown, store; or drop =
// true alone.
Status read_field(Section s, SchemaColumn column, FieldSchema& f) {
  ENRICHD_CONFIG_TRY(s.get("drop", f.drop));
  if (f.drop) {
    for (const auto& [key, value] : *s.table()) {  // drop = true: a table, so not null
      if (key.str() != "drop") {
        return Status::errorf(
            "config key '{}' is set with drop = true, which leaves the column out (not read, not in the "
            "table): remove one of them",
            s.key_name(key.str()));
      }
    }
    return Status::ok();
  }
  ENRICHD_CONFIG_TRY(s.get("path", f.path));
  ENRICHD_CONFIG_TRY(s.get("required", f.required));
  ENRICHD_CONFIG_TRY(s.get("from_string", f.from_string));
  const SchemaType type = column_type(column);
  const std::string name(column_name(column));
  ENRICHD_CONFIG_TRY(read_zone_id(s, type == SchemaType::kIp, name, f.strip_zone_id));
  if (f.path.empty()) {
    return Status::errorf(
        "config key '{}' must not be empty (a JSON key, or keys joined by dots such as \"ctx.{}\")",
        s.key_name("path"), name);
  }
  if (f.from_string && type != SchemaType::kU64) {
    return Status::errorf(
        "config key '{}' applies only to the u64 columns event_id, user_id and pin_id ({} is {}{}): remove "
        "it",
        s.key_name("from_string"), name, to_string(type),
        type == SchemaType::kTimestamp ? ", which always accepts strings of digits and RFC 3339" : "");
  }
  if (const toml::node* n = s.find("default")) {
    if (f.required) {
      return Status::errorf(
          "config key '{}' is set but the field is required: add required = false to [{}], or remove the "
          "default",
          s.key_name("default"), s.name());
    }
    const auto wrong = [&](std::string_view what) {
      return Status::errorf("config key '{}' must be {} ({} is {})", s.key_name("default"), what, name,
                            to_string(type));
    };
    switch (type) {
      case SchemaType::kU64:
        if (!n->is_integer() || n->as_integer()->get() < 0) return wrong("a non-negative integer");
        f.default_u64 = static_cast<uint64_t>(n->as_integer()->get());
        break;
      case SchemaType::kTimestamp: {
        std::optional<int64_t> ms;
        if (n->is_integer()) ms = n->as_integer()->get();
        if (n->is_string()) ms = parse_datetime_ms(n->as_string()->get());
        if (!ms || *ms < 0 || *ms > kMaxTimestampMs) {
          return wrong("epoch milliseconds or an RFC 3339 date-time such as \"2024-01-01T00:00:00Z\"");
        }
        f.default_ts_ms = *ms;
        break;
      }
      case SchemaType::kString:
        if (!n->is_string()) return wrong("a string");
        f.default_string = n->as_string()->get();
        break;
      case SchemaType::kIp: {
        std::optional<IpAddress> ip;
        if (n->is_string()) ip = parse_ip(n->as_string()->get());
        if (!ip) return wrong("an IPv4 or IPv6 address string such as \"0.0.0.0\"");
        f.default_ip = *ip;
        break;
      }
    }
  } else if (!f.required && (type == SchemaType::kTimestamp || type == SchemaType::kIp)) {
    return Status::errorf(
        "config key '{}' is required when {} is not required (there is no natural empty {})",
        s.key_name("default"), name, to_string(type));
  }
  if (column != SchemaColumn::kAction && column != SchemaColumn::kApp) {
    if (s.find("values")) {
      return Status::errorf("config key '{}': enum dictionaries apply only to action and app: remove it",
                            s.key_name("values"));
    }
    if (s.find("store")) {
      return Status::errorf(
          "config key '{}': a store applies only to the enum columns action and app: remove it",
          s.key_name("store"));
    }
  }
  ENRICHD_CONFIG_TRY(read_enum_keys(s, f.values, f.unknown, f.store));
  return s.check_unknown(
      {"drop", "path", "required", "default", "from_string", "zone_id", "values", "unknown", "store"});
}

// One [[schema.extra]] table: name, path, type, required, default, from_string; unit (timestamp); values,
// unknown and store (enum). `ts_unit` is [schema] ts_unit, a timestamp column's unit unless it has one;
// `fields` are the fixed columns: a dropped one's name is free.
Status read_extra(Section s, EpochUnit ts_unit, const EventSchema& fields, ExtraField& e) {
  ENRICHD_CONFIG_TRY(s.get("name", e.name, true));
  e.path = e.name;
  ENRICHD_CONFIG_TRY(s.get("path", e.path));
  ENRICHD_CONFIG_TRY(s.get("required", e.required));
  ENRICHD_CONFIG_TRY(s.get("from_string", e.from_string));
  const bool plain_name = std::all_of(e.name.begin(), e.name.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
  });
  if (!plain_name || e.name.size() > 64) {
    return Status::errorf(
        "config key '{}' is '{}', must be a column name of letters, digits and _ (at most 64)",
        s.key_name("name"), e.name);
  }
  if (std::any_of(kOutputColumns.begin(), kOutputColumns.end(),
                  [&](const OutputColumn& col) { return col.name == e.name; }) &&
      !fields.is_dropped(e.name)) {
    return Status::errorf("config key '{}' is '{}', a column enrichd writes already: pick another name{}",
                          s.key_name("name"), e.name,
                          schema_column_named(e.name)
                              ? fmt::format(", or add [schema.fields.{}] drop = true to replace it", e.name)
                              : "");
  }
  if (e.path.empty()) {
    return Status::errorf("config key '{}' must not be empty (a JSON key, or keys joined by dots)",
                          s.key_name("path"));
  }
  std::string type;
  ENRICHD_CONFIG_TRY(s.get("type", type, true));
  if (type == "u64") {
    e.type = ExtraType::kU64;
  } else if (type == "i64") {
    e.type = ExtraType::kI64;
  } else if (type == "f64") {
    e.type = ExtraType::kF64;
  } else if (type == "string") {
    e.type = ExtraType::kString;
  } else if (type == "ip") {
    e.type = ExtraType::kIp;
  } else if (type == "timestamp") {
    e.type = ExtraType::kTimestamp;
  } else if (type == "enum") {
    e.type = ExtraType::kEnum;
  } else {
    return Status::errorf(
        "config key '{}' is '{}', must be \"u64\", \"i64\", \"f64\", \"string\", \"ip\", \"timestamp\" or "
        "\"enum\"",
        s.key_name("type"), type);
  }
  ENRICHD_CONFIG_TRY(read_zone_id(s, e.type == ExtraType::kIp, e.name, e.strip_zone_id));
  const bool numeric = e.type == ExtraType::kU64 || e.type == ExtraType::kI64 || e.type == ExtraType::kF64;
  if (e.from_string && !numeric) {
    return Status::errorf("config key '{}' applies only to the numeric types u64, i64 and f64{}: remove it",
                          s.key_name("from_string"),
                          e.type == ExtraType::kTimestamp
                              ? " (a timestamp always accepts strings of digits and RFC 3339)"
                              : "");
  }
  if (e.type == ExtraType::kEnum) {
    if (!s.find("values")) {
      return Status::errorf(
          "config key '{}' is required for type = \"enum\": list the column's values (values = [\"a\", "
          "\"b\"]), or use type = \"string\"",
          s.key_name("values"));
    }
    ENRICHD_CONFIG_TRY(read_enum_keys(s, e.values, e.unknown, e.store));
  } else {
    for (const std::string_view key : {"values", "unknown", "store"}) {
      if (s.find(key)) {
        return Status::errorf(
            "config key '{}' applies only to type = \"enum\" (this column is {}): remove it", s.key_name(key),
            to_string(e.type));
      }
    }
  }
  if (s.find("unit")) {
    if (e.type != ExtraType::kTimestamp) {
      return Status::errorf(
          "config key '{}' applies only to type = \"timestamp\" (this column is {}): remove it",
          s.key_name("unit"), to_string(e.type));
    }
    std::string unit;
    ENRICHD_CONFIG_TRY(s.get("unit", unit));
    e.unit = parse_epoch_unit(unit);
    if (!e.unit) {
      return Status::errorf("config key '{}' is '{}', must be \"s\", \"ms\", \"us\" or \"ns\"",
                            s.key_name("unit"), unit);
    }
  }
  if (const toml::node* n = s.find("default")) {
    if (e.required) {
      return Status::errorf(
          "config key '{}' is set but the column is required: remove required = true, or the default",
          s.key_name("default"));
    }
    const auto wrong = [&](std::string_view what) {
      return Status::errorf("config key '{}' must be {} (type = \"{}\")", s.key_name("default"), what,
                            to_string(e.type));
    };
    e.has_default = true;
    switch (e.type) {
      case ExtraType::kU64:
        if (!n->is_integer() || n->as_integer()->get() < 0) return wrong("a non-negative integer");
        e.default_bits = static_cast<uint64_t>(n->as_integer()->get());
        break;
      case ExtraType::kI64:
        if (!n->is_integer()) return wrong("an integer");
        e.default_bits = static_cast<uint64_t>(n->as_integer()->get());
        break;
      case ExtraType::kF64:
        if (!n->is_number()) return wrong("a number");
        e.default_bits = std::bit_cast<uint64_t>(n->is_integer() ? static_cast<double>(n->as_integer()->get())
                                                                 : n->as_floating_point()->get());
        break;
      case ExtraType::kString:
        if (!n->is_string()) return wrong("a string");
        e.default_string = n->as_string()->get();
        break;
      case ExtraType::kIp: {
        std::optional<IpAddress> ip;
        if (n->is_string()) ip = parse_ip(n->as_string()->get());
        if (!ip) return wrong("an IPv4 or IPv6 address string such as \"0.0.0.0\"");
        e.default_ip = *ip;
        break;
      }
      case ExtraType::kTimestamp: {
        // A number is read in the column's unit, as the events' numbers are.
        const EpochUnit unit = e.unit.value_or(ts_unit);
        std::optional<int64_t> ms;
        if (n->is_integer()) ms = epoch_to_ms(n->as_integer()->get(), unit);
        if (n->is_string()) ms = parse_datetime_ms(n->as_string()->get());
        if (!ms || *ms < 0 || *ms > kMaxTimestampMs) {
          return wrong(
              fmt::format("an integer in the column's unit ({}) or an RFC 3339 date-time such as "
                          "\"2024-01-01T00:00:00Z\", from 1970 to 9999",
                          to_string(unit)));
        }
        e.default_bits = static_cast<uint64_t>(*ms);
        break;
      }
      case ExtraType::kEnum: {
        if (!n->is_string()) return wrong("a string");
        e.default_string = n->as_string()->get();
        const auto it = std::find(e.values.begin(), e.values.end(), e.default_string);
        if (it != e.values.end()) {
          e.default_bits = static_cast<uint64_t>(it - e.values.begin());
        } else if (e.unknown == EnumUnknown::kDeadLetter) {
          // The default stands for the value; one the dictionary lacks would be kept where events with it
          // are dead-lettered (and no store but text could hold it).
          return Status::errorf(
              "config key '{}' is '{}', which is not in {}: add it to the values, or pick one of them",
              s.key_name("default"), e.default_string, s.key_name("values"));
        } else {
          e.default_bits = kUnknownEnumCode;
        }
        break;
      }
    }
  }
  return s.check_unknown({"name", "path", "type", "required", "default", "from_string", "zone_id", "unit",
                          "values", "unknown", "store"});
}

// Resolves a role naming `role.column`: the fixed column `fixed` unless dropped, else a [[schema.extra]]
// column of type `type`. `key` is the config key, for messages.
Status resolve_role(const std::string& key, SchemaColumn fixed, ExtraType type, const EventSchema& schema,
                    ColumnRole& role) {
  const std::string_view fixed_name = column_name(fixed);
  if (role.column == fixed_name && !schema[fixed].drop) return Status::ok();
  if (const std::optional<size_t> i = schema.extra_index(role.column)) {
    const ExtraField& e = schema.extra[*i];
    if (e.type != type) {
      return Status::errorf(
          "config key '{}' is '{}', a [[schema.extra]] column of type {}: it must be of type {}", key,
          role.column, to_string(e.type), to_string(type));
    }
    role.is_extra = true;
    role.extra = *i;
    return Status::ok();
  }
  if (role.column == fixed_name) {
    return Status::errorf(
        "config key '{}' is '{}', which [schema.fields.{}] drop = true leaves out: name a [[schema.extra]] "
        "column of type {}",
        key, role.column, fixed_name, to_string(type));
  }
  if (const std::optional<SchemaColumn> other = schema_column_named(role.column);
      other && !schema[*other].drop) {
    return Status::errorf(
        "config key '{}' is '{}', a column of type {}: name {} or a [[schema.extra]] column of type {}", key,
        role.column, to_string(column_type(*other)), fixed_name, to_string(type));
  }
  return Status::errorf(
      "config key '{}' is '{}', which is no column: name {} or a [[schema.extra]] column of type {}", key,
      role.column, fixed_name, to_string(type));
}

// [schema.roles]: ip (the geo lookup's address) and event_time, after the columns are read.
Status read_roles(Section s, const EventSchema& schema, SchemaRoles& roles) {
  // Without the key: the fixed column, or once it is dropped an extra column of the role's type that took
  // its name; else none (for ip, an error below).
  const auto adopts = [&](SchemaColumn fixed, ExtraType type) {
    const std::optional<size_t> i = schema.extra_index(column_name(fixed));
    return !schema[fixed].drop || (i && schema.extra[*i].type == type);
  };
  if (!s.find("ip") && !adopts(SchemaColumn::kIp, ExtraType::kIp)) roles.ip.column.clear();
  if (!s.find("event_time") && !adopts(SchemaColumn::kTs, ExtraType::kTimestamp)) {
    roles.event_time.column.clear();
  }
  ENRICHD_CONFIG_TRY(s.get("ip", roles.ip.column));
  ENRICHD_CONFIG_TRY(s.get("event_time", roles.event_time.column));
  if (roles.ip.none()) {
    return Status::errorf(
        "config key '{}' is needed: the geo lookup reads an IP address{}; name {}a [[schema.extra]] column "
        "of type ip",
        s.key_name("ip"), schema[SchemaColumn::kIp].drop ? ", and [schema.fields.ip] is dropped" : "",
        schema[SchemaColumn::kIp].drop ? "" : "ip or ");
  }
  ENRICHD_CONFIG_TRY(resolve_role(s.key_name("ip"), SchemaColumn::kIp, ExtraType::kIp, schema, roles.ip));
  if (!roles.event_time.none()) {
    ENRICHD_CONFIG_TRY(resolve_role(s.key_name("event_time"), SchemaColumn::kTs, ExtraType::kTimestamp,
                                    schema, roles.event_time));
  }
  return s.check_unknown({"ip", "event_time"});
}

Status read_schema(Section s, SchemaConfig& c) {
  std::string unit = "ms";
  ENRICHD_CONFIG_TRY(s.get("ts_unit", unit));
  auto parsed = parse_epoch_unit(unit);
  if (!parsed) {
    return Status::errorf("config key 'schema.ts_unit' is '{}', must be \"s\", \"ms\", \"us\" or \"ns\"",
                          unit);
  }
  c.ts_unit = *parsed;
  if (const toml::node* n = s.find("fields")) {
    const toml::table* fields = n->as_table();
    if (!fields)
      return Status::error("config key 'schema.fields' must be a table ([schema.fields.<column>])");
    std::string columns;
    for (size_t i = 0; i < kSchemaColumnCount; ++i) {
      columns += (i ? ", " : "") + std::string(column_name(static_cast<SchemaColumn>(i)));
    }
    for (const auto& [k, v] : *fields) {
      const std::string key(k.str());
      const std::optional<SchemaColumn> column = schema_column_named(key);
      if (!column) {
        return Status::errorf("config key 'schema.fields.{}' is unknown (columns: {})", key, columns);
      }
      if (!v.is_table()) {
        return Status::errorf("config key 'schema.fields.{}' must be a table ([schema.fields.{}])", key, key);
      }
      ENRICHD_CONFIG_TRY(
          read_field(Section(v.as_table(), "schema.fields." + key), *column, c.fields[*column]));
    }
  }
  if (const toml::node* n = s.find("extra")) {
    const toml::array* tables = n->as_array();
    if (!tables || !tables->is_array_of_tables()) {
      return Status::error("config key 'schema.extra' must be an array of tables ([[schema.extra]])");
    }
    if (tables->size() > kMaxExtraFields) {
      return Status::errorf("config key 'schema.extra' has {} tables, at most {}", tables->size(),
                            kMaxExtraFields);
    }
    for (size_t i = 0; i < tables->size(); ++i) {
      ExtraField e;
      ENRICHD_CONFIG_TRY(read_extra(Section((*tables)[i].as_table(), fmt::format("schema.extra[{}]", i)),
                                    c.ts_unit, c.fields, e));
      c.fields.extra.push_back(std::move(e));
    }
  }
  if (Status st = check_event_schema(c.fields); !st) {
    return Status::errorf(
        "config tables [schema.fields] and [[schema.extra]]: {}: give each column its own "
        "name and path",
        st.message());
  }
  if (const toml::node* n = s.find("roles"); n && !n->is_table()) {
    return Status::error("config key 'schema.roles' must be a table ([schema.roles])");
  }
  ENRICHD_CONFIG_TRY(read_roles(
      Section(s.find("roles") ? s.find("roles")->as_table() : nullptr, "schema.roles"), c.fields, c.roles));
  return s.check_unknown({"ts_unit", "fields", "extra", "roles"});
}

Status read_metrics(Section s, MetricsConfig& c) {
  std::string listen;
  ENRICHD_CONFIG_TRY(s.get("listen", listen));
  if (!listen.empty()) {
    auto parsed = parse_listen_address(listen, s.key_name("listen"));
    if (!parsed) return parsed.status();
    c.listen = *parsed;
  }
  return s.check_unknown({"listen"});
}

Status read_log(Section s, std::string& level, LogFormat& format) {
  ENRICHD_CONFIG_TRY(s.get("level", level));
  std::string format_text = "text";
  ENRICHD_CONFIG_TRY(s.get("format", format_text));
  auto f = parse_log_format(format_text, s.key_name("format"));
  if (!f) return f.status();
  format = *f;
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "off"};
  if (kLevels.count(level) == 0) {
    return Status::errorf(
        "config key 'log.level' is '{}', must be one of trace, debug, info, warn, error, off", level);
  }
  return s.check_unknown({"level", "format"});
}

}  // namespace

Result<Config> parse_config(std::string_view toml_text, const std::string& base_dir,
                            const std::string& source_name) {
  // The packaged toml++ is built with exceptions; they stop here and become a Status.
  toml::table root;
  try {
    root = toml::parse(toml_text, source_name);
  } catch (const toml::parse_error& err) {
    return Status::errorf("{}:{}:{}: {}", source_name, err.source().begin.line, err.source().begin.column,
                          err.description());
  }
  static const std::set<std::string> kSections = {"source", "batch", "schema",  "filter",
                                                  "enrich", "sink",  "metrics", "log"};
  for (const auto& [k, v] : root) {
    const std::string key(k.str());
    if (kSections.count(key) == 0) {
      return Status::errorf(
          "config key '{}' is unknown (sections: batch, enrich, filter, log, metrics, sink, source)", key);
    }
    if (!v.is_table()) return Status::errorf("config key '{}' must be a table ([{}])", key, key);
  }
  auto section = [&](const char* name) {
    const toml::node* n = root.get(name);
    return Section(n ? n->as_table() : nullptr, name);
  };
  if (!root.get("source")) return Status::error("config section [source] is required");
  if (!root.get("enrich")) return Status::error("config section [enrich] is required");
  if (!root.get("sink")) return Status::error("config section [sink] is required");

  Config c;
  Status s = read_source(section("source"), c.source);
  if (s) s = read_batch(section("batch"), c.batch);
  if (s) s = read_schema(section("schema"), c.schema);
  if (s) s = read_filter(section("filter"), c.filter);
  if (s) {
    auto filter = EventFilter::create(c.filter, c.schema.fields);
    if (!filter) s = filter.status();
  }
  if (s) s = read_enrich(section("enrich"), c.enrich, base_dir);
  if (s) s = read_sink(section("sink"), c.sink);
  if (s) s = read_metrics(section("metrics"), c.metrics);
  if (s) s = read_log(section("log"), c.log_level, c.log_format);
  if (!s) return s.with_context(source_name);
  for (size_t i = 1; i < c.enrich.joins.size(); ++i)
    c.sink.join_columns.push_back(c.enrich.joins[i].output_column);
  for (const ExtraField& e : c.schema.fields.extra) {
    for (const std::string& j : c.sink.join_columns) {
      if (e.name == j || e.name == j + "_id") {
        return Status::errorf(
                   "config key 'schema.extra' names column '{}', which the join '{}' writes: pick "
                   "another name",
                   e.name, j)
            .with_context(source_name);
      }
    }
  }
  if (Status st = config_detail::resolve_join_keys(c.enrich, c.schema.fields); !st) {
    return st.with_context(source_name);
  }
  c.sink.extra_columns = c.schema.fields.extra;
  c.sink.dropped_columns = c.schema.fields.dropped_columns();
  c.sink.event_time_column = c.schema.roles.event_time.column;
  for (const SchemaColumn column : {SchemaColumn::kAction, SchemaColumn::kApp}) {
    const FieldSchema& f = c.schema.fields[column];
    c.sink.enum_store(column) = {f.store, f.values};
  }
  if (c.source.kind == SourceKind::kFile) c.source.path = resolve(base_dir, c.source.path);
  return c;
}

Result<LogFormat> parse_log_format(std::string_view text, std::string_view key) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return Status::errorf("config key '{}' is '{}', must be \"text\" or \"json\"", key, text);
}

Result<std::string> parse_listen_address(std::string_view text, std::string_view key) {
  const auto bad = [&](std::string_view why) {
    return Status::errorf(
        "config key '{}' is '{}': {}; expected ADDRESS:PORT with a numeric address, e.g. "
        "\"127.0.0.1:9464\", \"0.0.0.0:9464\" or \"[::1]:9464\"",
        key, text, why);
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return bad("no port");
  std::string host(text.substr(0, colon));
  const std::string_view port_text = text.substr(colon + 1);
  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    return bad("the port is not a number");
  }
  const int port = std::stoi(std::string(port_text));
  if (port < 1 || port > 65535) return bad("the port must be between 1 and 65535");
  if (host == "localhost") host = "127.0.0.1";
  unsigned char buf[16];
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), buf) != 1) {
      return bad("not an IPv6 address in brackets");
    }
  } else if (inet_pton(AF_INET, host.c_str(), buf) != 1) {
    return bad("not an IPv4 address");
  }
  return host + ":" + std::to_string(port);
}

Result<Config> load_config(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::errorf("cannot read config file '{}': {}", path, std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  const std::string base = std::filesystem::absolute(path).parent_path().string();
  return parse_config(text.str(), base, path);
}

}  // namespace enrichd
