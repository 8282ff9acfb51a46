#include <fmt/format.h>

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

}  // namespace

std::vector<BackendInfo> list_backends() {
  return {
      cuda_info(),
      {"avx2", false, "not built yet"},
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
    if (b.name == "scalar") return std::unique_ptr<EnrichBackend>(std::make_unique<ScalarBackend>());
  }
  return Status::errorf("unknown backend '{}' (choices: {})", name, choices);
}

}  // namespace enrichd
