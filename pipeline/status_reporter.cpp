#include "pipeline/status_reporter.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace enrichd {
namespace {

// 1234567 -> "1.23 M"
std::string human(double v) {
  if (v >= 1e9) return fmt::format("{:.2f} G", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.2f} M", v / 1e6);
  if (v >= 1e4) return fmt::format("{:.1f} k", v / 1e3);
  return fmt::format("{:.0f} ", v);
}

}  // namespace

std::string format_status_line(const StatusSample& s, double rate) {
  return fmt::format("enrichd | {}ev/s | lag {} | backend {} | {}rows | {} dead letters", human(rate),
                     s.lag < 0 ? std::string("-") : std::to_string(s.lag), s.backend,
                     human(static_cast<double>(s.rows_loaded)), s.dead_letters);
}

std::string format_status_log(const StatusSample& s, double rate) {
  return fmt::format(
      "status: events_per_s={:.0f} messages={} rows_loaded={} dead_letters={} lag={} backend={}", rate,
      s.messages, s.rows_loaded, s.dead_letters, s.lag < 0 ? std::string("unknown") : std::to_string(s.lag),
      s.backend);
}

StatusReporter::StatusReporter(std::function<StatusSample()> sample, std::chrono::milliseconds every,
                               std::shared_ptr<StatusLineSink> terminal)
    : sample_(std::move(sample)), every_(every), terminal_(std::move(terminal)) {
  thread_ = std::thread([this] { loop(); });
}

StatusReporter::~StatusReporter() {
  {
    std::lock_guard lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (terminal_) terminal_->set_status("");
}

void StatusReporter::loop() {
  using Clock = std::chrono::steady_clock;
  StatusSample last = sample_();
  auto last_t = Clock::now();
  std::unique_lock lock(mu_);
  while (!cv_.wait_for(lock, every_, [this] { return done_; })) {
    lock.unlock();
    const StatusSample now = sample_();
    const auto t = Clock::now();
    const double seconds = std::chrono::duration<double>(t - last_t).count();
    const double rate = seconds > 0 ? static_cast<double>(now.messages - last.messages) / seconds : 0;
    if (terminal_) {
      terminal_->set_status(format_status_line(now, rate));
    } else {
      spdlog::info("{}", format_status_log(now, rate));
    }
    last = now;
    last_t = t;
    lock.lock();
  }
}

}  // namespace enrichd
