// enrichd: Kafka events -> parse -> filter -> geo + category enrichment -> MemSQL/SingleStore.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "pipeline/cli/commands.h"

int main(int argc, char** argv) {
  // Logs go to stderr so that stdout carries only data (generated events, addresses, lookup rows).
  spdlog::set_default_logger(spdlog::stderr_color_mt("enrichd"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");

  CLI::App app{
      "enrichd — GPU/SIMD enrichment of event streams: Kafka JSON events are parsed into columns, filtered,\n"
      "enriched with IP geolocation and a category join, and bulk-loaded into MemSQL/SingleStore."};
  app.require_subcommand(1);
  enrichd::cli::Action action;
  enrichd::cli::add_run_command(app, action);
  enrichd::cli::add_check_command(app, action);
  enrichd::cli::add_broker_command(app, action);
  enrichd::cli::add_gen_command(app, action);
  enrichd::cli::add_backends_command(app, action);
  enrichd::cli::add_geo_command(app, action);
  enrichd::cli::add_bench_command(app, action);
  CLI11_PARSE(app, argc, argv);
  return action ? action() : enrichd::cli::kExitOk;
}
