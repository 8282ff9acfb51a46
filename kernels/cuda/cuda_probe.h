// Device discovery, callable from plain C++ whether or not the build has CUDA.
#pragma once

#include <string>

namespace enrichd::cuda {

struct DeviceProbe {
  int device_count = 0;
  std::string detail;  // the first device's name, or why there is none
};

// Never throws or aborts: no driver, an old driver or no device all read as zero devices with a reason.
DeviceProbe probe_devices();

}  // namespace enrichd::cuda
