#include "pipeline/local_infile_stream.h"

#include <errmsg.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace enrichd {

LocalInfileStream::LocalInfileStream(MYSQL* mysql, std::string name, std::string_view data)
    : mysql_(mysql), name_(std::move(name)), data_(data) {
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
  s->pos_ = 0;
  return 0;
}

int LocalInfileStream::read(void* ptr, char* buf, unsigned int len) {
  auto* s = static_cast<LocalInfileStream*>(ptr);
  const size_t n = std::min<size_t>(len, s->data_.size() - s->pos_);
  std::memcpy(buf, s->data_.data() + s->pos_, n);
  s->pos_ += n;
  return static_cast<int>(n);
}

void LocalInfileStream::end(void*) {}

int LocalInfileStream::error(void* ptr, char* buf, unsigned int len) {
  auto* s = static_cast<LocalInfileStream*>(ptr);
  std::snprintf(buf, len, "%s", s->error_.c_str());
  return CR_UNKNOWN_ERROR;
}

}  // namespace enrichd
