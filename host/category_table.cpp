#include "host/category_table.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "host/csv.h"

namespace enrichd {
namespace {

constexpr uint64_t kEmptyCode = CategoryTableView::kEmptyCode;
constexpr uint64_t kSlots = CategoryBucket::kSlots;
// Tables of at least this many bytes are 2 MiB aligned and asked to use transparent huge pages: lookups
// go to random buckets, and with 4 KiB pages nearly each one would also miss the TLB.
constexpr size_t kHugePage = size_t{2} << 20;

// The inverse of multiplication by an odd constant modulo 2^64 (Newton's iteration doubles the correct
// low bits each step: 3, 6, 12, 24, 48, 96).
constexpr uint64_t mul_inverse(uint64_t c) {
  uint64_t x = c;
  for (int i = 0; i < 5; ++i) x *= 2 - c * x;
  return x;
}
static_assert(0xbf58476d1ce4e5b9ULL * mul_inverse(0xbf58476d1ce4e5b9ULL) == 1);
static_assert(0x94d049bb133111ebULL * mul_inverse(0x94d049bb133111ebULL) == 1);

// x ^= x >> s, undone (s >= 22, so three terms cover all 64 bits).
constexpr uint64_t unshift(uint64_t x, int s) {
  return x ^ (x >> s) ^ (x >> (2 * s)) ^ (s * 3 < 64 ? x >> (3 * s) : 0);
}

constexpr uint64_t unhash_key(uint64_t k) {
  k = unshift(k, 31);
  k *= mul_inverse(0x94d049bb133111ebULL);
  k = unshift(k, 27);
  k *= mul_inverse(0xbf58476d1ce4e5b9ULL);
  k = unshift(k, 30);
  return k;
}
static_assert(unhash_key(hash_key(0)) == 0 && unhash_key(hash_key(1)) == 1 &&
              unhash_key(hash_key(UINT64_MAX)) == UINT64_MAX &&
              unhash_key(hash_key(0x0123456789abcdefULL)) == 0x0123456789abcdefULL);

CategoryBucket empty_bucket() {
  CategoryBucket b{};
  std::fill(std::begin(b.codes), std::end(b.codes), kEmptyCode);
  std::fill(std::begin(b.values), std::end(b.values), kNoRecord);
  return b;
}

// Home buckets for `keys` keys at `keys_per_10_buckets` / 10 keys per bucket (at least one).
uint64_t homes_for(uint64_t keys, uint64_t keys_per_10_buckets) {
  return std::max<uint64_t>(1, (keys * 10 + keys_per_10_buckets - 1) / keys_per_10_buckets);
}

}  // namespace

uint64_t category_key(uint64_t code) {
  return unhash_key(code ^ kCategoryCodeXor);
}

// ---- storage ----

namespace {

// Mapped tables take whole 2 MiB blocks, each of which can then be one huge page.
size_t huge_round(size_t bytes) {
  return (bytes + kHugePage - 1) / kHugePage * kHugePage;
}

void advise_huge(void* p, size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  (void)madvise(p, bytes, MADV_HUGEPAGE);  // advice only: fine if refused
#else
  (void)p;
  (void)bytes;
#endif
}

#if defined(__linux__)
// `length` bytes of anonymous memory at a 2 MiB aligned address.
void* map_aligned(size_t length) {
  void* p = mmap(nullptr, length + kHugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  const auto base = reinterpret_cast<uintptr_t>(p);
  const uintptr_t aligned = (base + kHugePage - 1) / kHugePage * kHugePage;
  if (aligned > base) munmap(p, aligned - base);
  munmap(reinterpret_cast<void*>(aligned + length), base + kHugePage - aligned);
  return reinterpret_cast<void*>(aligned);
}

// Large tables: anonymous memory mapped 2 MiB aligned in whole 2 MiB blocks, so that all of it can use
// huge pages, and grown or shrunk in place (mremap) without holding two copies.
CategoryBucket* map_buckets(size_t bytes) {
  void* p = map_aligned(huge_round(bytes));
  advise_huge(p, huge_round(bytes));
  return static_cast<CategoryBucket*>(p);
}

// The mapping [p, p + old_length) resized to `length` bytes, in place when it can be, else moved (its
// pages, not copies of them) to a fresh 2 MiB aligned address, so that its huge pages stay whole.
void* remap_buckets(void* p, size_t old_length, size_t length) {
  void* q = mremap(p, old_length, length, 0);
  if (q != MAP_FAILED) return q;
  if (length <= old_length) throw std::bad_alloc();  // shrinking in place cannot fail
  void* to = map_aligned(length);
  q = mremap(p, old_length, length, MREMAP_MAYMOVE | MREMAP_FIXED, to);
  if (q == MAP_FAILED) {
    munmap(to, length);
    throw std::bad_alloc();
  }
  return q;
}
#endif

}  // namespace

void CategoryTable::free_storage() {
  if (buckets_ == nullptr) return;
#if defined(__linux__)
  if (mapped_) {
    munmap(buckets_, huge_round(bucket_count_ * sizeof(CategoryBucket)));
  } else {
    std::free(buckets_);
  }
#else
  std::free(buckets_);
#endif
  buckets_ = nullptr;
  bucket_count_ = 0;
  mapped_ = false;
}

void CategoryTable::resize_storage(uint64_t count) {
  const size_t old_bytes = bucket_count_ * sizeof(CategoryBucket);
  const size_t bytes = count * sizeof(CategoryBucket);
#if defined(__linux__)
  if (mapped_ && bytes >= kHugePage) {
    void* p = remap_buckets(buckets_, huge_round(old_bytes), huge_round(bytes));
    if (bytes > old_bytes) advise_huge(p, huge_round(bytes));
    buckets_ = static_cast<CategoryBucket*>(p);
    bucket_count_ = count;
    return;
  }
  const bool map = bytes >= kHugePage;
#else
  const bool map = false;
#endif
  CategoryBucket* fresh = nullptr;
  if (map) {
#if defined(__linux__)
    fresh = map_buckets(bytes);
#endif
  } else {
    fresh = static_cast<CategoryBucket*>(std::aligned_alloc(alignof(CategoryBucket), bytes));
    if (fresh == nullptr) throw std::bad_alloc();
  }
  if (buckets_ != nullptr) std::memcpy(fresh, buckets_, std::min(bytes, old_bytes));
  free_storage();
  buckets_ = fresh;
  mapped_ = map;
  bucket_count_ = count;
}

CategoryTable::CategoryTable() {
  rebuild(1, 1);
}

CategoryTable::~CategoryTable() {
  free_storage();
}

CategoryTable::CategoryTable(const CategoryTable& other)
    : home_buckets_(other.home_buckets_),
      slot_count_(other.slot_count_),
      size_(other.size_),
      has_empty_key_(other.has_empty_key_),
      empty_key_value_(other.empty_key_value_),
      categories_(other.categories_) {
  if (other.bucket_count_ != 0) {
    resize_storage(other.bucket_count_);
    std::memcpy(buckets_, other.buckets_, memory_bytes());
  }
}

CategoryTable& CategoryTable::operator=(const CategoryTable& other) {
  if (this != &other) *this = CategoryTable(other);
  return *this;
}

CategoryTable::CategoryTable(CategoryTable&& other) noexcept
    : buckets_(std::exchange(other.buckets_, nullptr)),
      mapped_(std::exchange(other.mapped_, false)),
      bucket_count_(std::exchange(other.bucket_count_, 0)),
      home_buckets_(std::exchange(other.home_buckets_, 0)),
      slot_count_(std::exchange(other.slot_count_, 0)),
      size_(std::exchange(other.size_, 0)),
      has_empty_key_(std::exchange(other.has_empty_key_, false)),
      empty_key_value_(std::exchange(other.empty_key_value_, kNoRecord)),
      generation_(std::exchange(other.generation_, next_table_generation())),
      categories_(std::move(other.categories_)) {
  other.categories_.clear();
}

CategoryTable& CategoryTable::operator=(CategoryTable&& other) noexcept {
  if (this != &other) {
    free_storage();
    buckets_ = std::exchange(other.buckets_, nullptr);
    mapped_ = std::exchange(other.mapped_, false);
    bucket_count_ = std::exchange(other.bucket_count_, 0);
    home_buckets_ = std::exchange(other.home_buckets_, 0);
    slot_count_ = std::exchange(other.slot_count_, 0);
    size_ = std::exchange(other.size_, 0);
    has_empty_key_ = std::exchange(other.has_empty_key_, false);
    empty_key_value_ = std::exchange(other.empty_key_value_, kNoRecord);
    generation_ = std::exchange(other.generation_, next_table_generation());
    categories_ = std::move(other.categories_);
    other.categories_.clear();
  }
  return *this;
}

// ---- layout ----

void CategoryTable::rebuild(uint64_t home_buckets, uint64_t min_tail) {
  // The occupied slots of each bucket are a prefix, and in slot order the codes ascend. Each code's new
  // slot is its new home bucket's first slot or the slot after the code before it, whichever is later.
  // With more home buckets no code's slot moves left (homes only grow), with fewer none moves right, so
  // the codes can move within the table: right to left when growing, left to right when shrinking.
  const bool grow = home_buckets > home_buckets_;
  const uint64_t old_count = bucket_count_;
  auto new_slot = [&](uint64_t code, uint64_t next) {
    return std::max(category_home(code, home_buckets) * kSlots, next);
  };
  // Dry run: where the last code goes, and (growing) every kChunk-th code's old slot and new lower bound,
  // from which each chunk's new slots can be worked out again, chunk by chunk from the end.
  constexpr uint64_t kChunk = 4096;
  struct Checkpoint {
    uint64_t old_slot;
    uint64_t next;
  };
  std::vector<Checkpoint> checkpoints;
  uint64_t next = 0;  // first slot after the last placed code
  uint64_t placed = 0;
  for (uint64_t b = 0; b < old_count; ++b) {
    const CategoryBucket& bucket = buckets_[b];
    for (uint64_t s = 0; s < kSlots && bucket.codes[s] != kEmptyCode; ++s) {
      if (grow && placed % kChunk == 0) checkpoints.push_back({b * kSlots + s, next});
      next = new_slot(bucket.codes[s], next) + 1;
      ++placed;
    }
  }
  // Buckets up to the last used one, then at least one empty bucket, and at least min_tail past the homes.
  const uint64_t count = std::max(home_buckets + min_tail, (next + kSlots - 1) / kSlots + 1);
  if (count > old_count) {
    resize_storage(count);
    std::uninitialized_fill(buckets_ + old_count, buckets_ + count, empty_bucket());
  }
  auto move = [&](uint64_t from, uint64_t to) {
    CategoryBucket& src = buckets_[from / kSlots];
    const uint64_t code = src.codes[from % kSlots];
    const uint32_t value = src.values[from % kSlots];
    src.codes[from % kSlots] = kEmptyCode;
    src.values[from % kSlots] = kNoRecord;
    buckets_[to / kSlots].codes[to % kSlots] = code;
    buckets_[to / kSlots].values[to % kSlots] = value;
  };
  if (grow) {
    // Chunks from the last: work out the chunk's new slots going forward, then move its codes going back
    // (every later code already sits right of them, and no earlier code is in the way).
    std::vector<std::pair<uint64_t, uint64_t>> chunk;  // (old slot, new slot)
    for (size_t c = checkpoints.size(); c-- > 0;) {
      chunk.clear();
      uint64_t at = checkpoints[c].old_slot;
      uint64_t chunk_next = checkpoints[c].next;
      const uint64_t size = std::min(kChunk, placed - c * kChunk);
      while (chunk.size() < size) {
        const uint64_t code = code_at(at);
        if (code != kEmptyCode) {
          const uint64_t to = new_slot(code, chunk_next);
          chunk.emplace_back(at, to);
          chunk_next = to + 1;
        }
        ++at;
      }
      for (size_t i = chunk.size(); i-- > 0;) {
        if (chunk[i].first != chunk[i].second) move(chunk[i].first, chunk[i].second);
      }
    }
  } else {
    next = 0;
    for (uint64_t b = 0; b < old_count; ++b) {
      for (uint64_t s = 0; s < kSlots; ++s) {
        const uint64_t code = buckets_[b].codes[s];
        if (code == kEmptyCode) break;  // the rest of this bucket is empty too
        const uint64_t to = new_slot(code, next);
        if (to != b * kSlots + s) move(b * kSlots + s, to);
        next = to + 1;
        // A code moved into this bucket's earlier slots leaves slot s empty: the bucket's remaining codes
        // are still in slots s+1.., which the loop reads next (it stops only at an empty slot it has not
        // just emptied).
      }
    }
  }
  if (count < bucket_count_) resize_storage(count);  // the buckets past `count` are empty now
  home_buckets_ = home_buckets;
  generation_ = next_table_generation();
}

Status CategoryTable::insert(uint64_t key, uint32_t category_id) {
  if (category_id == kNoRecord) {
    return Status::errorf("category id {} is reserved for 'none'", category_id);
  }
  if (key == CategoryTableView::kEmptyKey) {
    if (has_empty_key_ && empty_key_value_ != category_id) {
      return Status::errorf("key {} already maps to category {}", key, empty_key_value_);
    }
    if (!has_empty_key_) ++size_;
    has_empty_key_ = true;
    empty_key_value_ = category_id;
    return Status::ok();
  }
  if (bucket_count_ == 0) rebuild(1, 1);  // a moved-from table
  const uint64_t code = category_code(key);
  // The first slot from the home bucket on whose code is >= this one: (sb, ss).
  uint64_t sb = category_home(code, home_buckets_);
  while (buckets_[sb].codes[kSlots - 1] < code) ++sb;
  uint64_t ss = 0;
  while (buckets_[sb].codes[ss] < code) ++ss;
  if (buckets_[sb].codes[ss] == code) {
    const uint32_t value = buckets_[sb].values[ss];
    if (value != category_id) return Status::errorf("key {} already maps to category {}", key, value);
    return Status::ok();
  }
  // A new key. Past the maximum load, grow to the minimum load first.
  if ((slot_count_ + 1) * 10 > kMaxKeysPer10Buckets * home_buckets_) {
    rebuild(homes_for(slot_count_ + 1, static_cast<uint64_t>(kMinLoad * 50)), 1);
    return insert(key, category_id);
  }
  // The first empty slot from there on: (eb, es). The run in between moves one slot on, and the last
  // bucket must stay empty.
  uint64_t eb = sb;
  while (buckets_[eb].codes[kSlots - 1] != kEmptyCode) ++eb;
  uint64_t es = eb == sb ? ss : 0;
  while (buckets_[eb].codes[es] != kEmptyCode) ++es;
  if (eb + 1 >= bucket_count_) {
    rebuild(home_buckets_, 2 * (bucket_count_ - home_buckets_));
    return insert(key, category_id);
  }
  // Slots [from, from + n) of a bucket one slot on, within the bucket.
  auto shift = [](CategoryBucket& b, uint64_t from, uint64_t n) {
    std::memmove(&b.codes[from + 1], &b.codes[from], n * sizeof(uint64_t));
    std::memmove(&b.values[from + 1], &b.values[from], n * sizeof(uint32_t));
  };
  if (eb == sb) {
    shift(buckets_[sb], ss, es - ss);
  } else {
    // From the last bucket back: each takes the previous bucket's last code into its first slot.
    for (uint64_t b = eb; b > sb; --b) {
      shift(buckets_[b], 0, b == eb ? es : kSlots - 1);
      buckets_[b].codes[0] = buckets_[b - 1].codes[kSlots - 1];
      buckets_[b].values[0] = buckets_[b - 1].values[kSlots - 1];
    }
    shift(buckets_[sb], ss, kSlots - 1 - ss);
  }
  buckets_[sb].codes[ss] = code;
  buckets_[sb].values[ss] = category_id;
  generation_ = next_table_generation();
  ++slot_count_;
  ++size_;
  return Status::ok();
}

Status CategoryTable::insert_batch(std::span<const uint64_t> keys, std::span<const uint32_t> category_ids,
                                   size_t& done) {
  if (keys.size() != category_ids.size()) {
    done = 0;
    return Status::errorf("insert_batch: {} keys but {} category ids", keys.size(), category_ids.size());
  }
  constexpr size_t kAhead = 16;  // inserts in flight; the table may grow meanwhile, which only wastes a hint
  auto prefetch = [&](size_t i) {
    if (i < keys.size() && bucket_count_ != 0) {
      const CategoryBucket* b = buckets_ + category_home(category_code(keys[i]), home_buckets_);
      __builtin_prefetch(b, 1);
      __builtin_prefetch(b + 1, 1);
    }
  };
  for (size_t i = 0; i < kAhead; ++i) prefetch(i);
  for (done = 0; done < keys.size(); ++done) {
    prefetch(done + kAhead);
    if (Status s = insert(keys[done], category_ids[done]); !s) return s;
  }
  return Status::ok();
}

uint32_t CategoryTable::find(uint64_t key) const {
  if (key == CategoryTableView::kEmptyKey) return has_empty_key_ ? empty_key_value_ : kNoRecord;
  if (bucket_count_ == 0) return kNoRecord;
  const uint64_t code = category_code(key);
  uint64_t slot = category_home(code, home_buckets_) * kSlots;
  while (code_at(slot) < code) ++slot;
  return code_at(slot) == code ? buckets_[slot / kSlots].values[slot % kSlots] : kNoRecord;
}

void CategoryTable::reserve(size_t keys) {
  const uint64_t homes = homes_for(keys, kMaxKeysPer10Buckets);
  if (homes > home_buckets_) rebuild(homes, 1);
}

void CategoryTable::shrink_to_fit() {
  const uint64_t homes = homes_for(slot_count_, kMaxKeysPer10Buckets);
  if (homes <= home_buckets_) rebuild(homes, 1);
}

Status CategoryTable::rehash(uint64_t home_buckets) {
  if (home_buckets == 0 || home_buckets * kSlots < slot_count_) {
    return Status::errorf("{} home buckets cannot hold {} keys ({} per bucket)", home_buckets, slot_count_,
                          kSlots);
  }
  rebuild(home_buckets, 1);
  return Status::ok();
}

CategoryTableView CategoryTable::view() const {
  return {std::span<const CategoryBucket>(buckets_, bucket_count_), home_buckets_, has_empty_key_,
          empty_key_value_, generation_};
}

double CategoryTable::load_factor() const {
  return home_buckets_ == 0 ? 0.0
                            : static_cast<double>(slot_count_) / static_cast<double>(home_buckets_ * kSlots);
}

// ---- the dimension ----

Status CategoryTable::add_category(uint32_t category_id, std::string name, uint32_t parent) {
  if (category_id == kNoRecord) {
    return Status::errorf("category id {} is reserved for 'none'", category_id);
  }
  if (parent == category_id) return Status::errorf("category {} cannot be its own parent", category_id);
  auto it = categories_.find(category_id);
  if (it == categories_.end()) {
    categories_.emplace(category_id, Category{std::move(name), parent});
    return Status::ok();
  }
  if (it->second.name != name || it->second.parent != parent) {
    const std::string had_parent =
        it->second.parent == kNoRecord ? "no parent" : fmt::format("parent {}", it->second.parent);
    return Status::errorf("category {} already has the name '{}' and {}", category_id, it->second.name,
                          had_parent);
  }
  return Status::ok();
}

const std::string& CategoryTable::name(uint32_t category_id) const {
  static const std::string kEmpty;
  auto it = categories_.find(category_id);
  return it == categories_.end() ? kEmpty : it->second.name;
}

uint32_t CategoryTable::parent(uint32_t category_id) const {
  auto it = categories_.find(category_id);
  return it == categories_.end() ? kNoRecord : it->second.parent;
}

Status CategoryTable::check_parents() const {
  uint32_t worst = kNoRecord;
  for (const auto& [id, c] : categories_) {
    if (c.parent != kNoRecord && !has_category(c.parent) && (worst == kNoRecord || id < worst)) worst = id;
  }
  if (worst == kNoRecord) return Status::ok();
  return Status::errorf("the parent {} of category {} names no category", parent(worst), worst);
}

// ---- CSV ----

Result<CategoryTable> CategoryTable::load_csv(const std::string& pins_path, const std::string& names_path) {
  CategoryTable table;
  std::vector<std::string> f;
  {
    // Rows go in in batches (insert_batch prefetches), each remembering its line for the errors.
    constexpr size_t kBatch = 1024;
    std::vector<uint64_t> keys, lines;
    std::vector<uint32_t> categories;
    auto flush = [&]() -> Status {
      size_t done = 0;
      Status s = table.insert_batch(keys, categories, done);
      if (!s) return Status::errorf("{}:{}: {}", pins_path, lines[done], s.message());
      keys.clear();
      categories.clear();
      lines.clear();
      return Status::ok();
    };
    CsvReader reader(pins_path);
    bool first_row = true;
    while (reader.next(f)) {
      const bool is_first = std::exchange(first_row, false);
      uint64_t key = 0;
      uint32_t category = 0;
      if (f.size() != 2 || !parse_u64(f[0], key) || !parse_u32(f[1], category)) {
        if (is_first && f.size() == 2) continue;  // a header line
        // The rows before it first: an error among them comes first in the file.
        if (Status s = flush(); !s) return s;
        return Status::errorf("{}:{}: expected 'pin_id,category_id' with unsigned integers", pins_path,
                              reader.line());
      }
      keys.push_back(key);
      categories.push_back(category);
      lines.push_back(reader.line());
      if (keys.size() == kBatch) {
        if (Status s = flush(); !s) return s;
      }
    }
    if (Status s = flush(); !s) return s;
    if (!reader.status()) return reader.status();
  }
  if (!names_path.empty()) {
    struct ParentRef {
      size_t line;
      uint32_t category;
      uint32_t parent;
    };
    std::vector<ParentRef> parents;
    CsvReader reader(names_path);
    bool first_row = true;
    while (reader.next(f)) {
      const bool is_first = std::exchange(first_row, false);
      uint32_t category = 0;
      uint32_t parent = kNoRecord;
      const bool shape = f.size() == 2 || f.size() == 3;
      if (!shape || !parse_u32(f[0], category) ||
          (f.size() == 3 && !f[2].empty() && !parse_u32(f[2], parent))) {
        if (is_first && shape && !parse_u32(f[0], category)) continue;  // a header line
        return Status::errorf("{}:{}: expected 'category_id,name[,parent_id]' with unsigned integer ids",
                              names_path, reader.line());
      }
      if (f.size() == 3 && !f[2].empty() && parent == kNoRecord) {
        return Status::errorf("{}:{}: parent id {} is reserved for 'none'", names_path, reader.line(),
                              parent);
      }
      if (Status s = table.add_category(category, f[1], parent); !s) {
        return Status::errorf("{}:{}: {}", names_path, reader.line(), s.message());
      }
      if (parent != kNoRecord) parents.push_back({reader.line(), category, parent});
    }
    if (!reader.status()) return reader.status();
    for (const ParentRef& p : parents) {
      if (!table.has_category(p.parent)) {
        return Status::errorf("{}:{}: the parent {} of category {} names no category in this file",
                              names_path, p.line, p.parent, p.category);
      }
    }
  }
  table.shrink_to_fit();
  return table;
}

}  // namespace enrichd
