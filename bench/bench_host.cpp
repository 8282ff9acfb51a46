// Host-stage micro-benchmarks on one batch of kBatchSize synthetic ~190-byte engagement events: parsing
// JSON into columns, filtering, encoding enriched rows as LOAD DATA text, and parse, enrich and encode end
// to end; and IP text parsing on its own, parse_ip next to the inet_pton version it replaced.
#include <arpa/inet.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "bench/bench_data.h"
#include "host/event_parser.h"
#include "host/row_encoder.h"
#include "kernels/scalar/scalar_backend.h"
#include "pipeline/enrich_stage.h"
#include "pipeline/event_filter.h"

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
  // The same events parsed with enum dictionaries on action and app (codes beside the strings).
  EventBatch coded;
};

// The dictionaries of the synthetic events' actions and apps (bench_data.cpp make_events).
EventSchema coded_schema() {
  EventSchema schema = default_event_schema();
  schema[SchemaColumn::kAction].values = {"click", "save", "closeup", "impression", "hide"};
  schema[SchemaColumn::kApp].values = {"ios", "android", "web"};
  return schema;
}

const PipelineFixture& pipeline_fixture() {
  static const std::unique_ptr<PipelineFixture> fixture = [] {
    auto f = std::make_unique<PipelineFixture>();
    const CategoryKeys pins{.seed = 31};
    f->raw = make_events({.pins = pins, .pin_universe = kPins, .seed = 32});
    f->geo = make_geo_table({.v4_ranges = 100000, .v6_ranges = 10000, .records = 2000, .seed = 33});
    f->categories = make_category_table(pins, kPins, 500, true);
    EventParser parser;
    parser.parse(f->raw, f->enriched, f->dead_letters);
    EventParser coded_parser(ParserOptions{.schema = coded_schema()});
    coded_parser.parse(f->raw, f->coded, f->dead_letters);
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

void set_event_counters(benchmark::State& state, const RawBatch& raw) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(raw.size()));
  state.counters["avg_event_B"] = static_cast<double>(raw.payload_bytes()) / static_cast<double>(raw.size());
}
void set_event_counters(benchmark::State& state, const PipelineFixture& f) {
  set_event_counters(state, f.raw);
}

// Parses `raw` with the default schema, once per iteration; bytes are the payloads'. Every message must
// become an event.
void parse_loop(benchmark::State& state, const RawBatch& raw) {
  EventParser parser;
  EventBatch batch;
  std::vector<DeadLetter> dead;
  for (auto _ : state) {
    batch.clear();
    dead.clear();
    parser.parse(raw, batch, dead);
    benchmark::DoNotOptimize(batch.event_id.data());
    benchmark::ClobberMemory();
  }
  if (batch.size() != raw.size()) {
    const std::string msg = fmt::format("{} of {} events became dead letters, first: {}", dead.size(),
                                        raw.size(), dead.empty() ? "" : to_string(dead[0].reason));
    state.SkipWithError(msg.c_str());
  }
  set_event_counters(state, raw);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(raw.payload_bytes()));
}

void BM_Parse(benchmark::State& state) {
  const PipelineFixture& f = pipeline_fixture();
  if (!check_fixture(state, f)) return;
  parse_loop(state, f.raw);
}
BENCHMARK(BM_Parse)->Unit(benchmark::kMicrosecond);

// The same events grown to about 1 KB by fields the schema does not read (a nested context object with
// an array, a long referrer and a free-text note), as richer event streams carry: the parser must skip
// them, which costs stage 1 and the iterator's skipping, not value parsing.
const RawBatch& large_events() {
  static const RawBatch raw = [] {
    const RawBatch& small = pipeline_fixture().raw;
    RawBatch out;
    std::string json;
    for (size_t i = 0; i < small.size(); ++i) {
      const std::string_view event = small.payload(i);
      json.assign(event.substr(0, event.size() - 1));  // without the closing brace
      json += fmt::format(
          R"(,"context":{{"page":"/pin/{}/","referrer":"https://www.example.com/search/pins/?q=mid%20century)"
          R"(%20modern%20living%20room&rs=typed&term_meta[]=living%7Ctyped","experiments":["hf_feed_v{}",)"
          R"("closeup_rank_b","ads_pacing_ctrl","search_autocomplete_v2"],"screen":{{"w":1170,"h":2532,)"
          R"("dpr":3.0}},"session_ms":{}}},"note":")",
          i, i % 7, 1000 + i % 50000);
      while (json.size() < 1020) json += "lorem ipsum dolor sit amet ";
      json.resize(1020);
      json += "\"}";
      out.add(json, small.position(i));
    }
    return out;
  }();
  return raw;
}

void BM_Parse1K(benchmark::State& state) {
  parse_loop(state, large_events());
}
BENCHMARK(BM_Parse1K)->Unit(benchmark::kMicrosecond);

// The parse_ip that parse_ip replaced, kept here as the baseline only: inet_pton wants a NUL-terminated
// copy, and text with a ':' goes to AF_INET6.
std::optional<IpAddress> inet_pton_parse_ip(std::string_view text) {
  constexpr size_t kMaxText = 45;
  if (text.empty() || text.size() > kMaxText) return std::nullopt;
  if (std::memchr(text.data(), '\0', text.size()) != nullptr) return std::nullopt;
  std::array<char, kMaxText + 1> buf{};
  std::memcpy(buf.data(), text.data(), text.size());
  IpAddress ip;
  if (text.find(':') == std::string_view::npos) {
    in_addr a{};
    if (inet_pton(AF_INET, buf.data(), &a) != 1) return std::nullopt;
    ip.v4 = ntohl(a.s_addr);
    return ip;
  }
  in6_addr a{};
  if (inet_pton(AF_INET6, buf.data(), &a) != 1) return std::nullopt;
  uint64_t hi = 0, lo = 0;
  for (size_t i = 0; i < 8; ++i) {
    hi = (hi << 8) | a.s6_addr[i];
    lo = (lo << 8) | a.s6_addr[8 + i];
  }
  if (hi == 0 && (lo >> 32) == 0xffff) {
    ip.v4 = static_cast<uint32_t>(lo);
    return ip;
  }
  ip.is_v6 = true;
  ip.v6 = {hi, lo};
  return ip;
}

constexpr size_t kIpTexts = 4096;  // few enough to stay in cache: the parse is measured, not the memory

// IPv4 as the event stream has it: uniform over the address space, so mostly 2- and 3-digit octets.
const std::vector<std::string>& ipv4_texts() {
  static const std::vector<std::string> texts = [] {
    std::vector<std::string> t;
    for (uint32_t v : random_v4_addrs(kIpTexts, 41)) t.push_back(format_ipv4(v));
    return t;
  }();
  return texts;
}

// IPv6 in 2000::/3 as RFC 5952 text: three in four with 8 full groups, one in four a /64 ("2a03:...::").
const std::vector<std::string>& ipv6_texts() {
  static const std::vector<std::string> texts = [] {
    std::vector<std::string> t;
    size_t i = 0;
    for (Ipv6 v : random_v6_addrs(kIpTexts, 42)) {
      if (i++ % 4 == 0) v.lo = 0;
      t.push_back(format_ipv6(v));
    }
    return t;
  }();
  return texts;
}

template <auto Parse>
void parse_ip_texts(benchmark::State& state, const std::vector<std::string>& texts) {
  for (const std::string& t : texts) {
    if (!Parse(t)) state.SkipWithError(("rejected " + t).c_str());
  }
  for (auto _ : state) {
    for (const std::string& t : texts) {
      auto ip = Parse(t);
      benchmark::DoNotOptimize(ip);
    }
  }
  size_t text_bytes = 0;
  for (const std::string& t : texts) text_bytes += t.size();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(texts.size()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(text_bytes));
}

void BM_ParseIpV4(benchmark::State& state) {
  parse_ip_texts<parse_ip>(state, ipv4_texts());
}
void BM_ParseIpV4_InetPton(benchmark::State& state) {
  parse_ip_texts<inet_pton_parse_ip>(state, ipv4_texts());
}
void BM_ParseIpV6(benchmark::State& state) {
  parse_ip_texts<parse_ip>(state, ipv6_texts());
}
void BM_ParseIpV6_InetPton(benchmark::State& state) {
  parse_ip_texts<inet_pton_parse_ip>(state, ipv6_texts());
}
// parse_ip_padded, what the event parser calls: the texts laid in one buffer, each followed by 16 bytes.
std::optional<IpAddress> parse_ip_in_place(std::string_view text) {
  IpAddress ip;
  if (!parse_ip_padded(text, ip)) return std::nullopt;
  return ip;
}
void parse_padded_ip_texts(benchmark::State& state, const std::vector<std::string>& texts) {
  std::string arena;
  for (const std::string& t : texts) arena += t + std::string(16, '\0');
  std::vector<std::string_view> views;
  size_t at = 0;
  for (const std::string& t : texts) {
    views.emplace_back(arena.data() + at, t.size());
    at += t.size() + 16;
  }
  for (std::string_view t : views) {
    if (!parse_ip_in_place(t)) state.SkipWithError("rejected a text");
  }
  for (auto _ : state) {
    for (std::string_view t : views) {
      IpAddress ip;
      benchmark::DoNotOptimize(parse_ip_padded(t, ip));
      benchmark::DoNotOptimize(ip);
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(texts.size()));
}
void BM_ParseIpV4_Padded(benchmark::State& state) {
  parse_padded_ip_texts(state, ipv4_texts());
}
void BM_ParseIpV6_Padded(benchmark::State& state) {
  parse_padded_ip_texts(state, ipv6_texts());
}
BENCHMARK(BM_ParseIpV4);
BENCHMARK(BM_ParseIpV4_Padded);
BENCHMARK(BM_ParseIpV4_InetPton);
BENCHMARK(BM_ParseIpV6_Padded);
BENCHMARK(BM_ParseIpV6);
BENCHMARK(BM_ParseIpV6_InetPton);

// The filter stage on the parsed batch: arg 0 drops one action ("hide", about 1 in 5 events: the default
// of `enrichd bench`), arg 1 keeps three of the five. Items are events in; bytes the batch's JSON, so
// that bytes/s compare with BM_Parse. Restoring the selection between iterations is not timed.
// Arg 0: the rule (0: exclude one action of five, 1: include three); arg 1: 0 compares strings (no
// dictionary), 1 looks up enum codes (dictionaries on action and app).
void BM_Filter(benchmark::State& state) {
  const PipelineFixture& f = pipeline_fixture();
  if (!check_fixture(state, f)) return;
  FilterConfig config;
  if (state.range(0) == 0) {
    config.exclude_actions = {"hide"};
  } else {
    config.include_actions = {"click", "save", "closeup"};
  }
  const bool by_code = state.range(1) != 0;
  auto filter = EventFilter::create(config, by_code ? coded_schema() : default_event_schema());
  if (!filter) {
    state.SkipWithError(filter.status().message().c_str());
    return;
  }
  state.SetLabel(filter->describe());
  EventBatch batch = by_code ? f.coded : f.enriched;
  size_t removed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    batch.select_all();
    state.ResumeTiming();
    removed = filter->apply(batch);
    benchmark::DoNotOptimize(batch.selected.data());
    benchmark::ClobberMemory();
  }
  if (removed == 0 || removed == f.raw.size()) state.SkipWithError("the filter kept all or nothing");
  set_event_counters(state, f);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(f.raw.payload_bytes()));
  state.counters["kept"] = 1.0 - static_cast<double>(removed) / static_cast<double>(f.raw.size());
}
BENCHMARK(BM_Filter)
    ->ArgsProduct({{0, 1}, {0, 1}})
    ->ArgNames({"rule", "code"})
    ->Unit(benchmark::kMicrosecond);

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
