// The GPU backend in production: routing between a device backend (cuda) and a CPU one (avx2 or scalar),
// and the fallback that loses nothing.
//
//  - `auto`: at start-up (prepare_tables, on the live tables) or at an operation's first call, each
//    operation (IPv4 geo, IPv6 geo, category join) is timed on both backends at batch sizes from 256 to
//    1 M queries, a factor 2 apart (stopping once the GPU has been twice as fast twice in a row); batches
//    of at least the crossover go to the GPU, smaller ones to the CPU. The crossover lies between the
//    last measured size where the GPU lost and the first from which it wins at every larger one, where
//    the two per-call times, taken as linear in the batch size, meet. A GPU that never wins gets no
//    batches.
//  - `cuda` (GPU always): every batch goes to the GPU.
// Fallback: a GPU call that fails (any CUDA error, a lost device) is run again on the CPU backend with the
// same inputs, which overwrites every output, so the batch comes out whole and exactly once; that call
// and every later one stay on the CPU. The failure is reported once through the warning callback.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/backend.h"

namespace enrichd {

enum class LookupOp { kGeoV4 = 0, kGeoV6 = 1, kJoin = 2 };
inline constexpr size_t kLookupOps = 3;
const char* lookup_op_name(LookupOp op);  // "geo_v4", "geo_v6", "join"

struct RoutingOptions {
  enum class Mode { kAuto, kGpuAlways };
  Mode mode = Mode::kAuto;
  // Batch sizes timed by the calibration, ascending.
  std::vector<size_t> calibration_sizes{256,   512,   1024,   2048,   4096,   8192,   16384,
                                        32768, 65536, 131072, 262144, 524288, 1048576};
  // Where the one loud line about a fallback goes, and the informational ones (the calibration).
  std::function<void(const std::string&)> warn;
  std::function<void(const std::string&)> info;
};

class RoutingBackend final : public EnrichBackend {
 public:
  static constexpr size_t kNever = SIZE_MAX;

  RoutingBackend(std::unique_ptr<EnrichBackend> gpu, std::unique_ptr<EnrichBackend> cpu,
                 RoutingOptions options);

  // "auto", or the GPU backend's name when every batch goes there.
  std::string_view name() const override;
  Status geo_lookup_v4(const GeoTableView& table, std::span<const uint32_t> addrs,
                       std::span<uint32_t> records) override;
  Status geo_lookup_v6(const GeoTableView& table, std::span<const Ipv6> addrs,
                       std::span<uint32_t> records) override;
  Status category_join(const CategoryTableView& table, std::span<const uint64_t> keys,
                       std::span<uint32_t> values) override;
  // The GPU's upload, then (auto, first time only) the calibration on these tables. Never fails for a GPU
  // problem: that is a fallback, as in a batch.
  Status prepare_tables(const GeoTableView& geo, const CategoryTableView& categories) override;
  std::string describe() const override;

  struct Calibration {
    bool done = false;
    size_t crossover = kNever;
    std::vector<size_t> sizes;
    std::vector<double> gpu_ns_per_query, cpu_ns_per_query;  // medians, per size
  };
  struct Stats {
    uint64_t gpu_calls = 0, cpu_calls = 0;
    uint64_t fallbacks = 0;  // 0 or 1: after the first failure the GPU gets nothing
    bool gpu_lost = false;
    std::string lost_reason;
    std::array<Calibration, kLookupOps> calibration;
  };
  Stats stats() const;
  // The crossover a calibration's measurements give (see the top of this file); kNever if the GPU loses
  // at the largest measured size.
  static size_t crossover_from(const Calibration& c);
  std::string_view gpu_name() const;
  std::string_view cpu_name() const;

  // The calibration of one operation on `table`-like inputs, run now (also what prepare_tables and the
  // first call do). Exposed for tests and benchmarks.
  void calibrate(LookupOp op, const GeoTableView& geo, const CategoryTableView& categories);

 private:
  // Calibrates `op` first if it is not yet (on these tables), then runs `call` on the GPU or the CPU.
  template <typename Call>
  Status route(LookupOp op, size_t n, const GeoTableView& geo, const CategoryTableView& categories,
               Call&& call);
  void lose_gpu(LookupOp op, const Status& why);
  size_t crossover(LookupOp op) const;

  std::unique_ptr<EnrichBackend> gpu_, cpu_;
  RoutingOptions options_;
  std::atomic<bool> gpu_lost_{false};
  std::atomic<bool> prepared_once_{false};
  std::mutex calibrate_mu_;
  mutable std::mutex mutex_;  // stats_ (the hot path reads crossover_ and gpu_lost_ only)
  Stats stats_;
  std::array<std::atomic<size_t>, kLookupOps> crossover_;
  std::array<std::atomic<bool>, kLookupOps> calibrated_;
};

}  // namespace enrichd
