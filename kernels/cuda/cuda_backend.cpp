// The CUDA backend's host side: device copies of the tables (cached per view), pinned staging, streams,
// and the Status plumbing. The kernels are in cuda_kernels.cu; the layouts in cuda_kernels.h.
#include "kernels/cuda/cuda_backend.h"

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/cuda_probe.h"

namespace enrichd {

using cuda::JoinBucket;
using cuda::JoinTable;
using cuda::SearchTable;
using cuda::U128;

// The device code repeats the host's hash and markers (host/ has no CUDA); they must agree exactly.
static_assert(cuda::kDeviceNoRecord == kNoRecord);
static_assert(cuda::kDeviceEmptyKey == CategoryTableView::kEmptyKey &&
              cuda::kDeviceEmptyKey == CategoryTableView::kEmptyCode);
static_assert(cuda::splitmix_hash(0) == hash_key(0) && cuda::splitmix_hash(1) == hash_key(1) &&
              cuda::splitmix_hash(UINT64_MAX) == hash_key(UINT64_MAX) &&
              cuda::splitmix_hash(0x0123456789abcdefULL) == hash_key(0x0123456789abcdefULL) &&
              cuda::splitmix_hash(100000000000000000ULL) == hash_key(100000000000000000ULL));
static_assert(cuda::kDeviceCodeXor == kCategoryCodeXor && cuda::category_code(0) == category_code(0) &&
              cuda::category_code(UINT64_MAX) == category_code(UINT64_MAX) &&
              cuda::category_code(0x0123456789abcdefULL) == category_code(0x0123456789abcdefULL));
// Host arrays are copied to the device byte for byte.
static_assert(sizeof(Ipv6) == sizeof(U128) && offsetof(Ipv6, hi) == offsetof(U128, hi) &&
              offsetof(Ipv6, lo) == offsetof(U128, lo) && std::is_trivially_copyable_v<Ipv6>);
static_assert(sizeof(CategoryBucket) == sizeof(JoinBucket) &&
              alignof(CategoryBucket) == alignof(JoinBucket) &&
              offsetof(CategoryBucket, codes) == offsetof(JoinBucket, codes) &&
              offsetof(CategoryBucket, values) == offsetof(JoinBucket, values) &&
              CategoryBucket::kSlots == cuda::kBucketSlots && std::is_trivially_copyable_v<CategoryBucket>);

namespace {

Status check_sizes(size_t in, size_t out) {
  if (in != out) return Status::errorf("backend: {} inputs but room for {} outputs", in, out);
  return Status::ok();
}

// Owned device or page-locked host memory that only grows (reserve) and is freed on destruction.
template <bool kPinned>
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      (void)release();
      ptr_ = std::exchange(o.ptr_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  ~Buffer() { (void)release(); }

  Status reserve(size_t bytes) {
    if (bytes <= bytes_) return Status::ok();
    if (Status s = release(); !s) return s;
    // Grow by at least half again, so that slowly growing batches do not reallocate every call.
    const size_t want = std::max(bytes, bytes_ + bytes_ / 2);
    void* p = nullptr;
    if constexpr (kPinned) {
      ENRICHD_CUDA_TRY(cudaMallocHost(&p, want));
    } else {
      ENRICHD_CUDA_TRY(cudaMalloc(&p, want));
    }
    ptr_ = p;
    bytes_ = want;
    return Status::ok();
  }

  Status release() {
    void* p = std::exchange(ptr_, nullptr);
    bytes_ = 0;
    if (p == nullptr) return Status::ok();
    if constexpr (kPinned) {
      ENRICHD_CUDA_TRY(cudaFreeHost(p));
    } else {
      ENRICHD_CUDA_TRY(cudaFree(p));
    }
    return Status::ok();
  }

  template <typename T = unsigned char>
  T* get() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};
using DeviceBuffer = Buffer<false>;
using PinnedBuffer = Buffer<true>;

size_t round_up(size_t n, size_t to) {
  return (n + to - 1) / to * to;
}

// A view's identity: its table's generation (host/table_generation.h), which changes with every change
// of content; for hand-built views (generation 0), array addresses and sizes plus a hash of a few
// sampled entries, so that a new table that happens to get the old one's addresses is still told apart.
struct ViewKey {
  const void* keys = nullptr;
  size_t key_count = 0;
  const void* values = nullptr;
  size_t value_count = 0;
  uint64_t fingerprint = 0;
  uint64_t generation = 0;
  friend bool operator==(const ViewKey&, const ViewKey&) = default;
};

constexpr size_t kFingerprintSamples = 16;

uint64_t mix(uint64_t h, uint64_t v) {
  return cuda::splitmix_hash(h ^ v) + 0x9e3779b97f4a7c15ULL;
}
uint64_t words_hash(uint64_t h, uint32_t v) {
  return mix(h, v);
}
uint64_t words_hash(uint64_t h, uint64_t v) {
  return mix(h, v);
}
uint64_t words_hash(uint64_t h, const Ipv6& v) {
  return mix(mix(h, v.hi), v.lo);
}
uint64_t words_hash(uint64_t h, const CategoryBucket& b) {
  for (int s = 0; s < CategoryBucket::kSlots; ++s) h = mix(mix(h, b.codes[s]), b.values[s]);
  return h;
}

template <typename T>
uint64_t sample_hash(uint64_t h, std::span<const T> s) {
  h = mix(h, s.size());
  if (s.empty()) return h;
  for (size_t k = 0; k < kFingerprintSamples; ++k)
    h = words_hash(h, s[k * (s.size() - 1) / (kFingerprintSamples - 1)]);
  return h;
}

template <typename Key>
struct DeviceGeo {
  ViewKey view;
  DeviceBuffer memory;
  SearchTable<Key> table;
  size_t bytes = 0;
};

struct DeviceJoin {
  ViewKey view;
  uint64_t home_buckets = 0;
  DeviceBuffer memory;
  JoinTable table;  // without the per-call out-of-band key
  size_t bytes = 0;
};

// One family's device copies: the ones batches use (the category join and a second dimension's join
// alternate batch by batch) and, after prepare_tables(), the next one, uploaded while the current one
// serves. A copy that no call of its family used for kIdleCalls calls is freed: after a reload swaps in the
// new table no batch asks for the old one again. Calls are serialised, so no batch in flight still reads a
// freed copy. At most `capacity` copies: a new one beyond that frees the least recently used.
template <typename Entry>
class DeviceTables {
 public:
  static constexpr uint64_t kIdleCalls = 16;
  explicit DeviceTables(size_t capacity) : capacity_(capacity) {}

  // The copy for `key` (null: none), held by the caller for the whole call: a copy evicted meanwhile by
  // another caller's call is freed only when the last holder lets go.
  std::shared_ptr<const Entry> use(const ViewKey& key) {
    ++clock_;
    std::shared_ptr<const Entry> hit;
    for (Slot& s : slots_) {
      if (s.entry->view == key) {
        s.last_used = clock_;
        hit = s.entry;
      }
    }
    std::erase_if(slots_, [&](const Slot& s) { return clock_ - s.last_used > kIdleCalls; });
    return hit;
  }
  bool has(const ViewKey& key) const {
    return std::any_of(slots_.begin(), slots_.end(), [&](const Slot& s) { return s.entry->view == key; });
  }
  std::shared_ptr<const Entry> install(std::unique_ptr<Entry> entry) {
    if (slots_.size() >= capacity_) {
      slots_.erase(std::min_element(slots_.begin(), slots_.end(),
                                    [](const Slot& a, const Slot& b) { return a.last_used < b.last_used; }));
    }
    slots_.push_back({std::move(entry), clock_});
    return slots_.back().entry;
  }
  void clear() { slots_.clear(); }
  size_t bytes() const {
    size_t total = 0;
    for (const Slot& s : slots_) total += s.entry->bytes;
    return total;
  }

 private:
  struct Slot {
    std::shared_ptr<const Entry> entry;
    uint64_t last_used = 0;
  };
  size_t capacity_;
  uint64_t clock_ = 0;
  std::vector<Slot> slots_;
};

// The device's copy of a host key type.
template <typename HostKey>
using DeviceKeyOf = std::conditional_t<std::is_same_v<HostKey, Ipv6>, U128, HostKey>;

Status set_device(int device) {
  ENRICHD_CUDA_TRY(cudaSetDevice(device));
  return Status::ok();
}

// Whether [p, p + bytes) is page-locked host memory, which the copy engines can read or write directly.
Result<bool> page_locked(const void* p, size_t bytes) {
  if (p == nullptr || bytes == 0) return false;
  for (const void* q : {p, static_cast<const void*>(static_cast<const unsigned char*>(p) + bytes - 1)}) {
    cudaPointerAttributes attr{};
    ENRICHD_CUDA_TRY(cudaPointerGetAttributes(&attr, q));
    if (attr.type != cudaMemoryTypeHost) return false;
  }
  return true;
}

// Runs a 1-element kernel and reads it back: proves the driver, the context and the kernel image.
Status smoke_test(int device) {
  if (Status s = set_device(device); !s) return s;
  ENRICHD_CUDA_TRY(cudaFree(nullptr));  // creates the context
  if (Status s = cuda::check_kernel_images(); !s) return s;
  DeviceBuffer buffer;
  if (Status s = buffer.reserve(sizeof(uint32_t)); !s) return s;
  constexpr uint32_t kProbe = 0x5eed1234U;
  if (Status s = cuda::launch_fill(buffer.get<uint32_t>(), 1, kProbe, nullptr); !s) return s;
  uint32_t back = 0;
  ENRICHD_CUDA_TRY(cudaMemcpy(&back, buffer.get(), sizeof back, cudaMemcpyDeviceToHost));
  if (back != kProbe) return Status::errorf("a test kernel wrote {:#x}, not {:#x}", back, kProbe);
  return buffer.release();
}

// Waits for the stream's work, then destroys it.
Status destroy_stream(cudaStream_t s) {
  ENRICHD_CUDA_TRY(cudaStreamSynchronize(s));
  ENRICHD_CUDA_TRY(cudaStreamDestroy(s));
  return Status::ok();
}

}  // namespace

// One caller's way through the device: two streams that a batch's chunks alternate between, and their
// buffers. Calls from several threads each take a lane, so that one batch's copies overlap another's
// kernels (the copy engines and the SMs work side by side).
struct Lane {
  cudaStream_t streams[2] = {nullptr, nullptr};
  cudaEvent_t done[2] = {nullptr, nullptr};
  DeviceBuffer device_in[2], device_out[2];
  PinnedBuffer host_in[2], host_out[2];

  Lane() = default;
  Lane(const Lane&) = delete;
  Lane& operator=(const Lane&) = delete;
  ~Lane() {
    for (int i = 0; i < 2; ++i) {
      if (streams[i] != nullptr) (void)destroy_stream(streams[i]);
      if (done[i] != nullptr) (void)cudaEventDestroy(done[i]);
    }
  }
  Status init() {
    for (int i = 0; i < 2; ++i) {
      ENRICHD_CUDA_TRY(cudaStreamCreateWithFlags(&streams[i], cudaStreamNonBlocking));
      ENRICHD_CUDA_TRY(cudaEventCreateWithFlags(&done[i], cudaEventDisableTiming));
    }
    return Status::ok();
  }
};

struct CudaBackend::Impl {
  CudaOptions options;
  std::string device_name;
  int sm_count = 1;
  size_t shared_limit = 48 * 1024;
  // The device-resident calls' lane (stream()); staged calls take one from the pool below.
  Lane device_lane;
  static constexpr size_t kMaxLanes = 4;
  std::mutex lanes_mu;
  std::condition_variable lane_freed;
  std::vector<std::unique_ptr<Lane>> lanes;
  std::vector<Lane*> idle_lanes;

  std::mutex mutex;  // batches, the caches and the stats
  // One geo table per family in use, plus a prepared one; the join: a few dimensions, plus a prepared one.
  DeviceTables<DeviceGeo<uint32_t>> v4{2};
  DeviceTables<DeviceGeo<uint64_t>> v6_64{2};
  DeviceTables<DeviceGeo<U128>> v6_128{2};
  DeviceTables<DeviceJoin> join{4};
  Stats stats;
  uint64_t calls = 0;  // lookups so far, for options.fail_at_call
  std::string broken;  // set by an injected failure: every later call fails with it

  std::mutex upload_mutex;  // prepare_tables(), one at a time, on its own stream
  cudaStream_t upload_stream = nullptr;

  explicit Impl(const CudaOptions& o) : options(o) {}
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  ~Impl() {
    (void)set_device(options.device);
    lanes.clear();
    if (upload_stream != nullptr) (void)destroy_stream(upload_stream);
  }

  // A free lane, or a new one while there are fewer than kMaxLanes; else waits for one.
  Result<Lane*> acquire_lane() {
    std::unique_lock<std::mutex> lock(lanes_mu);
    lane_freed.wait(lock, [&] { return !idle_lanes.empty() || lanes.size() < kMaxLanes; });
    if (!idle_lanes.empty()) {
      Lane* lane = idle_lanes.back();
      idle_lanes.pop_back();
      return lane;
    }
    auto lane = std::make_unique<Lane>();
    if (Status s = lane->init(); !s) return s;
    lanes.push_back(std::move(lane));
    return lanes.back().get();
  }
  void release_lane(Lane* lane) {
    {
      std::lock_guard<std::mutex> lock(lanes_mu);
      idle_lanes.push_back(lane);
    }
    lane_freed.notify_one();
  }
  // A lane for one call.
  class LaneLease {
   public:
    explicit LaneLease(Impl& impl) : impl_(impl), lane_(impl.acquire_lane()) {}
    ~LaneLease() {
      if (lane_) impl_.release_lane(*lane_);
    }
    LaneLease(const LaneLease&) = delete;
    LaneLease& operator=(const LaneLease&) = delete;
    Status status() const { return lane_.status(); }
    Lane& operator*() const { return **lane_; }

   private:
    Impl& impl_;
    Result<Lane*> lane_;
  };

  Status init() {
    if (options.node_bytes != 32 && options.node_bytes != 64) {
      return Status::errorf("cuda: node_bytes must be 32 or 64, not {}", options.node_bytes);
    }
    int count = 0;
    ENRICHD_CUDA_TRY(cudaGetDeviceCount(&count));
    if (options.device < 0 || options.device >= count) {
      return Status::errorf("cuda: no device {} ({} present)", options.device, count);
    }
    if (Status s = set_device(options.device); !s) return s;
    cudaDeviceProp prop{};
    ENRICHD_CUDA_TRY(cudaGetDeviceProperties(&prop, options.device));
    device_name = prop.name;
    sm_count = prop.multiProcessorCount;
    int optin = 0;
    ENRICHD_CUDA_TRY(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, options.device));
    // Keep room for the kernel's own small shared arrays.
    shared_limit = static_cast<size_t>(optin) > 1024 ? static_cast<size_t>(optin) - 1024 : 0;
    if (Status s = device_lane.init(); !s) return s;
    ENRICHD_CUDA_TRY(cudaStreamCreateWithFlags(&upload_stream, cudaStreamNonBlocking));
    return Status::ok();
  }

  // Every lookup starts here (lock held): refuses after an injected failure, and injects one on the
  // options.fail_at_call-th call, as a plain error or, with fail_with_trap, as a kernel that traps (a
  // real sticky device fault: this process's context is unusable afterwards).
  Status begin_call(cudaStream_t stream) {
    if (!broken.empty()) return Status::errorf("cuda: unusable after an earlier failure: {}", broken);
    if (options.fail_at_call == 0 || ++calls != options.fail_at_call) return Status::ok();
    if (options.fail_with_trap) {
      Status s = cuda::launch_trap(stream);
      if (s) s = sync_stream(stream);
      broken = s ? "an injected trap that did not fault" : s.message();
    } else {
      broken = fmt::format("injected failure at call {} (CudaOptions::fail_at_call)", calls);
    }
    return Status::errorf("cuda: {}", broken);
  }

  // ---- tables ----

  // The device search structure for one family, from the cache or uploaded now.
  template <typename HostKey>
  Result<std::shared_ptr<const DeviceGeo<DeviceKeyOf<HostKey>>>> geo_table(
      DeviceTables<DeviceGeo<DeviceKeyOf<HostKey>>>& cache, std::span<const HostKey> starts,
      std::span<const uint32_t> records, uint64_t generation, cudaStream_t stream) {
    using Key = DeviceKeyOf<HostKey>;
    const ViewKey key = geo_key(starts, records, generation);
    forget_other_form<Key>();
    if (auto hit = cache.use(key)) return hit;
    auto built = build_geo<Key>(options, key, starts, records, stream);
    if (!built) return built.status();
    ++stats.table_uploads;
    return cache.install(std::move(built).value());
  }

  template <typename HostKey>
  static ViewKey geo_key(std::span<const HostKey> starts, std::span<const uint32_t> records,
                         uint64_t generation) {
    return {starts.data(),
            starts.size(),
            records.data(),
            records.size(),
            sample_hash(sample_hash(0, starts), records),
            generation};
  }

  // Builds a family's search structure on `stream` (and waits for it). Touches no shared state.
  template <typename Key, typename HostKey>
  static Result<std::unique_ptr<DeviceGeo<Key>>> build_geo(const CudaOptions& options, const ViewKey& key,
                                                           std::span<const HostKey> starts,
                                                           std::span<const uint32_t> records,
                                                           cudaStream_t stream) {
    if (records.size() < starts.size()) {
      return Status::errorf("geo table view: {} range starts but {} records", starts.size(), records.size());
    }
    auto geo = std::make_unique<DeviceGeo<Key>>();
    geo->view = key;
    const size_t n = starts.size();
    const int fanout = static_cast<int>((std::is_same_v<Key, U128> ? 64 : options.node_bytes) / sizeof(Key));
    const cuda::SearchPlan plan =
        cuda::plan_search(n, sizeof(Key), fanout, options.shared_top_bytes, options.plain_search);
    SearchTable<Key>& t = geo->table;
    t.fanout = fanout;
    t.size = n;
    t.top = plan.top;
    if (Status s = geo->memory.reserve(plan.bytes); !s) return s;
    geo->bytes = plan.bytes;
    unsigned char* base = geo->memory.get();
    for (int l = 0; l <= t.top; ++l) {
      t.levels[l] = reinterpret_cast<const Key*>(base + plan.offsets[l]);
      t.lengths[l] = plan.lengths[l];
    }
    t.records = reinterpret_cast<const uint32_t*>(base + plan.records_offset);
    // Padding keys are all ones: the largest key of every type.
    ENRICHD_CUDA_TRY(cudaMemsetAsync(base, 0xff, plan.records_offset, stream));
    if (n > 0) {
      std::memcpy(&t.first, starts.data(), sizeof(Key));
      ENRICHD_CUDA_TRY(cudaMemcpyAsync(base, starts.data(), n * sizeof(Key), cudaMemcpyHostToDevice, stream));
      ENRICHD_CUDA_TRY(cudaMemcpyAsync(base + plan.records_offset, records.data(), n * sizeof(uint32_t),
                                       cudaMemcpyHostToDevice, stream));
    }
    for (int l = 1; l <= t.top; ++l) {
      if (Status s = cuda::launch_gather(base + plan.offsets[l - 1], base + plan.offsets[l], t.lengths[l],
                                         static_cast<uint64_t>(fanout), sizeof(Key), stream);
          !s) {
        return s;
      }
    }
    ENRICHD_CUDA_TRY(cudaStreamSynchronize(stream));
    return geo;
  }

  // The IPv6 family keeps one form at a time on the hot path: using one drops the other.
  template <typename Key>
  void forget_other_form() {
    if constexpr (std::is_same_v<Key, uint64_t>) v6_128.clear();
    if constexpr (std::is_same_v<Key, U128>) v6_64.clear();
  }

  static ViewKey join_key(const CategoryTableView& view) {
    // home_buckets is part of the layout: the same bucket array rehashed in place is another table.
    return {view.buckets.data(), view.buckets.size(),          nullptr,
            view.home_buckets,   sample_hash(0, view.buckets), view.generation};
  }

  // The view's own buckets, as they are (a default view: nothing to upload; every key but the
  // out-of-band one misses). Touches no shared state.
  static Result<std::unique_ptr<DeviceJoin>> build_join(const CategoryTableView& view, const ViewKey& key,
                                                        cudaStream_t stream) {
    auto j = std::make_unique<DeviceJoin>();
    j->view = key;
    j->home_buckets = view.home_buckets;
    if (!view.buckets.empty()) {
      const size_t bytes = view.buckets.size_bytes();
      if (Status s = j->memory.reserve(bytes); !s) return s;
      ENRICHD_CUDA_TRY(
          cudaMemcpyAsync(j->memory.get(), view.buckets.data(), bytes, cudaMemcpyHostToDevice, stream));
      ENRICHD_CUDA_TRY(cudaStreamSynchronize(stream));
      j->table.buckets = j->memory.get<const JoinBucket>();
      j->table.bucket_count = view.buckets.size();
      j->table.home_buckets = view.home_buckets;
      j->bytes = bytes;
    }
    return j;
  }

  // `hold` keeps the device copy alive for the call.
  Result<JoinTable> join_table(const CategoryTableView& view, cudaStream_t stream,
                               std::shared_ptr<const DeviceJoin>& hold) {
    const ViewKey key = join_key(view);
    std::shared_ptr<const DeviceJoin> entry = join.use(key);
    if (entry == nullptr) {
      auto built = build_join(view, key, stream);
      if (!built) return built.status();
      ++stats.table_uploads;
      entry = join.install(std::move(built).value());
    }
    hold = entry;
    JoinTable t = entry->table;
    t.slot_walk = options.join_layout == CudaOptions::JoinLayout::kSlots;
    t.has_empty_key = view.has_empty_key;
    t.empty_key_value = view.empty_key_value;
    return t;
  }

  // prepare_tables() for one family: `build` uploads on upload_stream without holding `mutex` (batches
  // go on), then the copy is installed beside the one in use.
  template <typename Entry, typename Build>
  Status prepare(DeviceTables<Entry>& cache, const ViewKey& key, Build&& build) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (cache.has(key)) return Status::ok();
    }
    auto built = build();
    if (!built) return built.status();
    std::lock_guard<std::mutex> lock(mutex);
    if (!cache.has(key)) {
      cache.install(std::move(built).value());
      ++stats.table_uploads;
      ++stats.prepared_uploads;
    }
    return Status::ok();
  }

  template <typename HostKey>
  Status prepare_geo(DeviceTables<DeviceGeo<DeviceKeyOf<HostKey>>>& cache, std::span<const HostKey> starts,
                     std::span<const uint32_t> records, uint64_t generation) {
    const ViewKey key = geo_key(starts, records, generation);
    return prepare(cache, key, [&] {
      return build_geo<DeviceKeyOf<HostKey>>(options, key, starts, records, upload_stream);
    });
  }

  Status prepare_join(const CategoryTableView& view) {
    const ViewKey key = join_key(view);
    return prepare(join, key, [&] { return build_join(view, key, upload_stream); });
  }

  template <typename Key>
  cuda::SearchLaunch search_launch(const SearchTable<Key>& t, size_t n) const {
    cuda::SearchLaunch how;
    how.sm_count = sm_count;
    const size_t top_bytes = t.lengths[t.top] * sizeof(Key);
    const bool fits = !options.plain_search && top_bytes <= shared_limit;
    switch (options.shared_top) {
      case CudaOptions::SharedTop::kAlways:
        how.shared_top = fits;
        break;
      case CudaOptions::SharedTop::kNever:
        how.shared_top = false;
        break;
      case CudaOptions::SharedTop::kAuto:
        how.shared_top = fits && n >= CudaOptions::kSharedTopMinQueries;
        break;
    }
    return how;
  }

  // ---- batches ----

  // One batch's way through the device: the user's input (`bytes_per_query` bytes each when sent as
  // is), how to write the device format into staging when it is not sent as is, and the kernel.
  struct Batch {
    const void* in = nullptr;
    size_t in_bytes = 0;      // per query, the user's format
    size_t staged_bytes = 0;  // per query, the device format written by `stage`
    std::function<void(void* dst, size_t first, size_t count)> stage;
    // The kernel over `count` queries; `direct` says whether d_in holds the user's format.
    std::function<Status(const void* d_in, uint32_t* d_out, size_t count, bool direct, cudaStream_t)> launch;
    uint32_t* out = nullptr;
  };

  size_t chunk_for(size_t n) const {
    if (options.chunk_queries != 0) return options.chunk_queries;
    constexpr size_t kMin = 64 * 1024, kMax = 4 * 1024 * 1024;
    return std::clamp(round_up((n + 3) / 4, 4096), kMin, kMax);
  }

  // Chunks alternate between the lane's two streams and two sets of buffers: while the device works on
  // one chunk, the CPU stages the next and unstages the one before. Called with `lock` (the mutex) held:
  // it is let go for the transfers and kernels (other calls go on meanwhile in other lanes) and taken
  // again before returning.
  Status run(const Batch& b, size_t n, Lane& lane, std::unique_lock<std::mutex>& lock) {
    bool direct = false;
    lock.unlock();
    const Status s = run_unlocked(b, n, lane, direct);
    lock.lock();
    if (s) ++(direct ? stats.direct_batches : stats.staged_batches);
    return s;
  }

  Status run_unlocked(const Batch& b, size_t n, Lane& lane, bool& direct) {
    const Result<bool> in_locked = page_locked(b.in, n * b.in_bytes);
    if (!in_locked) return in_locked.status();
    const Result<bool> out_locked = page_locked(b.out, n * sizeof(uint32_t));
    if (!out_locked) return out_locked.status();
    const bool direct_in = *in_locked, direct_out = *out_locked;
    const size_t in_bytes = direct_in ? b.in_bytes : b.staged_bytes;
    const size_t chunk = std::min(chunk_for(n), n);
    for (int i = 0; i < 2; ++i) {
      if (Status s = lane.device_in[i].reserve(chunk * in_bytes); !s) return s;
      if (Status s = lane.device_out[i].reserve(chunk * sizeof(uint32_t)); !s) return s;
      if (!direct_in) {
        if (Status s = lane.host_in[i].reserve(chunk * in_bytes); !s) return s;
      }
      if (!direct_out) {
        if (Status s = lane.host_out[i].reserve(chunk * sizeof(uint32_t)); !s) return s;
      }
    }
    const size_t chunks = (n + chunk - 1) / chunk;
    auto finish = [&](size_t k) -> Status {
      const size_t slot = k % 2, first = k * chunk, count = std::min(chunk, n - first);
      ENRICHD_CUDA_TRY(cudaEventSynchronize(lane.done[slot]));
      if (!direct_out) std::memcpy(b.out + first, lane.host_out[slot].get(), count * sizeof(uint32_t));
      return Status::ok();
    };
    auto enqueue_all = [&]() -> Status {
      for (size_t k = 0; k < chunks; ++k) {
        const size_t slot = k % 2, first = k * chunk, count = std::min(chunk, n - first);
        if (k >= 2) {
          if (Status s = finish(k - 2); !s) return s;
        }
        const void* src = static_cast<const unsigned char*>(b.in) + first * b.in_bytes;
        if (!direct_in) {
          b.stage(lane.host_in[slot].get(), first, count);
          src = lane.host_in[slot].get();
        }
        const cudaStream_t stream = lane.streams[slot];
        ENRICHD_CUDA_TRY(cudaMemcpyAsync(lane.device_in[slot].get(), src, count * in_bytes,
                                         cudaMemcpyHostToDevice, stream));
        if (Status s = b.launch(lane.device_in[slot].get(), lane.device_out[slot].get<uint32_t>(), count,
                                direct_in, stream);
            !s) {
          return s;
        }
        void* dst = direct_out ? static_cast<void*>(b.out + first) : lane.host_out[slot].get();
        ENRICHD_CUDA_TRY(cudaMemcpyAsync(dst, lane.device_out[slot].get(), count * sizeof(uint32_t),
                                         cudaMemcpyDeviceToHost, stream));
        ENRICHD_CUDA_TRY(cudaEventRecord(lane.done[slot], stream));
      }
      for (size_t k = chunks >= 2 ? chunks - 2 : 0; k < chunks; ++k) {
        if (Status s = finish(k); !s) return s;
      }
      return Status::ok();
    };
    const Status s = enqueue_all();
    if (!s) {
      // Nothing may still be copying into the caller's memory once we return.
      for (cudaStream_t stream : lane.streams) (void)sync_stream(stream);
      return s;
    }
    direct = direct_in && direct_out;
    return Status::ok();
  }

  static Status sync_stream(cudaStream_t stream) {
    ENRICHD_CUDA_TRY(cudaStreamSynchronize(stream));
    return Status::ok();
  }

  // ---- the three lookups ----
  // Called with `lock` (the mutex) held and the device set; `lane` runs the call. Device-resident calls
  // (device = true) enqueue on the lane's first stream and keep the lock; staged ones let it go while
  // their chunks travel (run()).

  Status v4_lookup(const GeoTableView& view, const uint32_t* addrs, uint32_t* out, size_t n, bool device,
                   Lane& lane, std::unique_lock<std::mutex>& lock) {
    const auto t = geo_table(v4, view.v4_starts, view.v4_records, view.generation, lane.streams[0]);
    if (!t) return t.status();
    const SearchTable<uint32_t>& table = (*t)->table;
    if (device) {
      return cuda::launch_geo_search(table, addrs, 1, out, n, search_launch(table, n), lane.streams[0]);
    }
    Batch b;
    b.in = addrs;
    b.in_bytes = b.staged_bytes = sizeof(uint32_t);
    b.stage = [addrs](void* dst, size_t first, size_t count) {
      std::memcpy(dst, addrs + first, count * sizeof(uint32_t));
    };
    b.launch = [&](const void* d_in, uint32_t* d_out, size_t count, bool, cudaStream_t stream) {
      return cuda::launch_geo_search(table, d_in, 1, d_out, count, search_launch(table, count), stream);
    };
    b.out = out;
    return run(b, n, lane, lock);
  }

  Status v6_lookup(const GeoTableView& view, const Ipv6* addrs, uint32_t* out, size_t n, bool device,
                   Lane& lane, std::unique_lock<std::mutex>& lock) {
    if (!view.v6_starts64.empty()) {
      const auto t = geo_table(v6_64, view.v6_starts64, view.v6_records, view.generation, lane.streams[0]);
      if (!t) return t.status();
      const SearchTable<uint64_t>& table = (*t)->table;
      if (device) {
        return cuda::launch_geo_search(table, addrs, 2, out, n, search_launch(table, n), lane.streams[0]);
      }
      // Staged, only the hi words travel (half the bytes); page-locked input travels whole.
      Batch b;
      b.in = addrs;
      b.in_bytes = sizeof(Ipv6);
      b.staged_bytes = sizeof(uint64_t);
      b.stage = [addrs](void* dst, size_t first, size_t count) {
        auto* hi = static_cast<uint64_t*>(dst);
        for (size_t i = 0; i < count; ++i) hi[i] = addrs[first + i].hi;
      };
      b.launch = [&](const void* d_in, uint32_t* d_out, size_t count, bool direct, cudaStream_t stream) {
        return cuda::launch_geo_search(table, d_in, direct ? 2 : 1, d_out, count, search_launch(table, count),
                                       stream);
      };
      b.out = out;
      return run(b, n, lane, lock);
    }
    const auto t = geo_table(v6_128, view.v6_starts, view.v6_records, view.generation, lane.streams[0]);
    if (!t) return t.status();
    const SearchTable<U128>& table = (*t)->table;
    if (device) {
      return cuda::launch_geo_search(table, addrs, 1, out, n, search_launch(table, n), lane.streams[0]);
    }
    Batch b;
    b.in = addrs;
    b.in_bytes = b.staged_bytes = sizeof(Ipv6);
    b.stage = [addrs](void* dst, size_t first, size_t count) {
      std::memcpy(dst, addrs + first, count * sizeof(Ipv6));
    };
    b.launch = [&](const void* d_in, uint32_t* d_out, size_t count, bool, cudaStream_t stream) {
      return cuda::launch_geo_search(table, d_in, 1, d_out, count, search_launch(table, count), stream);
    };
    b.out = out;
    return run(b, n, lane, lock);
  }

  Status join_lookup(const CategoryTableView& view, const uint64_t* keys, uint32_t* out, size_t n,
                     bool device, Lane& lane, std::unique_lock<std::mutex>& lock) {
    std::shared_ptr<const DeviceJoin> hold;
    const Result<JoinTable> t = join_table(view, lane.streams[0], hold);
    if (!t) return t.status();
    const JoinTable& table = *t;
    if (device) return cuda::launch_category_join(table, keys, out, n, sm_count, lane.streams[0]);
    Batch b;
    b.in = keys;
    b.in_bytes = b.staged_bytes = sizeof(uint64_t);
    b.stage = [keys](void* dst, size_t first, size_t count) {
      std::memcpy(dst, keys + first, count * sizeof(uint64_t));
    };
    b.launch = [&](const void* d_in, uint32_t* d_out, size_t count, bool, cudaStream_t stream) {
      return cuda::launch_category_join(table, static_cast<const uint64_t*>(d_in), d_out, count, sm_count,
                                        stream);
    };
    b.out = out;
    return run(b, n, lane, lock);
  }

  size_t table_bytes() const { return v4.bytes() + v6_64.bytes() + v6_128.bytes() + join.bytes(); }
};

namespace {

// ENRICHD_CUDA_INJECT_FAILURE=N or N:trap (CudaOptions::fail_at_call).
Status read_injected_failure(CudaOptions& options) {
  const char* env = std::getenv("ENRICHD_CUDA_INJECT_FAILURE");
  if (env == nullptr || *env == '\0' || options.fail_at_call != 0) return Status::ok();
  const std::string_view text(env);
  const std::string_view number = text.substr(0, text.find(':'));
  const std::string_view mode = number.size() < text.size() ? text.substr(number.size() + 1) : "";
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), n);
  if (ec != std::errc() || end != number.data() + number.size() || n == 0 || (mode != "" && mode != "trap")) {
    return Status::errorf(
        "ENRICHD_CUDA_INJECT_FAILURE='{}': expected N or N:trap with N >= 1 (the call that fails)", text);
  }
  options.fail_at_call = n;
  options.fail_with_trap = mode == "trap";
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<CudaBackend>> CudaBackend::create(const CudaOptions& given) {
  CudaOptions options = given;
  if (Status s = read_injected_failure(options); !s) return s;
  if (options.device == 0) {
    const cuda::Availability a = cuda::backend_availability();
    if (!a.available) return Status::errorf("cuda: {}", a.detail);
  } else {
    const cuda::DeviceProbe probe = cuda::probe_devices();
    if (options.device < 0 || options.device >= probe.device_count) {
      return Status::errorf(
          "cuda: no device {} ({})", options.device,
          probe.device_count == 0 ? probe.detail : fmt::format("{} present", probe.device_count));
    }
    if (Status s = smoke_test(options.device); !s)
      return Status::errorf("cuda: device {}: {}", options.device, s.message());
  }
  auto impl = std::make_unique<Impl>(options);
  if (Status s = impl->init(); !s) return s;
  return std::unique_ptr<CudaBackend>(new CudaBackend(std::move(impl)));
}

CudaBackend::CudaBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CudaBackend::~CudaBackend() = default;

Status CudaBackend::geo_lookup_v4(const GeoTableView& table, std::span<const uint32_t> addrs,
                                  std::span<uint32_t> records) {
  if (Status s = check_sizes(addrs.size(), records.size()); !s) return s;
  if (addrs.empty()) return Status::ok();
  if (table.v4_starts.empty()) {
    std::fill(records.begin(), records.end(), kNoRecord);
    return Status::ok();
  }
  if (Status s = set_device(impl_->options.device); !s) return s;
  const Impl::LaneLease lane(*impl_);
  if (Status s = lane.status(); !s) return s;
  std::unique_lock<std::mutex> lock(impl_->mutex);
  if (Status s = impl_->begin_call((*lane).streams[0]); !s) return s;
  return impl_->v4_lookup(table, addrs.data(), records.data(), addrs.size(), false, *lane, lock);
}

Status CudaBackend::geo_lookup_v6(const GeoTableView& table, std::span<const Ipv6> addrs,
                                  std::span<uint32_t> records) {
  if (Status s = check_sizes(addrs.size(), records.size()); !s) return s;
  if (addrs.empty()) return Status::ok();
  if (table.v6_starts64.empty() && table.v6_starts.empty()) {
    std::fill(records.begin(), records.end(), kNoRecord);
    return Status::ok();
  }
  if (Status s = set_device(impl_->options.device); !s) return s;
  const Impl::LaneLease lane(*impl_);
  if (Status s = lane.status(); !s) return s;
  std::unique_lock<std::mutex> lock(impl_->mutex);
  if (Status s = impl_->begin_call((*lane).streams[0]); !s) return s;
  return impl_->v6_lookup(table, addrs.data(), records.data(), addrs.size(), false, *lane, lock);
}

Status CudaBackend::category_join(const CategoryTableView& table, std::span<const uint64_t> keys,
                                  std::span<uint32_t> values) {
  if (Status s = check_sizes(keys.size(), values.size()); !s) return s;
  if (keys.empty()) return Status::ok();
  if (Status s = set_device(impl_->options.device); !s) return s;
  const Impl::LaneLease lane(*impl_);
  if (Status s = lane.status(); !s) return s;
  std::unique_lock<std::mutex> lock(impl_->mutex);
  if (Status s = impl_->begin_call((*lane).streams[0]); !s) return s;
  return impl_->join_lookup(table, keys.data(), values.data(), keys.size(), false, *lane, lock);
}

Status CudaBackend::geo_lookup_v4_device(const GeoTableView& table, const uint32_t* addrs, uint32_t* records,
                                         size_t n) {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  if (Status s = set_device(impl_->options.device); !s) return s;
  if (n == 0) return Status::ok();
  if (table.v4_starts.empty()) return cuda::launch_fill(records, n, kNoRecord, impl_->device_lane.streams[0]);
  return impl_->v4_lookup(table, addrs, records, n, true, impl_->device_lane, lock);
}

Status CudaBackend::geo_lookup_v6_device(const GeoTableView& table, const Ipv6* addrs, uint32_t* records,
                                         size_t n) {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  if (Status s = set_device(impl_->options.device); !s) return s;
  if (n == 0) return Status::ok();
  if (table.v6_starts64.empty() && table.v6_starts.empty()) {
    return cuda::launch_fill(records, n, kNoRecord, impl_->device_lane.streams[0]);
  }
  return impl_->v6_lookup(table, addrs, records, n, true, impl_->device_lane, lock);
}

Status CudaBackend::category_join_device(const CategoryTableView& table, const uint64_t* keys,
                                         uint32_t* values, size_t n) {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  if (Status s = set_device(impl_->options.device); !s) return s;
  if (n == 0) return Status::ok();
  return impl_->join_lookup(table, keys, values, n, true, impl_->device_lane, lock);
}

Status CudaBackend::prepare_tables(const GeoTableView& geo, const CategoryTableView& categories) {
  std::lock_guard<std::mutex> one_at_a_time(impl_->upload_mutex);
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    if (!impl_->broken.empty())
      return Status::errorf("cuda: unusable after an earlier failure: {}", impl_->broken);
  }
  if (Status s = set_device(impl_->options.device); !s) return s;  // this thread's current device
  if (!geo.v4_starts.empty()) {
    if (Status s = impl_->prepare_geo(impl_->v4, geo.v4_starts, geo.v4_records, geo.generation); !s) return s;
  }
  if (!geo.v6_starts64.empty()) {
    if (Status s = impl_->prepare_geo(impl_->v6_64, geo.v6_starts64, geo.v6_records, geo.generation); !s)
      return s;
  } else if (!geo.v6_starts.empty()) {
    if (Status s = impl_->prepare_geo(impl_->v6_128, geo.v6_starts, geo.v6_records, geo.generation); !s)
      return s;
  }
  return impl_->prepare_join(categories);
}

Status CudaBackend::synchronize() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (Status s = set_device(impl_->options.device); !s) return s;
  return Impl::sync_stream(impl_->device_lane.streams[0]);
}

void* CudaBackend::stream() const {
  return impl_->device_lane.streams[0];
}

Status CudaBackend::forget_tables() {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  if (Status s = set_device(impl_->options.device); !s) return s;
  impl_->v4.clear();
  impl_->v6_64.clear();
  impl_->v6_128.clear();
  impl_->join.clear();
  return Status::ok();
}

CudaBackend::Stats CudaBackend::stats() const {
  Stats s;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    s = impl_->stats;
  }
  std::lock_guard<std::mutex> lock(impl_->lanes_mu);
  s.lanes = impl_->lanes.size();
  return s;
}

std::string CudaBackend::describe() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return fmt::format("{} ({} SMs), {:.1f} MiB of tables on the device", impl_->device_name, impl_->sm_count,
                     static_cast<double>(impl_->table_bytes()) / (1024.0 * 1024.0));
}

namespace cuda {

Availability backend_availability() {
  static const Availability cached = [] {
    const DeviceProbe probe = probe_devices();
    if (probe.device_count == 0) return Availability{false, probe.detail};
    if (Status s = smoke_test(0); !s)
      return Availability{false, fmt::format("{}: {}", probe.detail, s.message())};
    return Availability{true, probe.detail};
  }();
  return cached;
}

uint64_t kernel_code(uint64_t key) {
  return category_code(key);
}

}  // namespace cuda
}  // namespace enrichd
