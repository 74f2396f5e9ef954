#include "executor/interrupt.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>

namespace mpexec {

namespace {

int g_pipe[2] = {-1, -1};
volatile sig_atomic_t g_signal = 0;

void onSignal(int sig) {
  if (g_signal == 0) g_signal = sig;
  int saved = errno;
  char c = 1;
  (void)!write(g_pipe[1], &c, 1);
  errno = saved;
}

}  // namespace

InterruptWatch::InterruptWatch() {
  if (g_pipe[0] < 0) pipe2(g_pipe, O_CLOEXEC | O_NONBLOCK);
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGHUP, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
}

InterruptWatch::~InterruptWatch() {
  ::signal(SIGINT, SIG_DFL);
  ::signal(SIGTERM, SIG_DFL);
  ::signal(SIGHUP, SIG_DFL);
}

int InterruptWatch::fd() const { return g_pipe[0]; }
bool InterruptWatch::triggered() const { return g_signal != 0; }
int InterruptWatch::signal() const { return g_signal; }
bool InterruptWatch::pending() { return g_signal != 0; }

}  // namespace mpexec
