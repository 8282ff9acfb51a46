#include "host/event_schema.h"

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

namespace enrichd {

std::string_view to_string(SchemaType type) {
  switch (type) {
    case SchemaType::kU64:
      return "u64";
    case SchemaType::kTimestamp:
      return "timestamp";
    case SchemaType::kString:
      return "string";
    case SchemaType::kIp:
      return "ip";
  }
  return "?";
}

std::string_view to_string(EnumStore store) {
  switch (store) {
    case EnumStore::kText:
      return "text";
    case EnumStore::kEnum:
      return "enum";
    case EnumStore::kCode:
      return "code";
  }
  return "?";
}

std::string_view to_string(ExtraType type) {
  switch (type) {
    case ExtraType::kU64:
      return "u64";
    case ExtraType::kI64:
      return "i64";
    case ExtraType::kF64:
      return "f64";
    case ExtraType::kString:
      return "string";
    case ExtraType::kIp:
      return "ip";
    case ExtraType::kTimestamp:
      return "timestamp";
    case ExtraType::kEnum:
      return "enum";
  }
  return "?";
}

namespace {

// The dictionary and store of an enum column (action, app, an enum extra column).
Status check_dictionary(std::string_view name, const std::vector<std::string>& values, EnumUnknown unknown,
                        EnumStore store) {
  if (values.size() > kMaxEnumValues) {
    return Status::errorf("column '{}': {} enum values, at most {}", name, values.size(), kMaxEnumValues);
  }
  std::set<std::string_view> seen;
  for (const std::string& v : values) {
    if (!seen.insert(v).second)
      return Status::errorf("column '{}': enum value '{}' is listed twice", name, v);
  }
  // The encoder writes every code of a "code" column and the database refuses a value outside an ENUM:
  // neither can hold a kept unknown value.
  if (store != EnumStore::kText && (values.empty() || unknown != EnumUnknown::kDeadLetter)) {
    return Status::errorf(
        "column '{}': store {} needs an enum dictionary (values) with unknown values "
        "dead-lettered",
        name, to_string(store));
  }
  return Status::ok();
}

}  // namespace

EventSchema default_event_schema() {
  EventSchema s;
  for (size_t i = 0; i < kSchemaColumnCount; ++i)
    s.fields[i].path = column_name(static_cast<SchemaColumn>(i));
  s[SchemaColumn::kApp].required = false;
  s[SchemaColumn::kUa].required = false;
  return s;
}

Status check_event_schema(const EventSchema& schema) {
  for (size_t i = 0; i < kSchemaColumnCount; ++i) {
    const auto column = static_cast<SchemaColumn>(i);
    const FieldSchema& f = schema.fields[i];
    const std::string_view name = column_name(column);
    if (f.drop) continue;
    if (f.path.empty() || f.path.front() == '.' || f.path.back() == '.' ||
        f.path.find("..") != std::string::npos) {
      return Status::errorf("column '{}': path '{}' must be a key or keys joined by dots, none empty", name,
                            f.path);
    }
    if (f.strip_zone_id && column != SchemaColumn::kIp) {
      return Status::errorf("column '{}': zone ids apply only to the ip column", name);
    }
    if (f.from_string && column_type(column) != SchemaType::kU64) {
      return Status::errorf(
          "column '{}': from_string applies only to u64 columns (event_id, user_id, pin_id)", name);
    }
    if (!f.values.empty() && column != SchemaColumn::kAction && column != SchemaColumn::kApp) {
      return Status::errorf("column '{}': an enum dictionary (values) applies only to action and app", name);
    }
    if (Status s = check_dictionary(name, f.values, f.unknown, f.store); !s) return s;
  }
  if (schema.extra.size() > kMaxExtraFields) {
    return Status::errorf("{} extra columns, at most {}", schema.extra.size(), kMaxExtraFields);
  }
  std::vector<std::pair<std::string_view, std::string_view>> paths;  // (column, path)
  for (size_t i = 0; i < kSchemaColumnCount; ++i) {
    if (!schema.fields[i].drop)
      paths.emplace_back(column_name(static_cast<SchemaColumn>(i)), schema.fields[i].path);
  }
  for (const ExtraField& e : schema.extra) {
    if (e.path.empty() || e.path.front() == '.' || e.path.back() == '.' ||
        e.path.find("..") != std::string::npos) {
      return Status::errorf("column '{}': path '{}' must be a key or keys joined by dots, none empty", e.name,
                            e.path);
    }
    const bool numeric = e.type == ExtraType::kU64 || e.type == ExtraType::kI64 || e.type == ExtraType::kF64;
    if (e.strip_zone_id && e.type != ExtraType::kIp) {
      return Status::errorf("column '{}': zone ids apply only to ip columns", e.name);
    }
    if (e.from_string && !numeric) {
      return Status::errorf("column '{}': from_string applies only to u64, i64 and f64 columns", e.name);
    }
    if (e.type == ExtraType::kEnum && e.values.empty()) {
      return Status::errorf("column '{}': an enum column needs a dictionary (values)", e.name);
    }
    if (e.type != ExtraType::kEnum && (!e.values.empty() || e.store != EnumStore::kText)) {
      return Status::errorf("column '{}': a dictionary (values) or store applies only to enum columns",
                            e.name);
    }
    if (e.unit && e.type != ExtraType::kTimestamp) {
      return Status::errorf("column '{}': a unit applies only to timestamp columns", e.name);
    }
    if (Status s = check_dictionary(e.name, e.values, e.unknown, e.store); !s) return s;
    paths.emplace_back(e.name, e.path);
  }
  for (size_t i = 0; i < paths.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      const auto [other, a] = paths[j];
      const auto [name, b] = paths[i];
      if (other == name) return Status::errorf("column '{}' is listed twice", name);
      if (a == b) return Status::errorf("columns '{}' and '{}' both read path '{}'", other, name, a);
      const std::string_view shorter = a.size() < b.size() ? a : b;
      const std::string_view longer = a.size() < b.size() ? b : a;
      if (longer.starts_with(shorter) && longer[shorter.size()] == '.') {
        return Status::errorf("columns '{}' and '{}': path '{}' runs through the value of '{}'", other, name,
                              longer, shorter);
      }
    }
  }
  return Status::ok();
}

}  // namespace enrichd
