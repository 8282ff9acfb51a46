#include "pipeline/category_source.h"

#include <cstdint>
#include <utility>
#include <vector>

#include "host/csv.h"

namespace enrichd {
namespace {

// "pins query, row 12, column 2 ('category_id'): ..."
Status row_error(std::string_view query, uint64_t row, const MysqlRow& r, unsigned column,
                 std::string_view what) {
  return Status::errorf("category {} query, row {}, column {} ('{}'): {}", query, row, column + 1,
                        r.column_name(column), what);
}

Status wrong_columns(std::string_view query, uint64_t row, const MysqlRow& r, std::string_view want) {
  return Status::errorf("category {} query, row {}: {} columns, expected {}", query, row, r.columns(), want);
}

template <typename T>
Status read_uint(std::string_view query, uint64_t row, const MysqlRow& r, unsigned column, T& out) {
  if (r.is_null(column))
    return row_error(query, row, r, column, "NULL where an unsigned integer is expected");
  bool ok = false;
  if constexpr (sizeof(T) == sizeof(uint64_t)) {
    ok = parse_u64(r.text(column), out);
  } else {
    ok = parse_u32(r.text(column), out);
  }
  if (!ok) {
    return row_error(query, row, r, column,
                     fmt::format("'{}' is not an unsigned {}-bit integer", r.text(column), sizeof(T) * 8));
  }
  return Status::ok();
}

// Rows of the pins query, inserted in batches (insert_batch prefetches; a batch's rows are in order, so
// the first error is still the first bad row).
class PinBatch {
 public:
  explicit PinBatch(CategoryTable& table) : table_(table) {}

  Status add(uint64_t row, const MysqlRow& r) {
    if (r.columns() != 2) return wrong_columns("pins", row, r, "2 (key, category_id)");
    uint64_t key = 0;
    uint32_t category = 0;
    if (Status s = read_uint("pins", row, r, 0, key); !s) return s;
    if (Status s = read_uint("pins", row, r, 1, category); !s) return s;
    keys_.push_back(key);
    categories_.push_back(category);
    if (keys_.size() == kBatch) return flush(row + 1 - kBatch);
    return Status::ok();
  }
  // Inserts the pending rows, the first of which is row `first_row`.
  Status flush(uint64_t first_row) {
    size_t done = 0;
    Status s = table_.insert_batch(keys_, categories_, done);
    keys_.clear();
    categories_.clear();
    if (!s) return Status::errorf("category pins query, row {}: {}", first_row + done, s.message());
    return Status::ok();
  }
  size_t pending() const { return keys_.size(); }

 private:
  static constexpr size_t kBatch = 1024;
  CategoryTable& table_;
  std::vector<uint64_t> keys_;
  std::vector<uint32_t> categories_;
};

// Adds the category; its parent, if any, is left for the caller to check once every row is in.
Status name_row(CategoryTable& table, uint64_t row, const MysqlRow& r, uint32_t& category, uint32_t& parent) {
  if (r.columns() != 2 && r.columns() != 3) {
    return wrong_columns("names", row, r, "2 or 3 (category_id, name[, parent_id])");
  }
  parent = kNoRecord;
  if (Status s = read_uint("names", row, r, 0, category); !s) return s;
  if (r.is_null(1)) return row_error("names", row, r, 1, "NULL where a name is expected");
  if (r.columns() == 3 && !r.is_null(2)) {
    if (Status s = read_uint("names", row, r, 2, parent); !s) return s;
    if (parent == kNoRecord) {
      return row_error("names", row, r, 2, fmt::format("parent id {} is reserved for 'none'", parent));
    }
  }
  if (Status s = table.add_category(category, std::string(r.text(1)), parent); !s) {
    return Status::errorf("category names query, row {}: {}", row, s.message());
  }
  return Status::ok();
}

}  // namespace

Result<CategoryTable> load_categories_from_db(MysqlConnection& db, const std::string& pins_query,
                                              const std::string& names_query) {
  if (pins_query.empty()) return Status::error("category pins query is empty");
  CategoryTable table;
  // A row's error names the query and the row already; an error of the query itself (SQL, connection)
  // gets the query's name here.
  uint64_t row = 0;
  bool row_failed = false;
  PinBatch batch(table);
  auto pins = db.query_streaming(pins_query, [&](const MysqlRow& r) {
    ++row;
    Status s = batch.add(row, r);
    // A bad row: the good rows before it go in first, since a conflict among them comes first.
    if (!s && batch.pending() > 0) {
      if (Status earlier = batch.flush(row - batch.pending()); !earlier) s = earlier;
    }
    row_failed = !s.is_ok();
    return s;
  });
  if (!pins) return row_failed ? pins.status() : pins.status().with_context("category pins query");
  if (Status s = batch.flush(row + 1 - batch.pending()); !s) return s;

  if (!names_query.empty()) {
    struct ParentRef {
      uint64_t row;
      uint32_t category;
      uint32_t parent;
    };
    std::vector<ParentRef> parents;
    row = 0;
    auto names = db.query_streaming(names_query, [&](const MysqlRow& r) {
      uint32_t category = 0, parent = kNoRecord;
      Status s = name_row(table, ++row, r, category, parent);
      row_failed = !s.is_ok();
      if (s && parent != kNoRecord) parents.push_back({row, category, parent});
      return s;
    });
    if (!names) return row_failed ? names.status() : names.status().with_context("category names query");
    for (const ParentRef& p : parents) {
      if (!table.has_category(p.parent)) {
        return Status::errorf("category names query, row {}: the parent {} of category {} names no category",
                              p.row, p.parent, p.category);
      }
    }
  }
  table.shrink_to_fit();
  return table;
}

Result<std::shared_ptr<const CategoryTable>> build_category_table(const CategorySourceSpec& spec) {
  if (spec.dsn.empty()) {
    if (spec.pins_csv.empty()) return Status::error("categories: neither a database nor a pins CSV file");
    auto table = CategoryTable::load_csv(spec.pins_csv, spec.names_csv);
    if (!table) return table.status();
    return std::make_shared<const CategoryTable>(std::move(table).value());
  }
  auto dsn = parse_mysql_dsn(spec.dsn);
  if (!dsn) return dsn.status();
  auto db = MysqlConnection::connect(*dsn);
  if (!db) return db.status();
  auto table = load_categories_from_db(**db, spec.pins_query, spec.names_query);
  if (!table) return table.status().with_context(fmt::format("categories from {}", dsn->address()));
  return std::make_shared<const CategoryTable>(std::move(table).value());
}

}  // namespace enrichd
