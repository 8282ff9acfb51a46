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
// A fresh directory holding the reference data the tests' configs name: geo.csv (test_geo_csv) and
// pins.csv (test_pins_csv) of pipeline_fixture.h.
std::string make_reference_dir(const std::string& prefix);
// `prefix` and a random number: a table or consumer group no other run uses.
std::string unique_name(const std::string& prefix);
// Drops a run's tables: `table` and its dead-letter table; with `group`, forgets the offsets the group
// stored in enrichd_offsets.
void drop_run_tables(MysqlConnection& db, const std::string& table, const std::string& group = "");

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

// A TCP port that was free a moment ago (bound to port 0 on 127.0.0.1, read back, closed).
int free_tcp_port();

struct HttpResponse {
  int status = 0;  // 0: no answer
  std::string body;
};
// GET http://127.0.0.1:<port><path> (HTTP/1.0, a few seconds' timeout).
HttpResponse http_get(int port, const std::string& path);

// The value of the Prometheus sample `series` (name with its labels exactly as rendered, e.g.
// `enrichd_dead_letters_total{reason="empty"}`) in a /metrics page; -1 when absent.
double metric_value(const std::string& page, const std::string& series);

// The writing end of a FIFO, opened once the reader (an enrichd child) has opened its end.
class FifoWriter {
 public:
  // Waits up to `timeout` for a reader; ok() tells whether one came.
  FifoWriter(const std::string& path, std::chrono::milliseconds timeout);
  ~FifoWriter();
  bool ok() const { return fd_ >= 0; }
  bool write(const std::string& data);
  void close();

 private:
  int fd_ = -1;
};

// The DSN the test script promised (ENRICHD_TEST_DSN); empty when unset.
std::string test_dsn();
std::unique_ptr<MysqlConnection> connect_test_db();

// Produces each payload to `topic` and waits for every delivery; false on any failure. Payloads go to
// any partition (the producer picks), or when `partitions` is not empty, payload i to partition
// partitions[i mod partitions.size()].
bool produce_all(const std::string& brokers, const std::string& topic,
                 const std::vector<std::string>& payloads, const std::vector<int32_t>& partitions = {});

// The offsets `group` has committed for partitions 0..partitions-1 of `topic` (-1001 where none).
std::map<int32_t, int64_t> committed_offsets(const std::string& brokers, const std::string& group,
                                             const std::string& topic, int partitions);
// Sum over partitions of the high watermark (= messages produced to a fresh topic).
int64_t total_high_watermark(const std::string& brokers, const std::string& topic, int partitions);

}  // namespace enrichd::testing_support
