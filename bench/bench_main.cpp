// enrichd_micro_bench: Google Benchmark's usual flags (--benchmark_filter, --benchmark_min_time, ...).
// Host-stage benchmarks register themselves; kernel benchmarks are registered here once per backend that
// is available on this machine, so a new backend is measured as soon as the registry offers it.
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench/bench_kernels.h"
#include "kernels/backend.h"

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::vector<std::string> available;
  for (const enrichd::BackendInfo& b : enrichd::list_backends()) {
    benchmark::AddCustomContext("backend " + b.name,
                                (b.available ? "available: " : "unavailable: ") + b.detail);
    if (!b.available) continue;
    enrichd::bench::register_kernel_benchmarks(b.name);
    available.push_back(b.name);
  }
  enrichd::bench::register_mmdb_benchmarks(available);
  enrichd::bench::register_category_100m_benchmarks(available);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
