// The HTTP exporter: GET /metrics (Prometheus text) and GET /healthz (200 "ok", or 503 and a short reason),
// served by civetweb on a few threads of its own. The handlers are the caller's; they run on civetweb's
// threads, so they must only read what is safe to read concurrently (probes, published tables).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "host/status.h"

struct mg_context;
struct mg_connection;

namespace enrichd {

struct HealthReport {
  bool healthy = false;
  std::string reason;  // "ok" when healthy
};

class MetricsServer {
 public:
  struct Handlers {
    std::function<std::string()> metrics;
    std::function<HealthReport()> health;
  };

  // Listens on `listen` ("ADDRESS:PORT", see config.h). A bad address or a port in use is an error
  // naming the config key metrics.listen.
  static Result<std::unique_ptr<MetricsServer>> start(const std::string& listen, Handlers handlers);
  ~MetricsServer();  // stops, waiting for requests in progress
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  int port() const { return port_; }

 private:
  explicit MetricsServer(Handlers handlers) : handlers_(std::move(handlers)) {}
  static int on_metrics(mg_connection* conn, void* self);
  static int on_healthz(mg_connection* conn, void* self);

  Handlers handlers_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
  std::string wake_address_;  // an IPv4 address that reaches the listener (IPv6: not woken, stops in 2 s)
};

// Checks that `listen` (as config.h accepts it) could be listened on, binding a socket and closing it: an
// address not on this machine is an error naming metrics.listen; a port in use is not (a running enrichd
// may hold it) and returns a note saying so; otherwise returns "".
Result<std::string> check_listen_address(const std::string& listen);

}  // namespace enrichd
