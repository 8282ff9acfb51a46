#include "pipeline/file_source.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

namespace enrichd {

Result<std::unique_ptr<Source>> FileSource::open(const std::string& path) {
  // Opening a FIFO waits for its writer, as reading a pipe would.
  const int fd = path == "-" ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Status::errorf("config key 'source.path': cannot open '{}': {}", path, std::strerror(errno));
  return std::unique_ptr<Source>(new FileSource(fd, path));
}

Status FileSource::check(const std::string& path) {
  if (path == "-") return Status::ok();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return Status::errorf("config key 'source.path': cannot open '{}': {}", path, std::strerror(errno));
  struct stat st {};
  const bool dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
  ::close(fd);
  if (dir) return Status::errorf("config key 'source.path': '{}' is a directory", path);
  return Status::ok();
}

FileSource::~FileSource() {
  close();
}

ssize_t FileSource::fill(std::chrono::milliseconds wait, Status& error) {
  if (begin_ > 0) {  // keep the partial line at the front
    std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  if (end_ == buf_.size()) buf_.resize(buf_.size() * 2);  // a line longer than the buffer
  pollfd p{fd_, POLLIN, 0};
  const int ready = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, wait.count())));
  if (ready < 0 && errno != EINTR) {
    error = Status::errorf("reading '{}': {}", path_, std::strerror(errno));
    return -1;
  }
  if (ready <= 0) return 0;  // nothing yet
  const ssize_t n = ::read(fd_, buf_.data() + end_, buf_.size() - end_);
  if (n < 0) {
    if (errno == EINTR || errno == EAGAIN) return 0;
    error = Status::errorf("reading '{}': {}", path_, std::strerror(errno));
    return -1;
  }
  if (n == 0) eof_ = true;
  end_ += static_cast<size_t>(n);
  return n;
}

Status FileSource::next_batch(RawBatch& batch, std::vector<PartitionStart>& starts, size_t max_messages,
                              std::chrono::milliseconds linger, const std::atomic<bool>& stop) {
  using Clock = std::chrono::steady_clock;
  batch.clear();
  starts.assign(1, PartitionStart{0, next_line_, 0});
  // Before the first message, wait at most 100 ms (so the caller can check its limits and `stop`); after
  // it, at most `linger` for the rest of the batch.
  constexpr auto kIdleWait = std::chrono::milliseconds(100);
  const auto idle_deadline = Clock::now() + kIdleWait;
  std::optional<Clock::time_point> deadline;
  while (batch.size() < max_messages && !stop.load(std::memory_order_relaxed)) {
    const char* line = buf_.data() + begin_;
    const auto* nl = static_cast<const char*>(std::memchr(line, '\n', end_ - begin_));
    size_t len = 0;
    if (nl) {
      len = static_cast<size_t>(nl - line);
      begin_ += len + 1;
    } else if (eof_) {
      if (begin_ == end_) break;
      len = end_ - begin_;  // a last line without a newline
      begin_ = end_;
    } else {
      // No whole line buffered: read more, waiting at most until the deadline. Once it has passed, take
      // only what is already there (a regular file always has more, so a replay fills whole batches).
      const auto wait =
          std::max(std::chrono::milliseconds(0), std::chrono::duration_cast<std::chrono::milliseconds>(
                                                     deadline.value_or(idle_deadline) - Clock::now()));
      Status error;
      const ssize_t n = fill(wait, error);
      if (n < 0) return error;
      if (n == 0 && !eof_ && wait.count() == 0) break;  // nothing more for now
      continue;
    }
    if (len > 0 && line[len - 1] == '\r') --len;
    const int64_t line_no = next_line_++;
    if (len == 0) continue;  // blank lines separate nothing in JSON lines; they are not messages
    batch.add({line, len}, {0, line_no});
    if (!deadline) deadline = Clock::now() + linger;
  }
  return Status::ok();
}

void FileSource::close() {
  if (fd_ >= 0 && fd_ != STDIN_FILENO) ::close(fd_);
  fd_ = -1;
}

}  // namespace enrichd
