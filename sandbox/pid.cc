#include "sandbox/pid.h"

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

#include "sandbox/fd_passing.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif

namespace mpexec::sandbox {
namespace {

// struct clone_args, CLONE_ARGS_SIZE_VER0. Spelled out here because <linux/sched.h> and glibc's <sched.h>
// disagree on some versions.
struct CloneArgs {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
  uint64_t set_tid, set_tid_size, cgroup;  // CLONE_ARGS_SIZE_VER2
};
constexpr uint64_t kCloneIntoCgroup = 0x200000000ULL;

void copyString(char* dst, size_t size, const std::string& src) {
  size_t n = src.size() < size - 1 ? src.size() : size - 1;
  std::memcpy(dst, src.data(), n);
  dst[n] = '\0';
}

}  // namespace

pid_t cloneProcess(uint64_t flags, int* pidfd, int cgroup_fd) {
  CloneArgs args{};
  args.flags = flags | CLONE_PIDFD;
  if (cgroup_fd >= 0) {
    args.flags |= kCloneIntoCgroup;
    args.cgroup = uint64_t(cgroup_fd);
  }
  args.pidfd = reinterpret_cast<uintptr_t>(pidfd);
  // With CLONE_PARENT the child inherits our exit signal, and clone3 insists on 0 here.
  args.exit_signal = (flags & CLONE_PARENT) ? 0 : SIGCHLD;
#ifdef SYS_clone3
  long r = syscall(SYS_clone3, &args, sizeof args);
  if (r >= 0 || errno != ENOSYS) return static_cast<pid_t>(r);
#endif
  if (cgroup_fd >= 0) return -1;  // errno is ENOSYS: the caller joins the cgroup itself instead
  // Legacy clone: the exit signal goes in the low byte, the pidfd in the parent_tid slot, and a null stack
  // means "continue on a copy of this one", as fork does. (x86-64 and arm64 agree on these slots.)
  return static_cast<pid_t>(syscall(SYS_clone, flags | CLONE_PIDFD | SIGCHLD, nullptr, pidfd, nullptr, nullptr));
}

Result<void> dieWithParent() {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) return sysError("prctl", "PR_SET_PDEATHSIG");
  return {};
}

SpawnMessage failedMessage(const Error& error) {
  SpawnMessage m;
  m.kind = SpawnMessage::Kind::Failed;
  m.err = error.err;
  copyString(m.call, sizeof m.call, error.call);
  copyString(m.detail, sizeof m.detail, error.detail);
  return m;
}

bool sendSpawnMessage(int sock, const SpawnMessage& msg, int fd) { return sendWithFd(sock, &msg, sizeof msg, fd); }

Result<SpawnMessage> receiveSpawnMessage(int sock, int timeout_ms, int* fd) {
  if (fd) *fd = -1;
  pollfd p{sock, POLLIN, 0};
  int r;
  do r = poll(&p, 1, timeout_ms);
  while (r < 0 && errno == EINTR);
  if (r < 0) return sysError("poll", "sandbox handshake");
  if (r == 0) return Error{"sandbox handshake", ETIMEDOUT, "the unit's init did not report in time"};
  SpawnMessage msg;
  int fds[kMaxPassedFds];
  size_t nfds = 0;
  ssize_t n = receiveWithFds(sock, &msg, sizeof msg, 0, fds, &nfds);
  if (n < 0) return sysError("recvmsg", "sandbox handshake");
  for (size_t i = 0; i < nfds; ++i) {
    if (fd && i == 0) *fd = fds[i];
    else close(fds[i]);
  }
  if (n == 0) return Error{"sandbox handshake", EPIPE, "the other side exited during set-up"};
  // On a stream socket (the spawner's) the rest of the message may come in a later read.
  while (n > 0 && n < static_cast<ssize_t>(sizeof msg)) {
    ssize_t more = recv(sock, reinterpret_cast<char*>(&msg) + n, sizeof msg - size_t(n), MSG_WAITALL);
    if (more < 0 && errno == EINTR) continue;
    if (more <= 0) break;
    n += more;
  }
  if (n != static_cast<ssize_t>(sizeof msg)) return Error{"sandbox handshake", EPROTO, "short message"};
  return msg;
}

bool sendGo(int sock) {
  char byte = 'G';
  ssize_t n;
  do n = send(sock, &byte, 1, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == 1;
}

bool receiveGo(int sock) {
  char byte = 0;
  ssize_t n;
  do n = recv(sock, &byte, 1, 0);
  while (n < 0 && errno == EINTR);
  return n == 1 && byte == 'G';
}

}  // namespace mpexec::sandbox
