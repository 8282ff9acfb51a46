// Serves LOAD DATA LOCAL INFILE from memory. While a LocalInfileStream lives, the connection's LOCAL INFILE
// handler answers only requests for this stream's own name; any other name (say, a file on disk that a
// hostile server asks for) is refused with an error, and nothing is read from disk.
#pragma once

#include <mysql.h>

#include <string>
#include <string_view>
#include <vector>

namespace enrichd {

class LocalInfileStream {
 public:
  // Installs the handler on `mysql`; the stream's bytes are `chunks` in order, which must outlive it.
  LocalInfileStream(MYSQL* mysql, std::string name, std::vector<std::string_view> chunks);
  LocalInfileStream(MYSQL* mysql, std::string name, std::string_view data)
      : LocalInfileStream(mysql, std::move(name), std::vector<std::string_view>{data}) {}
  ~LocalInfileStream();  // restores the client library's default handler
  LocalInfileStream(const LocalInfileStream&) = delete;
  LocalInfileStream& operator=(const LocalInfileStream&) = delete;

  // The file name to put in the LOAD DATA LOCAL INFILE statement.
  const std::string& name() const { return name_; }

 private:
  static int init(void** ptr, const char* filename, void* userdata);
  static int read(void* ptr, char* buf, unsigned int len);
  static void end(void* ptr);
  static int error(void* ptr, char* buf, unsigned int len);

  MYSQL* mysql_;
  std::string name_;
  std::vector<std::string_view> chunks_;
  size_t chunk_ = 0;  // current chunk
  size_t pos_ = 0;    // position within it
  std::string error_;
};

}  // namespace enrichd
