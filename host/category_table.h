// The category dimension: pin_id -> category_id in a compact hash table, and category_id -> name and
// optional parent (a two-level taxonomy). A key absent from the table joins to kNoRecord.
//
// Layout (see CategoryTableView): keys are stored as their 64-bit codes, a bijective hash of the key, in
// 64-byte buckets of 5 (code, value) slots. Codes are kept in ascending order across the whole table
// (ordered linear probing, also called Robin Hood hashing by hash value): a code sits in its home bucket
// (the high word of code * home_buckets) or, when that is full, as close after it as the order allows.
// A lookup therefore reads its home bucket, and the next one only when the home bucket is full and all
// its codes are smaller; a miss stops as early as a hit. At the maximum load (kMaxLoad, 4.1 keys per
// bucket) the table takes about 15.6 bytes per key; CPU lookups read 1.3 buckets on average.
//
// The key UINT64_MAX is the one whose code is the empty-slot marker; it is kept aside (has_empty_key).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>

#include "host/event_batch.h"
#include "host/status.h"
#include "host/table_generation.h"

namespace enrichd {

// splitmix64's finaliser: cheap and mixes every input bit into every output bit. A bijection on 64-bit
// words (each step is invertible).
constexpr uint64_t hash_key(uint64_t k) {
  k ^= k >> 30;
  k *= 0xbf58476d1ce4e5b9ULL;
  k ^= k >> 27;
  k *= 0x94d049bb133111ebULL;
  k ^= k >> 31;
  return k;
}

// The code a key is stored and probed by: hash_key with a constant folded in so that the reserved key
// UINT64_MAX, and only it, has the code UINT64_MAX (the empty-slot marker). A bijection, so equal codes
// mean equal keys; category_key() inverts it.
inline constexpr uint64_t kCategoryCodeXor = hash_key(UINT64_MAX) ^ UINT64_MAX;
constexpr uint64_t category_code(uint64_t key) {
  return hash_key(key) ^ kCategoryCodeXor;
}
uint64_t category_key(uint64_t code);

// The home bucket of a code among `home_buckets`: the high word of code * home_buckets. Monotone in the
// code, which is what keeps the table ordered.
inline uint64_t category_home(uint64_t code, uint64_t home_buckets) {
  __extension__ using wide = unsigned __int128;
  return static_cast<uint64_t>((static_cast<wide>(code) * home_buckets) >> 64);
}

// One cache line: 5 codes, then their 5 values. Empty slots hold (kEmptyCode, kNoRecord) and come after
// the full ones; the codes of a bucket ascend.
struct alignas(64) CategoryBucket {
  static constexpr int kSlots = 5;
  uint64_t codes[kSlots];
  uint32_t values[kSlots];
  uint32_t unused;  // 0
};
static_assert(sizeof(CategoryBucket) == 64);

// Trivially copyable view for lookup kernels.
//
// Invariants (CategoryTable keeps them; a hand-built view must too):
//  - buckets = home_buckets home buckets, then at least one more; the last bucket is empty;
//  - read as one sequence of slots (bucket b, slot s at 5b + s), the full slots' codes ascend strictly,
//    and the code c sits at slot max(5 * category_home(c, home_buckets), slot of the next smaller code + 1).
// Lookup of a key (not kEmptyKey): c = category_code(key); from bucket category_home(c, home_buckets) on,
// the answer is the value next to c if a bucket holds it, else kNoRecord as soon as a bucket's last code is
// >= c (the last, empty, bucket always stops it). A default view has no buckets and misses every key
// but the one kept aside.
struct CategoryTableView {
  static constexpr uint64_t kEmptyKey = UINT64_MAX;
  static constexpr uint64_t kEmptyCode = UINT64_MAX;  // == category_code(kEmptyKey)
  std::span<const CategoryBucket> buckets;
  uint64_t home_buckets = 0;
  bool has_empty_key = false;
  uint32_t empty_key_value = kNoRecord;
  // Changes whenever the buckets may have changed (host/table_generation.h); 0 in a view built by hand.
  uint64_t generation = 0;
};
static_assert(category_code(CategoryTableView::kEmptyKey) == CategoryTableView::kEmptyCode);

// A category of the dimension. parent is kNoRecord for a top-level category.
struct Category {
  std::string name;
  uint32_t parent = kNoRecord;
};

class CategoryTable {
 public:
  // The table grows when an insert would take it past kMaxLoad keys per home slot, to kMinLoad;
  // shrink_to_fit() (which the loaders call when done) sizes it to kMaxLoad.
  static constexpr uint64_t kMaxKeysPer10Buckets = 41;  // kMaxLoad = 41 / 50 = 0.82
  static constexpr double kMaxLoad = static_cast<double>(kMaxKeysPer10Buckets) / 50;
  static constexpr double kMinLoad = 0.5;

  CategoryTable();
  ~CategoryTable();
  CategoryTable(const CategoryTable& other);
  CategoryTable& operator=(const CategoryTable& other);
  CategoryTable(CategoryTable&& other) noexcept;
  CategoryTable& operator=(CategoryTable&& other) noexcept;

  // Inserts or confirms a key. A key already present with another value is an error, and so is the
  // category id kNoRecord (reserved for "none").
  Status insert(uint64_t key, uint32_t category_id);
  // insert() for keys[i] -> category_ids[i] in order, prefetching the home buckets of the keys ahead:
  // much faster than one insert at a time once the table is larger than the caches. Stops at the first
  // error; `done` is then the index of the pair that failed (else the count).
  Status insert_batch(std::span<const uint64_t> keys, std::span<const uint32_t> category_ids, size_t& done);
  // The value of `key`, kNoRecord when absent (what every backend's category_join answers).
  uint32_t find(uint64_t key) const;
  // Room for `keys` keys at kMaxLoad without growing.
  void reserve(size_t keys);
  // Rebuilds at kMaxLoad (never grows the table).
  void shrink_to_fit();
  // Rebuilds with exactly `home_buckets` home buckets, for tests and tuning; any load up to every home slot
  // full (keys <= 5 * home_buckets). The next insert grows the table if it is past kMaxLoad.
  Status rehash(uint64_t home_buckets);

  CategoryTableView view() const;
  // Keys, counting the one kept aside.
  size_t size() const { return size_; }
  // Keys in buckets per home slot (the key kept aside not counted).
  double load_factor() const;
  // Bytes of the buckets (home and tail), the table's whole lookup structure. (Tables of 2 MiB and more
  // are mapped in whole 2 MiB blocks, for huge pages: up to 2 MiB more than this is mapped.)
  size_t memory_bytes() const { return bucket_count_ * sizeof(CategoryBucket); }

  // ---- the dimension: category id -> name, parent ----

  // Adds a category, or confirms one given again with the same name and parent. An error for the id
  // kNoRecord, a parent equal to the id, or an id already given with another name or parent. Parents
  // are not checked to exist here (they may come later): see check_parents().
  Status add_category(uint32_t category_id, std::string name, uint32_t parent = kNoRecord);
  // Sets (or replaces) a name with no parent and no checks.
  void set_name(uint32_t category_id, std::string name) { categories_[category_id] = {std::move(name)}; }
  // Empty string when the category has no name.
  const std::string& name(uint32_t category_id) const;
  // kNoRecord for a top-level or unknown category.
  uint32_t parent(uint32_t category_id) const;
  bool has_category(uint32_t category_id) const { return categories_.count(category_id) != 0; }
  size_t category_count() const { return categories_.size(); }
  // The first category whose parent names no category, as an error; ok when there is none.
  Status check_parents() const;

  // pins: "pin_id,category_id"; names: "category_id,name[,parent_id]" (an empty parent_id: none). Header
  // lines optional, '#' comments. Errors name file:line: a malformed row, a key or category given twice
  // with different values (the same row twice is fine), the reserved id kNoRecord, a parent that names
  // no category in the file. The table comes back at kMaxLoad (shrink_to_fit).
  static Result<CategoryTable> load_csv(const std::string& pins_path, const std::string& names_path);

 private:
  // Places the codes for `home_buckets` home buckets plus as many tail buckets as it takes (at least
  // `min_tail`), moving them within the table's own memory: a larger table grows its allocation in place
  // where it can (mremap) and moves codes right, a smaller one moves them left and then gives the rest
  // back, so that a rebuild needs at most the larger of the two tables, not both.
  void rebuild(uint64_t home_buckets, uint64_t min_tail);
  void resize_storage(uint64_t count);  // keeps the first min(count, bucket_count_) buckets
  void free_storage();
  uint64_t code_at(uint64_t slot) const { return buckets_[slot / 5].codes[slot % 5]; }

  CategoryBucket* buckets_ = nullptr;
  bool mapped_ = false;        // buckets_ came from mmap (large tables) rather than aligned_alloc
  uint64_t bucket_count_ = 0;  // home and tail, all allocated
  uint64_t home_buckets_ = 0;
  size_t slot_count_ = 0;  // keys in buckets
  size_t size_ = 0;        // slot_count_ plus the key kept aside
  bool has_empty_key_ = false;
  uint32_t empty_key_value_ = kNoRecord;
  uint64_t generation_ = next_table_generation();  // new whenever the buckets change
  std::unordered_map<uint32_t, Category> categories_;
};

}  // namespace enrichd
