#include "test_support.h"

#include "pipeline_fixture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

extern char** environ;

namespace enrichd::testing_support {
namespace {

rd_kafka_t* new_client(rd_kafka_type_t type, const std::string& brokers, const std::string& group) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[256];
  rd_kafka_conf_set(conf, "bootstrap.servers", brokers.c_str(), err, sizeof err);
  if (!group.empty()) rd_kafka_conf_set(conf, "group.id", group.c_str(), err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(type, conf, err, sizeof err);
  if (!rk) rd_kafka_conf_destroy(conf);
  return rk;
}

}  // namespace

std::string enrichd_binary() {
  return ENRICHD_BINARY;
}

std::string make_temp_dir(const std::string& prefix) {
  std::random_device rd;
  const auto dir = std::filesystem::temp_directory_path() / (prefix + "-" + std::to_string(rd()));
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::string make_reference_dir(const std::string& prefix) {
  const std::string dir = make_temp_dir(prefix);
  write_file(dir + "/geo.csv", test_geo_csv());
  write_file(dir + "/pins.csv", test_pins_csv());
  return dir;
}

std::string unique_name(const std::string& prefix) {
  return prefix + std::to_string(std::random_device{}());
}

void drop_run_tables(MysqlConnection& db, const std::string& table, const std::string& group) {
  (void)db.execute("DROP TABLE IF EXISTS `" + table + "`, `" + table + "_dead_letters`");
  if (!group.empty()) (void)db.execute("DELETE FROM enrichd_offsets WHERE consumer_group = '" + group + "'");
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary) << contents;
}

ChildProcess::ChildProcess(const std::vector<std::string>& args, const std::string& log_dir) {
  static int counter = 0;
  const std::string stem = log_dir + "/proc" + std::to_string(++counter);
  out_path_ = stem + ".out";
  err_path_ = stem + ".err";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  if (posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
  posix_spawn_file_actions_destroy(&fa);
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && status_ < 0) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

void ChildProcess::signal(int sig) {
  if (pid_ > 0 && status_ < 0) ::kill(pid_, sig);
}

int ChildProcess::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (status_ < 0) {
    int st = 0;
    const pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      status_ = 128 + SIGKILL;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return status_;
}

std::string ChildProcess::stdout_text() const {
  return read_file(out_path_);
}
std::string ChildProcess::stderr_text() const {
  return read_file(err_path_);
}

bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                std::chrono::milliseconds every) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(every);
  }
  return true;
}

bool joined_group(const ChildProcess& run) {
  return run.stderr_text().find("kafka: assigned") != std::string::npos;
}

ProcessResult run_process(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  const std::string dir = make_temp_dir("enrichd-proc");
  ChildProcess p(args, dir);
  ProcessResult r;
  r.exit_code = p.wait(timeout);
  r.out = p.stdout_text();
  r.err = p.stderr_text();
  std::filesystem::remove_all(dir);
  return r;
}

int free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

HttpResponse http_get(int port, const std::string& path) {
  HttpResponse r;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return r;
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return r;
  }
  const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return r;
  }
  std::string response;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) response.append(buf, static_cast<size_t>(n));
  ::close(fd);
  // "HTTP/1.1 200 OK\r\n...\r\n\r\nbody"
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return r;
  r.status = std::atoi(response.c_str() + 9);
  const size_t body = response.find("\r\n\r\n");
  if (body != std::string::npos) r.body = response.substr(body + 4);
  return r;
}

double metric_value(const std::string& page, const std::string& series) {
  size_t at = 0;
  while ((at = page.find(series + " ", at)) != std::string::npos) {
    if (at == 0 || page[at - 1] == '\n') return std::strtod(page.c_str() + at + series.size() + 1, nullptr);
    at += series.size();
  }
  return -1;
}

FifoWriter::FifoWriter(const std::string& path, std::chrono::milliseconds timeout) {
  ::signal(SIGPIPE, SIG_IGN);  // a reader that died makes write() fail instead of killing the test
  // Non-blocking open fails (ENXIO) until a reader has the FIFO open; then writes block again.
  wait_until(
      [&] {
        fd_ = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
        return fd_ >= 0;
      },
      timeout, std::chrono::milliseconds(20));
  if (fd_ >= 0) ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
}

FifoWriter::~FifoWriter() {
  close();
}

bool FifoWriter::write(const std::string& data) {
  size_t done = 0;
  while (fd_ >= 0 && done < data.size()) {
    const ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return fd_ >= 0;
}

void FifoWriter::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

std::string test_dsn() {
  const char* dsn = std::getenv("ENRICHD_TEST_DSN");
  return dsn ? dsn : "";
}

std::unique_ptr<MysqlConnection> connect_test_db() {
  auto dsn = parse_mysql_dsn(test_dsn());
  if (!dsn) return nullptr;
  auto conn = MysqlConnection::connect(*dsn);
  if (!conn) return nullptr;
  return std::move(conn).value();
}

bool produce_all(const std::string& brokers, const std::string& topic,
                 const std::vector<std::string>& payloads, const std::vector<int32_t>& partitions) {
  rd_kafka_t* rk = new_client(RD_KAFKA_PRODUCER, brokers, "");
  if (!rk) return false;
  rd_kafka_topic_t* rkt = rd_kafka_topic_new(rk, topic.c_str(), nullptr);
  bool ok = true;
  for (size_t i = 0; i < payloads.size(); ++i) {
    const std::string& p = payloads[i];
    const int32_t partition = partitions.empty() ? RD_KAFKA_PARTITION_UA : partitions[i % partitions.size()];
    while (rd_kafka_produce(rkt, partition, RD_KAFKA_MSG_F_COPY, const_cast<char*>(p.data()), p.size(),
                            nullptr, 0, nullptr) != 0) {
      if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        ok = false;
        break;
      }
      rd_kafka_poll(rk, 50);
    }
    rd_kafka_poll(rk, 0);
  }
  ok = ok && rd_kafka_flush(rk, 30'000) == RD_KAFKA_RESP_ERR_NO_ERROR && rd_kafka_outq_len(rk) == 0;
  rd_kafka_topic_destroy(rkt);
  rd_kafka_destroy(rk);
  return ok;
}

std::map<int32_t, int64_t> committed_offsets(const std::string& brokers, const std::string& group,
                                             const std::string& topic, int partitions) {
  std::map<int32_t, int64_t> out;
  rd_kafka_t* rk = new_client(RD_KAFKA_CONSUMER, brokers, group);
  if (!rk) return out;
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; ++p) rd_kafka_topic_partition_list_add(list, topic.c_str(), p);
  if (rd_kafka_committed(rk, list, 10'000) == RD_KAFKA_RESP_ERR_NO_ERROR) {
    for (int i = 0; i < list->cnt; ++i) out[list->elems[i].partition] = list->elems[i].offset;
  }
  rd_kafka_topic_partition_list_destroy(list);
  rd_kafka_destroy(rk);
  return out;
}

int64_t total_high_watermark(const std::string& brokers, const std::string& topic, int partitions) {
  rd_kafka_t* rk = new_client(RD_KAFKA_PRODUCER, brokers, "");
  if (!rk) return -1;
  int64_t total = 0;
  for (int p = 0; p < partitions; ++p) {
    int64_t low = 0, high = 0;
    if (rd_kafka_query_watermark_offsets(rk, topic.c_str(), p, &low, &high, 10'000) !=
        RD_KAFKA_RESP_ERR_NO_ERROR) {
      total = -1;
      break;
    }
    total += high;
  }
  rd_kafka_destroy(rk);
  return total;
}

}  // namespace enrichd::testing_support
