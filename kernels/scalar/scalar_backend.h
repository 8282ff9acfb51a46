// The reference backend: plain, obviously right code that every other backend is tested against.
#pragma once

#include "kernels/backend.h"

namespace enrichd {

class ScalarBackend final : public EnrichBackend {
 public:
  std::string_view name() const override { return "scalar"; }
  Status geo_lookup_v4(const GeoTableView& table, std::span<const uint32_t> addrs,
                       std::span<uint32_t> records) override;
  Status geo_lookup_v6(const GeoTableView& table, std::span<const Ipv6> addrs,
                       std::span<uint32_t> records) override;
  Status category_join(const CategoryTableView& table, std::span<const uint64_t> keys,
                       std::span<uint32_t> values) override;
};

// Single-query forms, also used by tests as the definition of a correct answer.
uint32_t scalar_geo_lookup_v4(const GeoTableView& table, uint32_t addr);
uint32_t scalar_geo_lookup_v6(const GeoTableView& table, const Ipv6& addr);
uint32_t scalar_category_lookup(const CategoryTableView& table, uint64_t key);

}  // namespace enrichd
