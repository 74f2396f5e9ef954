#include "sandbox/net.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cstring>

#include "tests/sandbox/contained.h"

namespace mpexec::sandbox {
namespace {
using namespace testing;

// Binds 127.0.0.1:8080, says so, and holds the port until the test says go.
int holdPort8080(int fd) {
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(8080);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (!check(fd, s >= 0 && bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && listen(s, 1) == 0,
             "bind 127.0.0.1:8080"))
    return 1;
  int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (!check(fd, connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0, "connect over lo")) return 1;
  ifreq ifr{};
  std::strcpy(ifr.ifr_name, "lo");
  if (!check(fd, ioctl(c, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP), "lo is down")) return 1;
  say(fd, "bound");
  char go;
  return recv(fd, &go, 1, 0) == 1 ? 0 : 1;
}

TEST(NetTest, LoopbackIsUpAndPortsDoNotCollide) {
  MPEXEC_NEED_NAMESPACES(ctx);
  auto a = contain(*ctx, unitSpec("net-a"), holdPort8080);
  ASSERT_TRUE(a->child.ok()) << a->child.error().message();
  ASSERT_EQ(a->next(), "bound");
  auto b = contain(*ctx, unitSpec("net-b"), holdPort8080);
  ASSERT_TRUE(b->child.ok()) << b->child.error().message();
  ASSERT_EQ(b->next(), "bound") << b->said();
  for (auto* c : {a.get(), b.get()}) {
    ASSERT_EQ(send(c->fd, "g", 1, 0), 1);
    int status = c->wait();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << c->said();
  }
}

TEST(NetTest, HostNetworkSharesTheNamespace) {
  MPEXEC_NEED_NAMESPACES(ctx);
  struct stat host;
  ASSERT_EQ(stat("/proc/self/ns/net", &host), 0);
  for (Network n : {Network::Host, Network::None}) {
    UnitSpec spec = unitSpec("net-host");
    spec.policy.network = n;
    ino_t ino = host.st_ino;
    bool want_same = n == Network::Host;
    expectContainedPasses(*ctx, spec, [ino, want_same](int fd) {
      struct stat inside;
      return check(fd, stat("/proc/self/ns/net", &inside) == 0 && (inside.st_ino == ino) == want_same,
                   "net namespace")
                 ? 0
                 : 1;
    });
  }
}

}  // namespace
}  // namespace mpexec::sandbox
