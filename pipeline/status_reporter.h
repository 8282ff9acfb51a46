// The live status of `enrichd run`: on a terminal, a line at the bottom of stderr refreshed about once a
// second (events/s, lag, backend, rows, dead letters); elsewhere, a structured log line every ~10 s.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "pipeline/logging.h"

namespace enrichd {

// What the reporter shows, read from the probes.
struct StatusSample {
  uint64_t messages = 0;
  uint64_t rows_loaded = 0;
  uint64_t dead_letters = 0;
  int64_t lag = -1;  // summed over partitions; -1: unknown or not Kafka
  std::string backend;
};

// The text of one status, `rate` in events per second.
std::string format_status_line(const StatusSample& s, double rate);
std::string format_status_log(const StatusSample& s, double rate);

class StatusReporter {
 public:
  // With `terminal`, draws on it; else logs at info level. Starts a thread that samples every `every`.
  StatusReporter(std::function<StatusSample()> sample, std::chrono::milliseconds every,
                 std::shared_ptr<StatusLineSink> terminal);
  ~StatusReporter();  // stops; clears the terminal line
  StatusReporter(const StatusReporter&) = delete;
  StatusReporter& operator=(const StatusReporter&) = delete;

 private:
  void loop();

  std::function<StatusSample()> sample_;
  std::chrono::milliseconds every_;
  std::shared_ptr<StatusLineSink> terminal_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace enrichd
