// The routing backend (auto, and cuda's CPU fallback) on machines without a GPU: the "GPU" here is a
// test double around the scalar backend that fails, or is slowed, on demand. The real CUDA backend under
// the same routing is tested in tests/gpu (an injected CUDA failure, and a trap).
#include "kernels/routing_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/scalar/scalar_backend.h"

namespace enrichd {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// The scalar backend with a failure at the fail_at-th call (and every later one), which first scribbles
// over the output as a half-finished device copy would; and an optional delay per call.
class DoubleGpu final : public EnrichBackend {
 public:
  uint64_t fail_at = 0;
  bool fail_prepare = false;
  std::chrono::microseconds delay{0};
  uint64_t calls = 0;

  std::string_view name() const override { return "fakegpu"; }
  Status geo_lookup_v4(const GeoTableView& t, std::span<const uint32_t> a, std::span<uint32_t> r) override {
    if (Status s = begin(r); !s) return s;
    return scalar_.geo_lookup_v4(t, a, r);
  }
  Status geo_lookup_v6(const GeoTableView& t, std::span<const Ipv6> a, std::span<uint32_t> r) override {
    if (Status s = begin(r); !s) return s;
    return scalar_.geo_lookup_v6(t, a, r);
  }
  Status category_join(const CategoryTableView& t, std::span<const uint64_t> k,
                       std::span<uint32_t> v) override {
    if (Status s = begin(v); !s) return s;
    return scalar_.category_join(t, k, v);
  }
  Status prepare_tables(const GeoTableView&, const CategoryTableView&) override {
    return fail_prepare ? Status::error("device lost while uploading") : Status::ok();
  }

 private:
  Status begin(std::span<uint32_t> out) {
    ++calls;
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    if (fail_at != 0 && calls >= fail_at) {
      for (uint32_t& o : out) o = 0xdeadbeef;
      return Status::errorf("CUDA error cudaErrorIllegalAddress at call {}", calls);
    }
    return Status::ok();
  }
  ScalarBackend scalar_;
};

// The scalar backend slowed by a delay per call: a "CPU" that any GPU beats.
class SlowCpu final : public EnrichBackend {
 public:
  std::string_view name() const override { return "slowcpu"; }
  Status geo_lookup_v4(const GeoTableView& t, std::span<const uint32_t> a, std::span<uint32_t> r) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return scalar_.geo_lookup_v4(t, a, r);
  }
  Status geo_lookup_v6(const GeoTableView& t, std::span<const Ipv6> a, std::span<uint32_t> r) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return scalar_.geo_lookup_v6(t, a, r);
  }
  Status category_join(const CategoryTableView& t, std::span<const uint64_t> k,
                       std::span<uint32_t> v) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return scalar_.category_join(t, k, v);
  }

 private:
  ScalarBackend scalar_;
};

struct Tables {
  std::vector<uint32_t> v4_starts, v4_records;
  std::vector<uint64_t> v6_starts64;
  std::vector<uint32_t> v6_records;
  CategoryTable categories;
  GeoTableView geo() const { return {v4_starts, v4_records, v6_starts64, {}, v6_records}; }
};

Tables make_tables() {
  std::mt19937_64 rng(7);
  Tables t;
  t.v4_starts = {0};
  for (uint32_t i = 1; i < 5000; ++i)
    t.v4_starts.push_back(t.v4_starts.back() + 1 + static_cast<uint32_t>(rng() % 800000));
  for (size_t i = 0; i < t.v4_starts.size(); ++i)
    t.v4_records.push_back(i % 7 == 0 ? kNoRecord : static_cast<uint32_t>(i % 1000));
  t.v6_starts64 = {0};
  for (uint32_t i = 1; i < 3000; ++i)
    t.v6_starts64.push_back(t.v6_starts64.back() + 1 + rng() % (1ULL << 50));
  for (size_t i = 0; i < t.v6_starts64.size(); ++i)
    t.v6_records.push_back(i % 5 == 0 ? kNoRecord : static_cast<uint32_t>(i % 900));
  for (uint64_t k = 0; k < 20000; ++k)
    EXPECT_TRUE(t.categories.insert(rng(), static_cast<uint32_t>(k % 300)).is_ok());
  return t;
}

RoutingOptions options(RoutingOptions::Mode mode, std::vector<std::string>* warnings = nullptr) {
  RoutingOptions o;
  o.mode = mode;
  o.calibration_sizes = {256, 4096, 65536};
  if (warnings != nullptr) o.warn = [warnings](const std::string& line) { warnings->push_back(line); };
  return o;
}

// Runs all three operations on n random queries through `b` and checks every answer against scalar.
void expect_scalar_answers(EnrichBackend& b, const Tables& t, size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint32_t> v4(n);
  std::vector<Ipv6> v6(n);
  std::vector<uint64_t> keys(n);
  for (size_t i = 0; i < n; ++i) {
    v4[i] = static_cast<uint32_t>(rng());
    v6[i] = Ipv6{rng() >> (rng() % 20), rng()};
    keys[i] = rng();
  }
  ScalarBackend scalar;
  std::vector<uint32_t> want(n), got(n, 1);
  ASSERT_TRUE(scalar.geo_lookup_v4(t.geo(), v4, want).is_ok());
  ASSERT_TRUE(b.geo_lookup_v4(t.geo(), v4, got).is_ok());
  EXPECT_EQ(got, want) << "v4, n=" << n;
  ASSERT_TRUE(scalar.geo_lookup_v6(t.geo(), v6, want).is_ok());
  ASSERT_TRUE(b.geo_lookup_v6(t.geo(), v6, got).is_ok());
  EXPECT_EQ(got, want) << "v6, n=" << n;
  ASSERT_TRUE(scalar.category_join(t.categories.view(), keys, want).is_ok());
  ASSERT_TRUE(b.category_join(t.categories.view(), keys, got).is_ok());
  EXPECT_EQ(got, want) << "join, n=" << n;
}

TEST(RoutingBackendTest, GpuAlwaysSendsEveryCallToTheGpu) {
  const Tables t = make_tables();
  auto gpu = std::make_unique<DoubleGpu>();
  DoubleGpu* g = gpu.get();
  RoutingBackend b(std::move(gpu), std::make_unique<ScalarBackend>(),
                   options(RoutingOptions::Mode::kGpuAlways));
  EXPECT_EQ(b.name(), "fakegpu");
  for (size_t n : {1UL, 17UL, 1000UL}) expect_scalar_answers(b, t, n, n);
  EXPECT_EQ(g->calls, 9u);
  EXPECT_EQ(b.stats().gpu_calls, 9u);
  EXPECT_EQ(b.stats().cpu_calls, 0u);
}

TEST(RoutingBackendTest, AGpuFailureIsRedoneOnTheCpuAndLaterCallsStayThere) {
  const Tables t = make_tables();
  std::vector<std::string> warnings;
  auto gpu = std::make_unique<DoubleGpu>();
  DoubleGpu* g = gpu.get();
  g->fail_at = 5;  // the 2nd operation of the 2nd batch: v6 of n=33
  RoutingBackend b(std::move(gpu), std::make_unique<ScalarBackend>(),
                   options(RoutingOptions::Mode::kGpuAlways, &warnings));
  for (size_t n : {10UL, 33UL, 4097UL}) expect_scalar_answers(b, t, n, n);
  EXPECT_EQ(g->calls, 5u) << "after the failure the GPU gets nothing";
  const RoutingBackend::Stats s = b.stats();
  EXPECT_EQ(s.gpu_calls, 4u);
  EXPECT_EQ(s.cpu_calls, 5u);  // the failed call, redone, and the four after it
  EXPECT_EQ(s.fallbacks, 1u);
  EXPECT_TRUE(s.gpu_lost);
  EXPECT_THAT(s.lost_reason, HasSubstr("cudaErrorIllegalAddress"));
  ASSERT_EQ(warnings.size(), 1u) << "one loud line, not one per batch";
  EXPECT_THAT(warnings[0], AllOf(HasSubstr("fakegpu"), HasSubstr("geo_v6"), HasSubstr("scalar"),
                                 HasSubstr("nothing lost")));
  EXPECT_THAT(b.describe(), HasSubstr("after a GPU failure"));
}

TEST(RoutingBackendTest, AFailedUploadMovesEverythingToTheCpu) {
  const Tables t = make_tables();
  std::vector<std::string> warnings;
  auto gpu = std::make_unique<DoubleGpu>();
  DoubleGpu* g = gpu.get();
  g->fail_prepare = true;
  RoutingBackend b(std::move(gpu), std::make_unique<ScalarBackend>(),
                   options(RoutingOptions::Mode::kAuto, &warnings));
  EXPECT_TRUE(b.prepare_tables(t.geo(), t.categories.view()).is_ok())
      << "a GPU problem is a fallback, not an error";
  expect_scalar_answers(b, t, 100000, 3);
  EXPECT_EQ(g->calls, 0u);
  EXPECT_EQ(b.stats().fallbacks, 1u);
  EXPECT_THAT(warnings.at(0), HasSubstr("device lost while uploading"));
}

TEST(RoutingBackendTest, AutoNeverRoutesToAGpuThatNeverWins) {
  const Tables t = make_tables();
  auto gpu = std::make_unique<DoubleGpu>();
  gpu->delay = std::chrono::milliseconds(5);  // slower than scalar on 4096 queries (~1 ms)
  DoubleGpu* g = gpu.get();
  std::vector<std::string> infos;
  RoutingOptions o = options(RoutingOptions::Mode::kAuto);
  o.calibration_sizes = {256, 4096};
  o.info = [&](const std::string& line) { infos.push_back(line); };
  RoutingBackend b(std::move(gpu), std::make_unique<ScalarBackend>(), o);
  EXPECT_EQ(b.name(), "auto");
  ASSERT_TRUE(b.prepare_tables(t.geo(), t.categories.view()).is_ok());
  const RoutingBackend::Stats s = b.stats();
  for (const auto& c : s.calibration) {
    EXPECT_TRUE(c.done);
    EXPECT_EQ(c.crossover, RoutingBackend::kNever);
    ASSERT_EQ(c.sizes.size(), 2u);
  }
  ASSERT_EQ(infos.size(), 3u);
  EXPECT_THAT(infos[0], AllOf(HasSubstr("geo_v4"), HasSubstr("no size"), HasSubstr("never faster")));
  const uint64_t calibration_calls = g->calls;
  expect_scalar_answers(b, t, 5000, 4);
  EXPECT_EQ(g->calls, calibration_calls);
  EXPECT_EQ(b.stats().gpu_calls, 0u);
  EXPECT_THAT(b.describe(), HasSubstr("geo_v4 never"));
}

TEST(RoutingBackendTest, AutoRoutesBatchesFromTheCrossoverToAFasterGpu) {
  const Tables t = make_tables();
  RoutingBackend b(std::make_unique<DoubleGpu>(), std::make_unique<SlowCpu>(),
                   options(RoutingOptions::Mode::kAuto));
  ASSERT_TRUE(b.prepare_tables(t.geo(), t.categories.view()).is_ok());
  for (const auto& c : b.stats().calibration) {
    EXPECT_EQ(c.crossover, 256u) << "the GPU wins at every measured size";
  }
  const uint64_t before = b.stats().gpu_calls;
  expect_scalar_answers(b, t, 255, 5);  // below the crossover: the CPU
  EXPECT_EQ(b.stats().gpu_calls, before);
  expect_scalar_answers(b, t, 256, 6);
  EXPECT_EQ(b.stats().gpu_calls, before + 3);
  EXPECT_THAT(b.describe(), HasSubstr("geo_v4 >= 256"));
}

TEST(RoutingBackendTest, CrossoverLiesWhereThePerCallTimesMeet) {
  RoutingBackend::Calibration c;
  c.sizes = {1000, 2000, 4000, 8000};
  // GPU: 30 us per call + 1 ns per query; CPU: 10 ns per query. They meet at 30000 / 9 = 3334 queries.
  for (size_t n : c.sizes) {
    c.gpu_ns_per_query.push_back((30000.0 + static_cast<double>(n)) / static_cast<double>(n));
    c.cpu_ns_per_query.push_back(10.0);
  }
  EXPECT_EQ(RoutingBackend::crossover_from(c), 3334u);
  // Winning at every size: the smallest; losing at the largest: never, whatever came before.
  c.cpu_ns_per_query.assign(4, 100.0);
  EXPECT_EQ(RoutingBackend::crossover_from(c), 1000u);
  c.cpu_ns_per_query = {100.0, 100.0, 100.0, 1.0};
  EXPECT_EQ(RoutingBackend::crossover_from(c), RoutingBackend::kNever);
  // A win, then a loss, then wins: only the wins up to the largest size count.
  c.gpu_ns_per_query = {1.0, 5.0, 1.0, 1.0};
  c.cpu_ns_per_query = {2.0, 2.0, 2.0, 2.0};
  const size_t x = RoutingBackend::crossover_from(c);
  EXPECT_GT(x, 2000u);
  EXPECT_LE(x, 4000u);
}

TEST(RoutingBackendTest, CalibratesAtTheFirstCallWithoutPrepare) {
  const Tables t = make_tables();
  RoutingBackend b(std::make_unique<DoubleGpu>(), std::make_unique<SlowCpu>(),
                   options(RoutingOptions::Mode::kAuto));
  EXPECT_THAT(b.describe(), HasSubstr("not calibrated yet"));
  expect_scalar_answers(b, t, 1000, 8);
  for (const auto& c : b.stats().calibration) EXPECT_TRUE(c.done);
}

TEST(RoutingBackendTest, EmptyTablesAreNotCalibratedAndServedByTheCpu) {
  RoutingBackend b(std::make_unique<DoubleGpu>(), std::make_unique<ScalarBackend>(),
                   options(RoutingOptions::Mode::kAuto));
  const CategoryTable empty;
  ASSERT_TRUE(b.prepare_tables(GeoTableView{}, empty.view()).is_ok());
  std::vector<uint32_t> out(3, 1);
  const std::vector<uint32_t> v4{1, 2, 3};
  ASSERT_TRUE(b.geo_lookup_v4(GeoTableView{}, v4, out).is_ok());
  EXPECT_EQ(out, std::vector<uint32_t>(3, kNoRecord));
  for (const auto& c : b.stats().calibration) EXPECT_FALSE(c.done);
  EXPECT_EQ(b.stats().gpu_calls, 0u);
}

TEST(RoutingBackendTest, AutoWithoutAGpuRunsOnTheCpuAndSaysWhy) {
  // On a machine with a usable GPU this is the routing backend instead (tests/gpu).
  const auto list = list_backends();
  if (list[0].available) GTEST_SKIP() << "a GPU is available here";
  std::vector<std::string> infos;
  BackendSettings settings;
  settings.info = [&](const std::string& line) { infos.push_back(line); };
  auto b = make_backend("auto", settings);
  ASSERT_TRUE(b.is_ok()) << b.status().message();
  EXPECT_EQ((*b)->name(), list[1].available ? "avx2" : "scalar");
  ASSERT_EQ(infos.size(), 1u);
  EXPECT_THAT(infos[0], AllOf(HasSubstr("backend auto: running on"), HasSubstr("no GPU")));
}

}  // namespace
}  // namespace enrichd
