#pragma once
// Process creation for a unit's init and the parent/child handshake over a SOCK_SEQPACKET socketpair.

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "sandbox/result.h"

namespace mpexec::sandbox {

/// clone3 (falling back to clone) with `flags | CLONE_PIDFD`, fork-like: returns 0 in the child and the
/// child's pid in the caller, with *pidfd set. The child must come from a single-threaded process (it
/// continues on a copy of the caller's stack, and libc's fork handlers do not run).
/// With `cgroup_fd` >= 0 the child is born in that cgroup v2 directory (CLONE_INTO_CGROUP, clone3 only):
/// no migration afterwards, so no wait on the kernel's global cgroup lock.
pid_t cloneProcess(uint64_t flags, int* pidfd, int cgroup_fd = -1);

/// PR_SET_PDEATHSIG(SIGKILL). Call after every credential change: changing ids clears it.
Result<void> dieWithParent();

/// One message of the spawn handshake.
struct SpawnMessage {
  enum class Kind : uint32_t { Cloned, Ready, Failed };
  Kind kind = Kind::Failed;
  int32_t err = 0;
  int32_t pid = -1;
  char call[100] = {};
  char detail[400] = {};
};

/// Sends `msg` and, when fd >= 0, the fd with it (SCM_RIGHTS). Async-signal-safe.
bool sendSpawnMessage(int sock, const SpawnMessage& msg, int fd = -1);
/// A Failed message that carries `error`.
SpawnMessage failedMessage(const Error& error);
/// Receives one message (and an fd, if one came) within `timeout_ms`. Error on EOF or timeout.
Result<SpawnMessage> receiveSpawnMessage(int sock, int timeout_ms, int* fd = nullptr);

/// One byte each way: the "go" signal. receiveGo() fails on EOF (the other side died).
bool sendGo(int sock);
bool receiveGo(int sock);

}  // namespace mpexec::sandbox
