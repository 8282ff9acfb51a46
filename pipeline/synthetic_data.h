// Deterministic synthetic data for demos, tests and benchmarks: engagement events as JSON lines, a geo
// range table and a category table as CSV. The same seed always gives the same bytes.
#pragma once

#include <array>
#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <string_view>

namespace enrichd {

struct SyntheticPlace {
  std::string_view country, region, city;
  double lat, lon;
  std::string_view timezone;
};

// A handful of well-known places (public facts, no licensed data) that synthetic geo records point at.
inline constexpr std::array<SyntheticPlace, 16> kSyntheticPlaces = {{
    {"US", "CA", "San Francisco", 37.7749, -122.4194, "America/Los_Angeles"},
    {"US", "NY", "New York", 40.7128, -74.006, "America/New_York"},
    {"US", "TX", "Austin", 30.2672, -97.7431, "America/Chicago"},
    {"CA", "ON", "Toronto", 43.6532, -79.3832, "America/Toronto"},
    {"BR", "SP", "São Paulo", -23.5505, -46.6333, "America/Sao_Paulo"},
    {"MX", "CMX", "Mexico City", 19.4326, -99.1332, "America/Mexico_City"},
    {"GB", "ENG", "London", 51.5074, -0.1278, "Europe/London"},
    {"DE", "BE", "Berlin", 52.52, 13.405, "Europe/Berlin"},
    {"FR", "IDF", "Paris", 48.8566, 2.3522, "Europe/Paris"},
    {"ES", "MD", "Madrid", 40.4168, -3.7038, "Europe/Madrid"},
    {"IN", "MH", "Mumbai", 19.076, 72.8777, "Asia/Kolkata"},
    {"JP", "13", "Tokyo", 35.6762, 139.6503, "Asia/Tokyo"},
    {"KR", "11", "Seoul", 37.5665, 126.978, "Asia/Seoul"},
    {"AU", "NSW", "Sydney", -33.8688, 151.2093, "Australia/Sydney"},
    {"ZA", "GP", "Johannesburg", -26.2041, 28.0473, "Africa/Johannesburg"},
    {"NG", "LA", "Lagos", 6.5244, 3.3792, "Africa/Lagos"},
}};

struct EventGenOptions {
  uint64_t seed = 1;
  uint64_t first_event_id = 1;
  int64_t first_ts_ms = 1'700'000'000'000;
  uint64_t users = 1'000'000;
  uint64_t pins = 100'000;   // pin ids are drawn from 1..pins*5/4, so about 1 in 5 misses the table
  double ipv6_ratio = 0.15;  // share of events with an IPv6 address
  double bad_ratio = 0.0;    // share of deliberately broken messages (each kind in turn)
};

class EventGenerator {
 public:
  explicit EventGenerator(EventGenOptions options);
  // The next message (one JSON object, no newline). Broken messages are counted in bad_count().
  std::string next();
  uint64_t bad_count() const { return bad_; }

 private:
  std::string broken(uint64_t kind, const std::string& good);
  EventGenOptions o_;
  std::mt19937_64 rng_;
  uint64_t n_ = 0;
  uint64_t bad_ = 0;
};

struct GeoGenOptions {
  uint64_t seed = 1;
  uint64_t v4_ranges = 10'000;
  uint64_t v6_ranges = 2'000;
};
// start,end,country_code,region,city,latitude,longitude,timezone with a header line. Ranges cover
// 1.0.0.0-223.255.255.255 and 2000::/3 at /64-aligned boundaries, with about 1 range in 10 left as a gap.
void write_geo_csv(std::ostream& out, const GeoGenOptions& options);

struct CategoryGenOptions {
  uint64_t pins = 100'000;  // pin ids 1..pins
  uint32_t categories = 32;
};
// "pin_id,category_id" with a header; category of pin p is 1 + (p * 2654435761) % categories.
void write_pin_categories_csv(std::ostream& out, const CategoryGenOptions& options);
// "category_id,name" with a header.
void write_category_names_csv(std::ostream& out, const CategoryGenOptions& options);

}  // namespace enrichd
