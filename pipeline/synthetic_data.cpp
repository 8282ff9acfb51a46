#include "pipeline/synthetic_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <set>
#include <string_view>
#include <vector>

#include "host/ip_address.h"

namespace enrichd {
namespace {

constexpr std::array<std::string_view, 5> kActions = {"view", "click", "save", "closeup", "hide"};
constexpr std::array<std::string_view, 3> kApps = {"ios", "android", "web"};
constexpr std::array<std::string_view, 3> kAgents = {
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
};
constexpr std::array<std::string_view, 12> kCategoryNames = {
    "art",        "beauty",      "diy_crafts", "fashion", "food_drink", "gardening",
    "home_decor", "photography", "quotes",     "sports",  "technology", "travel"};

constexpr uint32_t kV4First = 0x01000000;               // 1.0.0.0
constexpr uint32_t kV4Last = 0xDFFFFFFF;                // 223.255.255.255
constexpr uint64_t kV6FirstHi = 0x2000000000000000ULL;  // 2000::/3
constexpr uint64_t kV6LastHi = 0x3FFFFFFFFFFFFFFFULL;

// `count` consecutive blocks [first, last] splitting [lo, hi] at distinct random cut points.
template <typename T>
std::vector<std::pair<T, T>> split_space(std::mt19937_64& rng, T lo, T hi, uint64_t count) {
  std::uniform_int_distribution<T> pick(lo + 1, hi);
  std::set<T> cuts;
  while (cuts.size() + 1 < count) cuts.insert(pick(rng));
  std::vector<std::pair<T, T>> blocks;
  T start = lo;
  for (T cut : cuts) {
    blocks.emplace_back(start, cut - 1);
    start = cut;
  }
  blocks.emplace_back(start, hi);
  return blocks;
}

void write_place_row(std::ostream& out, const std::string& first, const std::string& last,
                     const SyntheticPlace& p) {
  out << fmt::format("{},{},{},{},\"{}\",{},{},{}\n", first, last, p.country, p.region, p.city, p.lat, p.lon,
                     p.timezone);
}

}  // namespace

EventGenerator::EventGenerator(EventGenOptions options) : o_(options), rng_(options.seed) {}

std::string EventGenerator::next() {
  const uint64_t i = n_++;
  std::uniform_int_distribution<uint64_t> user(1, o_.users);
  std::uniform_int_distribution<uint64_t> pin(1, std::max<uint64_t>(1, o_.pins * 5 / 4));
  std::uniform_real_distribution<double> unit(0, 1);
  std::string ip;
  if (unit(rng_) < o_.ipv6_ratio) {
    std::uniform_int_distribution<uint64_t> hi(kV6FirstHi, kV6LastHi);
    ip = format_ipv6({hi(rng_), rng_()});
  } else {
    std::uniform_int_distribution<uint32_t> v4(kV4First, kV4Last);
    ip = format_ipv4(v4(rng_));
  }
  // Draw in a fixed order (argument evaluation order is unspecified) so the output is reproducible.
  const uint64_t user_id = user(rng_);
  const uint64_t pin_id = pin(rng_);
  const auto action = kActions[rng_() % kActions.size()];
  const auto app = kApps[rng_() % kApps.size()];
  const auto agent = kAgents[rng_() % kAgents.size()];
  std::string good = fmt::format(
      R"({{"event_id":{},"ts":{},"user_id":{},"pin_id":{},"action":"{}","ip":"{}","app":"{}","ua":"{}"}})",
      o_.first_event_id + i, o_.first_ts_ms + static_cast<int64_t>(i) * 7, user_id, pin_id, action, ip, app,
      agent);
  if (o_.bad_ratio > 0 && unit(rng_) < o_.bad_ratio) return broken(bad_++, good);
  return good;
}

std::string EventGenerator::broken(uint64_t kind, const std::string& good) {
  switch (kind % 5) {
    case 0:
      return good.substr(0, good.size() / 2);  // truncated JSON
    case 1: {
      std::string s = good;
      const size_t at = s.find("\"ip\":\"") + 6;
      return s.replace(at, s.find('"', at) - at, "999.1.2.3");  // bad IP
    }
    case 2:
      return R"(["not","an","object"])";
    case 3: {
      std::string s = good;
      const size_t at = s.find("\"user_id\":") + 10;
      return s.replace(at, s.find(',', at) - at, "\"abc\"");  // wrong type
    }
    default: {
      std::string s = good;
      const size_t at = s.find("\"pin_id\":");
      return s.erase(at, s.find(',', at) - at + 1);  // missing field
    }
  }
}

void write_geo_csv(std::ostream& out, const GeoGenOptions& o) {
  std::mt19937_64 rng(o.seed);
  out << "start,end,country_code,region,city,latitude,longitude,timezone\n";
  for (const auto& [first, last] :
       split_space<uint32_t>(rng, kV4First, kV4Last, std::max<uint64_t>(1, o.v4_ranges))) {
    if (rng() % 10 == 0) continue;  // a gap: no record
    write_place_row(out, format_ipv4(first), format_ipv4(last),
                    kSyntheticPlaces[rng() % kSyntheticPlaces.size()]);
  }
  for (const auto& [first, last] :
       split_space<uint64_t>(rng, kV6FirstHi, kV6LastHi, std::max<uint64_t>(1, o.v6_ranges))) {
    if (rng() % 10 == 0) continue;
    write_place_row(out, format_ipv6({first, 0}), format_ipv6({last, UINT64_MAX}),
                    kSyntheticPlaces[rng() % kSyntheticPlaces.size()]);
  }
}

void write_pin_categories_csv(std::ostream& out, const CategoryGenOptions& o) {
  out << "pin_id,category_id\n";
  const uint32_t c = std::max<uint32_t>(1, o.categories);
  for (uint64_t p = 1; p <= o.pins; ++p) out << p << ',' << 1 + (p * 2654435761ULL) % c << '\n';
}

void write_category_names_csv(std::ostream& out, const CategoryGenOptions& o) {
  out << "category_id,name\n";
  for (uint32_t id = 1; id <= std::max<uint32_t>(1, o.categories); ++id) {
    const auto base = kCategoryNames[(id - 1) % kCategoryNames.size()];
    const uint32_t round = (id - 1) / static_cast<uint32_t>(kCategoryNames.size());
    out << id << ',' << base;
    if (round > 0) out << '_' << round + 1;
    out << '\n';
  }
}

}  // namespace enrichd
