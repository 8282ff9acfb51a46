#include "host/timestamp.h"

#include <cmath>
#include <limits>

namespace enrichd {
namespace {

// Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool leap_year(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap_year(y) ? 29 : kDays[m - 1];
}

// Reads exactly `n` digits at `pos`.
bool digits(std::string_view s, size_t& pos, size_t n, unsigned& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    out = out * 10 + static_cast<unsigned>(c - '0');
  }
  pos += n;
  return true;
}

bool expect(std::string_view s, size_t& pos, char c) {
  if (pos >= s.size() || s[pos] != c) return false;
  ++pos;
  return true;
}

}  // namespace

std::optional<EpochUnit> parse_epoch_unit(std::string_view name) {
  if (name == "s") return EpochUnit::kSeconds;
  if (name == "ms") return EpochUnit::kMilliseconds;
  if (name == "us") return EpochUnit::kMicroseconds;
  if (name == "ns") return EpochUnit::kNanoseconds;
  return std::nullopt;
}

std::string_view to_string(EpochUnit unit) {
  switch (unit) {
    case EpochUnit::kSeconds:
      return "s";
    case EpochUnit::kMilliseconds:
      return "ms";
    case EpochUnit::kMicroseconds:
      return "us";
    case EpochUnit::kNanoseconds:
      return "ns";
  }
  return "?";
}

std::optional<int64_t> epoch_to_ms(int64_t value, EpochUnit unit) {
  switch (unit) {
    case EpochUnit::kSeconds:
      if (value > std::numeric_limits<int64_t>::max() / 1000 ||
          value < std::numeric_limits<int64_t>::min() / 1000) {
        return std::nullopt;
      }
      return value * 1000;
    case EpochUnit::kMilliseconds:
      return value;
    case EpochUnit::kMicroseconds:
    case EpochUnit::kNanoseconds: {
      const int64_t per_ms = unit == EpochUnit::kMicroseconds ? 1000 : 1000000;
      int64_t q = value / per_ms;
      if (value % per_ms < 0) --q;  // toward negative infinity, like the other units' truncation
      return q;
    }
  }
  return std::nullopt;
}

std::optional<int64_t> epoch_to_ms(double value, EpochUnit unit) {
  static constexpr double kScale[] = {1000.0, 1.0, 1e-3, 1e-6};
  const double ms = std::floor(value * kScale[static_cast<int>(unit)]);
  // 2^63 is exactly representable; anything at or beyond it (or NaN) does not fit.
  if (!(ms > -9223372036854775808.0 && ms < 9223372036854775808.0)) return std::nullopt;
  return static_cast<int64_t>(ms);
}

std::optional<int64_t> parse_datetime_ms(std::string_view s) {
  size_t pos = 0;
  unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!digits(s, pos, 4, year) || !expect(s, pos, '-') || !digits(s, pos, 2, month) || !expect(s, pos, '-') ||
      !digits(s, pos, 2, day)) {
    return std::nullopt;
  }
  if (pos >= s.size() || (s[pos] != 'T' && s[pos] != 't' && s[pos] != ' ')) return std::nullopt;
  ++pos;
  if (!digits(s, pos, 2, hour) || !expect(s, pos, ':') || !digits(s, pos, 2, minute) ||
      !expect(s, pos, ':') || !digits(s, pos, 2, second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 ||
      second > 60) {
    return std::nullopt;
  }
  int64_t millis = 0;
  if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
    ++pos;
    size_t n = 0;
    int64_t scale = 100;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 3) millis += (s[pos] - '0') * scale;
      scale /= 10;
      ++n;
      ++pos;
    }
    if (n == 0 || n > 9) return std::nullopt;
  }
  int64_t offset_minutes = 0;
  if (pos < s.size()) {
    const char c = s[pos++];
    if (c == 'Z' || c == 'z') {
      // UTC
    } else if (c == '+' || c == '-') {
      unsigned oh = 0, om = 0;
      if (!digits(s, pos, 2, oh)) return std::nullopt;
      if (pos < s.size() && s[pos] == ':') ++pos;
      if (!digits(s, pos, 2, om) || oh > 23 || om > 59) return std::nullopt;
      offset_minutes = (c == '+' ? 1 : -1) * static_cast<int64_t>(oh * 60 + om);
    } else {
      return std::nullopt;
    }
  }
  if (pos != s.size()) return std::nullopt;
  const int64_t days = days_from_civil(year, month, day);
  const int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return seconds * 1000 + millis;
}

}  // namespace enrichd
