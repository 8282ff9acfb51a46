// `enrichd check -c FILE`: every start-up check of `enrichd run` (config, reference data, backend,
// database and tables, broker and topic or file, metrics address) without consuming or changing anything,
// and what the run would use.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <memory>

#include "pipeline/cli/commands.h"
#include "pipeline/pipeline.h"

namespace enrichd::cli {
namespace {

struct CheckOptions {
  std::string config_path;
  std::string backend;
};

int check(const CheckOptions& o) {
  auto config = load_config(o.config_path);
  if (!config) {
    spdlog::error("{}", config.status().message());
    return kExitBadConfig;
  }
  if (!o.backend.empty()) config->enrich.backend = o.backend;
  const CheckReport report = Pipeline::check(*config);
  std::cout << fmt::format("{:<11} {}\n", "config", o.config_path);
  for (const auto& [what, text] : report.lines) std::cout << fmt::format("{:<11} {}\n", what, text);
  for (const auto& e : report.errors) spdlog::error("{}", e);
  if (!report.ok()) {
    std::cout << fmt::format("not ok: {} problem{} (see above); enrichd run would stop at start\n",
                             report.errors.size(), report.errors.size() == 1 ? "" : "s");
    return kExitBadConfig;
  }
  std::cout << "ok: enrichd run would start with this\n";
  return kExitOk;
}

}  // namespace

void add_check_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<CheckOptions>();
  CLI::App* cmd = app.add_subcommand(
      "check",
      "Check a config as `enrichd run` would at start, without consuming, and show what it would run");
  cmd->footer(
      "Checks the config keys, loads the reference data, picks the backend, connects to the database (and\n"
      "checks existing tables' columns, and the types of action and app against their store; creates\n"
      "nothing), asks the broker for the topic (joining no group) or opens the file, and tries the metrics\n"
      "address. Exit codes: 0 all good, 2 a problem (named by key).");
  cmd->add_option("-c,--config", o->config_path, "TOML config file (see scripts/enrichd.example.toml)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--backend", o->backend, "Override enrich.backend: auto, cuda, avx2 or scalar");
  cmd->callback([&action, o] { action = [o] { return check(*o); }; });
}

}  // namespace enrichd::cli
