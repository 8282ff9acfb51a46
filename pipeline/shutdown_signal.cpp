#include "pipeline/shutdown_signal.h"

#include <signal.h>
#include <unistd.h>

namespace enrichd {
namespace {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the flag is set from a signal handler");

extern "C" void on_shutdown_signal(int sig) {
  if (g_stop.exchange(true)) {
    constexpr char kMsg[] = "enrichd: second signal, exiting now\n";
    (void)!write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
    _exit(128 + sig);
  }
  constexpr char kMsg[] =
      "enrichd: stopping: draining and committing what is in flight (signal again to exit now)\n";
  (void)!write(STDERR_FILENO, kMsg, sizeof kMsg - 1);
}

extern "C" void on_reload_signal(int) {
  g_reload.store(true);
}

}  // namespace

const std::atomic<bool>& install_shutdown_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_shutdown_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  return g_stop;
}

std::atomic<bool>& install_reload_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_reload_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGHUP, &sa, nullptr);
  return g_reload;
}

}  // namespace enrichd
