// Small helpers shared by the unit tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "host/geo_table.h"

namespace enrichd::testing_util {

// Removes the files written below when the test process exits.
struct TempFiles {
  std::vector<std::string> paths;
  ~TempFiles() {
    for (const auto& p : paths) std::remove(p.c_str());
  }
};

inline TempFiles& temp_files() {
  static TempFiles files;
  return files;
}

// Writes `contents` to a file under ::testing::TempDir() whose name is unique to the running test and
// process (ctest runs tests in parallel), and returns its path.
inline std::string write_temp_file(std::string_view name, std::string_view contents) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string file = "enrichd_" + std::to_string(::getpid()) + "_";
  if (info != nullptr) file += std::string(info->test_suite_name()) + "." + info->name() + "_";
  file += name;
  std::replace(file.begin(), file.end(), '/', '_');  // parameterised test names contain '/'
  std::string path = ::testing::TempDir();
  if (!path.empty() && path.back() != '/') path.push_back('/');
  path += file;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
  out.close();
  EXPECT_TRUE(out.good()) << "cannot write " << path;
  temp_files().paths.push_back(path);
  return path;
}

// The IPv6 starts of a view as 128-bit addresses, whichever of its two forms the table chose.
inline std::vector<Ipv6> v6_starts_of(const GeoTableView& v) {
  if (v.v6_starts64.empty()) return {v.v6_starts.begin(), v.v6_starts.end()};
  std::vector<Ipv6> out;
  for (uint64_t hi : v.v6_starts64) out.push_back({hi, 0});
  return out;
}

}  // namespace enrichd::testing_util
