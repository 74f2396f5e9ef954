#pragma once
// One message on a Unix socket with file descriptors beside it (SCM_RIGHTS): the handshakes between mpexec,
// the spawner and a unit's init all pass fds this way.

#include <sys/types.h>

#include <cstddef>

namespace mpexec::sandbox {

/// The most fds one message carries.
inline constexpr size_t kMaxPassedFds = 4;

/// Sends the `n` bytes at `p` in one sendmsg (MSG_NOSIGNAL, again on EINTR) with the `nfds` fds at `fds` (at
/// most kMaxPassedFds) as SCM_RIGHTS; on a stream socket that took only part of them, the rest after it.
/// True when all `n` bytes went. Async-signal-safe: no allocation.
bool sendWithFds(int sock, const void* p, size_t n, const int* fds, size_t nfds);
/// sendWithFds() with `fd` alone, or no fd when it is -1.
inline bool sendWithFd(int sock, const void* p, size_t n, int fd = -1) {
  return sendWithFds(sock, p, n, &fd, fd >= 0 ? 1 : 0);
}

/// Receives into the `n` bytes at `p` with one recvmsg (`flags` | MSG_CMSG_CLOEXEC, again on EINTR): what
/// recvmsg returns. The fds that came with it go to `fds` (room for kMaxPassedFds), their number to `*nfds`;
/// any beyond kMaxPassedFds are closed.
ssize_t receiveWithFds(int sock, void* p, size_t n, int flags, int* fds, size_t* nfds);

}  // namespace mpexec::sandbox
