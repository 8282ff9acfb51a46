// The backend seam: the hot lookups behind one interface, with several implementations chosen at run
// time (registry in priority order: cuda, avx2, scalar). Every backend must give results identical to
// `scalar` on any input.
#pragma once

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "host/category_table.h"
#include "host/geo_table.h"
#include "host/status.h"

namespace enrichd {

class EnrichBackend {
 public:
  virtual ~EnrichBackend() = default;
  virtual std::string_view name() const = 0;

  // records[i] = record of the range holding addrs[i] (kNoRecord in a gap). Sizes must match.
  virtual Status geo_lookup_v4(const GeoTableView& table, std::span<const uint32_t> addrs,
                               std::span<uint32_t> records) = 0;
  virtual Status geo_lookup_v6(const GeoTableView& table, std::span<const Ipv6> addrs,
                               std::span<uint32_t> records) = 0;
  // values[i] = category of keys[i], kNoRecord when the key is absent. Sizes must match.
  virtual Status category_join(const CategoryTableView& table, std::span<const uint64_t> keys,
                               std::span<uint32_t> values) = 0;
  // Gets ready for batches over these tables (at start and before a reload's tables are swapped in), so
  // that the first batch does not pay for it: a device backend uploads its copies here. May run on
  // another thread than the batches. An error leaves the backend as it was.
  virtual Status prepare_tables(const GeoTableView& /*geo*/, const CategoryTableView& /*categories*/) {
    return Status::ok();
  }
  // One line for logs: what runs the lookups (the device, the routing).
  virtual std::string describe() const { return std::string(name()); }
};

struct BackendInfo {
  std::string name;
  bool available = false;
  std::string detail;  // why not available, or what it runs on
};

// Every backend this build knows, in priority order, with whether it can run on this machine.
std::vector<BackendInfo> list_backends();

struct BackendSettings {
  int device = 0;  // the CUDA device (cuda, auto)
  // Where routing lines go (kernels/routing_backend.h): the loud one of a GPU fallback, and the rest.
  std::function<void(const std::string&)> warn;
  std::function<void(const std::string&)> info;
};

// "auto": with a usable GPU, a RoutingBackend between cuda and the best CPU backend that routes each batch
// by its size (crossover measured on the live tables); without one, the best CPU backend (avx2, else
// scalar), and `info` says why. "cuda": every batch on the GPU, falling back to the CPU on a failure.
// "avx2" and "scalar": that backend alone. An unknown or unavailable name is an error naming the
// choices, never an abort.
Result<std::unique_ptr<EnrichBackend>> make_backend(std::string_view name, const BackendSettings& settings);
Result<std::unique_ptr<EnrichBackend>> make_backend(std::string_view name);

}  // namespace enrichd
