// SIGINT/SIGTERM handling for long-running commands: the first signal asks for a graceful stop (drain,
// load, commit); a second one exits at once — nothing is lost, because unacknowledged offsets are re-read.
#pragma once

#include <atomic>

namespace enrichd {

// Installs the handlers (idempotent) and returns the flag the first signal sets.
const std::atomic<bool>& install_shutdown_handlers();

}  // namespace enrichd
