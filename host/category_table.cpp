#include "host/category_table.h"

#include "host/csv.h"

namespace enrichd {
namespace {
constexpr size_t kInitialSlots = 16;
}

CategoryTable::CategoryTable() : slots_(kInitialSlots, {CategoryTableView::kEmptyKey, kNoRecord}) {}

Status CategoryTable::insert(uint64_t key, uint32_t category_id) {
  if (key == CategoryTableView::kEmptyKey) {
    if (has_empty_key_ && empty_key_value_ != category_id) {
      return Status::errorf("key {} already maps to category {}", key, empty_key_value_);
    }
    if (!has_empty_key_) ++size_;
    has_empty_key_ = true;
    empty_key_value_ = category_id;
    return Status::ok();
  }
  // Keep the load factor at or below 1/2 so probes stay short.
  if ((size_ + 1) * 2 > slots_.size()) grow();
  const uint64_t mask = slots_.size() - 1;
  for (uint64_t i = hash_key(key) & mask;; i = (i + 1) & mask) {
    CategorySlot& s = slots_[i];
    if (s.key == CategoryTableView::kEmptyKey) {
      s = {key, category_id};
      ++size_;
      return Status::ok();
    }
    if (s.key == key) {
      if (s.value != category_id) return Status::errorf("key {} already maps to category {}", key, s.value);
      return Status::ok();
    }
  }
}

void CategoryTable::grow() {
  std::vector<CategorySlot> old(slots_.size() * 2, {CategoryTableView::kEmptyKey, kNoRecord});
  old.swap(slots_);
  const uint64_t mask = slots_.size() - 1;
  for (const CategorySlot& s : old) {
    if (s.key == CategoryTableView::kEmptyKey) continue;
    uint64_t i = hash_key(s.key) & mask;
    while (slots_[i].key != CategoryTableView::kEmptyKey) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

CategoryTableView CategoryTable::view() const {
  return {slots_, slots_.size() - 1, has_empty_key_, empty_key_value_};
}

const std::string& CategoryTable::name(uint32_t category_id) const {
  static const std::string kEmpty;
  auto it = names_.find(category_id);
  return it == names_.end() ? kEmpty : it->second;
}

Result<CategoryTable> CategoryTable::load_csv(const std::string& pins_path, const std::string& names_path) {
  CategoryTable table;
  std::vector<std::string> f;
  {
    CsvReader reader(pins_path);
    bool first_row = true;
    while (reader.next(f)) {
      const bool is_first = std::exchange(first_row, false);
      uint64_t key = 0;
      uint32_t category = 0;
      if (f.size() != 2 || !parse_u64(f[0], key) || !parse_u32(f[1], category)) {
        if (is_first && f.size() == 2) continue;  // a header line
        return Status::errorf("{}:{}: expected 'pin_id,category_id' with unsigned integers", pins_path,
                              reader.line());
      }
      if (category == kNoRecord) {
        return Status::errorf("{}:{}: category id {} is reserved for 'none'", pins_path, reader.line(),
                              category);
      }
      if (Status s = table.insert(key, category); !s) {
        return Status::errorf("{}:{}: {}", pins_path, reader.line(), s.message());
      }
    }
    if (!reader.status()) return reader.status();
  }
  if (!names_path.empty()) {
    CsvReader reader(names_path);
    bool first_row = true;
    while (reader.next(f)) {
      const bool is_first = std::exchange(first_row, false);
      uint32_t category = 0;
      if (f.size() != 2 || !parse_u32(f[0], category)) {
        if (is_first && f.size() == 2) continue;
        return Status::errorf("{}:{}: expected 'category_id,name'", names_path, reader.line());
      }
      table.set_name(category, f[1]);
    }
    if (!reader.status()) return reader.status();
  }
  return table;
}

}  // namespace enrichd
