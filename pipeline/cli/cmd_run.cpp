#include <spdlog/spdlog.h>
#include <unistd.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "pipeline/cli/commands.h"
#include "pipeline/logging.h"
#include "pipeline/metrics_server.h"
#include "pipeline/pipeline.h"
#include "pipeline/shutdown_signal.h"
#include "pipeline/status_reporter.h"

namespace enrichd::cli {
namespace {

struct RunOptions {
  std::string config_path;
  std::string backend;
  int device = -1;  // -1: enrich.cuda_device
  std::string log_level;
  std::string log_format;
  uint64_t max_messages = 0;
  int64_t idle_exit_ms = 0;
  bool quiet = false;
  int64_t status_interval_ms = 0;  // 0: 1 s on a terminal, 10 s otherwise
  int64_t drain_timeout_s = 30;
};

StatusSample sample(const Pipeline& p) {
  StatusSample s;
  const PipelineStats& st = p.stats();
  s.messages = st.source.messages.get();
  s.rows_loaded = st.sink.rows_loaded.get();
  s.dead_letters = st.dead_letters_total();
  for (const PartitionLag& l : p.consumer_lag()) s.lag = (s.lag < 0 ? 0 : s.lag) + l.lag;
  s.backend = std::string(p.backend_name());
  return s;
}

// Bounds the drain after a stop signal: past `timeout`, exits without waiting for the rest (nothing is
// lost: what was not committed is read again on the next start).
class DrainWatchdog {
 public:
  DrainWatchdog(const std::atomic<bool>& stop, std::chrono::seconds timeout) {
    if (timeout.count() <= 0) return;
    thread_ = std::thread([this, &stop, timeout] {
      std::unique_lock lock(mu_);
      while (!done_ && !stop.load()) cv_.wait_for(lock, std::chrono::milliseconds(100));
      if (done_) return;
      if (!cv_.wait_for(lock, timeout, [this] { return done_; })) {
        spdlog::error(
            "stopping took longer than {} s (--drain-timeout-s): exiting now; what was not committed "
            "is read again on the next start",
            timeout.count());
        spdlog::default_logger()->flush();
        _exit(kExitFailure);
      }
    });
  }
  ~DrainWatchdog() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  DrainWatchdog(const DrainWatchdog&) = delete;
  DrainWatchdog& operator=(const DrainWatchdog&) = delete;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

int run(const RunOptions& o) {
  const auto& stop = install_shutdown_handlers();
  auto& reload = install_reload_handler();
  LogFormat format = LogFormat::kText;
  if (!o.log_format.empty()) {
    auto f = parse_log_format(o.log_format, "--log-format");
    if (!f) {
      spdlog::error("{}", f.status().message());
      return kExitBadConfig;
    }
    format = *f;
    set_log_format(format);
  }
  auto config = load_config(o.config_path);
  if (!config) {
    spdlog::error("{}", config.status().message());
    return kExitBadConfig;
  }
  if (o.log_format.empty()) format = config->log_format;
  set_log_format(format);
  if (!o.backend.empty()) config->enrich.backend = o.backend;
  if (o.device >= 0) config->enrich.cuda_device = o.device;
  if (!o.log_level.empty()) config->log_level = o.log_level;
  spdlog::set_level(spdlog::level::from_str(config->log_level));

  const bool terminal = !o.quiet && isatty(STDERR_FILENO) == 1;
  std::shared_ptr<StatusLineSink> status_sink;
  if (terminal) status_sink = install_status_line_sink(format);

  // The exporter starts first: a port in use stops start-up before the reference data is loaded, and
  // /healthz answers 503 while that happens.
  std::atomic<const Pipeline*> live{nullptr};
  std::unique_ptr<MetricsServer> server;
  if (!config->metrics.listen.empty()) {
    MetricsServer::Handlers handlers;
    handlers.metrics = [&live] {
      const Pipeline* p = live.load();
      return p ? p->metrics_text() : process_metrics_text();
    };
    handlers.health = [&live] {
      const Pipeline* p = live.load();
      return p ? p->health()
               : HealthReport{false, "starting: loading reference data, connecting the sink and the source"};
    };
    auto started = MetricsServer::start(config->metrics.listen, std::move(handlers));
    if (!started) {
      spdlog::error("{}", started.status().message());
      return kExitBadConfig;
    }
    server = std::move(started).value();
    spdlog::info("metrics: http://{}/metrics, health: http://{}/healthz", config->metrics.listen,
                 config->metrics.listen);
  }

  auto pipeline = Pipeline::create(*config);
  if (!pipeline) {
    server.reset();
    spdlog::error("{}", pipeline.status().message());
    return kExitBadConfig;
  }
  const Pipeline& p = **pipeline;
  live = &p;

  std::unique_ptr<StatusReporter> reporter;
  if (!o.quiet) {
    const auto every = std::chrono::milliseconds(o.status_interval_ms > 0 ? o.status_interval_ms
                                                 : terminal               ? 1000
                                                                          : 10000);
    reporter = std::make_unique<StatusReporter>([&p] { return sample(p); }, every, status_sink);
  }

  RunLimits limits{o.max_messages, std::chrono::milliseconds(o.idle_exit_ms)};
  spdlog::info("running (backend {}, batches of up to {} messages, linger {} ms)", p.backend_name(),
               config->batch.max_events, config->batch.linger_ms);
  Status s;
  {
    DrainWatchdog watchdog(stop, std::chrono::seconds(o.drain_timeout_s));
    s = (*pipeline)->run(limits, stop, &reload);
  }
  reporter.reset();
  live = nullptr;
  server.reset();  // stops serving before the pipeline it reads goes away
  spdlog::info("done: {}", p.stats().summary());
  if (!s) {
    spdlog::error("{}", s.message());
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

void add_run_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Run the pipeline described by a TOML config until stopped");
  cmd->footer(
      "Stops on SIGINT/SIGTERM after loading and committing what is in flight (a second signal exits at\n"
      "once, and so does --drain-timeout-s), at the end of a file source, or at a limit below. SIGHUP\n"
      "reloads the geo table (so does a change of the geo files, see enrich.geo_poll_ms).\n"
      "Exit codes: 0 done, 1 failed while running, 2 stopped at start (config, reference data, database,\n"
      "broker or metrics address).");
  cmd->add_option("-c,--config", o->config_path, "TOML config file (see scripts/enrichd.example.toml)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option(
      "--backend", o->backend,
      "Override enrich.backend: auto (the GPU for batches large enough to win there, measured at "
      "start; else the CPU), cuda (every batch on the GPU, CPU fallback on a failure), avx2 or scalar");
  cmd->add_option("--device", o->device, "Override enrich.cuda_device: the CUDA device (0, 1, ...)")
      ->check(CLI::Range(0, 1023));
  cmd->add_option("--log-level", o->log_level, "Override log.level: trace, debug, info, warn, error, off");
  cmd->add_option("--log-format", o->log_format,
                  "Override log.format: text or json (one JSON object a line)");
  cmd->add_option("--max-messages", o->max_messages, "Stop after consuming this many messages (0: no limit)");
  cmd->add_option("--idle-exit-ms", o->idle_exit_ms, "Stop after this long without a message (0: never)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("-q,--quiet", o->quiet,
                "No status: neither the live line on a terminal nor the periodic log line");
  cmd->add_option("--status-interval-ms", o->status_interval_ms,
                  "How often the status is shown (default: 1000 on a terminal, 10000 as a log line)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--drain-timeout-s", o->drain_timeout_s,
                  "After a stop signal, exit anyway when draining takes longer than this (0: wait)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->callback([&action, o] { action = [o] { return run(*o); }; });
}

}  // namespace enrichd::cli
