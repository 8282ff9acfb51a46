// The .mmdb importer: walks the database's binary search tree with libmaxminddb, node by node, and
// flattens it into ranges (one per data record reached; empty records are gaps). Each distinct data
// entry becomes one record, read once.
//
// An IPv6 database keeps IPv4 under ::/96 and may alias other prefixes (::ffff:0:0/96, 2001::/32,
// 2002::/16) to that subtree by pointing at the same node. The walk reads the IPv4 subtree once, into the
// IPv4 table, and records every alias as a V4Alias instead of copying the IPv4 ranges under it: the
// lookups then answer an aliased address from the IPv4 table, as libmaxminddb does.
#include <fmt/format.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdarg>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "host/csv.h"
#include "host/geo_import.h"
#include "host/geo_mmdb.h"

namespace enrichd {
namespace {

__extension__ typedef unsigned __int128 u128;  // __extension__: GCC/Clang's, not ISO C++

// A guard against a corrupt tree whose nodes share children so that the walk would never end.
constexpr size_t kMaxRanges = size_t{1} << 28;

class MmdbFile {
 public:
  explicit MmdbFile(const std::string& path) {
    status_ = MMDB_open(path.c_str(), MMDB_MODE_MMAP, &db_);
    open_ = status_ == MMDB_SUCCESS;
  }
  ~MmdbFile() {
    if (open_) MMDB_close(&db_);
  }
  MmdbFile(const MmdbFile&) = delete;
  MmdbFile& operator=(const MmdbFile&) = delete;
  bool ok() const { return open_; }
  int status() const { return status_; }
  const MMDB_s& db() const { return db_; }

 private:
  MMDB_s db_{};
  int status_ = MMDB_SUCCESS;
  bool open_ = false;
};

Result<std::string> string_at(MMDB_entry_s entry, const char* const* path) {
  MMDB_entry_data_s data{};
  const int rc = MMDB_aget_value(&entry, &data, path);
  if (rc == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR || rc == MMDB_INVALID_LOOKUP_PATH_ERROR)
    return std::string();
  if (rc != MMDB_SUCCESS) return Status::errorf("reading a data entry: {}", MMDB_strerror(rc));
  if (!data.has_data) return std::string();
  if (data.type != MMDB_DATA_TYPE_UTF8_STRING) return Status::errorf("field '{}' is not a string", path[0]);
  return std::string(data.utf8_string, data.data_size);
}

// A coordinate: a double or float, or a string holding one (some flat databases store text).
Result<std::optional<double>> number_at(MMDB_entry_s entry, const char* const* path) {
  MMDB_entry_data_s data{};
  const int rc = MMDB_aget_value(&entry, &data, path);
  if (rc == MMDB_LOOKUP_PATH_DOES_NOT_MATCH_DATA_ERROR || rc == MMDB_INVALID_LOOKUP_PATH_ERROR) {
    return std::optional<double>();
  }
  if (rc != MMDB_SUCCESS) return Status::errorf("reading a data entry: {}", MMDB_strerror(rc));
  if (!data.has_data) return std::optional<double>();
  switch (data.type) {
    case MMDB_DATA_TYPE_DOUBLE:
      return std::optional<double>(data.double_value);
    case MMDB_DATA_TYPE_FLOAT: {
      // The shortest decimal that reads back as this float (37.751, not 37.75099945068359).
      double v = 0;
      parse_double(fmt::format("{}", data.float_value), v);
      return std::optional<double>(v);
    }
    case MMDB_DATA_TYPE_UTF8_STRING: {
      double v = 0;
      if (data.data_size == 0) return std::optional<double>();
      if (!parse_double(std::string_view(data.utf8_string, data.data_size), v)) {
        return Status::errorf("field '{}' is not a number", path[0]);
      }
      return std::optional<double>(v);
    }
    default:
      return Status::errorf("field '{}' is not a number", path[0]);
  }
}

bool has_key(MMDB_entry_s entry, const char* key) {
  MMDB_entry_data_s data{};
  const char* path[] = {key, nullptr};
  return MMDB_aget_value(&entry, &data, path) == MMDB_SUCCESS && data.has_data;
}

}  // namespace

Result<GeoRecord> mmdb_entry_record(const MMDB_entry_s& entry) {
  struct Paths {
    std::vector<const char*> country, region, city, postal, lat, lon, tz;
  };
  static const Paths kGeoIp2 = {
      {"country", "iso_code", nullptr},  {"subdivisions", "0", "names", "en", nullptr},
      {"city", "names", "en", nullptr},  {"postal", "code", nullptr},
      {"location", "latitude", nullptr}, {"location", "longitude", nullptr},
      {"location", "time_zone", nullptr}};
  static const Paths kFlat = {{"country_code", nullptr}, {"state1", nullptr},   {"city", nullptr},
                              {"postcode", nullptr},     {"latitude", nullptr}, {"longitude", nullptr},
                              {"timezone", nullptr}};
  const Paths& p = has_key(entry, "country_code") ? kFlat : kGeoIp2;
  GeoRecord r;
  for (auto [out, path] :
       {std::pair{&r.country_code, &p.country}, std::pair{&r.region, &p.region}, std::pair{&r.city, &p.city},
        std::pair{&r.postal_code, &p.postal}, std::pair{&r.timezone, &p.tz}}) {
    auto s = string_at(entry, path->data());
    if (!s) return s.status();
    *out = std::move(s).value();
  }
  auto lat = number_at(entry, p.lat.data());
  if (!lat) return lat.status();
  auto lon = number_at(entry, p.lon.data());
  if (!lon) return lon.status();
  if (lat->has_value() && lon->has_value()) {
    r.latitude = **lat;
    r.longitude = **lon;
    r.has_location = true;
  }
  return r;
}

sockaddr_storage to_sockaddr(const IpAddress& ip) {
  sockaddr_storage a{};
  if (!ip.is_v6) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&a);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = htonl(ip.v4);
  } else {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&a);
    sin6->sin6_family = AF_INET6;
    for (int b = 0; b < 8; ++b) {
      sin6->sin6_addr.s6_addr[b] = static_cast<uint8_t>(ip.v6.hi >> (56 - 8 * b));
      sin6->sin6_addr.s6_addr[8 + b] = static_cast<uint8_t>(ip.v6.lo >> (56 - 8 * b));
    }
  }
  return a;
}

namespace {

// The tree walk. Addresses are handled as 128-bit integers of `width` bits (32 or 128).
class TreeWalker {
 public:
  TreeWalker(const MMDB_s& db, const std::string& path, uint32_t source, GeoImport& out)
      : db_(db), path_(path), source_(source), out_(out) {}

  // Walks the subtree under `node` (at `depth`, holding the addresses that start with `prefix`).
  Status walk(uint32_t node, uint32_t depth, u128 prefix, uint32_t width, uint32_t ipv4_start) {
    struct Item {
      uint32_t node, depth;
      u128 prefix;
    };
    std::vector<Item> stack{{node, depth, prefix}};
    while (!stack.empty()) {
      const Item it = stack.back();
      stack.pop_back();
      MMDB_search_node_s n{};
      if (const int rc = MMDB_read_node(&db_, it.node, &n); rc != MMDB_SUCCESS) {
        return Status::errorf("{}: search tree node {}: {}", path_, it.node, MMDB_strerror(rc));
      }
      const uint32_t child_depth = it.depth + 1;
      const u128 bit = static_cast<u128>(1) << (width - child_depth);
      // Right first, so that the left child (lower addresses) is walked first.
      const std::pair<uint64_t, uint8_t> children[2] = {{n.right_record, n.right_record_type},
                                                        {n.left_record, n.left_record_type}};
      const MMDB_entry_s entries[2] = {n.right_record_entry, n.left_record_entry};
      for (int side = 0; side < 2; ++side) {
        const u128 child_prefix = side == 0 ? it.prefix | bit : it.prefix;
        const auto [record, type] = children[side];
        switch (type) {
          case MMDB_RECORD_TYPE_EMPTY:
            break;
          case MMDB_RECORD_TYPE_DATA:
            if (Status s = emit(child_prefix, child_depth, width, entries[side]); !s) return s;
            break;
          case MMDB_RECORD_TYPE_SEARCH_NODE: {
            if (child_depth >= width) {
              return Status::errorf("{}: corrupt search tree (deeper than {} bits)", path_, width);
            }
            const auto child = static_cast<uint32_t>(record);
            if (width == 128 && child == ipv4_start) {
              if (Status s = ipv4_subtree(child, child_depth, child_prefix); !s) return s;
              break;
            }
            stack.push_back({child, child_depth, child_prefix});
            break;
          }
          default:
            return Status::errorf("{}: corrupt search tree (invalid record in node {})", path_, it.node);
        }
      }
    }
    return Status::ok();
  }

  // The IPv4 table when the zero path of an IPv6 tree ends in a data record above depth 96: every IPv4
  // address answers that record.
  Status whole_ipv4(const MMDB_entry_s& entry) {
    auto id = record_id(entry);
    if (!id) return id.status();
    out_.ranges.push_back({IpAddress{false, 0, {}}, IpAddress{false, UINT32_MAX, {}}, *id, 0, source_});
    return Status::ok();
  }

  Status ipv4_subtree(uint32_t node, uint32_t depth, u128 prefix) {
    if (depth != 96 || prefix != 0) {  // an alias of the IPv4 subtree
      out_.add_alias(V4Alias{{static_cast<uint64_t>(prefix >> 64), static_cast<uint64_t>(prefix)}, depth, 0});
      return Status::ok();
    }
    out_.add_alias(V4Alias{{0, 0}, 96, 0});
    return walk(node, 0, 0, 32, UINT32_MAX);
  }

 private:
  Result<uint32_t> record_id(const MMDB_entry_s& entry) {
    auto it = ids_.find(entry.offset);
    if (it != ids_.end()) return it->second;
    auto rec = mmdb_entry_record(entry);
    if (!rec) return rec.status().with_context(path_);
    const uint32_t id = out_.records.add(std::move(rec).value());
    ids_.emplace(entry.offset, id);
    return id;
  }

  Status emit(u128 prefix, uint32_t depth, uint32_t width, const MMDB_entry_s& entry) {
    if (++ranges_ > kMaxRanges) return Status::errorf("{}: corrupt search tree (too many networks)", path_);
    auto id = record_id(entry);
    if (!id) return id.status();
    const u128 host = depth >= width ? 0 : (static_cast<u128>(-1) >> (128 - (width - depth)));
    GeoRange r;
    r.record = *id;
    r.source = source_;
    if (width == 32) {
      r.first = {false, static_cast<uint32_t>(prefix), {}};
      r.last = {false, static_cast<uint32_t>(prefix | host), {}};
    } else {
      const u128 last = prefix | host;
      r.first = {true, 0, {static_cast<uint64_t>(prefix >> 64), static_cast<uint64_t>(prefix)}};
      r.last = {true, 0, {static_cast<uint64_t>(last >> 64), static_cast<uint64_t>(last)}};
    }
    out_.ranges.push_back(r);
    return Status::ok();
  }

  const MMDB_s& db_;
  const std::string& path_;
  uint32_t source_;
  GeoImport& out_;
  std::unordered_map<uint32_t, uint32_t> ids_;  // data entry offset -> record id
  size_t ranges_ = 0;
};

}  // namespace

Status import_mmdb(const std::string& path, GeoImport& out) {
  MmdbFile file(path);
  if (!file.ok())
    return Status::errorf("{}: cannot open as a MaxMind DB: {}", path, MMDB_strerror(file.status()));
  const MMDB_s& db = file.db();
  const uint32_t source = out.add_source(path);
  TreeWalker walker(db, path, source, out);
  if (db.metadata.node_count == 0) return Status::errorf("{}: the search tree has no nodes", path);
  if (db.metadata.ip_version == 4) return walker.walk(0, 0, 0, 32, UINT32_MAX);
  if (db.metadata.ip_version != 6) {
    return Status::errorf("{}: unsupported ip_version {}", path, db.metadata.ip_version);
  }
  // Where IPv4 lives: follow 96 zero bits from the root, as libmaxminddb does for IPv4 lookups.
  uint32_t node = 0;
  for (uint32_t depth = 0; depth < 96; ++depth) {
    MMDB_search_node_s n{};
    if (const int rc = MMDB_read_node(&db, node, &n); rc != MMDB_SUCCESS) {
      return Status::errorf("{}: search tree node {}: {}", path, node, MMDB_strerror(rc));
    }
    if (n.left_record_type == MMDB_RECORD_TYPE_DATA) {
      if (Status s = walker.whole_ipv4(n.left_record_entry); !s) return s;
      node = UINT32_MAX;
      break;
    }
    if (n.left_record_type != MMDB_RECORD_TYPE_SEARCH_NODE) {
      node = UINT32_MAX;  // no IPv4 data
      break;
    }
    node = static_cast<uint32_t>(n.left_record);
  }
  return walker.walk(0, 0, 0, 128, node);
}

}  // namespace enrichd
