#include "sandbox/fd_passing.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mpexec::sandbox {

bool sendWithFds(int sock, const void* p, size_t n, const int* fds, size_t nfds) {
  if (nfds > kMaxPassedFds) return false;
  iovec iov{const_cast<void*>(p), n};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxPassedFds)] = {};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (nfds > 0) {
    mh.msg_control = control;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    cmsghdr* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
  }
  ssize_t w;
  do w = sendmsg(sock, &mh, MSG_NOSIGNAL);
  while (w < 0 && errno == EINTR);
  if (w <= 0) return w == ssize_t(n);
  // A stream socket may take part of it (a signal while the buffer was full): the fds went with the first
  // byte, the rest follows without them. A datagram is all or nothing.
  for (auto* rest = static_cast<const char*>(p); size_t(w) < n;) {
    ssize_t more = send(sock, rest + w, n - size_t(w), MSG_NOSIGNAL);
    if (more < 0 && errno == EINTR) continue;
    if (more <= 0) return false;
    w += more;
  }
  return true;
}

ssize_t receiveWithFds(int sock, void* p, size_t n, int flags, int* fds, size_t* nfds) {
  *nfds = 0;
  iovec iov{p, n};
  // Room for one more than is kept, so that a sender of too many is seen (and its fds closed), not cut.
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * (kMaxPassedFds + 1))] = {};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  ssize_t r;
  do r = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (r < 0) return r;
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      if (*nfds < kMaxPassedFds) fds[(*nfds)++] = fd;
      else close(fd);
    }
  }
  return r;
}

}  // namespace mpexec::sandbox
