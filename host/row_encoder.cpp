#include "host/row_encoder.h"

#include <fmt/format.h>

#include <array>
#include <bit>
#include <type_traits>

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

// Integers through fmt's format_int (no format string to parse); doubles as the shortest text that
// reads back as the same value.
template <typename T>
void append_number(std::string& out, T v) {
  if constexpr (std::is_integral_v<T>) {
    const fmt::format_int text(v);
    out.append(text.data(), text.size());
  } else {
    char buf[32];
    const auto end = fmt::format_to_n(buf, sizeof buf, "{}", v);
    out.append(buf, end.out);
  }
}

// Two decimal digits at p.
void put2(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

}  // namespace

void append_escaped(std::string& out, std::string_view s) {
  // Runs of plain bytes are appended whole; a byte-indexed table says which bytes need an escape.
  static constexpr auto kEscape = [] {
    std::array<char, 256> t{};  // the letter after the backslash, or 0 for a plain byte
    t[static_cast<unsigned char>('\\')] = '\\';
    t[static_cast<unsigned char>('\t')] = 't';
    t[static_cast<unsigned char>('\n')] = 'n';
    t[static_cast<unsigned char>('\r')] = 'r';
    t[0] = '0';
    return t;
  }();
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char letter = kEscape[static_cast<unsigned char>(s[i])];
    if (letter == 0) continue;
    out.append(s.data() + run, i - run);
    out.push_back('\\');
    out.push_back(letter);
    run = i + 1;
  }
  out.append(s.data() + run, s.size() - run);
}

void append_datetime_ms(std::string& out, int64_t epoch_ms) {
  const int64_t days = epoch_ms / 86400000;
  const int64_t ms_of_day = epoch_ms % 86400000;
  int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  const auto s = static_cast<unsigned>(ms_of_day / 1000);
  const auto ms = static_cast<unsigned>(ms_of_day % 1000);
  const auto year = static_cast<unsigned>(y);  // 1970..9999 for epoch_ms in [0, kMaxTimestampMs]
  char buf[23];                                // YYYY-MM-DD HH:MM:SS.mmm
  put2(buf, year / 100);
  put2(buf + 2, year % 100);
  buf[4] = '-';
  put2(buf + 5, m);
  buf[7] = '-';
  put2(buf + 8, d);
  buf[10] = ' ';
  put2(buf + 11, s / 3600);
  buf[13] = ':';
  put2(buf + 14, s / 60 % 60);
  buf[16] = ':';
  put2(buf + 17, s % 60);
  buf[19] = '.';
  buf[20] = static_cast<char>('0' + ms / 100);
  put2(buf + 21, ms % 100);
  out.append(buf, sizeof buf);
}

namespace {

// The fixed input columns of row i, each followed by a tab; `dropped` ones are left out. kSomeDropped is
// false for the common layout, whose code then has no test per column (3 % of the encode otherwise).
template <bool kSomeDropped>
[[gnu::always_inline]] inline void encode_fixed_columns(const EventBatch& b, uint32_t i, std::string& out,
                                                        RowLayout layout) {
  const auto kept = [&](SchemaColumn c) {
    return !kSomeDropped || (layout.dropped_columns >> static_cast<uint32_t>(c) & 1) == 0;
  };
  if (kept(SchemaColumn::kEventId)) {
    append_number(out, b.event_id[i]);
    append_tab(out);
  }
  if (kept(SchemaColumn::kTs)) {
    append_datetime_ms(out, b.ts_ms[i]);
    append_tab(out);
  }
  if (kept(SchemaColumn::kUserId)) {
    append_number(out, b.user_id[i]);
    append_tab(out);
  }
  if (kept(SchemaColumn::kPinId)) {
    append_number(out, b.pin_id[i]);
    append_tab(out);
  }
  if (kept(SchemaColumn::kAction)) {
    if (layout.action_code) {
      append_number(out, b.action_code[i]);
    } else {
      append_escaped(out, b.action[i]);
    }
    append_tab(out);
  }
  if (kept(SchemaColumn::kIp)) {
    char ip_text[kMaxIpText];
    out.append(ip_text, format_ip_to(b.ip[i], ip_text));
    append_tab(out);
  }
  if (kept(SchemaColumn::kApp)) {
    if (layout.app_code) {
      append_number(out, b.app_code[i]);
    } else {
      append_escaped(out, b.app[i]);
    }
    append_tab(out);
  }
  if (kept(SchemaColumn::kUa)) {
    append_escaped(out, b.ua[i]);
    append_tab(out);
  }
}

template <bool kSomeDropped>
void encode_one_row(const EventBatch& b, uint32_t i, const GeoTable& geo, const CategoryTable& categories,
                    std::string& out, JoinTables joins, RowLayout layout) {
  {
    encode_fixed_columns<kSomeDropped>(b, i, out, layout);

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
    for (size_t j = 0; j < joins.size(); ++j) {
      const uint32_t id = b.join_id[j][i];
      append_tab(out);
      if (id == kNoRecord) {
        append_null(out);
        append_tab(out);
        append_null(out);
      } else {
        append_number(out, id);
        append_tab(out);
        append_escaped(out, joins[j]->name(id));
      }
    }
    for (size_t j = 0; j < b.extra.size(); ++j) {
      const ExtraColumn& column = b.extra[j];
      append_tab(out);
      if (!column.present[i]) {
        append_null(out);
        continue;
      }
      switch (column.type) {
        case ExtraType::kU64:
          append_number(out, column.bits[i]);
          break;
        case ExtraType::kI64:
          append_number(out, static_cast<int64_t>(column.bits[i]));
          break;
        case ExtraType::kF64:
          append_number(out, std::bit_cast<double>(column.bits[i]));
          break;
        case ExtraType::kString:
          append_escaped(out, column.str[i]);
          break;
        case ExtraType::kIp: {
          char text[kMaxIpText];
          out.append(text, format_ip_to(column.ip[i], text));
          break;
        }
        case ExtraType::kTimestamp:
          append_datetime_ms(out, static_cast<int64_t>(column.bits[i]));
          break;
        case ExtraType::kEnum:
          if ((layout.extra_code >> j) & 1) {
            append_number(out, column.bits[i]);
          } else {
            append_escaped(out, column.str[i]);
          }
          break;
      }
    }
    out.push_back('\n');
  }
}

}  // namespace

void encode_rows(const EventBatch& b, const GeoTable& geo, const CategoryTable& categories, std::string& out,
                 JoinTables joins, RowLayout layout) {
  out.reserve(out.size() + b.selected.size() * 256);  // a typical enriched row is 150-250 bytes
  if (layout.dropped_columns == 0) {
    for (uint32_t i : b.selected) encode_one_row<false>(b, i, geo, categories, out, joins, layout);
  } else {
    for (uint32_t i : b.selected) encode_one_row<true>(b, i, geo, categories, out, joins, layout);
  }
}

void encode_row(const EventBatch& b, uint32_t i, const GeoTable& geo, const CategoryTable& categories,
                std::string& out, JoinTables joins, RowLayout layout) {
  if (layout.dropped_columns == 0) {
    encode_one_row<false>(b, i, geo, categories, out, joins, layout);
  } else {
    encode_one_row<true>(b, i, geo, categories, out, joins, layout);
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
