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

bool quietMulticast() {
  const std::pair<const char*, char> settings[] = {{"/proc/sys/net/ipv4/conf/all/force_igmp_version", '2'},
                                                   {"/proc/sys/net/ipv6/conf/all/force_mld_version", '1'}};
  for (size_t i = 0; i < std::size(settings); ++i) {
    UniqueFd fd(open(settings[i].first, O_WRONLY | O_CLOEXEC));
    if (!fd && errno == ENOENT && i == 1) continue;  // no IPv6
    if (!fd || write(fd.get(), &settings[i].second, 1) != 1) return false;
  }
  return true;
}

}  // namespace mpexec::sandbox
