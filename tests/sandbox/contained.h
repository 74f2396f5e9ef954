#pragma once
// Runs a function as the init of a real contained unit (spawnContainedWith), for the sandbox step tests.
// The body reports with say(); it returns 0 when every check inside passed.

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sandbox/contain.h"
#include "sandbox/context.h"
#include "sandbox/unit_process.h"

namespace mpexec::sandbox::testing {

/// The one Context of the test binary (namespaces): creating it probes and compiles seccomp once.
inline const Context* namespaceContext(std::string* why = nullptr) {
  static auto made = Context::create(Isolation::Namespaces);
  if (!made) {
    if (why) *why = made.error().message();
    return nullptr;
  }
  return made.value().get();
}

#define MPEXEC_NEED_NAMESPACES(ctx)                                   \
  std::string why_;                                                   \
  const ::mpexec::sandbox::Context* ctx = namespaceContext(&why_);    \
  if (!ctx) GTEST_SKIP() << "no namespaces here: " << why_

/// Sends one line from inside the unit to the test.
inline void say(int fd, const std::string& line) { (void)!send(fd, line.data(), line.size(), MSG_NOSIGNAL); }

/// A check inside the body: reports `what` when it fails.
inline bool check(int fd, bool ok, const std::string& what) {
  if (!ok) say(fd, "FAILED: " + what + " (errno " + std::to_string(errno) + ")");
  return ok;
}

struct Contained {
  Result<ContainedChild> child = Error{};
  int fd = -1;  ///< the test's end of the report socket
  bool reaped = false;

  ~Contained() {
    if (child && !reaped) {
      kill(child->pid, SIGKILL);
      waitpid(child->pid, nullptr, 0);
    }
    if (fd >= 0) close(fd);
  }
  /// Waits for the init and returns its raw wait status.
  int wait() {
    int status = -1;
    while (waitpid(child->pid, &status, 0) < 0 && errno == EINTR) {
    }
    reaped = true;
    return status;
  }
  /// Everything said so far (non-blocking).
  std::string said() {
    std::string all;
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) all += std::string(buf, n) + "\n";
    return all;
  }
  /// The next line, blocking.
  std::string next() {
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, n) : std::string();
  }
};

inline std::unique_ptr<Contained> contain(const Context& ctx, const UnitSpec& spec, std::function<int(int)> body,
                                          int shared_root = -1) {
  auto c = std::make_unique<Contained>();
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) std::abort();
  c->fd = sv[0];
  int inner = sv[1];
  c->child = spawnContainedWith(ctx, spec, inner, [&body, inner] { return body(inner); }, shared_root);
  close(inner);
  return c;
}

/// Runs `body` contained and expects it to exit 0; returns what it said.
inline std::string expectContainedPasses(const Context& ctx, const UnitSpec& spec, std::function<int(int)> body,
                                         int shared_root = -1) {
  auto c = contain(ctx, spec, std::move(body), shared_root);
  EXPECT_TRUE(c->child.ok()) << (c->child ? "" : c->child.error().message());
  if (!c->child) return {};
  int status = c->wait();
  std::string said = c->said();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << "\n" << said;
  return said;
}

inline UnitSpec unitSpec(const std::string& name) {
  UnitSpec spec;
  spec.name = name;
  spec.isolation = Isolation::Namespaces;
  return spec;
}

/// The unit's first events: its Started, for a command that keeps running. Empty if none came in 30 s.
inline std::vector<Event> firstEvents(UnitProcess& p) {
  std::vector<Event> events;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (events.empty() && p.readEvents(events) && std::chrono::steady_clock::now() < deadline) {
    pollfd fds[1] = {{p.eventFd(), POLLIN, 0}};
    poll(fds, 1, 1000);
  }
  return events;
}

}  // namespace mpexec::sandbox::testing
