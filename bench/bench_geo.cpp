// Geo reference data benchmarks:
//  - BM_GeoSnapshotLoad: mapping and checking a GeoLite2-City-size snapshot (synthetic, built once).
//  - BM_MmdbLookup/{libmaxminddb,<backend>}/{v4,v6}: the same random addresses looked up in one .mmdb
//    file by libmaxminddb and by every available backend (on the table imported from that file), so
//    the ratio holds on a noisy machine. Registered only when ENRICHD_BENCH_MMDB names a file, e.g. the
//    real GeoLite2-City fetched by scripts/fetch-geolite2, or one from scripts/make-bench-mmdb.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <maxminddb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_data.h"
#include "bench/bench_kernels.h"
#include "host/geo_import.h"
#include "host/geo_mmdb.h"
#include "host/geo_snapshot.h"
#include "kernels/geo_lookup.h"

namespace enrichd::bench {
namespace {

// Removes the benchmark's snapshot file when the process ends.
struct RemoveAtExit {
  std::string path;
  ~RemoveAtExit() {
    if (!path.empty()) ::unlink(path.c_str());
  }
};

// GeoLite2-City size (see ../shared/DESIGN.md): 2.57 M IPv4 ranges, 1.1 M IPv6 ranges, /64-aligned.
const std::string& geolite2_size_snapshot() {
  static RemoveAtExit file;
  static const std::string path = [] {
    const GeoTable t =
        make_geo_table({.v4_ranges = 2570000, .v6_ranges = 1100000, .records = 120000, .seed = 5});
    std::string p = (std::getenv("TMPDIR") ? std::string(std::getenv("TMPDIR")) : std::string("/tmp")) +
                    "/enrichd-bench-" + std::to_string(::getpid()) + ".snap";
    if (Status s = write_geo_snapshot(t, p, "synthetic GeoLite2-City size"); !s) p.clear();
    file.path = p;
    return p;
  }();
  return path;
}

void BM_GeoSnapshotLoad(benchmark::State& state) {
  const std::string& path = geolite2_size_snapshot();
  if (path.empty()) {
    state.SkipWithError("cannot write the snapshot");
    return;
  }
  size_t bytes = 0, ranges = 0;
  for (auto _ : state) {
    auto t = load_geo_snapshot(path);
    if (!t) {
      state.SkipWithError(t.status().message().c_str());
      return;
    }
    bytes = t->memory_bytes();
    ranges = t->v4_range_count() + t->v6_range_count();
    benchmark::DoNotOptimize(t->view().v4_starts.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["ranges"] = static_cast<double>(ranges);
  state.counters["MiB"] = static_cast<double>(bytes) / (1 << 20);
}
BENCHMARK(BM_GeoSnapshotLoad)->Unit(benchmark::kMillisecond)->UseRealTime();

// Items are lookups; bytes are the address read and the 4-byte record id written (IPv4 4 + 4, IPv6 16 + 4)
// for every contender alike, as in BM_GeoLookupV4/V6, so that bytes/s keep the items/s ratios.
void set_lookup_counters(benchmark::State& state, size_t lookups, bool v6) {
  const auto items = static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(lookups);
  state.SetItemsProcessed(items);
  state.SetBytesProcessed(items *
                          static_cast<int64_t>((v6 ? sizeof(Ipv6) : sizeof(uint32_t)) + sizeof(uint32_t)));
}

struct MmdbFixture {
  MMDB_s db{};
  GeoTable table;
  std::vector<IpAddress> v4, v6;
};

MmdbFixture* mmdb_fixture() {
  static std::unique_ptr<MmdbFixture> f = []() -> std::unique_ptr<MmdbFixture> {
    const char* path = std::getenv("ENRICHD_BENCH_MMDB");
    auto fx = std::make_unique<MmdbFixture>();
    if (MMDB_open(path, MMDB_MODE_MMAP, &fx->db) != MMDB_SUCCESS) return nullptr;
    GeoImport imp;
    if (!import_mmdb(path, imp)) return nullptr;
    auto t = imp.build();
    if (!t) return nullptr;
    fx->table = std::move(t).value();
    fx->v4 = addresses_in_ranges(fx->table, false, kBatchSize, 31);
    if (fx->db.metadata.ip_version == 6) fx->v6 = addresses_in_ranges(fx->table, true, kBatchSize, 32);
    return fx;
  }();
  return f.get();
}

void BM_MmdbLookupLibmaxminddb(benchmark::State& state, bool v6) {
  MmdbFixture* f = mmdb_fixture();
  if (f == nullptr || (v6 && f->v6.empty())) {
    state.SkipWithError("no usable ENRICHD_BENCH_MMDB (or no IPv6 in it)");
    return;
  }
  const auto& q = v6 ? f->v6 : f->v4;
  std::vector<sockaddr_storage> addrs;
  for (const IpAddress& ip : q) addrs.push_back(to_sockaddr(ip));
  size_t found = 0;
  for (auto _ : state) {
    found = 0;
    for (const auto& a : addrs) {
      int error = 0;
      const MMDB_lookup_result_s r =
          MMDB_lookup_sockaddr(&f->db, reinterpret_cast<const sockaddr*>(&a), &error);
      found += r.found_entry ? 1 : 0;
    }
    benchmark::DoNotOptimize(found);
  }
  set_lookup_counters(state, addrs.size(), v6);
  state.counters["found"] = static_cast<double>(found) / static_cast<double>(addrs.size());
}

// The fixture and a backend for one of the benchmarks below, or nullptr after marking the run skipped.
MmdbFixture* fixture_and_backend(benchmark::State& state, const std::string& backend_name, bool v6,
                                 std::unique_ptr<EnrichBackend>& backend) {
  MmdbFixture* f = mmdb_fixture();
  if (f == nullptr || (v6 && f->v6.empty())) {
    state.SkipWithError("no usable ENRICHD_BENCH_MMDB (or no IPv6 in it)");
    return nullptr;
  }
  auto made = make_backend(backend_name);
  if (!made) {
    state.SkipWithError(made.status().message().c_str());
    return nullptr;
  }
  backend = std::move(made).value();
  return f;
}

void BM_MmdbLookupBackend(benchmark::State& state, const std::string& backend_name, bool v6) {
  std::unique_ptr<EnrichBackend> backend;
  MmdbFixture* f = fixture_and_backend(state, backend_name, v6, backend);
  if (f == nullptr) return;
  const auto& q = v6 ? f->v6 : f->v4;
  GeoLookup lookup;
  size_t found = 0;
  for (auto _ : state) {
    // The whole per-batch path: alias check and split by family, then the backend's lookups.
    lookup.clear();
    for (size_t i = 0; i < q.size(); ++i) lookup.add(f->table, static_cast<uint32_t>(i), q[i]);
    if (Status s = lookup.run(*backend, f->table); !s) {
      state.SkipWithError(s.message().c_str());
      return;
    }
    found = 0;
    lookup.for_each_result([&found](uint32_t, uint32_t r) { found += r != kNoRecord ? 1 : 0; });
    benchmark::DoNotOptimize(found);
  }
  set_lookup_counters(state, q.size(), v6);
  state.counters["found"] = static_cast<double>(found) / static_cast<double>(q.size());
  state.counters["ranges"] = static_cast<double>(v6 ? f->table.v6_range_count() : f->table.v4_range_count());
}

// The backend call alone, on keys already split by family: comparable with BM_GeoLookupV4/V6.
void BM_MmdbKernel(benchmark::State& state, const std::string& backend_name, bool v6) {
  std::unique_ptr<EnrichBackend> backend;
  MmdbFixture* f = fixture_and_backend(state, backend_name, v6, backend);
  if (f == nullptr) return;
  std::vector<uint32_t> keys4;
  std::vector<Ipv6> keys6;
  for (const IpAddress& a : v6 ? f->v6 : f->v4) {
    if (a.is_v6)
      keys6.push_back(a.v6);
    else
      keys4.push_back(a.v4);
  }
  std::vector<uint32_t> out(v6 ? keys6.size() : keys4.size());
  const GeoTableView view = f->table.view();
  for (auto _ : state) {
    const Status s = v6 ? backend->geo_lookup_v6(view, keys6, out) : backend->geo_lookup_v4(view, keys4, out);
    if (!s) {
      state.SkipWithError(s.message().c_str());
      return;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_lookup_counters(state, out.size(), v6);
}

}  // namespace

void register_mmdb_benchmarks(const std::vector<std::string>& backends) {
  if (std::getenv("ENRICHD_BENCH_MMDB") == nullptr) return;
  for (bool v6 : {false, true}) {
    const std::string family = v6 ? "v6" : "v4";
    benchmark::RegisterBenchmark(("BM_MmdbLookup/libmaxminddb/" + family).c_str(), BM_MmdbLookupLibmaxminddb,
                                 v6);
    for (const std::string& b : backends) {
      benchmark::RegisterBenchmark(("BM_MmdbLookup/" + b + "/" + family).c_str(), BM_MmdbLookupBackend, b,
                                   v6);
      benchmark::RegisterBenchmark(("BM_MmdbKernel/" + b + "/" + family).c_str(), BM_MmdbKernel, b, v6);
    }
  }
}

}  // namespace enrichd::bench
