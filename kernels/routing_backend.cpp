#include "kernels/routing_backend.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include <fmt/format.h>

namespace enrichd {

const char* lookup_op_name(LookupOp op) {
  switch (op) {
    case LookupOp::kGeoV4:
      return "geo_v4";
    case LookupOp::kGeoV6:
      return "geo_v6";
    case LookupOp::kJoin:
      return "join";
  }
  return "?";
}

namespace {

size_t index(LookupOp op) {
  return static_cast<size_t>(op);
}

bool has_v6(const GeoTableView& geo) {
  return !geo.v6_starts64.empty() || !geo.v6_starts.empty();
}

// Whether an operation has a table worth timing (an empty one answers without any work on either side).
bool has_table(LookupOp op, const GeoTableView& geo, const CategoryTableView& categories) {
  switch (op) {
    case LookupOp::kGeoV4:
      return !geo.v4_starts.empty();
    case LookupOp::kGeoV6:
      return has_v6(geo);
    case LookupOp::kJoin:
      // Any key in a bucket (an empty table still has buckets; a full one stops the scan at once).
      return std::any_of(categories.buckets.begin(), categories.buckets.end(),
                         [](const CategoryBucket& b) { return b.codes[0] != CategoryTableView::kEmptyCode; });
  }
  return false;
}

// Queries shaped like real ones: addresses inside the table's ranges (uniform over ranges, not over the
// address space, which for IPv6 would hit a handful of huge gaps), join keys half present, half absent.
struct Queries {
  std::vector<uint32_t> v4;
  std::vector<Ipv6> v6;
  std::vector<uint64_t> keys;
};

Queries make_queries(LookupOp op, const GeoTableView& geo, const CategoryTableView& categories, size_t n) {
  std::mt19937_64 rng(0x5eed);
  Queries q;
  if (op == LookupOp::kGeoV4) {
    q.v4.resize(n);
    for (auto& a : q.v4) a = geo.v4_starts[rng() % geo.v4_starts.size()] + static_cast<uint32_t>(rng() % 256);
  } else if (op == LookupOp::kGeoV6) {
    q.v6.resize(n);
    for (auto& a : q.v6) {
      if (!geo.v6_starts64.empty()) {
        a = Ipv6{geo.v6_starts64[rng() % geo.v6_starts64.size()], rng()};
      } else {
        a = geo.v6_starts[rng() % geo.v6_starts.size()];
        a.lo += rng() % 65536;
      }
    }
  } else {
    q.keys.resize(n);
    for (auto& k : q.keys) {
      k = rng();
      if (k % 2 == 0) {
        // A present key: the key of a random full slot.
        const CategoryBucket& b = categories.buckets[rng() % categories.buckets.size()];
        if (b.codes[0] != CategoryTableView::kEmptyCode) k = category_key(b.codes[0]);
      }
    }
  }
  return q;
}

Status run_op(EnrichBackend& backend, LookupOp op, const GeoTableView& geo,
              const CategoryTableView& categories, const Queries& q, size_t n, std::vector<uint32_t>& out) {
  switch (op) {
    case LookupOp::kGeoV4:
      return backend.geo_lookup_v4(geo, std::span(q.v4).first(n), std::span(out).first(n));
    case LookupOp::kGeoV6:
      return backend.geo_lookup_v6(geo, std::span(q.v6).first(n), std::span(out).first(n));
    case LookupOp::kJoin:
      return backend.category_join(categories, std::span(q.keys).first(n), std::span(out).first(n));
  }
  return Status::error("unknown lookup operation");
}

// Median nanoseconds per query over `reps` calls, after one untimed call.
Result<double> time_op(EnrichBackend& backend, LookupOp op, const GeoTableView& geo,
                       const CategoryTableView& categories, const Queries& q, size_t n, int reps,
                       std::vector<uint32_t>& out) {
  if (Status s = run_op(backend, op, geo, categories, q, n, out); !s) return s;
  std::vector<double> ns;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    if (Status s = run_op(backend, op, geo, categories, q, n, out); !s) return s;
    ns.push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(ns.begin(), ns.begin() + static_cast<std::ptrdiff_t>(ns.size() / 2), ns.end());
  return ns[ns.size() / 2] / static_cast<double>(n);
}

}  // namespace

RoutingBackend::RoutingBackend(std::unique_ptr<EnrichBackend> gpu, std::unique_ptr<EnrichBackend> cpu,
                               RoutingOptions options)
    : gpu_(std::move(gpu)), cpu_(std::move(cpu)), options_(std::move(options)) {
  const bool always = options_.mode == RoutingOptions::Mode::kGpuAlways;
  for (size_t i = 0; i < kLookupOps; ++i) {
    crossover_[i] = always ? 0 : kNever;
    calibrated_[i] = always;
    stats_.calibration[i].crossover = crossover_[i];
  }
  if (gpu_ == nullptr) gpu_lost_ = true;
}

std::string_view RoutingBackend::name() const {
  return options_.mode == RoutingOptions::Mode::kGpuAlways && gpu_ != nullptr ? gpu_->name() : "auto";
}

std::string_view RoutingBackend::gpu_name() const {
  return gpu_ != nullptr ? gpu_->name() : "none";
}
std::string_view RoutingBackend::cpu_name() const {
  return cpu_->name();
}

size_t RoutingBackend::crossover(LookupOp op) const {
  return crossover_[index(op)].load(std::memory_order_relaxed);
}

void RoutingBackend::lose_gpu(LookupOp op, const Status& why) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stats_.gpu_lost) return;
    stats_.gpu_lost = true;
    stats_.lost_reason = why.message();
    ++stats_.fallbacks;
  }
  gpu_lost_ = true;
  if (options_.warn) {
    options_.warn(
        fmt::format("GPU backend '{}' failed during a {} call: {}. That batch and every later one run "
                    "on '{}' (nothing lost: the failed call is redone on the CPU); restart to use "
                    "the GPU again",
                    gpu_->name(), lookup_op_name(op), why.message(), cpu_->name()));
  }
}

template <typename Call>
Status RoutingBackend::route(LookupOp op, size_t n, const GeoTableView& geo,
                             const CategoryTableView& categories, Call&& call) {
  // Calibrated at start (prepare_tables); an operation whose table was empty then, at its first call
  // with a real one.
  if (!calibrated_[index(op)] && !gpu_lost_) calibrate(op, geo, categories);
  if (!gpu_lost_.load(std::memory_order_relaxed) && n >= crossover(op)) {
    Status s = call(*gpu_);
    if (s) {
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.gpu_calls;
      return s;
    }
    lose_gpu(op, s);
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++stats_.cpu_calls;
  }
  return call(*cpu_);
}

Status RoutingBackend::geo_lookup_v4(const GeoTableView& table, std::span<const uint32_t> addrs,
                                     std::span<uint32_t> records) {
  return route(LookupOp::kGeoV4, addrs.size(), table, {},
               [&](EnrichBackend& b) { return b.geo_lookup_v4(table, addrs, records); });
}

Status RoutingBackend::geo_lookup_v6(const GeoTableView& table, std::span<const Ipv6> addrs,
                                     std::span<uint32_t> records) {
  return route(LookupOp::kGeoV6, addrs.size(), table, {},
               [&](EnrichBackend& b) { return b.geo_lookup_v6(table, addrs, records); });
}

Status RoutingBackend::category_join(const CategoryTableView& table, std::span<const uint64_t> keys,
                                     std::span<uint32_t> values) {
  return route(LookupOp::kJoin, keys.size(), {}, table,
               [&](EnrichBackend& b) { return b.category_join(table, keys, values); });
}

Status RoutingBackend::prepare_tables(const GeoTableView& geo, const CategoryTableView& categories) {
  if (Status s = cpu_->prepare_tables(geo, categories); !s) return s;
  if (gpu_lost_) return Status::ok();
  if (Status s = gpu_->prepare_tables(geo, categories); !s) {
    lose_gpu(LookupOp::kGeoV4, s.with_context("uploading the tables"));
    return Status::ok();
  }
  // Only the first time (start-up, before any batch): a reload's prepare runs on another thread beside
  // the batches, and timing then would race them. An operation still uncalibrated (its table was empty)
  // calibrates at its first call with a real table, on the batches' thread.
  if (prepared_once_.exchange(true)) return Status::ok();
  for (LookupOp op : {LookupOp::kGeoV4, LookupOp::kGeoV6, LookupOp::kJoin}) {
    if (!calibrated_[index(op)] && !gpu_lost_) calibrate(op, geo, categories);
  }
  return Status::ok();
}

void RoutingBackend::calibrate(LookupOp op, const GeoTableView& geo, const CategoryTableView& categories) {
  // An empty table: nothing to time (both sides answer at once); the CPU serves it, and the first call
  // with a real table calibrates.
  if (gpu_ == nullptr || !has_table(op, geo, categories)) return;
  // One calibration at a time (several pipeline workers may reach an uncalibrated operation together),
  // and once per operation.
  std::lock_guard<std::mutex> one_at_a_time(calibrate_mu_);
  if (calibrated_[index(op)]) return;
  const std::vector<size_t>& sizes = options_.calibration_sizes;
  if (sizes.empty()) return;
  const Queries q = make_queries(op, geo, categories, sizes.back());
  std::vector<uint32_t> out(sizes.back());
  Calibration c;
  int clear_wins = 0;
  for (size_t n : sizes) {
    // Enough calls that the small sizes are not one timer tick; never fewer than 3.
    const int reps = static_cast<int>(std::clamp<size_t>((1u << 20) / n, 3, 25));
    const Result<double> cpu_ns = time_op(*cpu_, op, geo, categories, q, n, reps, out);
    if (!cpu_ns) return;  // the CPU backend refused these inputs: the call itself will say why
    const Result<double> gpu_ns = time_op(*gpu_, op, geo, categories, q, n, reps, out);
    if (!gpu_ns) {
      lose_gpu(op, gpu_ns.status().with_context("calibration"));
      return;
    }
    c.sizes.push_back(n);
    c.cpu_ns_per_query.push_back(*cpu_ns);
    c.gpu_ns_per_query.push_back(*gpu_ns);
    // Twice in a row at least twice as fast: larger batches only widen the gap (per-call costs amortise).
    clear_wins = *gpu_ns * 2 <= *cpu_ns ? clear_wins + 1 : 0;
    if (clear_wins == 2) break;
  }
  c.crossover = crossover_from(c);
  c.done = true;
  crossover_[index(op)] = c.crossover;
  calibrated_[index(op)] = true;
  std::string table;
  for (size_t i = 0; i < c.sizes.size(); ++i) {
    table += fmt::format("{}{}: {:.1f}/{:.1f}", i == 0 ? "" : ", ", c.sizes[i], 1e3 / c.gpu_ns_per_query[i],
                         1e3 / c.cpu_ns_per_query[i]);
  }
  const std::string line = fmt::format(
      "backend auto: {} batches of {} go to {} ({} M queries/s {}/{} by batch size: {})", lookup_op_name(op),
      c.crossover == kNever ? "no size" : fmt::format(">= {} queries", c.crossover), gpu_->name(),
      c.crossover == kNever ? "never faster;" : "else to " + std::string(cpu_->name()) + ";", gpu_->name(),
      cpu_->name(), table);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.calibration[index(op)] = std::move(c);
  }
  if (options_.info) options_.info(line);
}

// The smallest batch from which the GPU wins at every larger measured size. Between the last measured
// size where it lost and the first where it won, per-call times are taken as linear in the batch size on
// both sides, and the crossover is where the two lines meet (the measured sizes are a factor 2 apart: a
// batch just under a measured size must not go to the slower side).
size_t RoutingBackend::crossover_from(const Calibration& c) {
  size_t first_win = c.sizes.size();
  while (first_win > 0 && c.gpu_ns_per_query[first_win - 1] < c.cpu_ns_per_query[first_win - 1]) --first_win;
  if (first_win == c.sizes.size()) return RoutingBackend::kNever;
  if (first_win == 0) return c.sizes[0];
  const double s0 = static_cast<double>(c.sizes[first_win - 1]), s1 = static_cast<double>(c.sizes[first_win]);
  // GPU minus CPU per-call nanoseconds: >= 0 at s0, < 0 at s1.
  const double d0 = (c.gpu_ns_per_query[first_win - 1] - c.cpu_ns_per_query[first_win - 1]) * s0;
  const double d1 = (c.gpu_ns_per_query[first_win] - c.cpu_ns_per_query[first_win]) * s1;
  const double meet = s0 + d0 / (d0 - d1) * (s1 - s0);
  return std::clamp(static_cast<size_t>(std::ceil(meet)), c.sizes[first_win - 1] + 1, c.sizes[first_win]);
}

RoutingBackend::Stats RoutingBackend::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

std::string RoutingBackend::describe() const {
  if (gpu_ == nullptr) return fmt::format("{} (no GPU)", cpu_->name());
  const Stats s = stats();
  if (s.gpu_lost) return fmt::format("{} after a GPU failure ({})", cpu_->name(), s.lost_reason);
  if (options_.mode == RoutingOptions::Mode::kGpuAlways) {
    return fmt::format("{}: {}, every batch (falls back to {} on a failure)", gpu_->name(), gpu_->describe(),
                       cpu_->name());
  }
  std::string routes;
  for (size_t i = 0; i < kLookupOps; ++i) {
    const size_t x = crossover_[i];
    routes += fmt::format("{}{} {}", i == 0 ? "" : ", ", lookup_op_name(static_cast<LookupOp>(i)),
                          !calibrated_[i] ? "not calibrated yet"
                          : x == kNever   ? "never"
                                          : fmt::format(">= {}", x));
  }
  return fmt::format("auto: {} ({}) for batches of {}; {} below", gpu_->name(), gpu_->describe(), routes,
                     cpu_->name());
}

}  // namespace enrichd
