// Geo lookups over a batch of addresses on any backend: addresses in one of the table's IPv4 aliases
// (IPv4-compatible, 6to4, Teredo, ... as the source database says) are turned into IPv4 on the host,
// then each family goes to the backend in one call. The enrich stage and `enrichd geo lookup` share it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "host/geo_table.h"
#include "kernels/backend.h"

namespace enrichd {

class GeoLookup {
 public:
  void clear();
  // Queues the address of `row` (any caller-chosen id).
  void add(const GeoTable& table, uint32_t row, const IpAddress& ip);
  // Looks up everything queued since clear().
  Status run(EnrichBackend& backend, const GeoTable& table);
  // Calls f(row, record) for every queued address, after run().
  template <typename F>
  void for_each_result(F&& f) const {
    for (size_t i = 0; i < v4_rows_.size(); ++i) f(v4_rows_[i], v4_out_[i]);
    for (size_t i = 0; i < v6_rows_.size(); ++i) f(v6_rows_[i], v6_out_[i]);
  }

 private:
  // Scratch reused across batches.
  std::vector<uint32_t> v4_rows_, v4_keys_, v4_out_, v6_rows_, v6_out_;
  std::vector<Ipv6> v6_keys_;
};

}  // namespace enrichd
