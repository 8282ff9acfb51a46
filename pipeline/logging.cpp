#include "pipeline/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/spdlog.h>

namespace enrichd {
namespace {

constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v";
constexpr const char* kTextPatternPlain = "%Y-%m-%dT%H:%M:%S.%e %l %v";
// %* is the JSON-escaped message (JsonMessageFlag).
constexpr const char* kJsonPattern = R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"%*"})";

class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string escaped;
    append_json_escaped(escaped, std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

std::unique_ptr<spdlog::formatter> make_formatter(LogFormat format, bool color) {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  if (format == LogFormat::kJson) {
    f->add_flag<JsonMessageFlag>('*').set_pattern(kJsonPattern);
  } else {
    f->set_pattern(color ? kTextPattern : kTextPatternPlain);
  }
  return f;
}

}  // namespace

void append_json_escaped(std::string& out, std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (u < 0x20 || u == 0x7f) {
          out += fmt::format("\\u{:04x}", u);
        } else {
          out.push_back(c);
        }
    }
  }
}

void set_log_format(LogFormat format) {
  spdlog::set_formatter(make_formatter(format, true));
}

StatusLineSink::StatusLineSink(std::FILE* out) : out_(out) {}

void StatusLineSink::set_status(const std::string& line) {
  std::lock_guard lock(mutex_);
  status_ = line;
  std::fputs("\r\033[K", out_);
  std::fputs(status_.c_str(), out_);
  std::fflush(out_);
}

void StatusLineSink::sink_it_(const spdlog::details::log_msg& msg) {
  spdlog::memory_buf_t formatted;
  formatter_->format(msg, formatted);
  if (!status_.empty()) std::fputs("\r\033[K", out_);
  std::fwrite(formatted.data(), 1, formatted.size(), out_);
  if (!status_.empty()) std::fputs(status_.c_str(), out_);
  std::fflush(out_);
}

void StatusLineSink::flush_() {
  std::fflush(out_);
}

std::shared_ptr<StatusLineSink> install_status_line_sink(LogFormat format) {
  auto sink = std::make_shared<StatusLineSink>(stderr);
  auto logger = std::make_shared<spdlog::logger>("enrichd", sink);
  logger->set_level(spdlog::default_logger()->level());
  logger->set_formatter(make_formatter(format, false));
  spdlog::set_default_logger(logger);
  return sink;
}

}  // namespace enrichd
