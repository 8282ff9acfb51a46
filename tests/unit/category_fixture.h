// Category tables and join queries for the backend tests (unit and gpu): tables at every load the table
// can have (fresh after growth, at the maximum load, with every home slot full), with and without the
// extreme keys, and queries that hit, miss far away, and miss right next to a stored code (same home
// bucket, between two stored codes), which is where an ordered probe could stop wrongly.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "host/category_table.h"

namespace enrichd::testing_util {

// "" when the view keeps the invariants of CategoryTableView, else what is wrong first.
inline std::string check_category_view(const CategoryTableView& v) {
  if (v.buckets.empty()) return "";
  constexpr uint64_t kSlots = CategoryBucket::kSlots;
  if (v.home_buckets == 0 || v.buckets.size() <= v.home_buckets) return "no tail bucket";
  for (uint64_t s = 0; s < kSlots; ++s) {
    if (v.buckets.back().codes[s] != CategoryTableView::kEmptyCode) return "the last bucket is not empty";
  }
  uint64_t next = 0;  // the first slot the next code may take
  bool have_prev = false;
  uint64_t prev = 0;
  for (uint64_t b = 0; b < v.buckets.size(); ++b) {
    const CategoryBucket& bucket = v.buckets[b];
    bool empty_seen = false;
    for (uint64_t s = 0; s < kSlots; ++s) {
      const uint64_t code = bucket.codes[s];
      if (code == CategoryTableView::kEmptyCode) {
        if (bucket.values[s] != kNoRecord) return "an empty slot has a value";
        empty_seen = true;
        continue;
      }
      if (empty_seen) return "bucket " + std::to_string(b) + " has a full slot after an empty one";
      if (have_prev && code <= prev) return "codes do not ascend at bucket " + std::to_string(b);
      const uint64_t want = std::max(category_home(code, v.home_buckets) * kSlots, next);
      if (b * kSlots + s != want) {
        return "code at slot " + std::to_string(b * kSlots + s) + " belongs at " + std::to_string(want);
      }
      next = want + 1;
      prev = code;
      have_prev = true;
    }
  }
  return "";
}

// Every stored key of a view.
inline std::vector<uint64_t> stored_keys(const CategoryTableView& v) {
  std::vector<uint64_t> keys;
  for (const CategoryBucket& b : v.buckets) {
    for (uint64_t code : b.codes) {
      if (code != CategoryTableView::kEmptyCode) keys.push_back(category_key(code));
    }
  }
  if (v.has_empty_key) keys.push_back(CategoryTableView::kEmptyKey);
  return keys;
}

// Every stored key, 0, 1, UINT64_MAX and UINT64_MAX - 1, `random` random keys, and for up to `near`
// stored codes the keys whose codes are one below and one above (absent unless the neighbour is stored
// too), shuffled.
inline std::vector<uint64_t> join_queries(const CategoryTableView& v, size_t random, uint64_t seed,
                                          size_t near = 2000) {
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> q = stored_keys(v);
  const size_t stored = q.size();
  for (size_t i = 0; i < stored && i < near; ++i) {
    const uint64_t code = category_code(q[i]);
    if (code > 0) q.push_back(category_key(code - 1));
    if (code < CategoryTableView::kEmptyCode - 1) q.push_back(category_key(code + 1));
  }
  for (uint64_t k : {uint64_t{0}, uint64_t{1}, UINT64_MAX, UINT64_MAX - 1}) q.push_back(k);
  for (size_t i = 0; i < random; ++i) q.push_back(rng());
  std::shuffle(q.begin(), q.end(), rng);
  return q;
}

// A value for a key that any later insert of the same key repeats.
inline uint32_t value_for(uint64_t key) {
  return static_cast<uint32_t>(hash_key(key ^ 0x5555) % 100000);
}

struct CategoryCase {
  std::string name;
  CategoryTable table;
};

// Tables of each size in `sizes` at each load the table can have: as grown by inserts (between the
// minimum and the maximum load), at the maximum load (shrink_to_fit), and with every home slot full
// (rehash: load 1, runs spill into the tail); each with random keys, half of them also with 0 and
// UINT64_MAX (kept aside).
inline std::vector<CategoryCase> category_cases(const std::vector<size_t>& sizes, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<CategoryCase> cases;
  for (size_t n : sizes) {
    for (bool extremes : {false, true}) {
      CategoryTable grown;
      if (extremes) {
        (void)grown.insert(0, value_for(0));
        (void)grown.insert(UINT64_MAX, value_for(UINT64_MAX));
      }
      while (grown.size() < n) {
        const uint64_t k = rng() % 3 == 0 ? rng() % 1000000 : rng();
        (void)grown.insert(k, value_for(k));
      }
      const std::string tag = std::to_string(n) + (extremes ? " keys with 0 and all-ones" : " keys");
      CategoryTable at_max = grown;
      at_max.shrink_to_fit();
      CategoryTable full = grown;
      const uint64_t in_buckets = grown.size() - (grown.view().has_empty_key ? 1 : 0);
      const uint64_t homes = (in_buckets + CategoryBucket::kSlots - 1) / CategoryBucket::kSlots;
      (void)full.rehash(std::max<uint64_t>(1, homes));
      cases.push_back({tag + ", grown", std::move(grown)});
      cases.push_back({tag + ", at the maximum load", std::move(at_max)});
      cases.push_back({tag + ", every home slot full", std::move(full)});
    }
  }
  return cases;
}

}  // namespace enrichd::testing_util
