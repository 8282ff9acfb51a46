// The category join at 100 M keys (BM_CategoryJoin100M/<backend>), registered only when
// ENRICHD_BENCH_100M=1: building the table takes about 1.5 GB at the end, more while it grows, and some
// seconds, so it never runs by default (nor in CI).
//
// The table is built once per process the way the loaders build one (a stream of batched inserts that
// grows the table as it goes, then shrink_to_fit), and the counters say what that cost: build_s (insert_s +
// shrink_s), bytes_per_key (memory_bytes() / size()), load, and the process's peak and current resident
// memory (VmHWM, VmRSS from /proc/self/status) in GB. Each iteration joins one batch of kBatchSize keys,
// half present, taken in turn from a pool of kPoolBatches different batches, so that the probes are not
// all in cache.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench/bench_data.h"
#include "bench/bench_kernels.h"

namespace enrichd::bench {
namespace {

constexpr size_t kKeys = 100000000;
constexpr size_t kPoolBatches = 128;  // 8 M probe keys, 64 MB

// A "VmXXX:   123 kB" line of /proc/self/status, in bytes (0 where there is none).
double proc_status_bytes(const char* field) {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  if (f == nullptr) return 0;
  char line[256];
  double bytes = 0;
  const size_t len = std::strlen(field);
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, field, len) == 0 && line[len] == ':') {
      bytes = std::strtod(line + len + 1, nullptr) * 1024;
      break;
    }
  }
  std::fclose(f);
  return bytes;
}

struct Big {
  CategoryTable table;
  std::vector<uint64_t> probes;  // kPoolBatches * kBatchSize
  double insert_s = 0;
  double shrink_s = 0;
  double peak_after_build = 0;  // VmHWM right after the build, before the probes were made
};

const Big& big() {
  static const std::unique_ptr<Big> b = [] {
    auto out = std::make_unique<Big>();
    const CategoryKeys keys{.seed = 13};
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    // In batches of rows, as the CSV and database loaders insert them.
    constexpr size_t kRows = 1024;
    std::vector<uint64_t> batch_keys(kRows);
    std::vector<uint32_t> batch_categories(kRows);
    for (size_t first = 0; first < kKeys; first += kRows) {
      const size_t n = std::min(kRows, kKeys - first);
      for (size_t i = 0; i < n; ++i) {
        batch_keys[i] = keys.key(first + i);
        batch_categories[i] = static_cast<uint32_t>(hash_key(batch_keys[i]) % 10000);
      }
      size_t done = 0;
      const Status s =
          out->table.insert_batch(std::span(batch_keys).first(n), std::span(batch_categories).first(n), done);
      if (!s) {
        std::fprintf(stderr, "bench: CategoryTable::insert_batch failed: %s\n", s.message().c_str());
        std::abort();
      }
    }
    const auto t1 = Clock::now();
    out->table.shrink_to_fit();
    const auto t2 = Clock::now();
    out->insert_s = std::chrono::duration<double>(t1 - t0).count();
    out->shrink_s = std::chrono::duration<double>(t2 - t1).count();
    out->peak_after_build = proc_status_bytes("VmHWM");
    out->probes = make_probe_keys(out->table, keys, kKeys, kPoolBatches * kBatchSize, 0.5, 14);
    return out;
  }();
  return *b;
}

void BM_CategoryJoin100M(benchmark::State& state, const std::string& backend_name) {
  auto made = make_backend(backend_name);
  if (!made) {
    state.SkipWithError(made.status().message().c_str());
    return;
  }
  EnrichBackend& backend = **made;
  const Big& b = big();
  const CategoryTableView view = b.table.view();
  std::vector<uint32_t> out(kBatchSize);
  size_t batch = 0;
  size_t found = 0;
  for (auto _ : state) {
    const std::span<const uint64_t> keys(b.probes.data() + batch * kBatchSize, kBatchSize);
    if (Status s = backend.category_join(view, keys, out); !s) {
      state.SkipWithError(s.message().c_str());
      break;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
    batch = (batch + 1) % kPoolBatches;
  }
  for (uint32_t v : out) found += v != kNoRecord ? 1 : 0;
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(kBatchSize));
  state.counters["found"] = static_cast<double>(found) / static_cast<double>(kBatchSize);
  state.counters["keys"] = static_cast<double>(b.table.size());
  state.counters["bytes_per_key"] =
      static_cast<double>(b.table.memory_bytes()) / static_cast<double>(b.table.size());
  state.counters["load"] = b.table.load_factor();
  state.counters["build_s"] = b.insert_s + b.shrink_s;
  state.counters["insert_s"] = b.insert_s;
  state.counters["shrink_s"] = b.shrink_s;
  state.counters["build_peak_rss_GB"] = b.peak_after_build / 1e9;
  state.counters["peak_rss_GB"] = proc_status_bytes("VmHWM") / 1e9;
  state.counters["rss_GB"] = proc_status_bytes("VmRSS") / 1e9;
}

}  // namespace

void register_category_100m_benchmarks(const std::vector<std::string>& backends) {
  const char* on = std::getenv("ENRICHD_BENCH_100M");
  if (on == nullptr || std::string(on) != "1") return;
  for (const std::string& backend : backends) {
    benchmark::RegisterBenchmark(("BM_CategoryJoin100M/" + backend).c_str(), BM_CategoryJoin100M, backend)
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace enrichd::bench
