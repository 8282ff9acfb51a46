// Registration of the kernel micro-benchmarks for one backend (names end in "/<backend>").
#pragma once

#include <string>
#include <vector>

namespace enrichd::bench {

void register_kernel_benchmarks(const std::string& backend);
// libmaxminddb beside `backends` on the file named by ENRICHD_BENCH_MMDB (nothing when unset).
void register_mmdb_benchmarks(const std::vector<std::string>& backends);
// The category join at 100 M keys on each of `backends`, only when ENRICHD_BENCH_100M=1 (bench_category.cpp).
void register_category_100m_benchmarks(const std::vector<std::string>& backends);

}  // namespace enrichd::bench
