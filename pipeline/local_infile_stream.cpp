#include "pipeline/local_infile_stream.h"

#include <errmsg.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace enrichd {

LocalInfileStream::LocalInfileStream(MYSQL* mysql, std::string name, std::vector<std::string_view> chunks)
    : mysql_(mysql), name_(std::move(name)), chunks_(std::move(chunks)) {
  mysql_set_local_infile_handler(mysql_, init, read, end, error, this);
}

LocalInfileStream::~LocalInfileStream() {
  mysql_set_local_infile_default(mysql_);
}

int LocalInfileStream::init(void** ptr, const char* filename, void* userdata) {
  auto* s = static_cast<LocalInfileStream*>(userdata);
  *ptr = s;
  if (filename == nullptr || s->name_ != filename) {
    s->error_ = fmt::format("enrichd refuses the LOCAL INFILE request for '{}': it only sends its own stream",
                            filename ? filename : "(null)");
    return 1;
  }
  s->chunk_ = 0;
  s->pos_ = 0;
  return 0;
}

int LocalInfileStream::read(void* ptr, char* buf, unsigned int len) {
  auto* s = static_cast<LocalInfileStream*>(ptr);
  size_t n = 0;
  while (n < len && s->chunk_ < s->chunks_.size()) {
    const std::string_view chunk = s->chunks_[s->chunk_];
    const size_t take = std::min<size_t>(len - n, chunk.size() - s->pos_);
    std::memcpy(buf + n, chunk.data() + s->pos_, take);
    n += take;
    s->pos_ += take;
    if (s->pos_ == chunk.size()) {
      ++s->chunk_;
      s->pos_ = 0;
    }
  }
  return static_cast<int>(n);  // 0: end of stream
}

void LocalInfileStream::end(void*) {}

int LocalInfileStream::error(void* ptr, char* buf, unsigned int len) {
  auto* s = static_cast<LocalInfileStream*>(ptr);
  std::snprintf(buf, len, "%s", s->error_.c_str());
  return CR_UNKNOWN_ERROR;
}

}  // namespace enrichd
