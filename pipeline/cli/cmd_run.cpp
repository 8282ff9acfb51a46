#include <spdlog/spdlog.h>

#include <memory>

#include "pipeline/cli/commands.h"
#include "pipeline/pipeline.h"
#include "pipeline/shutdown_signal.h"

namespace enrichd::cli {
namespace {

struct RunOptions {
  std::string config_path;
  std::string backend;
  std::string log_level;
  uint64_t max_messages = 0;
  int64_t idle_exit_ms = 0;
};

int run(const RunOptions& o) {
  const auto& stop = install_shutdown_handlers();
  auto config = load_config(o.config_path);
  if (!config) {
    spdlog::error("{}", config.status().message());
    return kExitBadConfig;
  }
  if (!o.backend.empty()) config->enrich.backend = o.backend;
  if (!o.log_level.empty()) config->log_level = o.log_level;
  spdlog::set_level(spdlog::level::from_str(config->log_level));

  auto pipeline = Pipeline::create(*config);
  if (!pipeline) {
    spdlog::error("{}", pipeline.status().message());
    return kExitBadConfig;
  }
  RunLimits limits{o.max_messages, std::chrono::milliseconds(o.idle_exit_ms)};
  spdlog::info("running (backend {}, batches of up to {} messages, linger {} ms)",
               (*pipeline)->backend_name(), config->batch.max_events, config->batch.linger_ms);
  const Status s = (*pipeline)->run(limits, stop);
  spdlog::info("done: {}", (*pipeline)->stats().summary());
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
      "Stops on SIGINT/SIGTERM after loading and committing what is in flight (a second signal exits at "
      "once),\n"
      "at the end of a file source, or at a limit below. Exit codes: 0 done, 1 failed while running,\n"
      "2 stopped at start (config, reference data, database or broker).");
  cmd->add_option("-c,--config", o->config_path, "TOML config file (see scripts/enrichd.example.toml)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--backend", o->backend, "Override enrich.backend: auto, cuda, avx2 or scalar");
  cmd->add_option("--log-level", o->log_level, "Override log.level: trace, debug, info, warn, error, off");
  cmd->add_option("--max-messages", o->max_messages, "Stop after consuming this many messages (0: no limit)");
  cmd->add_option("--idle-exit-ms", o->idle_exit_ms, "Stop after this long without a message (0: never)")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([&action, o] { action = [o] { return run(*o); }; });
}

}  // namespace enrichd::cli
