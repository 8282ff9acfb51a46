#include "pipeline/file_source.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace enrichd {

Result<std::unique_ptr<Source>> FileSource::open(const std::string& path) {
  FILE* f = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (!f) return Status::errorf("config key 'source.path': cannot open '{}': {}", path, std::strerror(errno));
  return std::unique_ptr<Source>(new FileSource(f, path));
}

FileSource::~FileSource() {
  close();
}

Status FileSource::next_batch(RawBatch& batch, std::vector<PartitionStart>& starts, size_t max_messages,
                              std::chrono::milliseconds, const std::atomic<bool>& stop) {
  batch.clear();
  starts.assign(1, PartitionStart{0, next_line_, 0});
  while (!eof_ && batch.size() < max_messages && !stop.load(std::memory_order_relaxed)) {
    // getline keeps NUL bytes and reports the true length, so a payload is never cut at a NUL.
    const ssize_t n = getline(&line_buf_, &line_cap_, file_);
    if (n < 0) {
      if (std::ferror(file_)) return Status::errorf("reading '{}': {}", path_, std::strerror(errno));
      eof_ = true;
      break;
    }
    size_t len = static_cast<size_t>(n);
    if (len > 0 && line_buf_[len - 1] == '\n') --len;
    if (len > 0 && line_buf_[len - 1] == '\r') --len;
    const int64_t line = next_line_++;
    if (len == 0) continue;  // blank lines separate nothing in JSON lines; they are not messages
    batch.add({line_buf_, len}, {0, line});
  }
  return Status::ok();
}

void FileSource::close() {
  if (file_ && file_ != stdin) std::fclose(file_);
  file_ = nullptr;
  std::free(line_buf_);
  line_buf_ = nullptr;
}

}  // namespace enrichd
