#include "host/csv.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

namespace enrichd {

CsvReader::CsvReader(const std::string& path) : in_(path), path_(path) {
  if (!in_) status_ = Status::errorf("cannot open '{}': {}", path, std::strerror(errno));
}

bool CsvReader::next(std::vector<std::string>& fields) {
  if (!status_) return false;
  std::string text;
  while (std::getline(in_, text)) {
    ++line_;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    if (text.empty() || text[0] == '#') continue;
    if (!split_csv_line(text, fields)) {
      status_ = Status::errorf("{}:{}: unterminated quoted field", path_, line_);
      return false;
    }
    return true;
  }
  if (in_.bad()) status_ = Status::errorf("{}: read error after line {}", path_, line_);
  return false;
}

bool split_csv_line(std::string_view line, std::vector<std::string>& fields) {
  fields.clear();
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
    } else {
      field.push_back(c);
    }
  }
  if (quoted) return false;
  fields.push_back(std::move(field));
  return true;
}

bool parse_u64(std::string_view text, uint64_t& out) {
  if (text.empty()) return false;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

bool parse_u32(std::string_view text, uint32_t& out) {
  uint64_t v = 0;
  if (!parse_u64(text, v) || v > UINT32_MAX) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

bool parse_double(std::string_view text, double& out) {
  if (text.empty()) return false;
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  // from_chars also reads "nan" and "inf"; a coordinate must be a finite number.
  if (ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v)) return false;
  out = v;
  return true;
}

}  // namespace enrichd
