// JSON lines from a file or stdin: replays, backfills and benchmarks. Each line is one message, on
// partition 0 with its 0-based line number as offset. Blank lines are skipped.
#pragma once

#include <cstdio>
#include <string>

#include "pipeline/source.h"

namespace enrichd {

class FileSource final : public Source {
 public:
  static Result<std::unique_ptr<Source>> open(const std::string& path);
  ~FileSource() override;

  Status next_batch(RawBatch& batch, std::vector<PartitionStart>& starts, size_t max_messages,
                    std::chrono::milliseconds linger, const std::atomic<bool>& stop) override;
  bool end_of_input() const override { return eof_; }
  Status acknowledge(const std::vector<PartitionOffset>&) override { return Status::ok(); }
  void close() override;
  const std::string& topic() const override { return path_; }
  bool has_offsets() const override { return false; }

 private:
  FileSource(FILE* file, std::string path) : file_(file), path_(std::move(path)) {}
  FILE* file_;
  std::string path_;
  int64_t next_line_ = 0;
  bool eof_ = false;
  char* line_buf_ = nullptr;
  size_t line_cap_ = 0;
};

}  // namespace enrichd
