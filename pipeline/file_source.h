// JSON lines from a file, a pipe or stdin: replays, backfills, benchmarks and live streams. Each line is
// one message, on partition 0 with its 0-based line number as offset. Blank lines are skipped. Reads wait
// with poll(), so a slow pipe neither holds a batch back longer than the linger time nor blocks a stop.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "pipeline/source.h"

namespace enrichd {

class FileSource final : public Source {
 public:
  static Result<std::unique_ptr<Source>> open(const std::string& path);
  // What open() checks, without blocking on a FIFO that has no writer yet.
  static Status check(const std::string& path);
  ~FileSource() override;

  Status next_batch(RawBatch& batch, std::vector<PartitionStart>& starts, size_t max_messages,
                    std::chrono::milliseconds linger, const std::atomic<bool>& stop) override;
  bool end_of_input() const override { return eof_ && begin_ == end_; }
  Status acknowledge(const std::vector<PartitionOffset>&) override { return Status::ok(); }
  void close() override;
  const std::string& topic() const override { return path_; }
  bool has_offsets() const override { return false; }

 private:
  FileSource(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  // Reads what is available into the buffer, waiting at most `wait`: the bytes read (0 at the end of the
  // input or when nothing came), or -1 with `error` set.
  ssize_t fill(std::chrono::milliseconds wait, Status& error);

  int fd_;
  std::string path_;
  int64_t next_line_ = 0;
  bool eof_ = false;
  std::vector<char> buf_ = std::vector<char>(1 << 16);
  size_t begin_ = 0, end_ = 0;  // unconsumed bytes
};

}  // namespace enrichd
