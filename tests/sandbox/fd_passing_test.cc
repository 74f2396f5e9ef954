// Messages with fds beside them, on a socketpair of each kind the handshakes use.

#include "sandbox/fd_passing.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "sandbox/unique_fd.h"

namespace mpexec::sandbox {
namespace {

struct Pair {
  UniqueFd a, b;
  explicit Pair(int type) {
    int sv[2];
    if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) == 0) {
      a.reset(sv[0]);
      b.reset(sv[1]);
    }
  }
};

ino_t inode(int fd) {
  struct stat st {};
  fstat(fd, &st);
  return st.st_ino;
}

size_t openFds() {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) n += e.path().filename() != ".";
  return n;
}

TEST(FdPassingTest, BytesAndFdsArriveTogether) {
  for (int type : {SOCK_SEQPACKET, SOCK_STREAM}) {
    Pair p(type);
    ASSERT_TRUE(p.a.valid());
    UniqueFd one(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)), two(open("/dev/null", O_RDONLY | O_CLOEXEC));
    const int sent[2] = {one.get(), two.get()};
    ASSERT_TRUE(sendWithFds(p.a.get(), "hello", 5, sent, 2));
    char buf[5];
    int got[kMaxPassedFds];
    size_t n = 99;
    ASSERT_EQ(receiveWithFds(p.b.get(), buf, sizeof buf, MSG_WAITALL, got, &n), 5);
    EXPECT_EQ(std::memcmp(buf, "hello", 5), 0);
    ASSERT_EQ(n, 2u);
    EXPECT_EQ(inode(got[0]), inode(one.get()));
    EXPECT_EQ(inode(got[1]), inode(two.get()));
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ(fcntl(got[i], F_GETFD) & FD_CLOEXEC, FD_CLOEXEC) << "received fds are close-on-exec";
      close(got[i]);
    }

    ASSERT_TRUE(sendWithFd(p.a.get(), "x", 1));
    ASSERT_EQ(receiveWithFds(p.b.get(), buf, 1, 0, got, &n), 1);
    EXPECT_EQ(n, 0u);
  }
}

TEST(FdPassingTest, MoreFdsThanKeptAreClosedNotLeaked) {
  Pair p(SOCK_SEQPACKET);
  ASSERT_TRUE(p.a.valid());
  UniqueFd dir(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  int many[kMaxPassedFds + 1];
  for (int& fd : many) fd = dir.get();
  EXPECT_FALSE(sendWithFds(p.a.get(), "x", 1, many, kMaxPassedFds + 1)) << "more than kMaxPassedFds are refused";

  // A peer that sends them anyway, with its own sendmsg.
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof many)] = {};
  char byte = 'x';
  iovec iov{&byte, 1};
  msghdr mh{};
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&mh);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof many);
  std::memcpy(CMSG_DATA(c), many, sizeof many);
  ASSERT_EQ(sendmsg(p.a.get(), &mh, 0), 1);

  const size_t before = openFds();
  int got[kMaxPassedFds];
  size_t n = 0;
  ASSERT_EQ(receiveWithFds(p.b.get(), &byte, 1, 0, got, &n), 1);
  EXPECT_EQ(n, kMaxPassedFds);
  EXPECT_EQ(openFds(), before + n) << "an fd beyond kMaxPassedFds stayed open";
  for (size_t i = 0; i < n; ++i) close(got[i]);
}

TEST(FdPassingTest, AStreamSendASignalCutShortIsCompletedWithTheFdsOnItsFirstBytes) {
  // The spawner's requests are one message on a stream socket (header, fds, request). A signal that comes
  // while sendmsg waits for room returns what it had sent so far: the rest must still follow.
  Pair p(SOCK_STREAM);
  ASSERT_TRUE(p.a.valid());
  int small = 4096;
  ASSERT_EQ(setsockopt(p.a.get(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  struct sigaction sa {}, old {};
  sa.sa_handler = [](int) {};  // no SA_RESTART: the blocked sendmsg returns
  sigemptyset(&sa.sa_mask);
  ASSERT_EQ(sigaction(SIGUSR2, &sa, &old), 0);
  std::string sent(1 << 20, '\0');
  for (size_t i = 0; i < sent.size(); ++i) sent[i] = char(i * 7 + i / 4096);
  UniqueFd dir(open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  const pthread_t sender = pthread_self();
  std::string got;
  size_t nfds = 0;
  int fd = -1;
  std::thread reader([&] {
    // The sender is blocked by now, its buffer full: interrupt it, then read everything.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    pthread_kill(sender, SIGUSR2);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    char buf[65536];
    int fds[kMaxPassedFds];
    ssize_t n = receiveWithFds(p.b.get(), buf, sizeof buf, 0, fds, &nfds);
    if (nfds > 0) fd = fds[0];
    while (n > 0) {
      got.append(buf, size_t(n));
      if (got.size() >= sent.size()) break;
      n = recv(p.b.get(), buf, sizeof buf, 0);
    }
  });
  const int one = dir.get();
  bool ok = sendWithFds(p.a.get(), sent.data(), sent.size(), &one, 1);
  shutdown(p.a.get(), SHUT_WR);  // the reader's end, should the send have stopped short
  reader.join();
  sigaction(SIGUSR2, &old, nullptr);
  EXPECT_TRUE(ok);
  EXPECT_EQ(got.size(), sent.size());
  EXPECT_TRUE(got == sent) << "the bytes arrived changed";
  ASSERT_EQ(nfds, 1u);
  EXPECT_EQ(inode(fd), inode(dir.get()));
  close(fd);
}

}  // namespace
}  // namespace mpexec::sandbox
