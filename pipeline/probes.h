// Probes: one small struct of counters per stage, written by the stage's own thread with relaxed atomics
// and read by anyone (the /metrics exporter, the status line, the end-of-run summary). A reader may see
// one counter a batch ahead of another; each counter alone only grows.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "host/dead_letter.h"

namespace enrichd {

class Counter {
 public:
  void add(uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

// Batch durations. Buckets by upper bound in seconds (Prometheus `le`); counts are kept per bucket (not
// cumulative: the exporter sums them), the sum in nanoseconds.
class DurationHistogram {
 public:
  static constexpr std::array<double, 16> kBounds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

  void observe(std::chrono::nanoseconds d);

  struct Snapshot {
    std::array<uint64_t, kBounds.size() + 1> counts{};  // per bucket; the last one is above every bound
    double sum_seconds = 0;
    uint64_t count() const;
  };
  Snapshot snapshot() const;

 private:
  std::array<std::atomic<uint64_t>, kBounds.size() + 1> counts_{};
  std::atomic<uint64_t> sum_ns_{0};
};

// Times a scope into a histogram.
class ScopedTimer {
 public:
  explicit ScopedTimer(DurationHistogram& h) : h_(h), t0_(std::chrono::steady_clock::now()) {}
  ~ScopedTimer() { h_.observe(std::chrono::steady_clock::now() - t0_); }
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;

 private:
  DurationHistogram& h_;
  std::chrono::steady_clock::time_point t0_;
};

struct SourceProbe {
  Counter messages;  // messages handed on (Kafka or file lines), dead letters included
  Counter bytes;     // their payload bytes
};

struct ParseProbe {
  Counter events;  // messages that became events
  std::array<Counter, kDeadLetterReasonCount> dead_letters;
  DurationHistogram duration;

  uint64_t dead_letters_total() const {
    uint64_t n = 0;
    for (const auto& d : dead_letters) n += d.get();
    return n;
  }
};

struct FilterProbe {
  Counter filtered_out;
  DurationHistogram duration;
};

struct EnrichProbe {
  Counter events;  // events that went through the lookups (after the filter)
  DurationHistogram duration;
};

struct EncodeProbe {
  DurationHistogram duration;
};

// Written by the sink (reachability, transactions, retries) and by the pipeline's sink loop (the rest).
struct SinkProbe {
  Counter rows_loaded;
  Counter dead_letters_stored;
  Counter transactions;  // committed load transactions
  Counter retries;       // failed load tries that were retried
  Counter fenced_out;    // partition segments dropped because another member loaded them
  DurationHistogram duration;

  // The newest event time committed so far (the event-time role), epoch ms; -1 before any.
  void note_event_time(int64_t ms) {
    int64_t seen = newest_event_ms_.load(std::memory_order_relaxed);
    while (ms > seen && !newest_event_ms_.compare_exchange_weak(seen, ms, std::memory_order_relaxed)) {
    }
  }
  int64_t newest_event_ms() const { return newest_event_ms_.load(std::memory_order_relaxed); }

  // Whether the last try to reach the database succeeded, and why not when it did not.
  void set_reachable() { reachable_.store(true, std::memory_order_relaxed); }
  void set_unreachable(std::string why) {
    std::lock_guard lock(mu_);
    why_ = std::move(why);
    reachable_.store(false, std::memory_order_relaxed);
  }
  bool reachable() const { return reachable_.load(std::memory_order_relaxed); }
  std::string unreachable_reason() const {
    std::lock_guard lock(mu_);
    return why_;
  }

 private:
  std::atomic<bool> reachable_{false};
  std::atomic<int64_t> newest_event_ms_{-1};
  mutable std::mutex mu_;
  std::string why_ = "not connected yet";
};

struct ReloadProbe {
  Counter reloads;           // geo tables swapped in
  Counter category_reloads;  // category tables swapped in
  Counter failures;          // new geo or category files refused (the old table kept serving)
};

}  // namespace enrichd
