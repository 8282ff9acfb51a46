#include "pipeline/metrics_server.h"

#include <civetweb.h>
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "pipeline/prometheus.h"

namespace enrichd {
namespace {

// Binds a socket to `listen` and closes it: 0, or the errno of the failure.
int probe_bind(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  const std::string host = listen.substr(0, colon);
  const int port = std::atoi(listen.c_str() + colon + 1);
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = AF_INET;
  if (!host.empty() && host.front() == '[') {
    family = AF_INET6;
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a6->sin6_addr) != 1) return EINVAL;
    len = sizeof(sockaddr_in6);
  } else {
    auto* a4 = reinterpret_cast<sockaddr_in*>(&addr);
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &a4->sin_addr) != 1) return EINVAL;
    len = sizeof(sockaddr_in);
  }
  const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int err = 0;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0 || ::listen(fd, 1) != 0) err = errno;
  ::close(fd);
  return err;
}

// Connects to the server and hangs up (to wake its listener).
void poke(const std::string& ipv4, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, ipv4.c_str(), &a.sin_addr) != 1) return;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  (void)::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
  ::close(fd);
}

// civetweb's own log lines (bad requests, socket errors) go to our log at debug level.
int on_civetweb_log(const mg_connection*, const char* message) {
  spdlog::debug("metrics server: {}", message);
  return 1;
}

bool is_get(mg_connection* conn) {
  const mg_request_info* ri = mg_get_request_info(conn);
  return ri && ri->request_method &&
         (std::strcmp(ri->request_method, "GET") == 0 || std::strcmp(ri->request_method, "HEAD") == 0);
}

void reply(mg_connection* conn, int code, std::string_view content_type, const std::string& body) {
  const char* reason = code == 200 ? "OK" : code == 503 ? "Service Unavailable" : "Method Not Allowed";
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %.*s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
            "Connection: close\r\n\r\n",
            code, reason, static_cast<int>(content_type.size()), content_type.data(), body.size());
  const mg_request_info* ri = mg_get_request_info(conn);
  if (!(ri && ri->request_method && std::strcmp(ri->request_method, "HEAD") == 0)) {
    mg_write(conn, body.data(), body.size());
  }
}

}  // namespace

int MetricsServer::on_metrics(mg_connection* conn, void* self) {
  if (!is_get(conn)) {
    reply(conn, 405, "text/plain; charset=utf-8", "GET only\n");
    return 405;
  }
  reply(conn, 200, kPrometheusContentType, static_cast<MetricsServer*>(self)->handlers_.metrics());
  return 200;
}

int MetricsServer::on_healthz(mg_connection* conn, void* self) {
  if (!is_get(conn)) {
    reply(conn, 405, "text/plain; charset=utf-8", "GET only\n");
    return 405;
  }
  const HealthReport h = static_cast<MetricsServer*>(self)->handlers_.health();
  reply(conn, h.healthy ? 200 : 503, "text/plain; charset=utf-8", h.reason + "\n");
  return h.healthy ? 200 : 503;
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::start(const std::string& listen, Handlers handlers) {
  if (!listen.empty() && listen.front() == '[' && mg_check_feature(MG_FEATURES_IPV6) == 0) {
    return Status::errorf(
        "config key 'metrics.listen': cannot listen on '{}': this build of civetweb has no "
        "IPv6; use an IPv4 address",
        listen);
  }
  std::unique_ptr<MetricsServer> server(new MetricsServer(std::move(handlers)));
  const std::string host = listen.substr(0, listen.rfind(':'));
  server->wake_address_ = host == "0.0.0.0" ? "127.0.0.1" : host;
  mg_init_library(0);
  // Few threads: scrapes are rare and cheap. No document root: only the two handlers answer.
  const char* options[] = {
      "listening_ports", listen.c_str(),      "num_threads", "2",    "request_timeout_ms",
      "10000",           "enable_keep_alive", "no",          nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = on_civetweb_log;
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = server.get();
  init.configuration_options = options;
  char error_text[256] = "";
  unsigned error_code = 0;
  mg_error_data error{};
  error.code = &error_code;
  error.text = error_text;
  error.text_buffer_size = sizeof error_text;
  server->ctx_ = mg_start2(&init, &error);
  if (!server->ctx_) {
    mg_exit_library();
    // civetweb says only that it failed; a bind of our own says why (address in use, not on this host).
    const int err = probe_bind(listen);
    return Status::errorf("config key 'metrics.listen': cannot listen on '{}': {}", listen,
                          err != 0        ? std::strerror(err)
                          : error_text[0] ? error_text
                                          : "civetweb failed to start");
  }
  mg_set_request_handler(server->ctx_, "/metrics$", &MetricsServer::on_metrics, server.get());
  mg_set_request_handler(server->ctx_, "/healthz$", &MetricsServer::on_healthz, server.get());
  mg_server_port ports[4]{};
  if (mg_get_server_ports(server->ctx_, 4, ports) > 0) server->port_ = ports[0].port;
  return server;
}

MetricsServer::~MetricsServer() {
  if (!ctx_) return;
  // civetweb's listener polls with a 2 s timeout before it sees the stop flag; connections wake it at once.
  std::atomic<bool> stopped{false};
  std::thread nudge([&] {
    while (!stopped.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (!stopped.load()) poke(wake_address_, port_);
    }
  });
  mg_stop(ctx_);
  stopped = true;
  nudge.join();
  mg_exit_library();
}

Result<std::string> check_listen_address(const std::string& listen) {
  if (!listen.empty() && listen.front() == '[' && mg_check_feature(MG_FEATURES_IPV6) == 0) {
    return Status::errorf(
        "config key 'metrics.listen': cannot listen on '{}': this build of civetweb has no "
        "IPv6; use an IPv4 address",
        listen);
  }
  const int err = probe_bind(listen);
  if (err == 0) return std::string();
  if (err == EADDRINUSE) return std::string(" (the port is in use now: by a running enrichd?)");
  return Status::errorf("config key 'metrics.listen': cannot listen on '{}': {}", listen, std::strerror(err));
}

}  // namespace enrichd
