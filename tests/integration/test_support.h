// Shared helpers for the integration tests: child processes with timeouts, the test database, temp files
// and a plain Kafka producer/inspector (real librdkafka clients, no mocks).
#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/mysql_connection.h"

namespace enrichd::testing_support {

// Path of the enrichd binary under test (set by CMake).
std::string enrichd_binary();

// A fresh directory for one test.
std::string make_temp_dir(const std::string& prefix);
void write_file(const std::string& path, const std::string& contents);
std::string read_file(const std::string& path);

class ChildProcess {
 public:
  // Starts `args` with stdout/stderr captured to files in `log_dir`.
  ChildProcess(const std::vector<std::string>& args, const std::string& log_dir);
  ~ChildProcess();
  void signal(int sig);
  // Exit code (128+signal when killed), or -1 when still running after `timeout` (then it is killed).
  int wait(std::chrono::milliseconds timeout);
  std::string stdout_text() const;
  std::string stderr_text() const;

 private:
  int pid_ = -1;
  int status_ = -1;
  std::string out_path_, err_path_;
};

// Polls `done` every `every` until it holds or `timeout` passes; returns its last answer.
bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                std::chrono::milliseconds every);
// True once an `enrichd run` child has logged a partition assignment (it joined its consumer group).
bool joined_group(const ChildProcess& run);

struct ProcessResult {
  int exit_code = -1;
  std::string out, err;
};
ProcessResult run_process(const std::vector<std::string>& args, std::chrono::milliseconds timeout);

// The DSN the test script promised (ENRICHD_TEST_DSN); empty when unset.
std::string test_dsn();
std::unique_ptr<MysqlConnection> connect_test_db();

// Produces each payload to `topic` (any partition) and waits for every delivery; false on any failure.
bool produce_all(const std::string& brokers, const std::string& topic,
                 const std::vector<std::string>& payloads);

// The offsets `group` has committed for partitions 0..partitions-1 of `topic` (-1001 where none).
std::map<int32_t, int64_t> committed_offsets(const std::string& brokers, const std::string& group,
                                             const std::string& topic, int partitions);
// Sum over partitions of the high watermark (= messages produced to a fresh topic).
int64_t total_high_watermark(const std::string& brokers, const std::string& topic, int partitions);

}  // namespace enrichd::testing_support
