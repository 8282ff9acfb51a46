// The backend seam: the registry, make_backend's choices and errors, and every available backend against
// the scalar reference functions.
#include "kernels/backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <random>
#include <vector>

#include "kernels/scalar/scalar_backend.h"
#include "tests/unit/category_fixture.h"

namespace enrichd {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

const BackendInfo* find_backend(const std::vector<BackendInfo>& list, std::string_view name) {
  auto it = std::find_if(list.begin(), list.end(), [&](const BackendInfo& b) { return b.name == name; });
  return it == list.end() ? nullptr : &*it;
}

TEST(BackendRegistryTest, ListsBackendsInPriorityOrder) {
  const auto list = list_backends();
  ASSERT_EQ(list.size(), 3U);
  EXPECT_EQ(list[0].name, "cuda");
  EXPECT_EQ(list[1].name, "avx2");
  EXPECT_EQ(list[2].name, "scalar");
  const BackendInfo* scalar = find_backend(list, "scalar");
  ASSERT_NE(scalar, nullptr);
  EXPECT_TRUE(scalar->available);
  for (const auto& b : list) EXPECT_FALSE(b.detail.empty()) << b.name;
}

TEST(BackendRegistryTest, MakeScalar) {
  auto b = make_backend("scalar");
  ASSERT_TRUE(b.is_ok()) << b.status().message();
  ASSERT_NE(b->get(), nullptr);
  EXPECT_EQ((*b)->name(), "scalar");
}

TEST(BackendRegistryTest, AutoPicksTheFirstAvailable) {
  auto b = make_backend("auto");
  ASSERT_TRUE(b.is_ok()) << b.status().message();
  ASSERT_NE(b->get(), nullptr);
  const auto list = list_backends();
  const auto first = std::find_if(list.begin(), list.end(), [](const BackendInfo& i) { return i.available; });
  ASSERT_NE(first, list.end());
  // With a GPU, auto is the routing backend between it and the CPU; without, the best CPU backend.
  EXPECT_EQ((*b)->name(), first->name == "cuda" ? "auto" : first->name);
}

TEST(BackendRegistryTest, UnknownNameIsAnErrorNamingTheChoices) {
  for (std::string_view name : {"nope", "", "Scalar", "scalar ", "AUTO"}) {
    auto b = make_backend(name);
    ASSERT_FALSE(b.is_ok()) << name;
    EXPECT_THAT(b.status().message(), AllOf(HasSubstr("unknown backend"), HasSubstr("auto"),
                                            HasSubstr("cuda"), HasSubstr("avx2"), HasSubstr("scalar")));
  }
  EXPECT_THAT(make_backend("nope").status().message(), HasSubstr("'nope'"));
}

TEST(BackendRegistryTest, UnavailableBackendIsAnErrorNotAnAbort) {
  // Every backend listed as unavailable answers make_backend with an error that says why. (On a machine
  // without a GPU, or a build without CUDA kernels, that includes "cuda".)
  const auto list = list_backends();
  for (const auto& info : list) {
    auto b = make_backend(info.name);
    if (info.available) {
      ASSERT_TRUE(b.is_ok()) << info.name << ": " << b.status().message();
      EXPECT_EQ((*b)->name(), info.name);
    } else {
      ASSERT_FALSE(b.is_ok()) << info.name;
      EXPECT_THAT(b.status().message(), AllOf(HasSubstr(info.name), HasSubstr("not available")));
      EXPECT_THAT(b.status().message(), HasSubstr(info.detail));
    }
  }
  const BackendInfo* cuda = find_backend(list, "cuda");
  ASSERT_NE(cuda, nullptr);
  if (!cuda->available) {
    auto b = make_backend("cuda");
    EXPECT_FALSE(b.is_ok());
  }
}

TEST(ScalarBackendTest, SizeMismatchIsAnError) {
  ScalarBackend backend;
  auto geo = GeoTable::build({}, {});
  ASSERT_TRUE(geo.is_ok());
  CategoryTable cats;
  std::vector<uint32_t> a4(3, 1);
  std::vector<Ipv6> a6(3);
  std::vector<uint64_t> keys(3);
  std::vector<uint32_t> out(2, 12345);
  const Status s4 = backend.geo_lookup_v4(geo->view(), a4, out);
  ASSERT_FALSE(s4.is_ok());
  EXPECT_THAT(s4.message(), AllOf(HasSubstr("3"), HasSubstr("2")));
  EXPECT_FALSE(backend.geo_lookup_v6(geo->view(), a6, out).is_ok());
  EXPECT_FALSE(backend.category_join(cats.view(), keys, out).is_ok());
  EXPECT_EQ(out, (std::vector<uint32_t>{12345, 12345}));  // nothing written
  std::vector<uint32_t> bigger(4);
  EXPECT_FALSE(backend.geo_lookup_v4(geo->view(), a4, bigger).is_ok());
  // Empty input is fine.
  EXPECT_TRUE(backend.geo_lookup_v4(geo->view(), {}, {}).is_ok());
  EXPECT_TRUE(backend.category_join(cats.view(), {}, {}).is_ok());
}

TEST(ScalarBackendTest, DefaultViewsMissEverything) {
  const GeoTableView geo{};
  const CategoryTableView cats{};
  for (uint32_t a : {0U, 1U, UINT32_MAX}) EXPECT_EQ(scalar_geo_lookup_v4(geo, a), kNoRecord);
  EXPECT_EQ(scalar_geo_lookup_v6(geo, {0, 0}), kNoRecord);
  EXPECT_EQ(scalar_geo_lookup_v6(geo, {UINT64_MAX, UINT64_MAX}), kNoRecord);
  for (uint64_t k : {uint64_t{0}, uint64_t{7}, UINT64_MAX})
    EXPECT_EQ(scalar_category_lookup(cats, k), kNoRecord);
  ScalarBackend backend;
  const std::vector<uint64_t> keys = {1, 2, UINT64_MAX};
  std::vector<uint32_t> out(keys.size(), 0);
  ASSERT_TRUE(backend.category_join(cats, keys, out).is_ok());
  EXPECT_EQ(out, std::vector<uint32_t>(keys.size(), kNoRecord));
}

// Every backend that can run here refuses mismatched sizes without writing, and misses everything in
// empty views.
TEST(BackendConformanceTest, AvailableBackendsCheckSizesAndHandleEmptyViews) {
  for (const auto& info : list_backends()) {
    if (!info.available) continue;
    SCOPED_TRACE(info.name);
    auto backend = make_backend(info.name);
    ASSERT_TRUE(backend.is_ok()) << backend.status().message();
    const GeoTableView geo{};
    const CategoryTableView cats{};
    const std::vector<uint32_t> a4 = {0, 1, UINT32_MAX};
    const std::vector<Ipv6> a6 = {{0, 0}, {1, 2}, {UINT64_MAX, UINT64_MAX}};
    const std::vector<uint64_t> keys = {0, 7, UINT64_MAX};
    std::vector<uint32_t> small(2, 12345);
    EXPECT_THAT((*backend)->geo_lookup_v4(geo, a4, small).message(), HasSubstr("3 inputs but room for 2"));
    EXPECT_FALSE((*backend)->geo_lookup_v6(geo, a6, small).is_ok());
    EXPECT_FALSE((*backend)->category_join(cats, keys, small).is_ok());
    EXPECT_EQ(small, std::vector<uint32_t>(2, 12345));
    std::vector<uint32_t> out(3, 0);
    ASSERT_TRUE((*backend)->geo_lookup_v4(geo, a4, out).is_ok());
    EXPECT_EQ(out, std::vector<uint32_t>(3, kNoRecord));
    std::fill(out.begin(), out.end(), 0);
    ASSERT_TRUE((*backend)->geo_lookup_v6(geo, a6, out).is_ok());
    EXPECT_EQ(out, std::vector<uint32_t>(3, kNoRecord));
    std::fill(out.begin(), out.end(), 0);
    ASSERT_TRUE((*backend)->category_join(cats, keys, out).is_ok());
    EXPECT_EQ(out, std::vector<uint32_t>(3, kNoRecord));
  }
}

// Every backend that can run here gives exactly the scalar reference answers.
TEST(BackendConformanceTest, AvailableBackendsMatchScalarReference) {
  std::mt19937_64 rng(8);
  // Geo table: random IPv4 and IPv6 ranges.
  std::vector<GeoRange> ranges;
  std::vector<uint32_t> p4;
  for (int i = 0; i < 2000; ++i) p4.push_back(static_cast<uint32_t>(rng()));
  std::sort(p4.begin(), p4.end());
  p4.erase(std::unique(p4.begin(), p4.end()), p4.end());
  for (size_t i = 0; i + 1 < p4.size(); i += 2) {
    IpAddress a, b;
    a.v4 = p4[i];
    b.v4 = p4[i + 1];
    ranges.push_back({a, b, static_cast<uint32_t>(i % 100), i});
  }
  std::vector<Ipv6> p6;
  for (int i = 0; i < 2000; ++i) p6.push_back({rng() % 64, rng()});
  std::sort(p6.begin(), p6.end());
  p6.erase(std::unique(p6.begin(), p6.end()), p6.end());
  for (size_t i = 0; i + 1 < p6.size(); i += 2) {
    IpAddress a, b;
    a.is_v6 = b.is_v6 = true;
    a.v6 = p6[i];
    b.v6 = p6[i + 1];
    ranges.push_back({a, b, static_cast<uint32_t>(i % 100), i});
  }
  auto geo = GeoTable::build(ranges, std::vector<GeoRecord>(100));
  ASSERT_TRUE(geo.is_ok()) << geo.status().message();
  CategoryTable cats;
  for (int i = 0; i < 5000; ++i) {
    const uint64_t key = rng() % 20000;
    ASSERT_TRUE(cats.insert(key, static_cast<uint32_t>(key % 50)).is_ok());
  }
  ASSERT_TRUE(cats.insert(UINT64_MAX, 3).is_ok());

  std::vector<uint32_t> q4;
  std::vector<Ipv6> q6;
  std::vector<uint64_t> keys;
  for (int i = 0; i < 20000; ++i) {
    q4.push_back(static_cast<uint32_t>(rng()));
    q6.push_back({rng() % 70, rng()});
    keys.push_back(rng() % 4 == 0 ? rng() : rng() % 25000);
  }
  q4.push_back(0);
  q4.push_back(UINT32_MAX);
  q6.push_back({0, 0});
  q6.push_back({UINT64_MAX, UINT64_MAX});
  keys.push_back(UINT64_MAX);
  keys.push_back(0);

  std::vector<uint32_t> want4(q4.size()), want6(q6.size()), want_cat(keys.size());
  for (size_t i = 0; i < q4.size(); ++i) want4[i] = scalar_geo_lookup_v4(geo->view(), q4[i]);
  for (size_t i = 0; i < q6.size(); ++i) want6[i] = scalar_geo_lookup_v6(geo->view(), q6[i]);
  for (size_t i = 0; i < keys.size(); ++i) want_cat[i] = scalar_category_lookup(cats.view(), keys[i]);
  EXPECT_GT(std::count_if(want4.begin(), want4.end(), [](uint32_t r) { return r != kNoRecord; }), 0);
  EXPECT_GT(std::count_if(want_cat.begin(), want_cat.end(), [](uint32_t r) { return r != kNoRecord; }), 0);

  int tested = 0;
  for (const auto& info : list_backends()) {
    if (!info.available) continue;
    SCOPED_TRACE(info.name);
    auto backend = make_backend(info.name);
    ASSERT_TRUE(backend.is_ok()) << backend.status().message();
    std::vector<uint32_t> got4(q4.size()), got6(q6.size()), got_cat(keys.size());
    ASSERT_TRUE((*backend)->geo_lookup_v4(geo->view(), q4, got4).is_ok());
    ASSERT_TRUE((*backend)->geo_lookup_v6(geo->view(), q6, got6).is_ok());
    ASSERT_TRUE((*backend)->category_join(cats.view(), keys, got_cat).is_ok());
    EXPECT_EQ(got4, want4);
    EXPECT_EQ(got6, want6);
    EXPECT_EQ(got_cat, want_cat);
    // Short batches (backends work in groups and prefetch ahead) give the same answers as a prefix.
    for (size_t n : {0, 1, 2, 15, 16, 17, 33}) {
      SCOPED_TRACE(n);
      std::vector<uint32_t> out(n);
      ASSERT_TRUE((*backend)->geo_lookup_v4(geo->view(), std::span(q4).first(n), out).is_ok());
      EXPECT_TRUE(std::equal(out.begin(), out.end(), want4.begin()));
      ASSERT_TRUE((*backend)->geo_lookup_v6(geo->view(), std::span(q6).first(n), out).is_ok());
      EXPECT_TRUE(std::equal(out.begin(), out.end(), want6.begin()));
      ASSERT_TRUE((*backend)->category_join(cats.view(), std::span(keys).first(n), out).is_ok());
      EXPECT_TRUE(std::equal(out.begin(), out.end(), want_cat.begin()));
    }
    ++tested;
  }
  EXPECT_GE(tested, 1);
}

// Every backend that can run here joins exactly as the scalar reference (which agrees with the table's
// own find) on tables of every size, at every load the table can have, with and without the keys 0 and
// UINT64_MAX, on queries that hit, miss, and miss between two neighbouring stored codes.
TEST(BackendConformanceTest, JoinMatchesScalarAtEveryLoad) {
  std::vector<std::unique_ptr<EnrichBackend>> backends;
  for (const auto& info : list_backends()) {
    if (!info.available) continue;
    auto backend = make_backend(info.name);
    ASSERT_TRUE(backend.is_ok()) << backend.status().message();
    backends.push_back(std::move(backend).value());
  }
  ASSERT_FALSE(backends.empty());
  uint64_t seed = 100;
  for (auto& c : testing_util::category_cases({0, 1, 4, 5, 6, 100, 20000}, 3)) {
    SCOPED_TRACE(c.name);
    const CategoryTableView view = c.table.view();
    const std::vector<uint64_t> q = testing_util::join_queries(view, 3000, ++seed);
    std::vector<uint32_t> want(q.size());
    for (size_t i = 0; i < q.size(); ++i) {
      want[i] = scalar_category_lookup(view, q[i]);
      ASSERT_EQ(want[i], c.table.find(q[i])) << q[i];
    }
    for (auto& backend : backends) {
      SCOPED_TRACE(backend->name());
      std::vector<uint32_t> got(q.size(), 12345);
      ASSERT_TRUE(backend->category_join(view, q, got).is_ok());
      EXPECT_EQ(got, want);
    }
  }
}

}  // namespace
}  // namespace enrichd
