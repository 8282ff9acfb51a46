// The CUDA engine as the pipeline uses it: `auto` routing with its measured crossover, the CPU fallback on
// an injected CUDA failure (a plain error, and a real device fault from a trapping kernel), tables
// prepared off the batch path during a run, and device selection. Every answer is checked against the
// scalar backend. Skips cleanly without a device.
//
// CudaFaultTest.* leaves the process's CUDA context unusable: ctest runs each test in its own process;
// scripts/device-check runs them apart from the rest.
#include <cuda_runtime.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/avx2/avx2_backend.h"
#include "kernels/backend.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/routing_backend.h"
#include "kernels/scalar/scalar_backend.h"

namespace enrichd {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

#define SKIP_WITHOUT_DEVICE() \
  if (!cuda::backend_availability().available) GTEST_SKIP() << cuda::backend_availability().detail

constexpr uint32_t kPoison = 0xdeadbeef;

struct Tables {
  std::vector<uint32_t> v4_starts, v4_records;
  std::vector<uint64_t> v6_starts64;
  std::vector<uint32_t> v6_records;
  CategoryTable categories;
  uint64_t generation = next_table_generation();
  GeoTableView geo() const { return {v4_starts, v4_records, v6_starts64, {}, v6_records, generation}; }
};

std::unique_ptr<Tables> make_tables(size_t v4, size_t v6, size_t keys, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto t = std::make_unique<Tables>();
  t->v4_starts = {0};
  // Steps of 1..step, so that the starts stay below 2^32 (sorted, as a view must be).
  const uint32_t step = static_cast<uint32_t>(UINT32_MAX / v4);
  for (size_t i = 1; i < v4; ++i)
    t->v4_starts.push_back(t->v4_starts.back() + 1 + static_cast<uint32_t>(rng() % step));
  for (size_t i = 0; i < v4; ++i)
    t->v4_records.push_back(rng() % 9 == 0 ? kNoRecord : static_cast<uint32_t>(rng() % 130000));
  t->v6_starts64 = {0};
  for (size_t i = 1; i < v6; ++i) t->v6_starts64.push_back(t->v6_starts64.back() + 1 + (rng() >> 24));
  for (size_t i = 0; i < v6; ++i)
    t->v6_records.push_back(rng() % 9 == 0 ? kNoRecord : static_cast<uint32_t>(rng() % 130000));
  t->categories.reserve(keys);
  for (size_t i = 0; i < keys; ++i)
    EXPECT_TRUE(t->categories.insert(rng(), static_cast<uint32_t>(rng() % 5000)).is_ok());
  t->categories.shrink_to_fit();
  return t;
}

struct Batch {
  std::vector<uint32_t> v4;
  std::vector<Ipv6> v6;
  std::vector<uint64_t> keys;
};

Batch make_batch(const Tables& t, size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Batch b;
  for (size_t i = 0; i < n; ++i) {
    b.v4.push_back(static_cast<uint32_t>(rng()));
    b.v6.push_back(Ipv6{t.v6_starts64[rng() % t.v6_starts64.size()] + rng() % 4, rng()});
    b.keys.push_back(rng());
  }
  // Half the keys present.
  const CategoryTableView v = t.categories.view();
  for (size_t i = 0; i < n; i += 2) {
    const CategoryBucket& bucket = v.buckets[rng() % v.buckets.size()];
    if (bucket.codes[0] != CategoryTableView::kEmptyCode) b.keys[i] = category_key(bucket.codes[0]);
  }
  return b;
}

// All three operations through `backend`, each compared with scalar; returns the first failing status.
void expect_scalar_answers(EnrichBackend& backend, const Tables& t, const Batch& b, const std::string& what) {
  ScalarBackend scalar;
  const size_t n = b.v4.size();
  std::vector<uint32_t> want(n), got(n, kPoison);
  ASSERT_TRUE(scalar.geo_lookup_v4(t.geo(), b.v4, want).is_ok());
  const Status s4 = backend.geo_lookup_v4(t.geo(), b.v4, got);
  ASSERT_TRUE(s4.is_ok()) << what << ": " << s4.message();
  ASSERT_EQ(got, want) << what << ": v4";
  std::fill(got.begin(), got.end(), kPoison);
  ASSERT_TRUE(scalar.geo_lookup_v6(t.geo(), b.v6, want).is_ok());
  const Status s6 = backend.geo_lookup_v6(t.geo(), b.v6, got);
  ASSERT_TRUE(s6.is_ok()) << what << ": " << s6.message();
  ASSERT_EQ(got, want) << what << ": v6";
  std::fill(got.begin(), got.end(), kPoison);
  ASSERT_TRUE(scalar.category_join(t.categories.view(), b.keys, want).is_ok());
  const Status sj = backend.category_join(t.categories.view(), b.keys, got);
  ASSERT_TRUE(sj.is_ok()) << what << ": " << sj.message();
  ASSERT_EQ(got, want) << what << ": join";
}

std::unique_ptr<EnrichBackend> best_cpu() {
  if (list_backends()[1].available) return std::make_unique<Avx2Backend>();
  return std::make_unique<ScalarBackend>();
}

std::unique_ptr<RoutingBackend> routed_cuda(const CudaOptions& options, std::vector<std::string>* warnings) {
  auto cuda = CudaBackend::create(options);
  EXPECT_TRUE(cuda.is_ok()) << cuda.status().message();
  if (!cuda) return nullptr;
  RoutingOptions o;
  o.mode = RoutingOptions::Mode::kGpuAlways;
  o.warn = [warnings](const std::string& line) { warnings->push_back(line); };
  return std::make_unique<RoutingBackend>(std::move(cuda).value(), best_cpu(), o);
}

TEST(CudaEngineTest, AutoMatchesScalarAtEveryBatchSize) {
  SKIP_WITHOUT_DEVICE();
  const auto t = make_tables(2'500'000, 1'000'000, 2'000'000, 1);
  std::vector<std::string> infos;
  BackendSettings settings;
  settings.info = [&](const std::string& line) { infos.push_back(line); };
  auto made = make_backend("auto", settings);
  ASSERT_TRUE(made.is_ok()) << made.status().message();
  auto* routed = dynamic_cast<RoutingBackend*>(made->get());
  ASSERT_NE(routed, nullptr) << "auto with a GPU is the routing backend";
  ASSERT_TRUE(routed->prepare_tables(t->geo(), t->categories.view()).is_ok());
  const RoutingBackend::Stats s = routed->stats();
  for (size_t i = 0; i < kLookupOps; ++i) EXPECT_TRUE(s.calibration[i].done) << lookup_op_name(LookupOp(i));
  ASSERT_EQ(infos.size(), 3u);
  for (const std::string& line : infos) std::cout << line << "\n";
  std::cout << routed->describe() << "\n";
  for (size_t n : {1UL, 7UL, 255UL, 256UL, 1000UL, 4097UL, 65537UL, 262144UL, 1UL << 20}) {
    expect_scalar_answers(*routed, *t, make_batch(*t, n, n), "auto n=" + std::to_string(n));
  }
  const RoutingBackend::Stats after = routed->stats();
  EXPECT_EQ(after.fallbacks, 0u);
  EXPECT_GT(after.cpu_calls + after.gpu_calls, s.cpu_calls + s.gpu_calls);
}

TEST(CudaEngineTest, InjectedFailureFallsBackWithNothingLost) {
  SKIP_WITHOUT_DEVICE();
  const auto t = make_tables(100'000, 50'000, 100'000, 2);
  CudaOptions o;
  o.fail_at_call = 5;  // the v6 lookup of the second batch
  std::vector<std::string> warnings;
  auto routed = routed_cuda(o, &warnings);
  ASSERT_NE(routed, nullptr);
  for (size_t n : {1000UL, 65537UL, 300000UL, 1UL}) {
    expect_scalar_answers(*routed, *t, make_batch(*t, n, n + 1), "n=" + std::to_string(n));
  }
  const RoutingBackend::Stats s = routed->stats();
  EXPECT_EQ(s.gpu_calls, 4u);
  EXPECT_EQ(s.cpu_calls, 8u);
  EXPECT_EQ(s.fallbacks, 1u);
  EXPECT_THAT(s.lost_reason, HasSubstr("injected failure at call 5"));
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], AllOf(HasSubstr("geo_v6"), HasSubstr("nothing lost")));
}

TEST(CudaFaultTest, DeviceFaultFallsBackWithNothingLost) {
  SKIP_WITHOUT_DEVICE();
  const auto t = make_tables(100'000, 50'000, 100'000, 3);
  CudaOptions o;
  o.fail_at_call = 3;  // the join of the first batch
  o.fail_with_trap = true;
  std::vector<std::string> warnings;
  auto routed = routed_cuda(o, &warnings);
  ASSERT_NE(routed, nullptr);
  for (size_t n : {5000UL, 70000UL}) {
    expect_scalar_answers(*routed, *t, make_batch(*t, n, n + 2), "n=" + std::to_string(n));
  }
  const RoutingBackend::Stats s = routed->stats();
  EXPECT_EQ(s.gpu_calls, 2u);
  EXPECT_EQ(s.fallbacks, 1u);
  EXPECT_THAT(s.lost_reason, HasSubstr("CUDA error")) << "a real device error, not the injected text";
  std::cout << "device fault seen as: " << s.lost_reason << "\n";
  // The context is gone for good: a fresh backend in this process cannot start either.
  EXPECT_NE(cudaDeviceSynchronize(), cudaSuccess);
}

TEST(CudaEngineTest, InjectionFromTheEnvironment) {
  SKIP_WITHOUT_DEVICE();
  ASSERT_EQ(setenv("ENRICHD_CUDA_INJECT_FAILURE", "2", 1), 0);
  auto made = CudaBackend::create();
  ASSERT_TRUE(made.is_ok()) << made.status().message();
  const auto t = make_tables(1000, 1000, 1000, 4);
  const Batch b = make_batch(*t, 100, 5);
  std::vector<uint32_t> out(100);
  EXPECT_TRUE((*made)->geo_lookup_v4(t->geo(), b.v4, out).is_ok());
  EXPECT_FALSE((*made)->geo_lookup_v4(t->geo(), b.v4, out).is_ok());
  const Status third = (*made)->category_join(t->categories.view(), b.keys, out);
  EXPECT_THAT(third.message(), HasSubstr("unusable after an earlier failure"));
  for (const char* bad : {"0", "x", "2:boom", "-1"}) {
    ASSERT_EQ(setenv("ENRICHD_CUDA_INJECT_FAILURE", bad, 1), 0);
    auto refused = CudaBackend::create();
    ASSERT_FALSE(refused.is_ok()) << bad;
    EXPECT_THAT(refused.status().message(), HasSubstr("ENRICHD_CUDA_INJECT_FAILURE"));
  }
  unsetenv("ENRICHD_CUDA_INJECT_FAILURE");
}

// A reload during a run: the batches' thread keeps joining against the old tables while another thread
// prepares the new ones; after the swap the first batch finds them on the device (no upload on the batch
// path), and both the old and the new tables answer as scalar does.
TEST(CudaEngineTest, ReloadPreparedWhileBatchesRun) {
  SKIP_WITHOUT_DEVICE();
  auto made = CudaBackend::create();
  ASSERT_TRUE(made.is_ok()) << made.status().message();
  CudaBackend& cuda = **made;
  const auto old_tables = make_tables(500'000, 200'000, 500'000, 6);
  const auto new_tables = make_tables(600'000, 100'000, 700'000, 7);
  ASSERT_TRUE(cuda.prepare_tables(old_tables->geo(), old_tables->categories.view()).is_ok());
  const uint64_t uploads_at_start = cuda.stats().table_uploads;
  EXPECT_EQ(uploads_at_start, 3u);

  std::atomic<bool> prepared{false};
  std::thread reloader([&] {
    EXPECT_TRUE(cuda.prepare_tables(new_tables->geo(), new_tables->categories.view()).is_ok());
    prepared = true;
  });
  int batches_during = 0;
  while (!prepared) {
    expect_scalar_answers(cuda, *old_tables, make_batch(*old_tables, 20000, batches_during), "old tables");
    ++batches_during;
  }
  reloader.join();
  const CudaBackend::Stats before_swap = cuda.stats();
  EXPECT_EQ(before_swap.table_uploads, uploads_at_start + 3) << "the old tables were never uploaded again";
  EXPECT_EQ(before_swap.prepared_uploads, 6u);
  for (int i = 0; i < 3; ++i) {
    expect_scalar_answers(cuda, *new_tables, make_batch(*new_tables, 30000 + i, 100 + i), "new tables");
  }
  EXPECT_EQ(cuda.stats().table_uploads, before_swap.table_uploads) << "the swap itself uploaded nothing";
  std::cout << "batches on the old tables while the new ones uploaded: " << batches_during << "\n";
}

// Two join dimensions (categories, and e.g. user segments) alternate batch by batch: both stay on the
// device, nothing is uploaded again; an old table unused for a while is freed.
TEST(CudaEngineTest, TwoJoinTablesAlternateWithoutUploads) {
  SKIP_WITHOUT_DEVICE();
  auto made = CudaBackend::create();
  ASSERT_TRUE(made.is_ok()) << made.status().message();
  CudaBackend& cuda = **made;
  const auto a = make_tables(1000, 1000, 300'000, 8);
  const auto b = make_tables(1000, 1000, 200'000, 9);
  ScalarBackend scalar;
  for (int round = 0; round < 6; ++round) {
    for (const Tables* t : {a.get(), b.get()}) {
      const Batch q = make_batch(*t, 50000, static_cast<uint64_t>(round));
      std::vector<uint32_t> want(q.keys.size()), got(q.keys.size(), kPoison);
      ASSERT_TRUE(scalar.category_join(t->categories.view(), q.keys, want).is_ok());
      ASSERT_TRUE(cuda.category_join(t->categories.view(), q.keys, got).is_ok());
      ASSERT_EQ(got, want) << "round " << round;
    }
  }
  EXPECT_EQ(cuda.stats().table_uploads, 2u);
  // Only `a` from now on: `b` goes once idle, and a later use of it uploads it again.
  for (int i = 0; i < 20; ++i) {
    const Batch q = make_batch(*a, 100, static_cast<uint64_t>(i));
    std::vector<uint32_t> got(q.keys.size());
    ASSERT_TRUE(cuda.category_join(a->categories.view(), q.keys, got).is_ok());
  }
  const Batch q = make_batch(*b, 100, 99);
  std::vector<uint32_t> got(q.keys.size());
  ASSERT_TRUE(cuda.category_join(b->categories.view(), q.keys, got).is_ok());
  EXPECT_EQ(cuda.stats().table_uploads, 3u);
}

// Pipeline workers calling at once: each call takes its own lane (streams and staging), the copies of one
// overlap the kernels of another, and every answer is still the scalar one; a reload prepared meanwhile
// does not disturb them.
TEST(CudaEngineTest, ConcurrentCallersEachGetALane) {
  SKIP_WITHOUT_DEVICE();
  auto made = CudaBackend::create();
  ASSERT_TRUE(made.is_ok()) << made.status().message();
  CudaBackend& cuda = **made;
  const auto t = make_tables(400'000, 100'000, 400'000, 10);
  const auto next = make_tables(300'000, 80'000, 300'000, 11);
  ASSERT_TRUE(cuda.prepare_tables(t->geo(), t->categories.view()).is_ok());
  std::vector<std::thread> callers;
  for (int c = 0; c < 6; ++c) {
    callers.emplace_back([&, c] {
      for (int i = 0; i < 8; ++i) {
        const size_t n = 1000 + static_cast<size_t>(c) * 70001 + static_cast<size_t>(i) * 131;
        expect_scalar_answers(cuda, *t, make_batch(*t, n, static_cast<uint64_t>(c * 100 + i)),
                              "caller " + std::to_string(c));
      }
    });
  }
  EXPECT_TRUE(cuda.prepare_tables(next->geo(), next->categories.view()).is_ok());
  for (std::thread& th : callers) th.join();
  const CudaBackend::Stats s = cuda.stats();
  EXPECT_GE(s.lanes, 2u) << "callers at once must not share one lane";
  EXPECT_LE(s.lanes, 4u);
  expect_scalar_answers(cuda, *next, make_batch(*next, 5000, 1), "after the reload");
  std::cout << "lanes made for 6 callers: " << s.lanes << "\n";
}

TEST(CudaEngineTest, DeviceSelection) {
  SKIP_WITHOUT_DEVICE();
  int count = 0;
  ASSERT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  CudaOptions o;
  o.device = count;  // one past the last
  auto none = CudaBackend::create(o);
  ASSERT_FALSE(none.is_ok());
  EXPECT_THAT(none.status().message(), HasSubstr("no device " + std::to_string(count)));
  BackendSettings settings;
  settings.device = count;
  auto refused = make_backend("cuda", settings);
  ASSERT_FALSE(refused.is_ok());
  o.device = count - 1;
  auto last = CudaBackend::create(o);
  ASSERT_TRUE(last.is_ok()) << last.status().message();
}

}  // namespace
}  // namespace enrichd
