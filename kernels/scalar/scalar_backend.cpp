#include "kernels/scalar/scalar_backend.h"

#include <algorithm>

namespace enrichd {
namespace {

Status check_sizes(size_t in, size_t out) {
  if (in != out) return Status::errorf("backend: {} inputs but room for {} outputs", in, out);
  return Status::ok();
}

// The range holding `key` is the last one whose start is <= key (starts[0] is the family's minimum).
template <typename Key>
uint32_t predecessor_record(std::span<const Key> starts, std::span<const uint32_t> records, const Key& key) {
  if (starts.empty()) return kNoRecord;
  auto it = std::upper_bound(starts.begin(), starts.end(), key);
  return records[static_cast<size_t>(it - starts.begin()) - 1];
}

}  // namespace

uint32_t scalar_geo_lookup_v4(const GeoTableView& t, uint32_t addr) {
  return predecessor_record(t.v4_starts, t.v4_records, addr);
}

uint32_t scalar_geo_lookup_v6(const GeoTableView& t, const Ipv6& addr) {
  if (!t.v6_starts64.empty()) return predecessor_record(t.v6_starts64, t.v6_records, addr.hi);
  return predecessor_record(t.v6_starts, t.v6_records, addr);
}

uint32_t scalar_category_lookup(const CategoryTableView& t, uint64_t key) {
  if (key == CategoryTableView::kEmptyKey) return t.has_empty_key ? t.empty_key_value : kNoRecord;
  if (t.buckets.empty()) return kNoRecord;  // a default (empty) view
  // The first code >= the key's, from the home bucket's first slot on, decides: the codes ascend. It is in
  // the first bucket whose last code is >= the key's (the last bucket is empty, so there is one).
  const uint64_t code = category_code(key);
  const CategoryBucket* b = &t.buckets[category_home(code, t.home_buckets)];
  while (b->codes[CategoryBucket::kSlots - 1] < code) ++b;
  for (int s = 0;; ++s) {
    if (b->codes[s] >= code) return b->codes[s] == code ? b->values[s] : kNoRecord;
  }
}

Status ScalarBackend::geo_lookup_v4(const GeoTableView& table, std::span<const uint32_t> addrs,
                                    std::span<uint32_t> records) {
  if (Status s = check_sizes(addrs.size(), records.size()); !s) return s;
  for (size_t i = 0; i < addrs.size(); ++i) records[i] = scalar_geo_lookup_v4(table, addrs[i]);
  return Status::ok();
}

Status ScalarBackend::geo_lookup_v6(const GeoTableView& table, std::span<const Ipv6> addrs,
                                    std::span<uint32_t> records) {
  if (Status s = check_sizes(addrs.size(), records.size()); !s) return s;
  for (size_t i = 0; i < addrs.size(); ++i) records[i] = scalar_geo_lookup_v6(table, addrs[i]);
  return Status::ok();
}

Status ScalarBackend::category_join(const CategoryTableView& table, std::span<const uint64_t> keys,
                                    std::span<uint32_t> values) {
  if (Status s = check_sizes(keys.size(), values.size()); !s) return s;
  for (size_t i = 0; i < keys.size(); ++i) values[i] = scalar_category_lookup(table, keys[i]);
  return Status::ok();
}

}  // namespace enrichd
