// Kernel micro-benchmarks, registered once per backend that can run here (bench_main.cpp): IPv4 and IPv6
// geo lookups and the category join, each over one batch of kBatchSize queries per iteration.
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench/bench_data.h"
#include "bench/bench_kernels.h"

namespace enrichd::bench {
namespace {

// Built once per process and kept: Google Benchmark calls a benchmark function several times while it
// settles on an iteration count, and the big tables take a second or two to build.
template <typename T, typename Make>
const T& cached(std::map<size_t, std::unique_ptr<T>>& cache, size_t key, Make&& make) {
  auto& slot = cache[key];
  if (!slot) slot = std::make_unique<T>(make());
  return *slot;
}

const GeoTable& geo_v4_table(size_t ranges) {
  static std::map<size_t, std::unique_ptr<GeoTable>> cache;
  return cached(cache, ranges, [&] {
    return make_geo_table({.v4_ranges = ranges, .records = 50000, .realistic_records = false, .seed = 11});
  });
}

// The IPv6 table in its three shapes, all of `ranges` ranges from the same seed:
//   kHi64:       /64-aligned bounds as in GeoLite2-City; the table keeps 64-bit hi words (v6_starts64).
//   kAligned128: the very same starts widened to 128-bit {hi, 0} (v6_starts), to compare the two forms
//                on identical data.
//   kLowBits128: bounds with random low bits, so the table itself keeps 128-bit starts.
enum class V6Shape : int64_t { kHi64 = 0, kAligned128 = 1, kLowBits128 = 2 };

const char* v6_shape_label(V6Shape shape) {
  switch (shape) {
    case V6Shape::kHi64:
      return "64-bit starts";
    case V6Shape::kAligned128:
      return "128-bit starts, /64-aligned";
    case V6Shape::kLowBits128:
      return "128-bit starts, low bits set";
  }
  return "";
}

// Built in place and never moved: `view` points into `table` and `widened`.
struct V6Fixture {
  GeoTable table;
  std::vector<Ipv6> widened;
  GeoTableView view;

  V6Fixture(size_t ranges, V6Shape shape)
      : table(make_geo_table({.v6_ranges = ranges,
                              .v6_low_bits = shape == V6Shape::kLowBits128,
                              .records = 50000,
                              .realistic_records = false,
                              .seed = 12})),
        view(table.view()) {
    if (shape == V6Shape::kAligned128) {
      for (uint64_t hi : view.v6_starts64) widened.push_back({hi, 0});
      view.v6_starts64 = {};
      view.v6_starts = widened;
    }
  }
  V6Fixture(const V6Fixture&) = delete;
  V6Fixture& operator=(const V6Fixture&) = delete;
};

const V6Fixture& geo_v6_fixture(size_t ranges, V6Shape shape) {
  static std::map<std::pair<size_t, V6Shape>, std::unique_ptr<V6Fixture>> cache;
  auto& slot = cache[{ranges, shape}];
  if (!slot) slot = std::make_unique<V6Fixture>(ranges, shape);
  return *slot;
}

struct JoinFixture {
  CategoryTable table;
  std::vector<uint64_t> probes;
};

const JoinFixture& join_fixture(size_t keys) {
  static std::map<size_t, std::unique_ptr<JoinFixture>> cache;
  return cached(cache, keys, [&] {
    const CategoryKeys key_space{.seed = 13};
    JoinFixture f{make_category_table(key_space, keys, 10000, false), {}};
    f.probes = make_probe_keys(f.table, key_space, keys, kBatchSize, 0.5, 14);
    return f;
  });
}

EnrichBackend* backend_or_skip(benchmark::State& state, const std::string& name) {
  static std::map<std::string, std::unique_ptr<EnrichBackend>> cache;
  auto& slot = cache[name];
  if (!slot) {
    auto made = make_backend(name);
    if (!made) {
      state.SkipWithError(made.status().message().c_str());
      return nullptr;
    }
    slot = std::move(made).value();
  }
  return slot.get();
}

double found_fraction(const std::vector<uint32_t>& out) {
  const auto found = std::count_if(out.begin(), out.end(), [](uint32_t r) { return r != kNoRecord; });
  return static_cast<double>(found) / static_cast<double>(out.size());
}

// Items are lookups; bytes are what each one moves: its key read and its 4-byte result written
// (IPv4 4 + 4, IPv6 16 + 4, join 8 + 4), the figure a memory- or PCIe-bound backend is limited by.
void finish(benchmark::State& state, const std::vector<uint32_t>& out, size_t key_bytes) {
  const auto items = static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(out.size());
  state.SetItemsProcessed(items);
  state.SetBytesProcessed(items * static_cast<int64_t>(key_bytes + sizeof(uint32_t)));
  state.counters["found"] = found_fraction(out);
}

void BM_GeoLookupV4(benchmark::State& state, const std::string& backend_name) {
  EnrichBackend* backend = backend_or_skip(state, backend_name);
  if (backend == nullptr) return;
  const GeoTable& table = geo_v4_table(static_cast<size_t>(state.range(0)));
  static const std::vector<uint32_t> addrs = random_v4_addrs(kBatchSize, 21);
  std::vector<uint32_t> out(addrs.size());
  const GeoTableView view = table.view();
  for (auto _ : state) {
    if (Status s = backend->geo_lookup_v4(view, addrs, out); !s) {
      state.SkipWithError(s.message().c_str());
      break;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  finish(state, out, sizeof(uint32_t));
  state.counters["entries"] = static_cast<double>(table.v4_range_count());
}

void BM_GeoLookupV6(benchmark::State& state, const std::string& backend_name) {
  EnrichBackend* backend = backend_or_skip(state, backend_name);
  if (backend == nullptr) return;
  const auto shape = static_cast<V6Shape>(state.range(1));
  const V6Fixture& f = geo_v6_fixture(static_cast<size_t>(state.range(0)), shape);
  static const std::vector<Ipv6> addrs = random_v6_addrs(kBatchSize, 22);
  std::vector<uint32_t> out(addrs.size());
  const GeoTableView view = f.view;
  // A table that did not come out in the form the benchmark is named for measures the wrong thing.
  if (view.v6_starts64.empty() != (shape != V6Shape::kHi64)) {
    state.SkipWithError("the IPv6 table is not in the expected form");
    return;
  }
  for (auto _ : state) {
    if (Status s = backend->geo_lookup_v6(view, addrs, out); !s) {
      state.SkipWithError(s.message().c_str());
      break;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  finish(state, out, sizeof(Ipv6));
  state.counters["entries"] = static_cast<double>(f.table.v6_range_count());
  state.SetLabel(v6_shape_label(shape));
}

void BM_CategoryJoin(benchmark::State& state, const std::string& backend_name) {
  EnrichBackend* backend = backend_or_skip(state, backend_name);
  if (backend == nullptr) return;
  const JoinFixture& f = join_fixture(static_cast<size_t>(state.range(0)));
  std::vector<uint32_t> out(f.probes.size());
  const CategoryTableView view = f.table.view();
  for (auto _ : state) {
    if (Status s = backend->category_join(view, f.probes, out); !s) {
      state.SkipWithError(s.message().c_str());
      break;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  finish(state, out, sizeof(uint64_t));
  state.counters["keys"] = static_cast<double>(f.table.size());
  state.counters["bytes_per_key"] =
      static_cast<double>(f.table.memory_bytes()) / static_cast<double>(f.table.size());
  state.counters["load"] = f.table.load_factor();
}

}  // namespace

void register_kernel_benchmarks(const std::string& backend) {
  // GeoLite2-City sizes: ~2.5 M IPv4 ranges, ~1 M IPv6 ranges (all /64-aligned); a 100 k table fits in L2.
  benchmark::RegisterBenchmark(("BM_GeoLookupV4/" + backend).c_str(), BM_GeoLookupV4, backend)
      ->ArgName("ranges")
      ->Arg(100000)
      ->Arg(2500000)
      ->Unit(benchmark::kMicrosecond);
  // IPv6 in both forms of the starts: shape 0 is the 64-bit form (GeoLite2-City), shapes 1 and 2 the
  // 128-bit form over the same starts widened and over starts with low bits (see V6Shape).
  benchmark::RegisterBenchmark(("BM_GeoLookupV6/" + backend).c_str(), BM_GeoLookupV6, backend)
      ->ArgNames({"ranges", "shape"})
      ->Args({1000000, static_cast<int64_t>(V6Shape::kHi64)})
      ->Args({1000000, static_cast<int64_t>(V6Shape::kAligned128)})
      ->Args({1000000, static_cast<int64_t>(V6Shape::kLowBits128)})
      ->Unit(benchmark::kMicrosecond);
  benchmark::RegisterBenchmark(("BM_CategoryJoin/" + backend).c_str(), BM_CategoryJoin, backend)
      ->ArgName("keys")
      ->Arg(5000000)
      ->Unit(benchmark::kMicrosecond);
}

}  // namespace enrichd::bench
