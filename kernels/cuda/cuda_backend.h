// The CUDA backend: geo lookups and the category join on the GPU, giving exactly the scalar answers.
// This header has no CUDA types, so plain C++ can include it; it exists only in builds with CUDA
// (ENRICHD_HAVE_CUDA). The implementation is cuda_backend.cpp (host side) and cuda_kernels.cu.
//
// Tables: a view only brings host spans, so the backend keeps device copies per family (IPv4, IPv6,
// categories: the ones in use, and the next one while prepare_tables() uploads it), keyed on the view's
// generation (host/table_generation.h: GeoTable and CategoryTable give every content its own, an insert
// included) and its array addresses and sizes. The same view on the next batch reuses the copy; a different
// one (a reload) is uploaded anew and the old copy freed. The device copies are search structures built from
// the view (see cuda_kernels.h): for GeoLite2 sizes about 1/7 more than the starts for the geo search; the
// join uses the view's own buckets as they are (about 15.6 bytes per key). A view built by hand (generation
// 0) is told apart by addresses, sizes and a fingerprint of a few sampled entries only: after rewriting such
// arrays in place call forget_tables().
//
// Batches: queries go host -> device and results back through pinned staging buffers that grow as
// needed and are reused across calls, in chunks on two streams, so that the CPU copy of one chunk, the
// transfers and the kernel of others overlap. Each call runs in a lane (two streams and their buffers);
// calls from several threads (pipeline workers) take separate lanes, up to 4, so that one batch's copies
// overlap another's kernels. Where the caller's arrays are already page-locked (e.g.
// from cudaMallocHost) they are transferred directly, with no staging copy.
//
// Errors: every CUDA call is checked (cuda_check.h); failures come back as Status, never aborts. After
// a kernel fault the device context is unusable and every later call returns an error. One backend may
// be shared between threads: the table caches are behind a mutex, each call holds its device copies
// until it ends, and the transfers and kernels of calls in different lanes run side by side.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "kernels/backend.h"

namespace enrichd {

struct CudaOptions {
  int device = 0;
  // Geo search: the largest top level (bytes) that is binary-searched in shared memory; the levels below
  // it take one node each. Smaller means more levels.
  size_t shared_top_bytes = 48 * 1024;
  // Bytes per node below the top: 32 (one sector) or 64 (two sectors: fewer levels, more bytes).
  // 128-bit IPv6 keys always use 64.
  unsigned node_bytes = 32;
  enum class SharedTop { kAuto, kAlways, kNever };
  // kAuto: shared memory for batches of at least kSharedTopMinQueries, else the top is read from global
  // memory (through L1) and nothing is loaded first.
  SharedTop shared_top = SharedTop::kAuto;
  static constexpr size_t kSharedTopMinQueries = 256 * 1024;
  // The naive kernel, for benchmarks: one binary search over the whole starts array in global memory.
  bool plain_search = false;
  enum class JoinLayout { kBuckets, kSlots };
  // Both probe the device copy of the view's buckets: kBuckets a whole bucket per load, kSlots one slot
  // at a time exactly as the scalar backend does (the naive kernel, for benchmarks).
  JoinLayout join_layout = JoinLayout::kBuckets;
  // Queries per staging chunk; 0 picks a size from the batch.
  size_t chunk_queries = 0;
  // Fault injection, for tests of the fallback: the fail_at_call-th lookup call (1-based; 0: never) fails,
  // and so does every call after it. With fail_with_trap the failure is a kernel that traps, a real
  // device fault that leaves this process's CUDA context unusable; without, a plain error. create() also
  // reads ENRICHD_CUDA_INJECT_FAILURE=N or N:trap from the environment (for end-to-end tests of `enrichd
  // run`) when the options set neither.
  uint64_t fail_at_call = 0;
  bool fail_with_trap = false;
};

class CudaBackend final : public EnrichBackend {
 public:
  // Fails (never aborts) when there is no usable device, or the options are invalid.
  static Result<std::unique_ptr<CudaBackend>> create(const CudaOptions& options = {});
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  std::string_view name() const override { return "cuda"; }
  Status geo_lookup_v4(const GeoTableView& table, std::span<const uint32_t> addrs,
                       std::span<uint32_t> records) override;
  Status geo_lookup_v6(const GeoTableView& table, std::span<const Ipv6> addrs,
                       std::span<uint32_t> records) override;
  Status category_join(const CategoryTableView& table, std::span<const uint64_t> keys,
                       std::span<uint32_t> values) override;
  // Uploads the device copies of these tables on a stream of its own while batches go on with the copies
  // in use (a reload: call it before the new tables are swapped in). A copy no call has used for 16 calls
  // of its family is freed, so device memory holds old and new only around the swap.
  Status prepare_tables(const GeoTableView& geo, const CategoryTableView& categories) override;

  // Kernel only, for benchmarks and tests: `addrs`/`keys` and the outputs are device pointers (from
  // cudaMalloc), n items each. The kernel is enqueued on stream() and not waited for: call
  // synchronize(). The table is uploaded first if needed (that part does wait).
  Status geo_lookup_v4_device(const GeoTableView& table, const uint32_t* addrs, uint32_t* records, size_t n);
  Status geo_lookup_v6_device(const GeoTableView& table, const Ipv6* addrs, uint32_t* records, size_t n);
  Status category_join_device(const CategoryTableView& table, const uint64_t* keys, uint32_t* values,
                              size_t n);
  Status synchronize();
  void* stream() const;  // the cudaStream_t that the *_device calls use

  // Drops the device copies of all tables; the next call uploads again.
  Status forget_tables();

  struct Stats {
    uint64_t table_uploads = 0;     // device copies made (first use or reload)
    uint64_t prepared_uploads = 0;  // of which by prepare_tables(), off the batch path
    uint64_t staged_batches = 0;
    uint64_t direct_batches = 0;  // batches whose input and output were both page-locked
    uint64_t lanes = 0;           // lanes made: at most as many as callers were ever at once (<= 4)
  };
  Stats stats() const;
  // The device and what the tables use on it, for logs and `enrichd backends`.
  std::string describe() const override;

  struct Impl;

 private:
  explicit CudaBackend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

namespace cuda {

// Whether the cuda backend can run here: a driver, a device, a context, and kernels this device can run
// (checked by running one). Computed once per process; `detail` names the device or says why not.
struct Availability {
  bool available = false;
  std::string detail;
};
Availability backend_availability();

// The code the join kernels probe for (device_layout.h, the same constexpr source the device code
// compiles): must equal host/category_table.h's category_code on every key (tests).
uint64_t kernel_code(uint64_t key);

}  // namespace cuda
}  // namespace enrichd
