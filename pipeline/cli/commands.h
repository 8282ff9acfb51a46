// The enrichd subcommands. Each registers its options on the CLI11 app and returns the action to run.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace enrichd::cli {

using Action = std::function<int()>;

// Exit codes shared by every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;    // a failure while running
inline constexpr int kExitBadConfig = 2;  // stopped at start: config, files, DB or broker

void add_broker_command(CLI::App& app, Action& action);
void add_gen_command(CLI::App& app, Action& action);
void add_run_command(CLI::App& app, Action& action);
void add_check_command(CLI::App& app, Action& action);
void add_backends_command(CLI::App& app, Action& action);
void add_geo_command(CLI::App& app, Action& action);
void add_bench_command(CLI::App& app, Action& action);

}  // namespace enrichd::cli
