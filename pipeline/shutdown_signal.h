// Signal handling for long-running commands. SIGINT/SIGTERM: the first signal asks for a graceful stop
// (drain, load, commit); a second one exits at once — nothing is lost, because unacknowledged offsets are
// re-read. SIGHUP: asks for the reference data to be reloaded. The handlers only set flags; the work is
// done by whoever polls them.
#pragma once

#include <atomic>

namespace enrichd {

// Installs the SIGINT/SIGTERM handlers (idempotent) and returns the flag the first signal sets.
const std::atomic<bool>& install_shutdown_handlers();

// Installs the SIGHUP handler (idempotent) and returns the flag it sets; the reader clears it
// (exchange(false)) when it starts a reload.
std::atomic<bool>& install_reload_handler();

}  // namespace enrichd
