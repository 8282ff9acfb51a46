#include <fmt/format.h>

#include "kernels/avx2/avx2_backend.h"
#include "kernels/backend.h"
#include "kernels/cuda/cuda_probe.h"
#include "kernels/scalar/scalar_backend.h"

namespace enrichd {
namespace {

BackendInfo cuda_info() {
#ifdef ENRICHD_HAVE_CUDA
  const cuda::DeviceProbe probe = cuda::probe_devices();
  // The device probe is real; the CUDA lookup kernels arrive with the GPU issues, so the backend
  // reports itself unavailable rather than pretend.
  return {"cuda", false, fmt::format("{}; CUDA lookup kernels not built yet", probe.detail)};
#else
  return {"cuda", false, "this build has no CUDA (configure with -DENRICHD_CUDA=ON and nvcc present)"};
#endif
}

// The avx2 kernels are compiled with -mavx2 -mbmi2 -mpopcnt; everything else is baseline x86-64.
// __builtin_cpu_supports also checks that the OS saves the YMM registers.
BackendInfo avx2_info() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("popcnt")) {
    return {"avx2", true, "AVX2 + BMI2 + POPCNT (CPUID)"};
  }
  return {"avx2", false, "this CPU lacks AVX2, BMI2 or POPCNT (CPUID)"};
}

}  // namespace

std::vector<BackendInfo> list_backends() {
  return {
      cuda_info(),
      avx2_info(),
      {"scalar", true, "portable reference"},
  };
}

Result<std::unique_ptr<EnrichBackend>> make_backend(std::string_view name) {
  const auto backends = list_backends();
  std::string chosen(name);
  if (name == "auto") {
    for (const auto& b : backends) {
      if (b.available) {
        chosen = b.name;
        break;
      }
    }
  }
  std::string choices = "auto";
  for (const auto& b : backends) {
    choices += ", " + b.name;
    if (b.name != chosen) continue;
    if (!b.available) return Status::errorf("backend '{}' is not available here: {}", b.name, b.detail);
    if (b.name == "avx2") return std::unique_ptr<EnrichBackend>(std::make_unique<Avx2Backend>());
    if (b.name == "scalar") return std::unique_ptr<EnrichBackend>(std::make_unique<ScalarBackend>());
  }
  return Status::errorf("unknown backend '{}' (choices: {})", name, choices);
}

}  // namespace enrichd
