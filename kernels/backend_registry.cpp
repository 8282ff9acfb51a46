#include <fmt/format.h>

#include "kernels/avx2/avx2_backend.h"
#include "kernels/backend.h"
#include "kernels/routing_backend.h"
#include "kernels/scalar/scalar_backend.h"

#ifdef ENRICHD_HAVE_CUDA
#include "kernels/cuda/cuda_backend.h"
#endif

namespace enrichd {
namespace {

// Available only when a device works: a driver, a device, a context and a kernel that ran (computed
// once per process, and only when asked: make_backend("avx2") never touches the GPU).
BackendInfo cuda_info() {
#ifdef ENRICHD_HAVE_CUDA
  const cuda::Availability a = cuda::backend_availability();
  return {"cuda", a.available, a.detail};
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

BackendInfo scalar_info() {
  return {"scalar", true, "portable reference"};
}

struct Entry {
  std::string_view name;
  BackendInfo (*info)();
};

// Priority order.
constexpr Entry kBackends[] = {{"cuda", cuda_info}, {"avx2", avx2_info}, {"scalar", scalar_info}};

// A plain backend (no routing).
Result<std::unique_ptr<EnrichBackend>> construct(std::string_view name, const BackendSettings& settings) {
#ifdef ENRICHD_HAVE_CUDA
  if (name == "cuda") {
    CudaOptions options;
    options.device = settings.device;
    auto made = CudaBackend::create(options);
    if (!made) return made.status();
    return std::unique_ptr<EnrichBackend>(std::move(made).value());
  }
#else
  (void)settings;
#endif
  if (name == "avx2") return std::unique_ptr<EnrichBackend>(std::make_unique<Avx2Backend>());
  if (name == "scalar") return std::unique_ptr<EnrichBackend>(std::make_unique<ScalarBackend>());
  return Status::errorf("backend '{}' is listed but cannot be constructed", name);
}

// The fastest CPU backend here: what a GPU falls back to.
std::unique_ptr<EnrichBackend> best_cpu() {
  if (avx2_info().available) return std::make_unique<Avx2Backend>();
  return std::make_unique<ScalarBackend>();
}

RoutingOptions routing(RoutingOptions::Mode mode, const BackendSettings& settings) {
  RoutingOptions o;
  o.mode = mode;
  o.warn = settings.warn;
  o.info = settings.info;
  return o;
}

}  // namespace

std::vector<BackendInfo> list_backends() {
  std::vector<BackendInfo> out;
  for (const Entry& e : kBackends) out.push_back(e.info());
  return out;
}

Result<std::unique_ptr<EnrichBackend>> make_backend(std::string_view name, const BackendSettings& settings) {
  if (name == "auto") {
    const BackendInfo gpu = cuda_info();
    std::string why = gpu.detail;
    if (gpu.available || settings.device != 0) {
      auto made = construct("cuda", settings);
      if (made) {
        return std::unique_ptr<EnrichBackend>(std::make_unique<RoutingBackend>(
            std::move(made).value(), best_cpu(), routing(RoutingOptions::Mode::kAuto, settings)));
      }
      why = made.status().message();
    }
    std::unique_ptr<EnrichBackend> cpu = best_cpu();
    if (settings.info)
      settings.info(fmt::format("backend auto: running on {} (no GPU: {})", cpu->name(), why));
    return cpu;
  }
  std::string choices = "auto";
  for (const Entry& e : kBackends) choices += fmt::format(", {}", e.name);
  for (const Entry& e : kBackends) {
    if (e.name != name) continue;
    const BackendInfo info = e.info();
    if (!info.available && !(e.name == "cuda" && settings.device != 0))
      return Status::errorf("backend '{}' is not available here: {}", info.name, info.detail);
    auto made = construct(e.name, settings);
    if (!made || e.name != "cuda") return made;
    return std::unique_ptr<EnrichBackend>(std::make_unique<RoutingBackend>(
        std::move(made).value(), best_cpu(), routing(RoutingOptions::Mode::kGpuAlways, settings)));
  }
  return Status::errorf("unknown backend '{}' (choices: {})", name, choices);
}

Result<std::unique_ptr<EnrichBackend>> make_backend(std::string_view name) {
  return make_backend(name, BackendSettings{});
}

}  // namespace enrichd
