#include "sandbox/net.h"

#include <fcntl.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>
#include <utility>

#include "sandbox/unique_fd.h"

namespace mpexec::sandbox {

Result<void> bringUpLoopback() {
  UniqueFd sock(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock) return sysError("socket", "lo");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(sock.get(), SIOCGIFFLAGS, &ifr) != 0) return sysError("ioctl SIOCGIFFLAGS", "lo");
  ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
  if (ioctl(sock.get(), SIOCSIFFLAGS, &ifr) != 0) return sysError("ioctl SIOCSIFFLAGS", "lo");
  return {};
}

namespace {

constexpr std::pair<const char*, char> kQuietMulticast[] = {{"/proc/sys/net/ipv4/conf/all/force_igmp_version", '2'},
                                                            {"/proc/sys/net/ipv6/conf/all/force_mld_version", '1'}};

}  // namespace

bool quietMulticast() {
  for (size_t i = 0; i < std::size(kQuietMulticast); ++i) {
    UniqueFd fd(open(kQuietMulticast[i].first, O_WRONLY | O_CLOEXEC));
    if (!fd && errno == ENOENT && i == 1) continue;  // no IPv6
    if (!fd || write(fd.get(), &kQuietMulticast[i].second, 1) != 1) return false;
  }
  return true;
}

bool multicastIsQuiet() {
  for (size_t i = 0; i < std::size(kQuietMulticast); ++i) {
    UniqueFd fd(open(kQuietMulticast[i].first, O_RDONLY | O_CLOEXEC));
    if (!fd && errno == ENOENT && i == 1) continue;  // no IPv6
    char c = 0;
    if (!fd || read(fd.get(), &c, 1) != 1 || c != kQuietMulticast[i].second) return false;
  }
  return true;
}

}  // namespace mpexec::sandbox
