// enrichd_gpu_bench: the cuda backend on GeoLite2-size synthetic tables (2.57 M IPv4 ranges, 1.1 M
// /64-aligned IPv6 ranges searched in the 64-bit form, 5 M category keys with half the probes absent), at
// 1 M and 16 M queries per call:
//   kernel/...     the kernel alone: queries already on the device (rotated over enough buffers that
//                  they do not sit in L2), timed with CUDA events on the backend's stream (manual time);
//                  the naive kernels (plain binary search, the view's own hash slots) as baselines.
//   roundtrip/...  a whole backend call, host -> device -> host: "staged" from ordinary (pageable)
//                  memory through the backend's pinned staging, "pinned" from page-locked memory;
//                  roundtrip/event is one IPv4 lookup plus one join per event (12 bytes in, 8 out).
//   path/event/... one IPv4 lookup + one join per event through cuda, avx2 and auto, 1 K to 4 M events
//                  per batch (BM_Path); cuda-x2: two threads calling the cuda backend at once.
// items_per_second is lookups (or events) per second. Without a usable device every benchmark is skipped
// with the reason. Links only the kernels and host libraries (scripts/device-check carries it).
//   ./build/bench/enrichd_gpu_bench --benchmark_min_time=0.2 [--benchmark_filter=kernel/v4]
#include <cuda_runtime.h>

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench/bench_data.h"
#include "kernels/backend.h"
#include "kernels/cuda/cuda_backend.h"

namespace enrichd::bench {
namespace {

constexpr size_t kV4Ranges = 2570000;  // GeoLite2-City
constexpr size_t kV6Ranges = 1100000;
constexpr size_t kJoinKeys = 5000000;
constexpr size_t kMaxQueries = size_t{16} << 20;
constexpr size_t kRotateBytes = size_t{512} << 20;  // device-resident query sets together, well past L2

bool skip_without_device(benchmark::State& state) {
  const cuda::Availability a = cuda::backend_availability();
  if (a.available) return false;
  state.SkipWithError(("skipped: " + a.detail).c_str());
  return true;
}

// ---- data, built once per process ----

const GeoTable& v4_table() {
  static const GeoTable t =
      make_geo_table({.v4_ranges = kV4Ranges, .records = 50000, .realistic_records = false, .seed = 11});
  return t;
}
const GeoTable& v6_table() {
  static const GeoTable t =
      make_geo_table({.v6_ranges = kV6Ranges, .records = 50000, .realistic_records = false, .seed = 12});
  return t;
}
struct Join {
  CategoryTable table;
  std::vector<uint64_t> probes;
};
const Join& join_data() {
  static const Join j = [] {
    const CategoryKeys keys{.seed = 13};
    Join out{make_category_table(keys, kJoinKeys, 10000, false), {}};
    out.probes = make_probe_keys(out.table, keys, kJoinKeys, kMaxQueries, 0.5, 14);
    return out;
  }();
  return j;
}
const std::vector<uint32_t>& v4_queries() {
  static const std::vector<uint32_t> q = random_v4_addrs(kMaxQueries, 21);
  return q;
}
const std::vector<Ipv6>& v6_queries() {
  static const std::vector<Ipv6> q = random_v6_addrs(kMaxQueries, 22);
  return q;
}

enum class Family { kV4, kV6, kJoin };

const char* family_name(Family f) {
  return f == Family::kV4 ? "v4" : f == Family::kV6 ? "v6" : "join";
}

// ---- backends, one per option variant ----

struct Variant {
  std::string name;
  CudaOptions options;
};

CudaBackend* backend_for(benchmark::State& state, const Variant& v) {
  static std::map<std::string, std::unique_ptr<CudaBackend>> cache;
  auto& slot = cache[v.name];
  if (!slot) {
    auto made = CudaBackend::create(v.options);
    if (!made) {
      state.SkipWithError(made.status().message().c_str());
      return nullptr;
    }
    slot = std::move(made).value();
  }
  return slot.get();
}

// ---- device-resident query sets ----

struct DeviceSets {
  std::vector<void*> in;
  std::vector<uint32_t*> out;
  ~DeviceSets() {
    for (void* p : in) (void)cudaFree(p);
    for (uint32_t* p : out) (void)cudaFree(p);
  }
};

bool cuda_ok(benchmark::State& state, cudaError_t err, const char* what) {
  if (err == cudaSuccess) return true;
  state.SkipWithError((std::string(what) + ": " + cudaGetErrorString(err)).c_str());
  return false;
}

// Copies of the first n queries, as many as fit kRotateBytes (at least 2), each with its own output.
const DeviceSets* device_sets(benchmark::State& state, Family f, size_t n) {
  static std::map<std::pair<Family, size_t>, std::unique_ptr<DeviceSets>> cache;
  auto& slot = cache[{f, n}];
  if (slot) return slot.get();
  auto sets = std::make_unique<DeviceSets>();
  const void* host = f == Family::kV4   ? static_cast<const void*>(v4_queries().data())
                     : f == Family::kV6 ? static_cast<const void*>(v6_queries().data())
                                        : static_cast<const void*>(join_data().probes.data());
  const size_t bytes = n * (f == Family::kV4   ? sizeof(uint32_t)
                            : f == Family::kV6 ? sizeof(Ipv6)
                                               : sizeof(uint64_t));
  const size_t count = std::clamp<size_t>(kRotateBytes / (bytes + n * sizeof(uint32_t)), 2, 64);
  for (size_t i = 0; i < count; ++i) {
    void* in = nullptr;
    void* out = nullptr;
    if (!cuda_ok(state, cudaMalloc(&in, bytes), "cudaMalloc")) return nullptr;
    sets->in.push_back(in);
    if (!cuda_ok(state, cudaMalloc(&out, n * sizeof(uint32_t)), "cudaMalloc")) return nullptr;
    sets->out.push_back(static_cast<uint32_t*>(out));
    if (!cuda_ok(state, cudaMemcpy(in, host, bytes, cudaMemcpyHostToDevice), "cudaMemcpy")) return nullptr;
  }
  slot = std::move(sets);
  return slot.get();
}

Status launch(CudaBackend& b, Family f, const void* in, uint32_t* out, size_t n) {
  switch (f) {
    case Family::kV4:
      return b.geo_lookup_v4_device(v4_table().view(), static_cast<const uint32_t*>(in), out, n);
    case Family::kV6:
      return b.geo_lookup_v6_device(v6_table().view(), static_cast<const Ipv6*>(in), out, n);
    case Family::kJoin:
      return b.category_join_device(join_data().table.view(), static_cast<const uint64_t*>(in), out, n);
  }
  return Status::error("unknown family");
}

void BM_Kernel(benchmark::State& state, Family f, const Variant& v) {
  if (skip_without_device(state)) return;
  const size_t n = static_cast<size_t>(state.range(0));
  CudaBackend* b = backend_for(state, v);
  if (b == nullptr) return;
  const DeviceSets* sets = device_sets(state, f, n);
  if (sets == nullptr) return;
  // Warm-up: uploads the table and loads the module.
  if (Status s = launch(*b, f, sets->in[0], sets->out[0], n); !s || !(s = b->synchronize())) {
    state.SkipWithError(s.message().c_str());
    return;
  }
  auto stream = static_cast<cudaStream_t>(b->stream());
  cudaEvent_t start = nullptr, stop = nullptr;
  if (!cuda_ok(state, cudaEventCreate(&start), "cudaEventCreate") ||
      !cuda_ok(state, cudaEventCreate(&stop), "cudaEventCreate")) {
    return;
  }
  // Each iteration times `reps` back-to-back kernels between two events, after one untimed kernel that
  // keeps the device busy while the host enqueues, so that no host latency lands inside the timing.
  const size_t reps = std::max<size_t>(2, kMaxQueries / n);
  size_t next = 0;
  for (auto _ : state) {
    Status s = launch(*b, f, sets->in[next % sets->in.size()], sets->out[next % sets->in.size()], n);
    ++next;
    (void)cudaEventRecord(start, stream);
    for (size_t r = 0; r < reps && s; ++r, ++next) {
      s = launch(*b, f, sets->in[next % sets->in.size()], sets->out[next % sets->in.size()], n);
    }
    (void)cudaEventRecord(stop, stream);
    if (!s) {
      state.SkipWithError(s.message().c_str());
      break;
    }
    if (!cuda_ok(state, cudaEventSynchronize(stop), "kernel")) break;
    float ms = 0;
    (void)cudaEventElapsedTime(&ms, start, stop);
    state.SetIterationTime(static_cast<double>(ms) / 1e3 / static_cast<double>(reps));
  }
  (void)cudaEventDestroy(start);
  (void)cudaEventDestroy(stop);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
  state.counters["sets"] = static_cast<double>(sets->in.size());
}

// ---- round trips ----

// Page-locked or ordinary host memory for one benchmark's inputs and outputs.
template <typename T>
struct HostArray {
  std::vector<T> vec;
  T* pinned = nullptr;
  size_t n = 0;
  HostArray(const T* src, size_t count, bool page_locked) : n(count) {
    if (page_locked) {
      if (cudaMallocHost(reinterpret_cast<void**>(&pinned), count * sizeof(T)) != cudaSuccess)
        pinned = nullptr;
      if (pinned != nullptr && src != nullptr) std::copy_n(src, count, pinned);
    } else {
      vec.assign(count, T{});
      if (src != nullptr) std::copy_n(src, count, vec.begin());
    }
  }
  ~HostArray() {
    if (pinned != nullptr) (void)cudaFreeHost(pinned);
  }
  bool ok() const { return pinned != nullptr || !vec.empty() || n == 0; }
  std::span<T> span() { return pinned != nullptr ? std::span<T>(pinned, n) : std::span<T>(vec); }
};

// Times `call` (n items each): one untimed call first (table upload, staging buffers), then the
// benchmark's iterations; an error skips the benchmark with its message.
template <typename Call>
void time_calls(benchmark::State& state, size_t n, Call&& call) {
  if (Status s = call(); !s) {
    state.SkipWithError(s.message().c_str());
    return;
  }
  for (auto _ : state) {
    if (Status s = call(); !s) {
      state.SkipWithError(s.message().c_str());
      break;
    }
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}

void BM_RoundTrip(benchmark::State& state, Family f, bool page_locked) {
  if (skip_without_device(state)) return;
  const size_t n = static_cast<size_t>(state.range(0));
  static const Variant kDefault{"default", {}};
  CudaBackend* b = backend_for(state, kDefault);
  if (b == nullptr) return;
  HostArray<uint32_t> out(nullptr, n, page_locked);
  HostArray<uint32_t> q4(f == Family::kV4 ? v4_queries().data() : nullptr, f == Family::kV4 ? n : 0,
                         page_locked);
  HostArray<Ipv6> q6(f == Family::kV6 ? v6_queries().data() : nullptr, f == Family::kV6 ? n : 0, page_locked);
  HostArray<uint64_t> qk(f == Family::kJoin ? join_data().probes.data() : nullptr, f == Family::kJoin ? n : 0,
                         page_locked);
  if (!out.ok() || !q4.ok() || !q6.ok() || !qk.ok()) {
    state.SkipWithError("cudaMallocHost failed");
    return;
  }
  auto call = [&]() -> Status {
    switch (f) {
      case Family::kV4:
        return b->geo_lookup_v4(v4_table().view(), q4.span(), out.span());
      case Family::kV6:
        return b->geo_lookup_v6(v6_table().view(), q6.span(), out.span());
      case Family::kJoin:
        return b->category_join(join_data().table.view(), qk.span(), out.span());
    }
    return Status::error("unknown family");
  };
  time_calls(state, n, call);
}

// One event = an IPv4 geo lookup and a category join (12 bytes in, 8 bytes out).
void BM_RoundTripEvent(benchmark::State& state, bool page_locked) {
  if (skip_without_device(state)) return;
  const size_t n = static_cast<size_t>(state.range(0));
  static const Variant kDefault{"default", {}};
  CudaBackend* b = backend_for(state, kDefault);
  if (b == nullptr) return;
  HostArray<uint32_t> q4(v4_queries().data(), n, page_locked), geo(nullptr, n, page_locked),
      cat(nullptr, n, page_locked);
  HostArray<uint64_t> qk(join_data().probes.data(), n, page_locked);
  if (!q4.ok() || !geo.ok() || !cat.ok() || !qk.ok()) {
    state.SkipWithError("cudaMallocHost failed");
    return;
  }
  auto call = [&]() -> Status {
    if (Status s = b->geo_lookup_v4(v4_table().view(), q4.span(), geo.span()); !s) return s;
    return b->category_join(join_data().table.view(), qk.span(), cat.span());
  };
  time_calls(state, n, call);
}

// The whole path as the enrich stage drives it, per event one IPv4 lookup and one join from ordinary
// (pageable) memory, on each backend: cuda (every batch on the GPU), avx2, and auto (routed by the
// crossover it measured at start on these tables). Batch sizes from 1 K to 4 M events; scripts/device-check
// prints the crossover and auto against the better of the two from these rows.
void BM_Path(benchmark::State& state, const std::string& backend_name) {
  if (skip_without_device(state)) return;
  const size_t n = static_cast<size_t>(state.range(0));
  // Several threads (path/event/cuda-x2: two callers, each batch in its own lane) share one backend.
  static std::mutex made_mu;
  static std::map<std::string, std::unique_ptr<EnrichBackend>> backends;
  std::unique_lock<std::mutex> made(made_mu);
  auto& b = backends[backend_name.substr(0, backend_name.find('-'))];
  if (!b) {
    auto backend = make_backend(backend_name.substr(0, backend_name.find('-')));
    if (!backend) {
      state.SkipWithError(backend.status().message().c_str());
      return;
    }
    b = std::move(backend).value();
    // Uploads, and for auto the calibration on these very tables.
    if (Status s = b->prepare_tables(v4_table().view(), join_data().table.view()); !s) {
      state.SkipWithError(s.message().c_str());
      return;
    }
    if (backend_name == "auto") state.SetLabel(b->describe());
  }
  made.unlock();
  const std::span<const uint32_t> q4(v4_queries().data(), n);
  const std::span<const uint64_t> qk(join_data().probes.data(), n);
  std::vector<uint32_t> geo(n), cat(n);
  auto call = [&]() -> Status {
    if (Status s = b->geo_lookup_v4(v4_table().view(), q4, geo); !s) return s;
    return b->category_join(join_data().table.view(), qk, cat);
  };
  time_calls(state, n, call);
}

std::vector<Variant> kernel_variants(Family f) {
  std::vector<Variant> v;
  v.push_back({"default", {}});
  CudaOptions o;
  if (f == Family::kJoin) {
    o.join_layout = CudaOptions::JoinLayout::kSlots;
    v.push_back({"naive-slots", o});
    return v;
  }
  o.plain_search = true;
  v.push_back({"naive-binary", o});
  o = {};
  o.node_bytes = 64;
  v.push_back({"node64", o});
  o = {};
  o.shared_top = CudaOptions::SharedTop::kNever;
  v.push_back({"top-in-global", o});
  o = {};
  o.shared_top_bytes = 200 * 1024;  // v4: 39 K keys in shared memory, two levels below
  o.shared_top = CudaOptions::SharedTop::kAlways;
  v.push_back({"top-200k", o});
  return v;
}

void register_all() {
  const std::vector<int64_t> sizes = {int64_t{1} << 20, int64_t{16} << 20};
  for (Family f : {Family::kV4, Family::kV6, Family::kJoin}) {
    for (const Variant& v : kernel_variants(f)) {
      const std::string name = std::string("kernel/") + family_name(f) + "/" + v.name;
      auto* bm = benchmark::RegisterBenchmark(name.c_str(), BM_Kernel, f, v);
      for (int64_t n : sizes) bm->Arg(n);
      bm->ArgName("n")->UseManualTime()->Unit(benchmark::kMicrosecond);
    }
  }
  for (Family f : {Family::kV4, Family::kV6, Family::kJoin}) {
    for (bool pinned : {false, true}) {
      const std::string name = std::string("roundtrip/") + family_name(f) + (pinned ? "/pinned" : "/staged");
      auto* bm = benchmark::RegisterBenchmark(name.c_str(), BM_RoundTrip, f, pinned);
      for (int64_t n : sizes) bm->Arg(n);
      bm->ArgName("n")->UseRealTime()->Unit(benchmark::kMicrosecond);
    }
  }
  for (bool pinned : {false, true}) {
    const std::string name = std::string("roundtrip/event") + (pinned ? "/pinned" : "/staged");
    auto* bm = benchmark::RegisterBenchmark(name.c_str(), BM_RoundTripEvent, pinned);
    for (int64_t n : sizes) bm->Arg(n);
    bm->ArgName("n")->UseRealTime()->Unit(benchmark::kMicrosecond);
  }
  for (const char* backend : {"cuda", "avx2", "auto", "cuda-x2"}) {
    const std::string name = std::string("path/event/") + backend;
    auto* bm = benchmark::RegisterBenchmark(name.c_str(), BM_Path, std::string(backend));
    for (int64_t n = 1024; n <= (int64_t{4} << 20); n *= 4) bm->Arg(n);
    bm->ArgName("n")->UseRealTime()->Unit(benchmark::kMicrosecond);
    // Two threads calling at once: one batch's copies overlap the other's kernels (CudaBackend lanes).
    if (std::string_view(backend) == "cuda-x2") bm->Threads(2);
  }
}

}  // namespace
}  // namespace enrichd::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const enrichd::cuda::Availability a = enrichd::cuda::backend_availability();
  benchmark::AddCustomContext("cuda", (a.available ? "available: " : "unavailable: ") + a.detail);
  enrichd::bench::register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
