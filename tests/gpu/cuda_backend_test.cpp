// The cuda backend against the scalar reference functions, call by call: IPv4 and IPv6 geo lookups (both
// forms of the IPv6 view) over tables of every shape (one range, node and level boundaries, starts at 0
// and at the largest address, >= 1 M ranges), every edge query, batch sizes around the warp and block
// sizes, the category join (keys 0 and UINT64_MAX, absent keys, empty views, tables at every load up to
// every home slot full, probe runs into the tail), reloads, size errors, page-locked and device-resident
// batches, under every variant of the backend's options. Outputs are poisoned before each call, so an answer
// that was never written shows. Tests that need a device skip cleanly without one; the rest run everywhere.
#include "kernels/cuda/cuda_backend.h"

#include <cuda_runtime.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/device_layout.h"
#include "kernels/scalar/scalar_backend.h"
#include "tests/unit/category_fixture.h"

namespace enrichd {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t kPoison = 0xdeadbeef;

bool have_device() {
  return cuda::backend_availability().available;
}

#define SKIP_WITHOUT_DEVICE() \
  if (!have_device()) GTEST_SKIP() << cuda::backend_availability().detail

std::unique_ptr<CudaBackend> make_cuda(const CudaOptions& options = {}) {
  auto made = CudaBackend::create(options);
  EXPECT_TRUE(made.is_ok()) << made.status().message();
  return made ? std::move(made).value() : nullptr;
}

std::string show(uint32_t q) {
  return std::to_string(q);
}
std::string show(uint64_t q) {
  return std::to_string(q);
}
std::string show(const Ipv6& q) {
  return format_ipv6(q);
}

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
  ADD_FAILURE() << what << ": " << wrong << " of " << want.size() << " answers differ; first at " << first
                << " (query " << show(queries[first]) << "): want " << want[first] << ", got " << got[first]
                << (got[first] == kPoison ? " (never written)" : "");
}

// ---- tables given directly as arrays (the view's invariants: sorted, distinct, starts[0] = 0) ----

struct V4Table {
  std::vector<uint32_t> starts, records;
  GeoTableView view() const { return {starts, records, {}, {}, {}}; }
};

struct V6Table {
  std::vector<uint64_t> starts64;  // one of the two forms
  std::vector<Ipv6> starts;
  std::vector<uint32_t> records;
  GeoTableView view() const { return {{}, {}, starts64, starts, records}; }
};

uint32_t random_record(std::mt19937_64& rng) {
  return rng() % 10 == 0 ? kNoRecord : static_cast<uint32_t>(rng() % 100000);
}

// n distinct sorted starts beginning at 0; `with_max` puts the largest value last.
template <typename T, typename Draw>
std::vector<T> sorted_starts(size_t n, bool with_max, T max, Draw draw) {
  std::vector<T> v{T{}};
  if (with_max && n > 1) v.push_back(max);
  while (v.size() < n) {
    const size_t deficit = n - v.size();
    for (size_t i = 0; i < deficit; ++i) v.push_back(draw());
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
  }
  return v;
}

V4Table random_v4(size_t n, bool with_max, uint64_t seed) {
  std::mt19937_64 rng(seed);
  V4Table t;
  t.starts = sorted_starts<uint32_t>(n, with_max, UINT32_MAX, [&] { return static_cast<uint32_t>(rng()); });
  for (size_t i = 0; i < n; ++i) t.records.push_back(random_record(rng));
  return t;
}

V6Table random_v6_64(size_t n, bool with_max, uint64_t seed) {
  std::mt19937_64 rng(seed);
  V6Table t;
  t.starts64 = sorted_starts<uint64_t>(n, with_max, UINT64_MAX, [&] { return rng(); });
  for (size_t i = 0; i < n; ++i) t.records.push_back(random_record(rng));
  return t;
}

// 128-bit starts that share hi words in runs, so that the lo words decide.
V6Table random_v6_128(size_t n, bool with_max, uint64_t seed) {
  std::mt19937_64 rng(seed);
  V6Table t;
  const uint64_t his = std::max<uint64_t>(1, n / 4);
  t.starts = sorted_starts<Ipv6>(n, with_max, kIpv6Max, [&] {
    return Ipv6{(rng() % his) * 0x9e3779b97f4a7c15ULL, rng() % 3 == 0 ? 0 : rng()};
  });
  for (size_t i = 0; i < n; ++i) t.records.push_back(random_record(rng));
  return t;
}

// Every start, its neighbours, the ends of the space, and random queries.
std::vector<uint32_t> v4_queries(const std::vector<uint32_t>& starts, size_t random, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint32_t> q = {0, 1, UINT32_MAX, UINT32_MAX - 1, 0x80000000U};
  for (uint32_t s : starts) {
    q.push_back(s);
    q.push_back(s - 1);  // wraps at 0: the largest address
    q.push_back(s + 1);
  }
  for (size_t i = 0; i < random; ++i) q.push_back(static_cast<uint32_t>(rng()));
  std::shuffle(q.begin(), q.end(), rng);
  return q;
}

std::vector<Ipv6> v6_queries(const V6Table& t, size_t random, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Ipv6> q = {{0, 0}, {0, 1}, kIpv6Max, ipv6_prev(kIpv6Max), {1, 0}, {0, UINT64_MAX}};
  auto around = [&](const Ipv6& s) {
    for (const Ipv6& x : {s, ipv6_prev(s), ipv6_next(s), Ipv6{s.hi, rng()}, Ipv6{s.hi - 1, rng()}})
      q.push_back(x);
  };
  for (uint64_t hi : t.starts64) around({hi, 0});
  for (const Ipv6& s : t.starts) around(s);
  for (size_t i = 0; i < random; ++i) q.push_back({rng(), rng()});
  // Near existing starts too, where random 128-bit values never land.
  const size_t n = t.starts64.empty() ? t.starts.size() : t.starts64.size();
  for (size_t i = 0; i < random && n > 0; ++i) {
    const size_t k = rng() % n;
    const uint64_t hi = t.starts64.empty() ? t.starts[k].hi : t.starts64[k];
    q.push_back({hi, rng()});
  }
  std::shuffle(q.begin(), q.end(), rng);
  return q;
}

std::vector<uint32_t> scalar_v4(const GeoTableView& view, const std::vector<uint32_t>& q) {
  std::vector<uint32_t> out(q.size());
  for (size_t i = 0; i < q.size(); ++i) out[i] = scalar_geo_lookup_v4(view, q[i]);
  return out;
}
std::vector<uint32_t> scalar_v6(const GeoTableView& view, const std::vector<Ipv6>& q) {
  std::vector<uint32_t> out(q.size());
  for (size_t i = 0; i < q.size(); ++i) out[i] = scalar_geo_lookup_v6(view, q[i]);
  return out;
}
std::vector<uint32_t> scalar_join(const CategoryTableView& view, const std::vector<uint64_t>& q) {
  std::vector<uint32_t> out(q.size());
  for (size_t i = 0; i < q.size(); ++i) out[i] = scalar_category_lookup(view, q[i]);
  return out;
}

void check_v4(CudaBackend& b, const GeoTableView& view, const std::vector<uint32_t>& q,
              const std::string& what) {
  std::vector<uint32_t> got(q.size(), kPoison);
  const Status s = b.geo_lookup_v4(view, q, got);
  ASSERT_TRUE(s.is_ok()) << what << ": " << s.message();
  expect_same(q, scalar_v4(view, q), got, what);
}
void check_v6(CudaBackend& b, const GeoTableView& view, const std::vector<Ipv6>& q, const std::string& what) {
  std::vector<uint32_t> got(q.size(), kPoison);
  const Status s = b.geo_lookup_v6(view, q, got);
  ASSERT_TRUE(s.is_ok()) << what << ": " << s.message();
  expect_same(q, scalar_v6(view, q), got, what);
}
void check_join(CudaBackend& b, const CategoryTableView& view, const std::vector<uint64_t>& q,
                const std::string& what) {
  std::vector<uint32_t> got(q.size(), kPoison);
  const Status s = b.category_join(view, q, got);
  ASSERT_TRUE(s.is_ok()) << what << ": " << s.message();
  expect_same(q, scalar_join(view, q), got, what);
}

// ---- category tables ----

using testing_util::join_queries;

// A table of `keys` random keys with exactly `home_buckets` home buckets: any load up to every home slot
// full (runs then spill into the tail), past what inserts alone would leave.
CategoryTable table_with_homes(size_t keys, uint64_t home_buckets, uint64_t seed) {
  std::mt19937_64 rng(seed);
  CategoryTable t;
  while (t.size() < keys) EXPECT_TRUE(t.insert(rng(), static_cast<uint32_t>(rng() % 100000)).is_ok());
  EXPECT_TRUE(t.rehash(home_buckets).is_ok());
  return t;
}

// Random keys (values random), and the keys themselves for queries that hit.
struct RandomCategories {
  CategoryTable table;
  std::vector<uint64_t> keys;
  RandomCategories(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    while (table.size() < n) {
      const uint64_t k = rng();
      if (table.find(k) != kNoRecord) continue;
      EXPECT_TRUE(table.insert(k, static_cast<uint32_t>(rng() % 100000)).is_ok());
      keys.push_back(k);
    }
  }
};

// ---- the device layouts walked on the CPU, step by step as the kernels walk them ----

// Builds a search structure as the backend does on the device (padding of all-ones keys, each level
// gathered from the one below with stride F) and looks every query up as the kernel does.
template <typename Key, int F, typename HostKey, typename Query, typename ToKey>
std::vector<uint32_t> emulate_search(const std::vector<HostKey>& starts, const std::vector<uint32_t>& records,
                                     size_t top_bytes, bool plain, const std::vector<Query>& queries,
                                     ToKey to_key) {
  static_assert(sizeof(Key) == sizeof(HostKey));
  const size_t n = starts.size();
  const cuda::SearchPlan plan = cuda::plan_search(n, sizeof(Key), F, top_bytes, plain);
  EXPECT_LT(plan.top, cuda::kMaxLevels);
  std::vector<unsigned char> mem(plan.bytes, 0xff);
  std::memcpy(mem.data(), starts.data(), n * sizeof(Key));
  std::memcpy(mem.data() + plan.records_offset, records.data(), n * sizeof(uint32_t));
  auto key_at = [&](int level, uint64_t i) {
    Key k;
    std::memcpy(&k, mem.data() + plan.offsets[level] + i * sizeof(Key), sizeof(Key));
    return k;
  };
  for (int l = 1; l <= plan.top; ++l) {
    EXPECT_EQ(plan.offsets[l] % cuda::kLevelAlign, 0U);
    for (uint64_t i = 0; i < plan.lengths[l]; ++i) {
      const Key k = key_at(l - 1, i * F);
      std::memcpy(mem.data() + plan.offsets[l] + i * sizeof(Key), &k, sizeof(Key));
    }
  }
  if (!plain) {
    EXPECT_TRUE(plan.lengths[plan.top] * sizeof(Key) <= top_bytes || plan.lengths[plan.top] == 1 ||
                plan.top == cuda::kMaxLevels - 1);
  }
  std::vector<uint32_t> out;
  for (const Query& q : queries) {
    const Key key = to_key(q);
    if (n == 0) {
      out.push_back(kNoRecord);
      continue;
    }
    uint64_t pos = 0;
    for (uint64_t len = plan.lengths[plan.top]; len > 1;) {
      const uint64_t half = len / 2;
      pos = cuda::top_step(pos, half, key_at(plan.top, pos + half), key);
      len -= half;
    }
    for (int l = plan.top - 1; l >= 0; --l) {
      Key node[F];
      // Whole nodes stay inside the level's padding.
      EXPECT_LE(plan.offsets[l] + (pos + 1) * F * sizeof(Key),
                l == 0 ? plan.records_offset : plan.offsets[l + 1]);
      std::memcpy(node, mem.data() + plan.offsets[l] + pos * F * sizeof(Key), sizeof(node));
      pos = cuda::node_step<Key, F>(pos, node, key, plan.lengths[l] - 1);
    }
    uint32_t record;
    std::memcpy(&record, mem.data() + plan.records_offset + pos * sizeof(uint32_t), sizeof record);
    out.push_back(cuda::key_le(key_at(0, 0), key) ? record : kNoRecord);
  }
  return out;
}

const std::vector<size_t> kTopBudgets = {0, 16, 64, 100, 1024, 48 * 1024, 1 << 30};

TEST(CudaWithoutDevice, SearchLayoutWalkMatchesScalar) {
  for (size_t n : {1UL, 2UL, 7UL, 8UL, 9UL, 17UL, 64UL, 65UL, 513UL, 4097UL, 70001UL}) {
    const V4Table t4 = random_v4(n, n % 2 == 1, n);
    const auto q4 = v4_queries(t4.starts, 500, n);
    const auto want4 = scalar_v4(t4.view(), q4);
    const V6Table t64 = random_v6_64(n, n % 2 == 0, n + 1);
    const auto q64 = v6_queries(t64, 500, n);
    const auto want64 = scalar_v6(t64.view(), q64);
    const V6Table t128 = random_v6_128(n, n % 2 == 1, n + 2);
    const auto q128 = v6_queries(t128, 500, n);
    const auto want128 = scalar_v6(t128.view(), q128);
    auto same = [](uint32_t x) { return x; };
    auto hi = [](const Ipv6& x) { return x.hi; };
    auto wide = [](const Ipv6& x) { return cuda::U128{x.hi, x.lo}; };
    for (size_t budget : kTopBudgets) {
      for (bool plain : {false, true}) {
        const std::string what =
            " n=" + std::to_string(n) + " top<=" + std::to_string(budget) + (plain ? " plain" : "");
        expect_same(q4, want4, emulate_search<uint32_t, 8>(t4.starts, t4.records, budget, plain, q4, same),
                    "v4 F=8" + what);
        expect_same(q4, want4, emulate_search<uint32_t, 16>(t4.starts, t4.records, budget, plain, q4, same),
                    "v4 F=16" + what);
        expect_same(q64, want64,
                    emulate_search<uint64_t, 4>(t64.starts64, t64.records, budget, plain, q64, hi),
                    "v6/64 F=4" + what);
        expect_same(q64, want64,
                    emulate_search<uint64_t, 8>(t64.starts64, t64.records, budget, plain, q64, hi),
                    "v6/64 F=8" + what);
        expect_same(q128, want128,
                    emulate_search<cuda::U128, 4>(t128.starts, t128.records, budget, plain, q128, wide),
                    "v6/128 F=4" + what);
      }
    }
  }
}

TEST(CudaWithoutDevice, SearchPlanLevels) {
  // GeoLite2-City size: 2.57 M IPv4 starts under the default 48 KiB budget.
  const cuda::SearchPlan p = cuda::plan_search(2570000, 4, 8, 48 * 1024, false);
  EXPECT_EQ(p.top, 3);
  EXPECT_EQ(p.lengths[3], (2570000 + 511) / 512);
  EXPECT_LE(p.lengths[p.top] * 4, 48U * 1024);
  EXPECT_EQ(cuda::plan_search(2570000, 4, 8, 48 * 1024, true).top, 0);
  EXPECT_EQ(cuda::plan_search(1, 4, 8, 0, false).top, 0);
  // The level limit holds for any budget.
  EXPECT_EQ(cuda::plan_search(uint64_t{1} << 40, 16, 4, 0, false).top, cuda::kMaxLevels - 1);
}

// The view's buckets probed as the bucket kernel probes them (probe_bucket is the kernel's own code).
std::vector<uint32_t> emulate_join(const CategoryTableView& view, const std::vector<uint64_t>& queries) {
  const auto* buckets = reinterpret_cast<const cuda::JoinBucket*>(view.buckets.data());
  const uint64_t nb = view.buckets.size();
  std::vector<uint32_t> out;
  for (uint64_t key : queries) {
    if (key == cuda::kDeviceEmptyKey) {
      out.push_back(view.has_empty_key ? view.empty_key_value : kNoRecord);
      continue;
    }
    uint32_t value = kNoRecord;
    cuda::Probe state = cuda::Probe::kNext;
    const uint64_t code = cuda::category_code(key);
    for (uint64_t b = nb == 0 ? 0 : cuda::bucket_of(code, view.home_buckets); b < nb; ++b) {
      state = cuda::probe_bucket(buckets[b], code, value);
      if (state != cuda::Probe::kNext) break;
    }
    out.push_back(state == cuda::Probe::kFound ? value : kNoRecord);
  }
  return out;
}

TEST(CudaWithoutDevice, BucketProbeMatchesScalar) {
  for (auto& c : testing_util::category_cases({0, 1, 4, 5, 6, 100, 10000, 300000}, 3)) {
    const auto q = join_queries(c.table.view(), 10000, c.table.size());
    expect_same(q, scalar_join(c.table.view(), q), emulate_join(c.table.view(), q), c.name);
  }
  const CategoryTableView none{};
  const std::vector<uint64_t> q = {0, 1, UINT64_MAX};
  expect_same(q, scalar_join(none, q), emulate_join(none, q), "default view");
  // The home bucket the kernels compute is the host's.
  std::mt19937_64 rng(4);
  for (int i = 0; i < 10000; ++i) {
    const uint64_t code = rng(), homes = rng() % 100000000 + 1;
    ASSERT_EQ(cuda::bucket_of(code, homes), category_home(code, homes));
  }
}

// ---- the option variants every parameterised test runs under ----

struct Variant {
  std::string name;
  CudaOptions options;
};
void PrintTo(const Variant& v, std::ostream* os) {
  *os << v.name;
}

std::vector<Variant> variants() {
  std::vector<Variant> v;
  v.push_back({"default", {}});
  CudaOptions o;
  o.node_bytes = 64;
  v.push_back({"node64", o});
  o = {};
  o.shared_top_bytes = 64;  // many levels, a top of a few keys
  o.shared_top = CudaOptions::SharedTop::kAlways;
  v.push_back({"deep", o});
  o = {};
  o.shared_top = CudaOptions::SharedTop::kAlways;
  v.push_back({"sharedtop", o});
  o = {};
  o.shared_top = CudaOptions::SharedTop::kNever;
  o.shared_top_bytes = 200 * 1024;
  v.push_back({"globaltop", o});
  o = {};
  o.plain_search = true;
  v.push_back({"plain", o});
  o = {};
  o.join_layout = CudaOptions::JoinLayout::kSlots;
  v.push_back({"slots", o});
  o = {};
  o.chunk_queries = 1000;  // many staging chunks with a ragged last one
  v.push_back({"chunks", o});
  return v;
}

class CudaVariantTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_DEVICE();
    backend_ = make_cuda(GetParam().options);
    ASSERT_NE(backend_, nullptr);
  }
  std::unique_ptr<CudaBackend> backend_;
};

const std::vector<size_t> kTableSizes = {1,  2,  3,  7,  8,   9,   15,  16,   17,    31,
                                         33, 63, 64, 65, 511, 512, 513, 4097, 100003};

TEST_P(CudaVariantTest, V4MatchesScalarOnEveryTableShape) {
  for (size_t n : kTableSizes) {
    for (bool with_max : {false, true}) {
      const V4Table t = random_v4(n, with_max, n * 2 + with_max);
      check_v4(*backend_, t.view(), v4_queries(t.starts, 2000, n), "v4 n=" + std::to_string(n));
    }
  }
}

TEST_P(CudaVariantTest, V6SixtyFourBitFormMatchesScalar) {
  for (size_t n : kTableSizes) {
    for (bool with_max : {false, true}) {
      const V6Table t = random_v6_64(n, with_max, n * 3 + with_max);
      check_v6(*backend_, t.view(), v6_queries(t, 2000, n), "v6/64 n=" + std::to_string(n));
    }
  }
}

TEST_P(CudaVariantTest, V6HundredTwentyEightBitFormMatchesScalar) {
  for (size_t n : kTableSizes) {
    for (bool with_max : {false, true}) {
      const V6Table t = random_v6_128(n, with_max, n * 5 + with_max);
      check_v6(*backend_, t.view(), v6_queries(t, 2000, n), "v6/128 n=" + std::to_string(n));
    }
  }
}

TEST_P(CudaVariantTest, EmptyGeoTablesMissEverything) {
  const GeoTableView empty{};
  check_v4(*backend_, empty, {0, 1, UINT32_MAX}, "empty v4");
  check_v6(*backend_, empty, {{0, 0}, {5, 5}, kIpv6Max}, "empty v6");
  // A table with only the other family.
  const V4Table t4 = random_v4(100, false, 1);
  check_v6(*backend_, t4.view(), {{0, 0}, kIpv6Max}, "v6 lookups in a v4-only table");
  const V6Table t6 = random_v6_64(100, false, 2);
  check_v4(*backend_, t6.view(), {0, 12345, UINT32_MAX}, "v4 lookups in a v6-only table");
}

TEST_P(CudaVariantTest, OneRangeTables) {
  const V4Table t4{{0}, {42}};
  check_v4(*backend_, t4.view(), {0, 1, 0x7fffffff, UINT32_MAX}, "one v4 range");
  const V6Table t64{{0}, {}, {7}};
  check_v6(*backend_, t64.view(), {{0, 0}, {1, 2}, kIpv6Max}, "one v6/64 range");
  const V6Table t128{{}, {{0, 0}}, {9}};
  check_v6(*backend_, t128.view(), {{0, 0}, {1, 2}, kIpv6Max}, "one v6/128 range");
  const V4Table none{{0}, {kNoRecord}};
  check_v4(*backend_, none.view(), {0, UINT32_MAX}, "one gap");
}

TEST_P(CudaVariantTest, BatchSizes) {
  const V4Table t4 = random_v4(5000, true, 7);
  const V6Table t64 = random_v6_64(5000, true, 8);
  const V6Table t128 = random_v6_128(5000, true, 9);
  const RandomCategories cats(6000, 10);
  std::mt19937_64 rng(10);
  for (size_t n : {0UL, 1UL, 31UL, 32UL, 33UL, 1000UL, 1UL << 20}) {
    const std::string what = " batch=" + std::to_string(n);
    std::vector<uint32_t> q4(n);
    std::vector<Ipv6> q6(n);
    std::vector<uint64_t> qk(n);
    for (size_t i = 0; i < n; ++i) {
      q4[i] = static_cast<uint32_t>(rng());
      q6[i] = {rng(), rng()};
      qk[i] = i % 2 == 0 ? cats.keys[rng() % cats.keys.size()] : rng();
    }
    check_v4(*backend_, t4.view(), q4, "v4" + what);
    check_v6(*backend_, t64.view(), q6, "v6/64" + what);
    check_v6(*backend_, t128.view(), q6, "v6/128" + what);
    check_join(*backend_, cats.table.view(), qk, "join" + what);
  }
}

TEST_P(CudaVariantTest, JoinMatchesScalar) {
  std::mt19937_64 rng(21);
  for (size_t n : {1UL, 10UL, 1000UL, 100000UL}) {
    CategoryTable table;
    for (size_t i = 0; i < n; ++i)
      ASSERT_TRUE(table.insert(rng(), static_cast<uint32_t>(rng() % 5000)).is_ok());
    check_join(*backend_, table.view(), join_queries(table.view(), 5000, n), "join n=" + std::to_string(n));
    // The extreme keys, in and out of the table.
    ASSERT_TRUE(table.insert(0, 17).is_ok());
    check_join(*backend_, table.view(), join_queries(table.view(), 100, n), "with key 0");
    ASSERT_TRUE(table.insert(UINT64_MAX, 23).is_ok());
    check_join(*backend_, table.view(), join_queries(table.view(), 100, n), "with key UINT64_MAX");
  }
}

TEST_P(CudaVariantTest, JoinEmptyViews) {
  const CategoryTableView none{};
  check_join(*backend_, none, {0, 1, 12345, UINT64_MAX}, "default view");
  CategoryTable empty;
  check_join(*backend_, empty.view(), {0, 1, 12345, UINT64_MAX}, "empty table");
  // Only the out-of-band key.
  ASSERT_TRUE(empty.insert(UINT64_MAX, 5).is_ok());
  check_join(*backend_, empty.view(), {0, 1, UINT64_MAX, UINT64_MAX - 1}, "only UINT64_MAX");
  CategoryTableView only_oob{};
  only_oob.has_empty_key = true;
  only_oob.empty_key_value = 77;
  check_join(*backend_, only_oob, {0, UINT64_MAX}, "slotless view with UINT64_MAX");
}

TEST_P(CudaVariantTest, JoinAtEveryLoad) {
  // As grown, at CategoryTable's maximum load, and with every home slot full (runs into the tail).
  for (auto& c : testing_util::category_cases({1, 5, 6, 1000, 20000}, 31)) {
    check_join(*backend_, c.table.view(), join_queries(c.table.view(), 3000, 1), c.name);
  }
  for (uint64_t homes : {1UL, 3UL, 1024UL}) {
    const CategoryTable full = table_with_homes(5 * homes, homes, homes);
    check_join(*backend_, full.view(), join_queries(full.view(), 3000, homes),
               "every home slot full, " + std::to_string(homes) + " home buckets");
  }
}

TEST_P(CudaVariantTest, JoinClusteredKeys) {
  // Keys chosen by their codes: all in the last home bucket, one long run into the tail; and all in
  // the first, a run across many home buckets.
  CategoryTable t;
  ASSERT_TRUE(t.rehash(256).is_ok());
  for (uint64_t i = 0; i < 100; ++i) {
    ASSERT_TRUE(
        t.insert(category_key(CategoryTableView::kEmptyCode - 1 - 2 * i), static_cast<uint32_t>(i)).is_ok());
    ASSERT_TRUE(t.insert(category_key(2 * i), static_cast<uint32_t>(i + 500)).is_ok());
  }
  ASSERT_EQ(t.view().home_buckets, 256U);
  check_join(*backend_, t.view(), join_queries(t.view(), 2000, 5), "clustered");
}

TEST_P(CudaVariantTest, ReloadGivesEachViewItsOwnAnswers) {
  const V4Table a = random_v4(3000, false, 51), b = random_v4(3000, false, 52);
  const V6Table a6 = random_v6_64(3000, false, 53), b6 = random_v6_128(3000, false, 54);
  CategoryTable ca, cb;
  std::mt19937_64 rng(55);
  for (int i = 0; i < 3000; ++i) {
    ASSERT_TRUE(ca.insert(rng(), 1).is_ok());
    ASSERT_TRUE(cb.insert(rng(), 2).is_ok());
  }
  const auto q4 = v4_queries(a.starts, 1000, 1);
  const auto q6 = v6_queries(a6, 1000, 2);
  std::vector<uint64_t> qk = join_queries(ca.view(), 100, 3);
  const auto more = join_queries(cb.view(), 100, 4);
  qk.insert(qk.end(), more.begin(), more.end());
  for (int round = 0; round < 3; ++round) {
    for (const V4Table* t : {&a, &b})
      check_v4(*backend_, t->view(), q4, "v4 reload round " + std::to_string(round));
    for (const V6Table* t : {&a6, &b6})
      check_v6(*backend_, t->view(), q6, "v6 reload round " + std::to_string(round));
    for (const CategoryTable* t : {&ca, &cb}) check_join(*backend_, t->view(), qk, "join reload");
  }
  // IPv4 and the join keep both copies on the device (2 + 2 uploads); the IPv6 views alternate between
  // the 64- and the 128-bit form, of which one is kept at a time (each switch an upload: 6).
  EXPECT_EQ(backend_->stats().table_uploads, 10U);
}

TEST_P(CudaVariantTest, SameViewIsUploadedOnce) {
  const V4Table a = random_v4(3000, false, 61);
  const auto q = v4_queries(a.starts, 100, 1);
  for (int i = 0; i < 5; ++i) check_v4(*backend_, a.view(), q, "repeat");
  EXPECT_EQ(backend_->stats().table_uploads, 1U);
  // forget_tables() drops it.
  ASSERT_TRUE(backend_->forget_tables().is_ok());
  check_v4(*backend_, a.view(), q, "after forget");
  EXPECT_EQ(backend_->stats().table_uploads, 2U);
}

TEST_P(CudaVariantTest, TableRewrittenInPlaceIsNoticed) {
  // A new table at the old one's addresses and sizes (as when a reload's allocation reuses freed
  // memory): the sampled fingerprint tells them apart.
  V4Table t = random_v4(5000, false, 71);
  const auto q = v4_queries(t.starts, 1000, 2);
  check_v4(*backend_, t.view(), q, "before");
  const V4Table other = random_v4(5000, false, 72);
  std::copy(other.starts.begin(), other.starts.end(), t.starts.begin());
  std::copy(other.records.begin(), other.records.end(), t.records.begin());
  check_v4(*backend_, t.view(), q, "after rewrite");
  EXPECT_EQ(backend_->stats().table_uploads, 2U);
}

TEST_P(CudaVariantTest, SizeMismatchIsAnErrorAndWritesNothing) {
  const V4Table t4 = random_v4(10, false, 1);
  const V6Table t6 = random_v6_64(10, false, 2);
  CategoryTable cats;
  std::vector<uint32_t> a4(3, 1);
  std::vector<Ipv6> a6(3);
  std::vector<uint64_t> keys(3);
  std::vector<uint32_t> out(2, kPoison);
  const Status s4 = backend_->geo_lookup_v4(t4.view(), a4, out);
  ASSERT_FALSE(s4.is_ok());
  EXPECT_THAT(s4.message(), HasSubstr("3"));
  EXPECT_FALSE(backend_->geo_lookup_v6(t6.view(), a6, out).is_ok());
  EXPECT_FALSE(backend_->category_join(cats.view(), keys, out).is_ok());
  EXPECT_EQ(out, (std::vector<uint32_t>{kPoison, kPoison}));
  std::vector<uint32_t> bigger(4, kPoison);
  EXPECT_FALSE(backend_->geo_lookup_v4(t4.view(), a4, bigger).is_ok());
  EXPECT_EQ(bigger, std::vector<uint32_t>(4, kPoison));
  EXPECT_TRUE(backend_->geo_lookup_v4(t4.view(), {}, {}).is_ok());
  EXPECT_TRUE(backend_->geo_lookup_v6(t6.view(), {}, {}).is_ok());
  EXPECT_TRUE(backend_->category_join(cats.view(), {}, {}).is_ok());
  // A view with fewer records than starts is refused, not read past its end.
  V4Table bad = random_v4(10, false, 3);
  bad.records.resize(5);
  std::vector<uint32_t> out3(3, kPoison);
  EXPECT_FALSE(backend_->geo_lookup_v4(bad.view(), a4, out3).is_ok());
}

INSTANTIATE_TEST_SUITE_P(Options, CudaVariantTest, ::testing::ValuesIn(variants()),
                         [](const ::testing::TestParamInfo<Variant>& p) { return p.param.name; });

// ---- large tables, page-locked and device-resident batches, sharing (default options) ----

class CudaBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_DEVICE();
    backend_ = make_cuda();
    ASSERT_NE(backend_, nullptr);
  }
  std::unique_ptr<CudaBackend> backend_;
};

TEST_F(CudaBackendTest, LargeTables) {
  const size_t n = (1 << 20) + 4097;
  const V4Table t4 = random_v4(n, true, 81);
  check_v4(*backend_, t4.view(), v4_queries(t4.starts, 1 << 20, 1), "v4 1M ranges");
  const V6Table t64 = random_v6_64(n, true, 82);
  check_v6(*backend_, t64.view(), v6_queries(t64, 1 << 19, 2), "v6/64 1M ranges");
  const V6Table t128 = random_v6_128(n, true, 83);
  check_v6(*backend_, t128.view(), v6_queries(t128, 1 << 19, 3), "v6/128 1M ranges");
  RandomCategories cats(2000000, 84);
  cats.table.shrink_to_fit();
  check_join(*backend_, cats.table.view(), join_queries(cats.table.view(), 1 << 20, 4), "join 2M keys");
  // The plain kernel agrees too at this size (many levels above the leaves otherwise).
  CudaOptions plain;
  plain.plain_search = true;
  auto p = make_cuda(plain);
  ASSERT_NE(p, nullptr);
  check_v4(*p, t4.view(), v4_queries(t4.starts, 1 << 18, 5), "plain v4 1M ranges");
}

TEST_F(CudaBackendTest, GeoTableBuiltFromRanges) {
  // Both families through GeoTable::build, the way the pipeline gets them.
  std::vector<GeoRange> ranges;
  IpAddress a, b;
  a.v4 = 0x0a000000;
  b.v4 = 0x0affffff;
  ranges.push_back({a, b, 0, 1});
  a.v4 = 0xc0a80000;
  b.v4 = 0xc0a8ffff;
  ranges.push_back({a, b, 1, 2});
  IpAddress c, d;
  c.is_v6 = d.is_v6 = true;
  c.v6 = {0x20010db800000000ULL, 0};
  d.v6 = {0x20010db8ffffffffULL, UINT64_MAX};
  ranges.push_back({c, d, 0, 3});
  c.v6 = {0x2a00000000000000ULL, 0x8000};  // low bits set: the 128-bit form
  d.v6 = {0x2a00000000000000ULL, 0xffff};
  ranges.push_back({c, d, 1, 4});
  auto table = GeoTable::build(ranges, std::vector<GeoRecord>(2));
  ASSERT_TRUE(table.is_ok()) << table.status().message();
  ASSERT_FALSE(table->v6_is_64bit());
  const GeoTableView view = table->view();
  check_v4(*backend_, view, v4_queries({view.v4_starts.begin(), view.v4_starts.end()}, 1000, 1), "built v4");
  V6Table probe;
  probe.starts.assign(table->view().v6_starts.begin(), table->view().v6_starts.end());
  check_v6(*backend_, table->view(), v6_queries(probe, 1000, 2), "built v6/128");
}

// Page-locked arrays go to and from the device directly, with no staging copy.
template <typename T>
struct Pinned {
  T* data = nullptr;
  size_t n = 0;
  explicit Pinned(size_t count) : n(count) {
    if (cudaMallocHost(reinterpret_cast<void**>(&data), count * sizeof(T)) != cudaSuccess) data = nullptr;
  }
  ~Pinned() {
    if (data != nullptr) (void)cudaFreeHost(data);
  }
  std::span<T> span() { return {data, n}; }
};

TEST_F(CudaBackendTest, PageLockedBatchesTravelDirectly) {
  const V4Table t4 = random_v4(100000, true, 91);
  const V6Table t64 = random_v6_64(100000, true, 92);
  const V6Table t128 = random_v6_128(100000, true, 93);
  const size_t n = 300001;
  Pinned<uint32_t> q4(n), out(n);
  Pinned<Ipv6> q6(n);
  Pinned<uint64_t> qk(n);
  ASSERT_TRUE(q4.data && out.data && q6.data && qk.data);
  std::mt19937_64 rng(94);
  for (size_t i = 0; i < n; ++i) {
    q4.data[i] = static_cast<uint32_t>(rng());
    q6.data[i] = {rng(), rng()};
  }
  CategoryTable cats;
  for (int i = 0; i < 50000; ++i) ASSERT_TRUE(cats.insert(rng(), static_cast<uint32_t>(i)).is_ok());
  const auto keys = join_queries(cats.view(), n, 5);
  std::copy_n(keys.begin(), n, qk.data);

  auto expect_out = [&](const auto& queries, const std::vector<uint32_t>& want, const std::string& what) {
    expect_same(queries, want, std::vector<uint32_t>(out.data, out.data + n), what);
  };
  std::fill_n(out.data, n, kPoison);
  ASSERT_TRUE(backend_->geo_lookup_v4(t4.view(), q4.span(), out.span()).is_ok());
  const std::vector<uint32_t> v4q(q4.data, q4.data + n);
  expect_out(v4q, scalar_v4(t4.view(), v4q), "pinned v4");
  const std::vector<Ipv6> v6q(q6.data, q6.data + n);
  for (const V6Table* t : {&t64, &t128}) {
    std::fill_n(out.data, n, kPoison);
    ASSERT_TRUE(backend_->geo_lookup_v6(t->view(), q6.span(), out.span()).is_ok());
    expect_out(v6q, scalar_v6(t->view(), v6q), "pinned v6");
  }
  std::fill_n(out.data, n, kPoison);
  ASSERT_TRUE(backend_->category_join(cats.view(), qk.span(), out.span()).is_ok());
  const std::vector<uint64_t> kq(qk.data, qk.data + n);
  expect_out(kq, scalar_join(cats.view(), kq), "pinned join");
  EXPECT_EQ(backend_->stats().direct_batches, 4U);
  EXPECT_EQ(backend_->stats().staged_batches, 0U);
  // Pinned input with pageable output, and the reverse, are fine too.
  std::vector<uint32_t> pageable(n, kPoison);
  ASSERT_TRUE(backend_->geo_lookup_v4(t4.view(), q4.span(), pageable).is_ok());
  expect_same(v4q, scalar_v4(t4.view(), v4q), pageable, "pinned in, pageable out");
  std::fill_n(out.data, n, kPoison);
  ASSERT_TRUE(backend_->geo_lookup_v4(t4.view(), v4q, out.span()).is_ok());
  expect_out(v4q, scalar_v4(t4.view(), v4q), "pageable in, pinned out");
}

template <typename T>
struct DeviceArray {
  T* data = nullptr;
  explicit DeviceArray(const std::vector<T>& host) {
    if (cudaMalloc(reinterpret_cast<void**>(&data), std::max<size_t>(1, host.size()) * sizeof(T)) !=
        cudaSuccess) {
      data = nullptr;
      return;
    }
    if (!host.empty()) (void)cudaMemcpy(data, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice);
  }
  ~DeviceArray() {
    if (data != nullptr) (void)cudaFree(data);
  }
  std::vector<T> read(size_t n) const {
    std::vector<T> out(n);
    if (n > 0) {
      EXPECT_EQ(cudaMemcpy(out.data(), data, n * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    }
    return out;
  }
};

TEST_F(CudaBackendTest, DeviceResidentCalls) {
  const V4Table t4 = random_v4(200000, true, 101);
  const V6Table t64 = random_v6_64(200000, true, 102);
  const V6Table t128 = random_v6_128(200000, true, 103);
  RandomCategories random_cats(100000, 104);
  ASSERT_TRUE(random_cats.table.insert(UINT64_MAX, 9).is_ok());
  random_cats.keys.push_back(UINT64_MAX);
  const CategoryTable& cats = random_cats.table;
  std::mt19937_64 rng(104);
  for (size_t n : {0UL, 1UL, 33UL, 1000003UL}) {
    std::vector<uint32_t> q4(n);
    std::vector<Ipv6> q6(n);
    std::vector<uint64_t> qk(n);
    for (size_t i = 0; i < n; ++i) {
      q4[i] = static_cast<uint32_t>(rng());
      q6[i] = {rng(), rng()};
      qk[i] = i % 3 == 0 ? random_cats.keys[rng() % random_cats.keys.size()] : rng();
    }
    const std::vector<uint32_t> poison(n, kPoison);
    DeviceArray<uint32_t> d4(q4), dout(poison);
    DeviceArray<Ipv6> d6(q6);
    DeviceArray<uint64_t> dk(qk);
    ASSERT_TRUE(d4.data && dout.data && d6.data && dk.data);
    const std::string what = " n=" + std::to_string(n);
    ASSERT_TRUE(backend_->geo_lookup_v4_device(t4.view(), d4.data, dout.data, n).is_ok());
    ASSERT_TRUE(backend_->synchronize().is_ok());
    expect_same(q4, scalar_v4(t4.view(), q4), dout.read(n), "device v4" + what);
    for (const V6Table* t : {&t64, &t128}) {
      ASSERT_TRUE(backend_->geo_lookup_v6_device(t->view(), d6.data, dout.data, n).is_ok());
      ASSERT_TRUE(backend_->synchronize().is_ok());
      expect_same(q6, scalar_v6(t->view(), q6), dout.read(n), "device v6" + what);
    }
    ASSERT_TRUE(backend_->category_join_device(cats.view(), dk.data, dout.data, n).is_ok());
    ASSERT_TRUE(backend_->synchronize().is_ok());
    expect_same(qk, scalar_join(cats.view(), qk), dout.read(n), "device join" + what);
  }
}

TEST_F(CudaBackendTest, SharedBetweenThreads) {
  const V4Table t4 = random_v4(50000, false, 111);
  const auto q = v4_queries(t4.starts, 20000, 1);
  const auto want = scalar_v4(t4.view(), q);
  std::vector<std::thread> threads;
  std::vector<std::vector<uint32_t>> got(4, std::vector<uint32_t>(q.size(), kPoison));
  std::vector<Status> status(4);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int r = 0; r < 5 && status[i].is_ok(); ++r)
        status[i] = backend_->geo_lookup_v4(t4.view(), q, got[i]);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(status[i].is_ok()) << status[i].message();
    expect_same(q, want, got[i], "thread " + std::to_string(i));
  }
}

TEST_F(CudaBackendTest, RegistryPicksCuda) {
  const auto list = list_backends();
  ASSERT_FALSE(list.empty());
  EXPECT_EQ(list[0].name, "cuda");
  EXPECT_TRUE(list[0].available) << list[0].detail;
  auto b = make_backend("cuda");
  ASSERT_TRUE(b.is_ok()) << b.status().message();
  EXPECT_EQ((*b)->name(), "cuda");
  auto a = make_backend("auto");
  ASSERT_TRUE(a.is_ok()) << a.status().message();
  EXPECT_EQ((*a)->name(), "auto");  // the routing backend between cuda and the CPU
  EXPECT_THAT(backend_->describe(), HasSubstr("SMs"));
}

TEST_F(CudaBackendTest, InvalidOptionsAreAnError) {
  CudaOptions o;
  o.node_bytes = 48;
  EXPECT_FALSE(CudaBackend::create(o).is_ok());
  o = {};
  o.device = 1000;
  auto b = CudaBackend::create(o);
  ASSERT_FALSE(b.is_ok());
  EXPECT_THAT(b.status().message(), HasSubstr("device"));
}

// ---- without a device (these run everywhere) ----

TEST(CudaWithoutDevice, KernelCodeIsTheHostCode) {
  std::mt19937_64 rng(1);
  for (uint64_t k : {uint64_t{0}, uint64_t{1}, UINT64_MAX, UINT64_MAX - 1})
    EXPECT_EQ(cuda::kernel_code(k), category_code(k));
  for (int i = 0; i < 100000; ++i) {
    const uint64_t k = rng();
    ASSERT_EQ(cuda::kernel_code(k), category_code(k)) << k;
  }
}

TEST(CudaWithoutDevice, UnavailableIsAnErrorNotAnAbort) {
  const cuda::Availability a = cuda::backend_availability();
  EXPECT_FALSE(a.detail.empty());
  const auto list = list_backends();
  ASSERT_FALSE(list.empty());
  EXPECT_EQ(list[0].name, "cuda");
  EXPECT_EQ(list[0].available, a.available);
  EXPECT_EQ(list[0].detail, a.detail);
  if (a.available) GTEST_SKIP() << "a device is present: " << a.detail;
  auto made = CudaBackend::create();
  ASSERT_FALSE(made.is_ok());
  EXPECT_THAT(made.status().message(), HasSubstr(a.detail));
  auto b = make_backend("cuda");
  ASSERT_FALSE(b.is_ok());
  EXPECT_THAT(b.status().message(), HasSubstr("not available"));
  auto fallback = make_backend("auto");
  ASSERT_TRUE(fallback.is_ok()) << fallback.status().message();
  EXPECT_NE((*fallback)->name(), "cuda");
}

}  // namespace
}  // namespace enrichd
