// Log output: text or JSON lines (one object per line, the message JSON-escaped) on stderr, and a live
// one-line status kept at the bottom of a terminal, with log lines printed above it.
#pragma once

#include <spdlog/sinks/base_sink.h>

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "pipeline/config.h"

namespace enrichd {

// Sets the default logger's line format: text ("2024-01-01T00:00:00.000 info message") or JSON
// ({"time":"2024-01-01T00:00:00.000+00:00","level":"info","msg":"message"}).
void set_log_format(LogFormat format);

// `s` as the inside of a JSON string (quotes, backslashes and control characters escaped; bytes that are
// not valid UTF-8 are kept as they are).
void append_json_escaped(std::string& out, std::string_view s);

// A stderr sink for a terminal that also shows a status line: each log line first clears the status
// line, then the status line is drawn again below it.
class StatusLineSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit StatusLineSink(std::FILE* out = stderr);
  // Replaces the status line ("" removes it).
  void set_status(const std::string& line);

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;

 private:
  std::FILE* out_;
  std::string status_;
};

// Makes the default logger write through a StatusLineSink (keeping its level and format) and returns it.
std::shared_ptr<StatusLineSink> install_status_line_sink(LogFormat format);

}  // namespace enrichd
