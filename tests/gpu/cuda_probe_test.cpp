// GPU tests (label "gpu"): skip cleanly without a device, run on a machine with one.
#include <gtest/gtest.h>

#include "kernels/backend.h"
#include "kernels/cuda/cuda_probe.h"

namespace enrichd {
namespace {

TEST(CudaProbe, ReportsDevicesOrWhyNone) {
  const cuda::DeviceProbe probe = cuda::probe_devices();
  EXPECT_FALSE(probe.detail.empty());
  if (probe.device_count == 0) {
    // Without a driver or device the probe must say why, not crash (cudaErrorInsufficientDriver etc.).
    EXPECT_NE(probe.detail.find("CUDA"), std::string::npos) << probe.detail;
    GTEST_SKIP() << "no CUDA device: " << probe.detail;
  }
  EXPECT_NE(probe.detail.find("sm_"), std::string::npos) << probe.detail;
}

TEST(CudaProbe, CudaBackendIsAvailableExactlyWhenADeviceWorks) {
  // Without a device make_backend("cuda") is an error that says why, never an abort; with one it works.
  const cuda::DeviceProbe probe = cuda::probe_devices();
  auto backend = make_backend("cuda");
  if (probe.device_count == 0) {
    ASSERT_FALSE(backend);
    EXPECT_NE(backend.status().message().find("cuda"), std::string::npos) << backend.status().message();
    return;
  }
  ASSERT_TRUE(backend) << backend.status().message();
  EXPECT_EQ((*backend)->name(), "cuda");
}

}  // namespace
}  // namespace enrichd
