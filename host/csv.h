// A small CSV reader for reference data: comma-separated, optional double quotes ("" inside quotes is a
// quote), '\n' or "\r\n" line ends, '#' comment lines and blank lines skipped. Line numbers are reported
// so that errors can name the line.
#pragma once

#include <cstddef>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "host/status.h"

namespace enrichd {

class CsvReader {
 public:
  // Opens `path`; check status() before reading.
  explicit CsvReader(const std::string& path);

  const Status& status() const { return status_; }
  // Reads the next non-blank, non-comment row into `fields`. False at end of file or on a malformed row
  // (then status() says which line and why).
  bool next(std::vector<std::string>& fields);
  // 1-based number of the line last returned.
  size_t line() const { return line_; }

 private:
  std::ifstream in_;
  std::string path_;
  Status status_;
  size_t line_ = 0;
};

// Splits one CSV line into fields. Returns false on an unterminated quote.
bool split_csv_line(std::string_view line, std::vector<std::string>& fields);

// Strict integer parsing of a whole field (no sign for unsigned, no spaces, no trailing text).
bool parse_u64(std::string_view text, uint64_t& out);
bool parse_u32(std::string_view text, uint32_t& out);
bool parse_double(std::string_view text, double& out);

}  // namespace enrichd
