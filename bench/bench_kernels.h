// Registration of the kernel micro-benchmarks for one backend (names end in "/<backend>").
#pragma once

#include <string>
#include <vector>

namespace enrichd::bench {

void register_kernel_benchmarks(const std::string& backend);
// libmaxminddb beside `backends` on the file named by ENRICHD_BENCH_MMDB (nothing when unset).
void register_mmdb_benchmarks(const std::vector<std::string>& backends);

}  // namespace enrichd::bench
