// The avx2 backend against the scalar reference functions: IPv4 and IPv6 geo lookups (IPv6 starts in
// both forms: 128-bit pairs and 64-bit hi words) over tables of every shape (one range, gaps, block and
// node boundaries, every alignment of the view's array, clustered and huge tables, a start at the very
// last address), every edge query, odd batch sizes, a view that is rewritten in place (same address and
// size) and views shared between threads; the category join over tables at every load (up to every home
// slot full), probe runs into the tail, extreme keys and empty tables. Skipped on a CPU without AVX2.
#include "kernels/avx2/avx2_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "kernels/backend.h"
#include "kernels/scalar/scalar_backend.h"
#include "test_util.h"
#include "tests/unit/category_fixture.h"

namespace enrichd {
namespace {

using ::testing::HasSubstr;

bool cpu_has_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("popcnt");
}

#define SKIP_WITHOUT_AVX2() \
  if (!cpu_has_avx2()) GTEST_SKIP() << "this CPU has no AVX2"

// Constructed directly (the registry tests cover make_backend) so that the tests can read its counters.
std::unique_ptr<Avx2Backend> avx2() {
  return std::make_unique<Avx2Backend>();
}

// The search tree must find every block itself: the checked fallback is only for rewritten tables, and
// it would hide a wrong tree from the answers alone.
void expect_no_fallbacks(const Avx2Backend& backend) {
  EXPECT_EQ(backend.stats().fallbacks, 0U) << "the search tree sent queries to the wrong leaf block";
}

// Batch sizes around the kernel's group size and prefetch distance, and a large odd one.
const std::vector<size_t> kBatchSizes = {0, 1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 97, 1000, 65536 + 3};

// Reports the first difference (and how many) instead of two vectors of a million entries.
template <typename Query>
void expect_same(const std::vector<Query>& queries, const std::vector<uint32_t>& want,
                 const std::vector<uint32_t>& got, const std::string& what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  size_t wrong = 0, first = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i] != got[i] && wrong++ == 0) first = i;
  }
  if (wrong == 0) return;
  std::string q;
  if constexpr (std::is_same_v<Query, Ipv6>) {
    q = format_ipv6(queries[first]);
  } else {
    q = std::to_string(queries[first]);
  }
  ADD_FAILURE() << what << ": " << wrong << " of " << want.size() << " answers differ; first at " << first
                << " (query " << q << "): want " << want[first] << ", got " << got[first];
}

// A geo table given directly as arrays; the view's starts can be placed at any offset of a buffer, which
// moves the backend's leaf blocks against the array.
struct V4Table {
  std::vector<uint32_t> buffer;
  std::vector<uint32_t> records;
  size_t offset = 0;
  size_t n = 0;
  V4Table(const std::vector<uint32_t>& starts, size_t off, uint64_t seed) : offset(off), n(starts.size()) {
    buffer.assign(off + n, 0xdeadbeef);
    std::copy(starts.begin(), starts.end(), buffer.begin() + static_cast<std::ptrdiff_t>(off));
    std::mt19937_64 rng(seed);
    for (size_t i = 0; i < n; ++i)
      records.push_back(rng() % 8 == 0 ? kNoRecord : static_cast<uint32_t>(rng()));
  }
  GeoTableView view() const {
    GeoTableView v;
    v.v4_starts = std::span<const uint32_t>(buffer.data() + offset, n);
    v.v4_records = records;
    return v;
  }
};

struct V6Table {
  std::vector<Ipv6> buffer;
  std::vector<uint32_t> records;
  size_t offset = 0;
  size_t n = 0;
  V6Table(const std::vector<Ipv6>& starts, size_t off, uint64_t seed) : offset(off), n(starts.size()) {
    buffer.assign(off + n, Ipv6{0xdead, 0xbeef});
    std::copy(starts.begin(), starts.end(), buffer.begin() + static_cast<std::ptrdiff_t>(off));
    std::mt19937_64 rng(seed);
    for (size_t i = 0; i < n; ++i)
      records.push_back(rng() % 8 == 0 ? kNoRecord : static_cast<uint32_t>(rng()));
  }
  GeoTableView view() const {
    GeoTableView v;
    v.v6_starts = std::span<const Ipv6>(buffer.data() + offset, n);
    v.v6_records = records;
    return v;
  }
};

// The 64-bit form of the IPv6 starts (v6_starts64: the hi words of /64-aligned starts), placed at any
// offset of a buffer like V6Table.
struct V6x64Table {
  std::vector<uint64_t> buffer;
  std::vector<uint32_t> records;
  size_t offset = 0;
  size_t n = 0;
  V6x64Table(const std::vector<uint64_t>& starts, size_t off, uint64_t seed) : offset(off), n(starts.size()) {
    buffer.assign(off + n, 0xdeadbeef);
    std::copy(starts.begin(), starts.end(), buffer.begin() + static_cast<std::ptrdiff_t>(off));
    std::mt19937_64 rng(seed);
    for (size_t i = 0; i < n; ++i)
      records.push_back(rng() % 8 == 0 ? kNoRecord : static_cast<uint32_t>(rng()));
  }
  GeoTableView view() const {
    GeoTableView v;
    v.v6_starts64 = std::span<const uint64_t>(buffer.data() + offset, n);
    v.v6_records = records;
    return v;
  }
};

// Sorted distinct starts with starts[0] == 0: `n` of them drawn by `draw`.
template <typename Key, typename Draw>
std::vector<Key> make_starts(size_t n, Key zero, Draw&& draw) {
  std::vector<Key> s{zero};
  while (s.size() < n) {
    while (s.size() < n) s.push_back(draw());
    std::sort(s.begin(), s.end());
    s.erase(std::unique(s.begin(), s.end()), s.end());
  }
  return s;
}

std::vector<uint32_t> uniform_v4_starts(size_t n, std::mt19937_64& rng) {
  return make_starts<uint32_t>(n, 0, [&] { return static_cast<uint32_t>(rng()); });
}

// Huge tables get each start and the address before it, in random order; the others also the address
// after each start.
enum class Edges { kAll, kStartAndBefore };

// Each start, its neighbours, the extremes, and random addresses.
std::vector<uint32_t> v4_queries(const std::vector<uint32_t>& starts, size_t random, std::mt19937_64& rng,
                                 Edges edges = Edges::kAll) {
  std::vector<uint32_t> q = {0, 1, UINT32_MAX, UINT32_MAX - 1, 0x80000000U, 0x7fffffffU};
  for (uint32_t s : starts) {
    q.push_back(s);
    q.push_back(s - 1);  // wraps to UINT32_MAX for the first start
    if (edges == Edges::kAll) q.push_back(s + 1);
  }
  for (size_t i = 0; i < random; ++i) q.push_back(static_cast<uint32_t>(rng()));
  std::shuffle(q.begin(), q.end(), rng);
  return q;
}

std::vector<Ipv6> v6_queries(const std::vector<Ipv6>& starts, size_t random, std::mt19937_64& rng,
                             Edges edges = Edges::kAll) {
  std::vector<Ipv6> q = {{0, 0}, {0, 1}, kIpv6Max, {UINT64_MAX, 0}, {0, UINT64_MAX}, {1ULL << 63, 0}};
  for (const Ipv6& s : starts) {
    q.push_back(s);
    q.push_back(ipv6_prev(s));  // wraps to all-ones for the first start
    if (edges == Edges::kAll) {
      q.push_back(ipv6_next(s));
      q.push_back({s.hi, UINT64_MAX});
    }
  }
  for (size_t i = 0; i < random; ++i) {
    const Ipv6 s = starts[rng() % starts.size()];
    q.push_back(rng() % 2 ? Ipv6{rng(), rng()} : Ipv6{s.hi, rng()});
  }
  std::shuffle(q.begin(), q.end(), rng);
  return q;
}

void check_v4(EnrichBackend& backend, const GeoTableView& view, const std::vector<uint32_t>& q,
              const std::string& what) {
  std::vector<uint32_t> want(q.size()), got(q.size(), 12345);
  for (size_t i = 0; i < q.size(); ++i) want[i] = scalar_geo_lookup_v4(view, q[i]);
  ASSERT_TRUE(backend.geo_lookup_v4(view, q, got).is_ok()) << what;
  expect_same(q, want, got, what);
}

void check_v6(EnrichBackend& backend, const GeoTableView& view, const std::vector<Ipv6>& q,
              const std::string& what) {
  std::vector<uint32_t> want(q.size()), got(q.size(), 12345);
  for (size_t i = 0; i < q.size(); ++i) want[i] = scalar_geo_lookup_v6(view, q[i]);
  ASSERT_TRUE(backend.geo_lookup_v6(view, q, got).is_ok()) << what;
  expect_same(q, want, got, what);
}

void check_join(EnrichBackend& backend, const CategoryTableView& view, const std::vector<uint64_t>& keys,
                const std::string& what) {
  std::vector<uint32_t> want(keys.size()), got(keys.size(), 12345);
  for (size_t i = 0; i < keys.size(); ++i) want[i] = scalar_category_lookup(view, keys[i]);
  ASSERT_TRUE(backend.category_join(view, keys, got).is_ok()) << what;
  expect_same(keys, want, got, what);
}

// ---- registry ---------------------------------------------------------------------------------------

TEST(Avx2RegistryTest, AvailableExactlyWhenTheCpuHasAvx2) {
  const auto list = list_backends();
  ASSERT_EQ(list.size(), 3U);
  EXPECT_EQ(list[0].name, "cuda");
  EXPECT_EQ(list[1].name, "avx2");
  EXPECT_EQ(list[1].available, cpu_has_avx2()) << list[1].detail;
  EXPECT_FALSE(list[1].detail.empty());
  auto made = make_backend("avx2");
  EXPECT_EQ(made.is_ok(), cpu_has_avx2());
  if (made.is_ok()) {
    EXPECT_EQ((*made)->name(), "avx2");
  } else {
    EXPECT_THAT(made.status().message(), HasSubstr("not available"));
  }
}

TEST(Avx2RegistryTest, AutoPrefersAvx2OverScalar) {
  SKIP_WITHOUT_AVX2();
  const auto list = list_backends();
  if (list[0].available) GTEST_SKIP() << "cuda is available and comes first";
  auto made = make_backend("auto");
  ASSERT_TRUE(made.is_ok()) << made.status().message();
  EXPECT_EQ((*made)->name(), "avx2");
}

// ---- errors and empty views -------------------------------------------------------------------------

TEST(Avx2BackendTest, SizeMismatchIsAnErrorAndWritesNothing) {
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  V4Table t4({0, 100, 200}, 0, 1);
  V6Table t6({{0, 0}, {5, 0}}, 0, 2);
  GeoTableView geo = t4.view();
  geo.v6_starts = t6.view().v6_starts;
  geo.v6_records = t6.view().v6_records;
  CategoryTable cats;
  ASSERT_TRUE(cats.insert(3, 4).is_ok());
  std::vector<uint32_t> a4(3, 150);
  std::vector<Ipv6> a6(3, Ipv6{6, 0});
  std::vector<uint64_t> keys(3, 3);
  std::vector<uint32_t> out(2, 12345);
  const Status s4 = backend->geo_lookup_v4(geo, a4, out);
  ASSERT_FALSE(s4.is_ok());
  EXPECT_THAT(s4.message(), HasSubstr("3 inputs but room for 2"));
  EXPECT_FALSE(backend->geo_lookup_v6(geo, a6, out).is_ok());
  EXPECT_FALSE(backend->category_join(cats.view(), keys, out).is_ok());
  EXPECT_EQ(out, (std::vector<uint32_t>{12345, 12345}));
  std::vector<uint32_t> bigger(4, 12345);
  EXPECT_FALSE(backend->geo_lookup_v4(geo, a4, bigger).is_ok());
  EXPECT_FALSE(backend->geo_lookup_v6(geo, a6, bigger).is_ok());
  EXPECT_FALSE(backend->category_join(cats.view(), keys, bigger).is_ok());
  EXPECT_EQ(bigger, std::vector<uint32_t>(4, 12345));
  EXPECT_TRUE(backend->geo_lookup_v4(geo, {}, {}).is_ok());
  EXPECT_TRUE(backend->geo_lookup_v6(geo, {}, {}).is_ok());
  EXPECT_TRUE(backend->category_join(cats.view(), {}, {}).is_ok());
}

TEST(Avx2BackendTest, EmptyViewsMissEverything) {
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  std::mt19937_64 rng(3);
  const GeoTableView geo{};
  for (size_t n : kBatchSizes) {
    std::vector<uint32_t> q4(n);
    std::vector<Ipv6> q6(n);
    std::vector<uint64_t> keys(n);
    for (size_t i = 0; i < n; ++i) {
      q4[i] = static_cast<uint32_t>(rng());
      q6[i] = {rng(), rng()};
      keys[i] = i % 3 == 0 ? UINT64_MAX : rng();
    }
    const std::string what = "batch " + std::to_string(n);
    check_v4(*backend, geo, q4, what);
    check_v6(*backend, geo, q6, what);
    check_join(*backend, CategoryTableView{}, keys, what);  // default view: no slots
    check_join(*backend, CategoryTable().view(), keys, what);
  }
  // Zero-length spans that still point somewhere, in both IPv6 forms.
  const std::vector<uint64_t> his = {0, 5};
  const std::vector<Ipv6> pairs = {{0, 0}, {5, 0}};
  const std::vector<uint32_t> recs = {1, 2};
  GeoTableView empty64{};
  empty64.v6_starts64 = std::span<const uint64_t>(his.data(), 0);
  empty64.v6_records = std::span<const uint32_t>(recs.data(), 0);
  GeoTableView empty128{};
  empty128.v6_starts = std::span<const Ipv6>(pairs.data(), 0);
  empty128.v6_records = std::span<const uint32_t>(recs.data(), 0);
  std::vector<Ipv6> q6 = {{0, 0}, {5, 0}, kIpv6Max};
  for (int i = 0; i < 100; ++i) q6.push_back({rng(), rng()});
  check_v6(*backend, empty64, q6, "empty 64-bit starts");
  check_v6(*backend, empty128, q6, "empty 128-bit starts");
  // A view without slots still answers the one key kept aside.
  CategoryTableView aside{};
  aside.has_empty_key = true;
  aside.empty_key_value = 77;
  check_join(*backend, aside, {1, UINT64_MAX, 0, UINT64_MAX}, "slotless view with the all-ones key");
  expect_no_fallbacks(*backend);
}

// ---- IPv4 -------------------------------------------------------------------------------------------

TEST(Avx2BackendTest, V4SmallTablesAtEveryAlignment) {
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  std::mt19937_64 rng(4);
  // Sizes around one and two leaf blocks and one full tree node; every offset moves the aligned blocks.
  for (size_t n : {1, 2, 3, 15, 16, 17, 18, 31, 32, 33, 47, 100, 271, 272, 273, 300, 4700}) {
    const auto starts = uniform_v4_starts(n, rng);
    const auto q = v4_queries(starts, 200, rng);
    for (size_t offset = 0; offset < 16; ++offset) {
      V4Table t(starts, offset, n + offset);
      check_v4(*backend, t.view(), q, "n=" + std::to_string(n) + " offset=" + std::to_string(offset));
    }
  }
  expect_no_fallbacks(*backend);
}

TEST(Avx2BackendTest, V4OneRangeAndTheLastAddress) {
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  std::mt19937_64 rng(5);
  const std::vector<uint32_t> edges = {0, 1, 2, 0x7fffffffU, 0x80000000U, UINT32_MAX - 1, UINT32_MAX};
  std::vector<uint32_t> q = edges;
  for (int i = 0; i < 100; ++i) q.push_back(static_cast<uint32_t>(rng()));
  check_v4(*backend, V4Table({0}, 3, 1).view(), q, "one range");
  check_v4(*backend, V4Table({0, UINT32_MAX}, 0, 2).view(), q, "a range of only the last address");
  check_v4(*backend, V4Table({0, 1}, 0, 3).view(), q, "a range of only address 0");
  // The last address as its own range in tables whose last fence key is UINT32_MAX (every offset).
  for (size_t n : {17, 33, 289, 5000}) {
    auto starts = uniform_v4_starts(n - 1, rng);
    starts.erase(std::remove(starts.begin(), starts.end(), UINT32_MAX), starts.end());
    starts.push_back(UINT32_MAX);
    for (size_t offset = 0; offset < 16; ++offset) {
      check_v4(
          *backend, V4Table(starts, offset, n).view(), v4_queries(starts, 50, rng),
          "start at UINT32_MAX, n=" + std::to_string(starts.size()) + " offset=" + std::to_string(offset));
    }
  }
  // Every address of a table of consecutive starts 0..299 (every range one address wide).
  std::vector<uint32_t> dense(300);
  for (uint32_t i = 0; i < 300; ++i) dense[i] = i;
  std::vector<uint32_t> all(400);
  for (uint32_t i = 0; i < 400; ++i) all[i] = i;
  check_v4(*backend, V4Table(dense, 5, 4).view(), all, "dense");
  expect_no_fallbacks(*backend);
}

TEST(Avx2BackendTest, V4GeoTablesWithGaps) {
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  std::mt19937_64 rng(6);
  for (size_t ranges : {1, 5, 40, 3000}) {
    std::vector<uint32_t> p = uniform_v4_starts(2 * ranges + 1, rng);
    std::vector<GeoRange> input;
    for (size_t i = 1; i + 1 < p.size(); i += 2) {
      IpAddress a, b;
      a.v4 = p[i];
      b.v4 = p[i + 1] - static_cast<uint32_t>(rng() % 2);  // some ranges touch, most leave a gap
      if (b.v4 < a.v4) b.v4 = a.v4;
      input.push_back({a, b, static_cast<uint32_t>(i % 50), i});
    }
    auto geo = GeoTable::build(input, std::vector<GeoRecord>(50));
    ASSERT_TRUE(geo.is_ok()) << geo.status().message();
    const std::vector<uint32_t> starts(geo->view().v4_starts.begin(), geo->view().v4_starts.end());
    check_v4(*backend, geo->view(), v4_queries(starts, 1000, rng), "ranges=" + std::to_string(ranges));
  }
  expect_no_fallbacks(*backend);
}

TEST(Avx2BackendTest, V4BatchSizes) {
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  std::mt19937_64 rng(7);
  const auto starts = uniform_v4_starts(20000, rng);
  V4Table t(starts, 1, 7);
  for (size_t n : kBatchSizes) {
    std::vector<uint32_t> q(n);
    for (size_t i = 0; i < n; ++i)
      q[i] = i % 5 == 0 ? starts[rng() % starts.size()] : static_cast<uint32_t>(rng());
    check_v4(*backend, t.view(), q, "batch " + std::to_string(n));
  }
  expect_no_fallbacks(*backend);
}

TEST(Avx2BackendTest, V4HugeAndClusteredTables) {
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  std::mt19937_64 rng(8);
  // About the size of GeoLite2-City's IPv4 table, uniform.
  const auto uniform = uniform_v4_starts(1 << 20, rng);
  check_v4(*backend, V4Table(uniform, 0, 8).view(), v4_queries(uniform, 100000, rng, Edges::kStartAndBefore),
           "1M uniform");
  // Most ranges packed into one /16 and a few /24s (real tables are this lumpy): many jump-table buckets
  // span several tree nodes.
  std::vector<uint32_t> lumpy = make_starts<uint32_t>(200000, 0, [&]() -> uint32_t {
    const uint64_t r = rng();
    switch (r % 4) {
      case 0:
        return static_cast<uint32_t>(r >> 32);
      case 1:
        return 0x0a000000U | static_cast<uint32_t>((r >> 32) & 0xffff);
      case 2:
        return 0xc0a80000U | static_cast<uint32_t>((r >> 40) & 0xff);
      default:
        return 0x01000000U | static_cast<uint32_t>((r >> 32) % 50000);
    }
  });
  check_v4(*backend, V4Table(lumpy, 9, 9).view(), v4_queries(lumpy, 50000, rng), "200k clustered");
  expect_no_fallbacks(*backend);
}

// ---- IPv6 -------------------------------------------------------------------------------------------

std::vector<Ipv6> random_v6_starts(size_t n, std::mt19937_64& rng, int shape) {
  return make_starts<Ipv6>(n, Ipv6{0, 0}, [&]() -> Ipv6 {
    switch (shape) {
      case 0:
        return {rng(), rng()};  // anywhere, any low bits
      case 1:
        return {0x2000000000000000ULL | (rng() >> 3), 0};  // /64-aligned in 2000::/3
      case 2:
        return {rng() % 4, rng()};  // few distinct hi words: lo decides
      default:
        return {0x2001000000000000ULL + rng() % 3000, rng() % 3 == 0 ? rng() : 0};  // mixed
    }
  });
}

TEST(Avx2BackendTest, V6SmallTablesAtEveryAlignment) {
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  std::mt19937_64 rng(10);
  for (int shape = 0; shape < 4; ++shape) {
    for (size_t n : {1, 2, 7, 8, 9, 10, 16, 17, 72, 73, 81, 700}) {
      const auto starts = random_v6_starts(n, rng, shape);
      const auto q = v6_queries(starts, 100, rng);
      for (size_t offset = 0; offset < 8; ++offset) {
        check_v6(*backend, V6Table(starts, offset, n).view(), q,
                 "shape " + std::to_string(shape) + " n=" + std::to_string(n) +
                     " offset=" + std::to_string(offset));
      }
    }
  }
  expect_no_fallbacks(*backend);
}

TEST(Avx2BackendTest, V6OneRangeAndTheLastAddress) {
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  std::mt19937_64 rng(11);
  std::vector<Ipv6> q = {{0, 0},          {0, 1}, kIpv6Max,       ipv6_prev(kIpv6Max),
                         {UINT64_MAX, 0}, {1, 0}, {0, UINT64_MAX}};
  for (int i = 0; i < 100; ++i) q.push_back({rng(), rng()});
  check_v6(*backend, V6Table({{0, 0}}, 1, 1).view(), q, "one range");
  check_v6(*backend, V6Table({{0, 0}, kIpv6Max}, 0, 2).view(), q, "a range of only the last address");
  check_v6(*backend, V6Table({{0, 0}, {UINT64_MAX, 0}}, 0, 3).view(), q, "the last /64");
  for (int shape = 0; shape < 4; ++shape) {
    for (size_t n : {9, 17, 80, 3000}) {
      auto starts = random_v6_starts(n - 1, rng, shape);
      starts.erase(std::remove(starts.begin(), starts.end(), kIpv6Max), starts.end());
      starts.push_back(shape % 2 == 0 ? kIpv6Max : Ipv6{UINT64_MAX, 0});
      for (size_t offset = 0; offset < 8; ++offset) {
        check_v6(*backend, V6Table(starts, offset, n).view(), v6_queries(starts, 50, rng),
                 "shape " + std::to_string(shape) + " n=" + std::to_string(n) +
                     " offset=" + std::to_string(offset));
      }
    }
  }
  expect_no_fallbacks(*backend);
}

TEST(Avx2BackendTest, V6GeoTablesWithGapsAndBatchSizes) {
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  std::mt19937_64 rng(12);
  std::vector<Ipv6> p = random_v6_starts(6001, rng, 3);
  std::vector<GeoRange> input;
  for (size_t i = 1; i + 1 < p.size(); i += 2) {
    IpAddress a, b;
    a.is_v6 = b.is_v6 = true;
    a.v6 = p[i];
    b.v6 = rng() % 2 ? ipv6_prev(p[i + 1]) : p[i];
    input.push_back({a, b, static_cast<uint32_t>(i % 50), i});
  }
  auto geo = GeoTable::build(input, std::vector<GeoRecord>(50));
  ASSERT_TRUE(geo.is_ok()) << geo.status().message();
  const std::vector<Ipv6> starts = testing_util::v6_starts_of(geo->view());
  check_v6(*backend, geo->view(), v6_queries(starts, 1000, rng), "gaps");
  for (size_t n : kBatchSizes) {
    std::vector<Ipv6> q(n);
    for (size_t i = 0; i < n; ++i)
      q[i] = i % 3 == 0 ? starts[rng() % starts.size()] : Ipv6{starts[rng() % starts.size()].hi, rng()};
    check_v6(*backend, geo->view(), q, "batch " + std::to_string(n));
  }
  expect_no_fallbacks(*backend);
}

TEST(Avx2BackendTest, V6HugeTables) {
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  std::mt19937_64 rng(13);
  // /64-aligned like GeoLite2-City (the narrow tree), and with low bits (the wide tree).
  const auto aligned = random_v6_starts(1 << 19, rng, 1);
  check_v6(*backend, V6Table(aligned, 0, 1).view(), v6_queries(aligned, 50000, rng, Edges::kStartAndBefore),
           "512k /64-aligned");
  const auto mixed = random_v6_starts(100000, rng, 3);
  check_v6(*backend, V6Table(mixed, 3, 2).view(), v6_queries(mixed, 50000, rng), "100k mixed");
  expect_no_fallbacks(*backend);
}

// ---- IPv6, 64-bit form ------------------------------------------------------------------------------

// Hi words of /64-aligned starts (the first is 0) in several shapes.
std::vector<uint64_t> random_v64_starts(size_t n, std::mt19937_64& rng, int shape) {
  return make_starts<uint64_t>(n, 0, [&]() -> uint64_t {
    switch (shape) {
      case 0:
        return rng();  // anywhere, including near 0 and UINT64_MAX
      case 1:
        return 0x2000000000000000ULL | (rng() >> 3);  // GeoLite2-like: inside 2000::/3
      case 2:
        return rng() % (2 * n + 2);  // dense: mostly consecutive hi words
      default: {
        // Lumpy: most starts packed into a few prefixes (many jump-table buckets span several nodes),
        // some at the very top of the space.
        const uint64_t r = rng();
        switch (r % 4) {
          case 0:
            return rng();
          case 1:
            return 0x2001000000000000ULL + rng() % 50000;
          case 2:
            return 0x2a00000000000000ULL + (rng() & 0xffffff);
          default:
            return UINT64_MAX - rng() % 1000;
        }
      }
    }
  });
}

// Queries for a 64-bit table: each start's hi word with lo 0, all-ones and random, hi words one below and
// one above (wrapping at the ends), the extremes, random addresses and random addresses inside a start's
// /64.
std::vector<Ipv6> v64_queries(const std::vector<uint64_t>& starts, size_t random, std::mt19937_64& rng,
                              Edges edges = Edges::kAll) {
  std::vector<Ipv6> q = {{0, 0},
                         {0, 1},
                         kIpv6Max,
                         {UINT64_MAX, 0},
                         {0, UINT64_MAX},
                         {1ULL << 63, 0},
                         {(1ULL << 63) - 1, UINT64_MAX}};
  for (uint64_t s : starts) {
    q.push_back({s, rng()});
    q.push_back({s - 1, UINT64_MAX});  // wraps to all-ones for the first start
    if (edges == Edges::kAll) {
      q.push_back({s, 0});
      q.push_back({s, UINT64_MAX});
      q.push_back({s + 1, rng()});  // wraps to 0 for a start at UINT64_MAX
      q.push_back({s - 1, rng()});
    }
  }
  for (size_t i = 0; i < random; ++i) {
    const uint64_t s = starts[rng() % starts.size()];
    q.push_back(rng() % 2 ? Ipv6{rng(), rng()} : Ipv6{s, rng()});
  }
  std::shuffle(q.begin(), q.end(), rng);
  return q;
}

TEST(Avx2BackendTest, V6x64SmallTablesAtEveryAlignment) {
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  std::mt19937_64 rng(20);
  // Sizes around one and two leaf blocks (8 keys), one bottom node (9 blocks, 72 keys) and two full
  // layers (81 blocks, 648 keys); every offset moves the cache-line blocks against the array.
  for (int shape = 0; shape < 4; ++shape) {
    for (size_t n :
         {1, 2, 3, 7, 8, 9, 10, 15, 16, 17, 64, 72, 73, 80, 81, 82, 647, 648, 649, 656, 700, 5000}) {
      const auto starts = random_v64_starts(n, rng, shape);
      const auto q = v64_queries(starts, 100, rng);
      for (size_t offset = 0; offset < 8; ++offset) {
        check_v6(*backend, V6x64Table(starts, offset, n).view(), q,
                 "64-bit shape " + std::to_string(shape) + " n=" + std::to_string(n) +
                     " offset=" + std::to_string(offset));
      }
    }
  }
  expect_no_fallbacks(*backend);
}

TEST(Avx2BackendTest, V6x64OneRangeAndTheLastHiWord) {
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  std::mt19937_64 rng(21);
  std::vector<Ipv6> q = {{0, 0}, {0, 1},         kIpv6Max, {UINT64_MAX, 0}, {UINT64_MAX - 1, UINT64_MAX},
                         {1, 0}, {0, UINT64_MAX}};
  for (int i = 0; i < 100; ++i) q.push_back({rng(), rng()});
  check_v6(*backend, V6x64Table({0}, 1, 1).view(), q, "one range");
  check_v6(*backend, V6x64Table({0, UINT64_MAX}, 0, 2).view(), q, "a range of only the last /64");
  check_v6(*backend, V6x64Table({0, 1}, 3, 3).view(), q, "a range of only the first /64");
  // The last /64 as its own range in tables whose last fence key is UINT64_MAX, at every offset.
  for (int shape = 0; shape < 4; ++shape) {
    for (size_t n : {9, 17, 73, 80, 649, 3000}) {
      auto starts = random_v64_starts(n - 1, rng, shape);
      starts.erase(std::remove(starts.begin(), starts.end(), UINT64_MAX), starts.end());
      starts.push_back(UINT64_MAX);
      for (size_t offset = 0; offset < 8; ++offset) {
        check_v6(*backend, V6x64Table(starts, offset, n).view(), v64_queries(starts, 50, rng),
                 "64-bit shape " + std::to_string(shape) + " n=" + std::to_string(starts.size()) +
                     " offset=" + std::to_string(offset));
      }
    }
  }
  // Every hi word 0..299 its own range; all of 0..399 with lo 0 and all-ones.
  std::vector<uint64_t> dense(300);
  for (uint64_t i = 0; i < 300; ++i) dense[i] = i;
  std::vector<Ipv6> all;
  for (uint64_t i = 0; i < 400; ++i) {
    all.push_back({i, 0});
    all.push_back({i, UINT64_MAX});
  }
  check_v6(*backend, V6x64Table(dense, 5, 4).view(), all, "dense");
  expect_no_fallbacks(*backend);
}

TEST(Avx2BackendTest, V6x64GeoTablesWithGapsAndBatchSizes) {
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  std::mt19937_64 rng(22);
  // /64-aligned ranges through GeoTable::build, which keeps them in the 64-bit form.
  std::vector<uint64_t> p = random_v64_starts(6001, rng, 1);
  std::vector<GeoRange> input;
  for (size_t i = 1; i + 1 < p.size(); i += 2) {
    IpAddress a, b;
    a.is_v6 = b.is_v6 = true;
    a.v6 = {p[i], 0};
    b.v6 = rng() % 2 ? Ipv6{p[i + 1] - 1, UINT64_MAX} : Ipv6{p[i], UINT64_MAX};
    input.push_back({a, b, static_cast<uint32_t>(i % 50), i});
  }
  auto geo = GeoTable::build(input, std::vector<GeoRecord>(50));
  ASSERT_TRUE(geo.is_ok()) << geo.status().message();
  ASSERT_TRUE(geo->v6_is_64bit());
  const std::vector<Ipv6> starts = testing_util::v6_starts_of(geo->view());
  std::vector<uint64_t> his;
  for (const Ipv6& a : starts) his.push_back(a.hi);
  check_v6(*backend, geo->view(), v64_queries(his, 1000, rng), "gaps");
  for (size_t n : kBatchSizes) {
    std::vector<Ipv6> q(n);
    for (size_t i = 0; i < n; ++i)
      q[i] = i % 3 == 0 ? starts[rng() % starts.size()] : Ipv6{starts[rng() % starts.size()].hi, rng()};
    check_v6(*backend, geo->view(), q, "batch " + std::to_string(n));
  }
  // Batch sizes at a misaligned base too.
  V6x64Table t(random_v64_starts(20000, rng, 0), 3, 5);
  for (size_t n : kBatchSizes) {
    std::vector<Ipv6> q(n);
    for (size_t i = 0; i < n; ++i)
      q[i] = i % 5 == 0 ? Ipv6{t.view().v6_starts64[rng() % t.n], 0} : Ipv6{rng(), rng()};
    check_v6(*backend, t.view(), q, "offset 3, batch " + std::to_string(n));
  }
  expect_no_fallbacks(*backend);
}

TEST(Avx2BackendTest, V6x64HugeTables) {
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  std::mt19937_64 rng(23);
  // About the size of GeoLite2-City's IPv6 table (1.1 M ranges, /64-aligned) at two offsets, and a lumpy
  // one (the jump table walks for many buckets).
  const auto geolite = random_v64_starts(1100000, rng, 1);
  const auto q = v64_queries(geolite, 100000, rng, Edges::kStartAndBefore);
  check_v6(*backend, V6x64Table(geolite, 0, 1).view(), q, "1.1M GeoLite2-like");
  check_v6(*backend, V6x64Table(geolite, 5, 2).view(), q, "1.1M GeoLite2-like, offset 5");
  const auto lumpy = random_v64_starts(200000, rng, 3);
  check_v6(*backend, V6x64Table(lumpy, 7, 3).view(), v64_queries(lumpy, 50000, rng), "200k lumpy");
  expect_no_fallbacks(*backend);
}

// ---- the cached search trees ------------------------------------------------------------------------

TEST(Avx2BackendTest, TableRewrittenInPlaceStillGivesExactAnswers) {
  // The backend keys its search tree on the starts array's address and size. A reload that reuses both
  // must still give the new table's answers (each answer is checked against the array itself).
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  std::mt19937_64 rng(14);
  V4Table t4(uniform_v4_starts(20000, rng), 2, 1);
  V6Table t6(random_v6_starts(10000, rng, 3), 2, 2);
  auto q4 =
      v4_queries(std::vector<uint32_t>(t4.view().v4_starts.begin(), t4.view().v4_starts.end()), 1000, rng);
  auto q6 = v6_queries(std::vector<Ipv6>(t6.view().v6_starts.begin(), t6.view().v6_starts.end()), 1000, rng);
  check_v4(*backend, t4.view(), q4, "before");
  check_v6(*backend, t6.view(), q6, "before");
  expect_no_fallbacks(*backend);
  EXPECT_EQ(backend->stats().tree_builds, 2U);
  for (int round = 0; round < 3; ++round) {
    const auto s4 =
        round == 1 ? make_starts<uint32_t>(20000, 0, [&] { return static_cast<uint32_t>(rng() % 25000); })
                   : uniform_v4_starts(20000, rng);
    std::copy(s4.begin(), s4.end(), t4.buffer.begin() + 2);
    const auto s6 = random_v6_starts(10000, rng, round + 1);
    std::copy(s6.begin(), s6.end(), t6.buffer.begin() + 2);
    const auto n4 = v4_queries(s4, 1000, rng);
    const auto n6 = v6_queries(s6, 1000, rng);
    // Twice: the first call finds the stale trees (and falls back), the second uses rebuilt ones.
    const uint64_t before = backend->stats().fallbacks;
    // In place (answers overwrite the addresses), which the fallback path must survive too.
    std::vector<uint32_t> in_place = n4;
    ASSERT_TRUE(backend->geo_lookup_v4(t4.view(), in_place, in_place).is_ok());
    std::vector<uint32_t> want(n4.size());
    for (size_t i = 0; i < n4.size(); ++i) want[i] = scalar_geo_lookup_v4(t4.view(), n4[i]);
    expect_same(n4, want, in_place, "in place, round " + std::to_string(round));
    check_v6(*backend, t6.view(), n6, "round " + std::to_string(round));
    const uint64_t after = backend->stats().fallbacks;
    EXPECT_GT(after, before);
    check_v4(*backend, t4.view(), n4, "round " + std::to_string(round) + " again");
    check_v6(*backend, t6.view(), n6, "round " + std::to_string(round) + " again");
    EXPECT_EQ(backend->stats().fallbacks, after) << "the stale trees were not rebuilt";
  }
}

TEST(Avx2BackendTest, V6x64TableRewrittenInPlaceStillGivesExactAnswers) {
  // The same for the 64-bit form: a different array of hi words at the same address and size.
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  std::mt19937_64 rng(24);
  V6x64Table t(random_v64_starts(30000, rng, 1), 3, 1);
  const auto starts_of = [&] {
    return std::vector<uint64_t>(t.view().v6_starts64.begin(), t.view().v6_starts64.end());
  };
  check_v6(*backend, t.view(), v64_queries(starts_of(), 1000, rng), "before");
  expect_no_fallbacks(*backend);
  EXPECT_EQ(backend->stats().tree_builds, 1U);
  for (int shape = 0; shape < 4; ++shape) {
    const auto s = random_v64_starts(30000, rng, shape);
    std::copy(s.begin(), s.end(), t.buffer.begin() + 3);
    const auto q = v64_queries(s, 1000, rng);
    // Twice: the first call finds the stale tree (and falls back), the second uses a rebuilt one.
    const uint64_t before = backend->stats().fallbacks;
    check_v6(*backend, t.view(), q, "shape " + std::to_string(shape));
    const uint64_t after = backend->stats().fallbacks;
    EXPECT_GT(after, before);
    check_v6(*backend, t.view(), q, "shape " + std::to_string(shape) + " again");
    EXPECT_EQ(backend->stats().fallbacks, after) << "the stale tree was not rebuilt";
  }
}

TEST(Avx2BackendTest, V6FormsKeepTheirOwnTrees) {
  // A 128-bit and a 64-bit view used in turn: each form keeps its own cached tree (no rebuild per call),
  // and a 64-bit view is never searched with the 128-bit tree or the other way round.
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  std::mt19937_64 rng(25);
  const auto his = random_v64_starts(5000, rng, 1);
  std::vector<Ipv6> wide;
  for (uint64_t hi : his) wide.push_back({hi, 0});
  const V6x64Table narrow_table(his, 0, 1);
  const V6Table wide_table(wide, 0, 1);  // the same starts and records in the 128-bit form
  const auto q = v64_queries(his, 1000, rng);
  for (int i = 0; i < 3; ++i) {
    check_v6(*backend, narrow_table.view(), q, "64-bit");
    check_v6(*backend, wide_table.view(), q, "128-bit");
  }
  EXPECT_EQ(backend->stats().tree_builds, 2U);
  expect_no_fallbacks(*backend);
}

TEST(Avx2BackendTest, AlternatingTablesAndThreads) {
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  std::mt19937_64 rng(15);
  const V4Table a(uniform_v4_starts(3000, rng), 0, 1), b(uniform_v4_starts(70000, rng), 5, 2);
  const V6Table c(random_v6_starts(3000, rng, 0), 0, 3), d(random_v6_starts(9000, rng, 1), 1, 4);
  const V6x64Table e(random_v64_starts(7000, rng, 0), 2, 5);
  auto starts4 = [](const V4Table& t) {
    return std::vector<uint32_t>(t.view().v4_starts.begin(), t.view().v4_starts.end());
  };
  auto starts6 = [](const V6Table& t) {
    return std::vector<Ipv6>(t.view().v6_starts.begin(), t.view().v6_starts.end());
  };
  const auto qa = v4_queries(starts4(a), 500, rng), qb = v4_queries(starts4(b), 500, rng);
  const auto qc = v6_queries(starts6(c), 500, rng), qd = v6_queries(starts6(d), 500, rng);
  const auto qe =
      v64_queries(std::vector<uint64_t>(e.view().v6_starts64.begin(), e.view().v6_starts64.end()), 500, rng);
  for (int i = 0; i < 4; ++i) {
    check_v4(*backend, a.view(), qa, "a");
    check_v4(*backend, b.view(), qb, "b");
    check_v6(*backend, c.view(), qc, "c");
    check_v6(*backend, d.view(), qd, "d");
    check_v6(*backend, e.view(), qe, "e");
  }
  // One backend shared by threads that use different tables.
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        if (t % 2 == 0) {
          check_v4(*backend, a.view(), qa, "thread a");
          check_v6(*backend, c.view(), qc, "thread c");
        } else {
          check_v4(*backend, b.view(), qb, "thread b");
          check_v6(*backend, d.view(), qd, "thread d");
          check_v6(*backend, e.view(), qe, "thread e");
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  expect_no_fallbacks(*backend);
}

// ---- category join ----------------------------------------------------------------------------------

// Every present key, `absent` random (almost surely absent) keys, and the extremes.
std::vector<uint64_t> join_probes(const std::vector<uint64_t>& present, size_t absent, std::mt19937_64& rng) {
  std::vector<uint64_t> q = present;
  q.push_back(0);
  q.push_back(UINT64_MAX);
  q.push_back(UINT64_MAX - 1);
  for (size_t i = 0; i < absent; ++i) q.push_back(rng());
  std::shuffle(q.begin(), q.end(), rng);
  return q;
}

TEST(Avx2BackendTest, JoinAtEveryLoad) {
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  // As grown, at the maximum load and with every home slot full (runs into the tail); queries include
  // the codes right next to every stored one (same bucket, between two stored codes).
  for (auto& c : testing_util::category_cases({1, 2, 5, 6, 8, 512, 1 << 17}, 16)) {
    ASSERT_EQ(testing_util::check_category_view(c.table.view()), "") << c.name;
    check_join(*backend, c.table.view(), testing_util::join_queries(c.table.view(), 1000, 17), c.name);
  }
}

TEST(Avx2BackendTest, JoinRunsIntoTheTail) {
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  std::mt19937_64 rng(17);
  // Keys chosen by their codes: a run from the last home bucket far into the tail, and one from the first
  // home bucket across many home buckets; the probes walk the whole run.
  CategoryTable table;
  ASSERT_TRUE(table.rehash(64).is_ok());
  std::vector<uint64_t> q;
  for (uint64_t i = 0; i < 100; ++i) {
    const uint64_t top = category_key(CategoryTableView::kEmptyCode - 1 - 2 * i);
    const uint64_t bottom = category_key(2 * i);
    ASSERT_TRUE(table.insert(top, static_cast<uint32_t>(i)).is_ok());
    ASSERT_TRUE(table.insert(bottom, static_cast<uint32_t>(i + 1000)).is_ok());
    q.push_back(top);
    q.push_back(bottom);
    q.push_back(category_key(CategoryTableView::kEmptyCode - 2 - 2 * i));  // absent, same run
    q.push_back(category_key(2 * i + 1));
  }
  ASSERT_EQ(table.view().home_buckets, 64U);
  ASSERT_GT(table.view().buckets.size(), 64U + 100 / CategoryBucket::kSlots);
  ASSERT_EQ(testing_util::check_category_view(table.view()), "");
  std::shuffle(q.begin(), q.end(), rng);
  check_join(*backend, table.view(), q, "runs into the tail");
  check_join(*backend, table.view(), join_probes({}, 5000, rng), "random probes");
}

TEST(Avx2BackendTest, JoinBatchSizes) {
  SKIP_WITHOUT_AVX2();
  auto backend = avx2();
  ASSERT_NE(backend, nullptr);
  std::mt19937_64 rng(18);
  CategoryTable table;
  std::vector<uint64_t> present;
  for (int i = 0; i < 30000; ++i) {
    const uint64_t k = rng();
    ASSERT_TRUE(table.insert(k, static_cast<uint32_t>(i)).is_ok());
    present.push_back(k);
  }
  ASSERT_TRUE(table.insert(UINT64_MAX, 5).is_ok());
  for (size_t n : kBatchSizes) {
    std::vector<uint64_t> q(n);
    for (size_t i = 0; i < n; ++i) {
      q[i] = i % 2 ? present[rng() % present.size()] : (i % 7 == 0 ? UINT64_MAX : rng());
    }
    check_join(*backend, table.view(), q, "batch " + std::to_string(n));
  }
}

}  // namespace
}  // namespace enrichd
