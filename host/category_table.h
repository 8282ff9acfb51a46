// The category dimension: pin_id -> category_id in an open-addressing hash table (linear probing), and
// category_id -> name. A key absent from the table joins to kNoRecord.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "host/event_batch.h"
#include "host/status.h"

namespace enrichd {

struct CategorySlot {
  uint64_t key;
  uint32_t value;
};

// Trivially copyable view for lookup kernels. Empty slots hold kEmptyKey; the one real key equal to
// kEmptyKey is kept aside in (has_empty_key, empty_key_value).
struct CategoryTableView {
  static constexpr uint64_t kEmptyKey = UINT64_MAX;
  std::span<const CategorySlot> slots;  // size is a power of two
  uint64_t mask = 0;
  bool has_empty_key = false;
  uint32_t empty_key_value = kNoRecord;
};

// splitmix64's finaliser: cheap and mixes every input bit into the low bits used for the slot index.
constexpr uint64_t hash_key(uint64_t k) {
  k ^= k >> 30;
  k *= 0xbf58476d1ce4e5b9ULL;
  k ^= k >> 27;
  k *= 0x94d049bb133111ebULL;
  k ^= k >> 31;
  return k;
}

class CategoryTable {
 public:
  CategoryTable();

  // Inserts or confirms a key. A key already present with another value is an error.
  Status insert(uint64_t key, uint32_t category_id);
  void set_name(uint32_t category_id, std::string name) { names_[category_id] = std::move(name); }

  // pins: "pin_id,category_id"; names: "category_id,name" (header lines optional, '#' comments).
  static Result<CategoryTable> load_csv(const std::string& pins_path, const std::string& names_path);

  CategoryTableView view() const;
  size_t size() const { return size_; }
  // Empty string when the category has no name.
  const std::string& name(uint32_t category_id) const;

 private:
  void grow();
  std::vector<CategorySlot> slots_;
  size_t size_ = 0;
  bool has_empty_key_ = false;
  uint32_t empty_key_value_ = kNoRecord;
  std::unordered_map<uint32_t, std::string> names_;
};

}  // namespace enrichd
