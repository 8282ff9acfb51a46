#include <iostream>

#include "kernels/backend.h"
#include "pipeline/cli/commands.h"

namespace enrichd::cli {

void add_backends_command(CLI::App& app, Action& action) {
  CLI::App* cmd =
      app.add_subcommand("backends", "List the enrichment backends and whether each can run here");
  cmd->callback([&action] {
    action = [] {
      for (const auto& b : list_backends()) {
        std::cout << b.name << '\t' << (b.available ? "available" : "unavailable") << '\t' << b.detail
                  << '\n';
      }
      return kExitOk;
    };
  });
}

}  // namespace enrichd::cli
