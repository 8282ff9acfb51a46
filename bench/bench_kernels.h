// Registration of the kernel micro-benchmarks for one backend (names end in "/<backend>").
#pragma once

#include <string>

namespace enrichd::bench {

void register_kernel_benchmarks(const std::string& backend);

}  // namespace enrichd::bench
