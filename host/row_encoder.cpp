#include "host/row_encoder.h"

#include <fmt/format.h>

namespace enrichd {
namespace {

// Days since 1970-01-01 to a civil date (proleptic Gregorian), after H. Hinnant's public-domain algorithm.
void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
}

void append_tab(std::string& out) {
  out.push_back('\t');
}
void append_null(std::string& out) {
  out.append("\\N");
}

template <typename T>
void append_number(std::string& out, T v) {
  fmt::format_to(std::back_inserter(out), "{}", v);
}

}  // namespace

void append_escaped(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '\\':
        out.append("\\\\");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\0':
        out.append("\\0");
        break;
      default:
        out.push_back(c);
    }
  }
}

void append_datetime_ms(std::string& out, int64_t epoch_ms) {
  const int64_t days = epoch_ms / 86400000;
  const int64_t ms_of_day = epoch_ms % 86400000;
  int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  const int64_t s = ms_of_day / 1000;
  fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}", y, m, d, s / 3600,
                 s / 60 % 60, s % 60, ms_of_day % 1000);
}

void encode_rows(const EventBatch& b, const GeoTable& geo, const CategoryTable& categories,
                 std::string& out) {
  for (uint32_t i : b.selected) encode_row(b, i, geo, categories, out);
}

void encode_row(const EventBatch& b, uint32_t i, const GeoTable& geo, const CategoryTable& categories,
                std::string& out) {
  {
    append_number(out, b.event_id[i]);
    append_tab(out);
    append_datetime_ms(out, b.ts_ms[i]);
    append_tab(out);
    append_number(out, b.user_id[i]);
    append_tab(out);
    append_number(out, b.pin_id[i]);
    append_tab(out);
    append_escaped(out, b.action[i]);
    append_tab(out);
    out.append(format_ip(b.ip[i]));
    append_tab(out);
    append_escaped(out, b.app[i]);
    append_tab(out);
    append_escaped(out, b.ua[i]);
    append_tab(out);

    if (b.geo_record[i] == kNoRecord) {
      for (int k = 0; k < 7; ++k) {
        append_null(out);
        append_tab(out);
      }
    } else {
      const GeoRecordView g = geo.record(b.geo_record[i]);
      append_escaped(out, g.country_code);
      append_tab(out);
      append_escaped(out, g.region);
      append_tab(out);
      append_escaped(out, g.city);
      append_tab(out);
      append_escaped(out, g.postal_code);
      append_tab(out);
      if (g.has_location) {
        append_number(out, g.latitude);
        append_tab(out);
        append_number(out, g.longitude);
      } else {
        append_null(out);
        append_tab(out);
        append_null(out);
      }
      append_tab(out);
      append_escaped(out, g.timezone);
      append_tab(out);
    }

    if (b.category_id[i] == kNoRecord) {
      append_null(out);
      append_tab(out);
      append_null(out);
    } else {
      append_number(out, b.category_id[i]);
      append_tab(out);
      append_escaped(out, categories.name(b.category_id[i]));
    }
    out.push_back('\n');
  }
}

void encode_dead_letter(const DeadLetter& d, std::string_view topic, std::string& out) {
  append_escaped(out, topic);
  append_tab(out);
  append_number(out, d.position.partition);
  append_tab(out);
  append_number(out, d.position.offset);
  append_tab(out);
  out.append(to_string(d.reason));
  append_tab(out);
  if (d.field.empty()) {
    append_null(out);
  } else {
    append_escaped(out, d.field);
  }
  append_tab(out);
  append_escaped(out, d.payload);
  out.push_back('\n');
}

}  // namespace enrichd
