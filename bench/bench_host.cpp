// Host-stage micro-benchmarks on one batch of kBatchSize synthetic ~190-byte engagement events: parsing
// JSON into columns, encoding enriched rows as LOAD DATA text, and the two plus enrichment end to end.
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "bench/bench_data.h"
#include "host/event_parser.h"
#include "host/row_encoder.h"
#include "kernels/scalar/scalar_backend.h"
#include "pipeline/enrich_stage.h"

namespace enrichd::bench {
namespace {

constexpr size_t kPins = 100000;

// Events, the reference tables they join against, and the batch parsed and enriched once.
struct PipelineFixture {
  RawBatch raw;
  GeoTable geo;
  CategoryTable categories;
  EventBatch enriched;
  std::vector<DeadLetter> dead_letters;
};

const PipelineFixture& pipeline_fixture() {
  static const std::unique_ptr<PipelineFixture> fixture = [] {
    auto f = std::make_unique<PipelineFixture>();
    const CategoryKeys pins{.seed = 31};
    f->raw = make_events({.pins = pins, .pin_universe = kPins, .seed = 32});
    f->geo = make_geo_table({.v4_ranges = 100000, .v6_ranges = 10000, .records = 2000, .seed = 33});
    f->categories = make_category_table(pins, kPins, 500, true);
    EventParser parser;
    parser.parse(f->raw, f->enriched, f->dead_letters);
    ScalarBackend backend;
    EnrichStage stage(backend, f->geo, f->categories);
    if (Status s = stage.apply(f->enriched); !s) {
      fmt::print(stderr, "bench: enrich failed: {}\n", s.message());
      std::abort();
    }
    return f;
  }();
  return *fixture;
}

// Fails the benchmark when the synthetic events did not all parse: the numbers would be meaningless.
bool check_fixture(benchmark::State& state, const PipelineFixture& f) {
  if (!f.dead_letters.empty()) {
    const std::string msg =
        fmt::format("{} synthetic events became dead letters, first: {} ({})", f.dead_letters.size(),
                    to_string(f.dead_letters[0].reason), f.dead_letters[0].field);
    state.SkipWithError(msg.c_str());
    return false;
  }
  return true;
}

void set_event_counters(benchmark::State& state, const PipelineFixture& f) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(f.raw.size()));
  state.counters["avg_event_B"] =
      static_cast<double>(f.raw.payload_bytes()) / static_cast<double>(f.raw.size());
}

void BM_Parse(benchmark::State& state) {
  const PipelineFixture& f = pipeline_fixture();
  if (!check_fixture(state, f)) return;
  EventParser parser;
  EventBatch batch;
  std::vector<DeadLetter> dead;
  for (auto _ : state) {
    batch.clear();
    dead.clear();
    parser.parse(f.raw, batch, dead);
    benchmark::DoNotOptimize(batch.event_id.data());
    benchmark::ClobberMemory();
  }
  if (batch.size() != f.raw.size()) state.SkipWithError("parsed fewer events than were given");
  set_event_counters(state, f);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(f.raw.payload_bytes()));
}
BENCHMARK(BM_Parse)->Unit(benchmark::kMicrosecond);

void BM_EncodeRows(benchmark::State& state) {
  const PipelineFixture& f = pipeline_fixture();
  if (!check_fixture(state, f)) return;
  std::string out;
  for (auto _ : state) {
    out.clear();
    encode_rows(f.enriched, f.geo, f.categories, out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  // Bytes are the LOAD DATA text written.
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(f.enriched.selected.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(out.size()));
  state.counters["avg_row_B"] =
      static_cast<double>(out.size()) / static_cast<double>(f.enriched.selected.size());
}
BENCHMARK(BM_EncodeRows)->Unit(benchmark::kMicrosecond);

// Memory -> encoded rows on one core with the scalar backend: parse, select all, enrich, encode.
void BM_CpuEndToEnd(benchmark::State& state) {
  const PipelineFixture& f = pipeline_fixture();
  if (!check_fixture(state, f)) return;
  EventParser parser;
  ScalarBackend backend;
  EnrichStage stage(backend, f.geo, f.categories);
  EventBatch batch;
  std::vector<DeadLetter> dead;
  std::string out;
  for (auto _ : state) {
    batch.clear();
    dead.clear();
    out.clear();
    parser.parse(f.raw, batch, dead);
    if (Status s = stage.apply(batch); !s) {
      state.SkipWithError(s.message().c_str());
      break;
    }
    encode_rows(batch, f.geo, f.categories, out);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  set_event_counters(state, f);
  // Bytes are the JSON read.
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(f.raw.payload_bytes()));
}
BENCHMARK(BM_CpuEndToEnd)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace enrichd::bench
