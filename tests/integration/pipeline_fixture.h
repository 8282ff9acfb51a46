// Reference data written by the tests themselves, with the expected enrichment computed here by brute
// force — independently of enrichd's tables and lookups.
#pragma once

#include <arpa/inet.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace enrichd::testing_support {

struct ExpectedGeo {
  std::string country_code, city;
};

struct TestRange {
  const char* first;
  const char* last;
  const char* country;
  const char* city;      // as stored (the CSV quotes it where needed)
  const char* csv_city;  // as written in the CSV
};

inline constexpr std::array<TestRange, 6> kTestRanges = {{
    {"1.0.0.0", "1.0.0.255", "AU", "Brisbane", "Brisbane"},
    {"8.8.8.0", "8.8.8.255", "US", "Mountain View", "Mountain View"},
    {"81.2.69.0", "81.2.69.255", "GB", "London", "London"},
    {"100.0.0.0", "100.255.255.255", "BR", "São Paulo", "\"São Paulo\""},
    {"2001:db8::", "2001:db8:0:ffff:ffff:ffff:ffff:ffff", "DE", "Berlin", "Berlin"},
    {"2a00:1450::", "2a00:1450:ffff:ffff:ffff:ffff:ffff:ffff", "FR", "Paris, \"centre\"",
     "\"Paris, \"\"centre\"\"\""},
}};

inline std::string test_geo_csv() {
  std::string csv = "start,end,country_code,region,city,latitude,longitude,timezone\n";
  for (const auto& r : kTestRanges) {
    csv +=
        std::string(r.first) + "," + r.last + "," + r.country + ",R," + r.csv_city + ",1.5,-2.25,Etc/UTC\n";
  }
  return csv;
}

// 16-byte big-endian form of any address text (IPv4 as ::ffff:a.b.c.d), via inet_pton.
inline std::array<unsigned char, 16> ip_bytes(const std::string& text) {
  std::array<unsigned char, 16> b{};
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    b[10] = b[11] = 0xff;
    std::memcpy(b.data() + 12, &v4, 4);
  } else {
    inet_pton(AF_INET6, text.c_str(), b.data());
  }
  return b;
}

inline std::optional<ExpectedGeo> expected_geo(const std::string& ip) {
  const auto b = ip_bytes(ip);
  for (const auto& r : kTestRanges) {
    if (std::memcmp(ip_bytes(r.first).data(), b.data(), 16) <= 0 &&
        std::memcmp(b.data(), ip_bytes(r.last).data(), 16) <= 0) {
      return ExpectedGeo{r.country, r.city};
    }
  }
  return std::nullopt;
}

// Pins 1..kTestPins and UINT64_MAX are in the category table; events also use ids beyond (misses).
inline constexpr uint64_t kTestPins = 500;
inline uint32_t expected_category(uint64_t pin) {
  return pin == UINT64_MAX ? 3 : static_cast<uint32_t>(pin % 7 + 1);
}
inline std::string test_pins_csv() {
  std::string csv = "pin_id,category_id\n";
  for (uint64_t p = 1; p <= kTestPins; ++p)
    csv += std::to_string(p) + "," + std::to_string(expected_category(p)) + "\n";
  return csv + std::to_string(UINT64_MAX) + ",3\n";
}
inline std::string test_category_names_csv() {
  std::string csv = "category_id,name\n";
  for (int c = 1; c <= 7; ++c) csv += std::to_string(c) + ",cat-" + std::to_string(c) + "\n";
  return csv;
}

// Addresses in ranges, on their edges, in gaps, IPv6 and IPv4-mapped IPv6.
inline std::string pick_ip(std::mt19937_64& rng) {
  static const std::vector<std::string> kPool = {"1.0.0.0",         "1.0.0.255",
                                                 "1.0.1.0",         "0.255.255.255",
                                                 "8.8.8.8",         "8.8.7.255",
                                                 "81.2.69.142",     "100.1.2.3",
                                                 "100.255.255.255", "101.0.0.0",
                                                 "9.9.9.9",         "255.255.255.255",
                                                 "2001:db8::1",     "2001:db8:0:ffff:ffff:ffff:ffff:ffff",
                                                 "2001:db8:1::",    "2a00:1450:4001::200e",
                                                 "2a00:1451::1",    "::ffff:8.8.8.8",
                                                 "::ffff:9.9.9.9",  "::",
                                                 "fe80::1"};
  return kPool[rng() % kPool.size()];
}

// Canonical text as enrichd stores it (IPv4-mapped IPv6 stored as IPv4).
inline std::string stored_ip(const std::string& ip) {
  if (ip.rfind("::ffff:", 0) == 0 && ip.find('.') != std::string::npos) return ip.substr(7);
  return ip;
}

}  // namespace enrichd::testing_support
