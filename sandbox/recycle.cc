#include "sandbox/recycle.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/genetlink.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp_metrics.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "sandbox/cgroup.h"
#include "sandbox/unique_fd.h"
#include "sandbox/uts.h"

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

namespace mpexec::sandbox {
namespace {

Error residue(const std::string& what) { return Error{"residue", EBUSY, what}; }

/// The file at `path` whole (small /proc files), or an error naming it.
Result<std::string> readProc(const char* path) {
  UniqueFd fd(open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return sysError("residue check", std::string("open ") + path);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, size_t(n));
  if (n < 0) return sysError("residue check", std::string("read ") + path);
  return out;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  size_t pos = 0;
  while ((pos = line.find_first_not_of(' ', pos)) != std::string::npos) {
    size_t end = line.find(' ', pos);
    if (end == std::string::npos) end = line.size();
    out.push_back(line.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

/// /proc/net/protocols counts, per network namespace, the sockets of every protocol that are in use
/// (bound, connected, listening, or an orphan still closing): all must be 0.
Result<void> noSocketsInUse() {
  auto text = readProc("/proc/net/protocols");
  if (!text) return text.error();
  auto all = lines(*text);
  for (size_t i = 1; i < all.size(); ++i) {
    auto w = words(all[i]);
    if (w.size() < 3) continue;
    if (w[2] != "0") return residue(w[2] + " " + w[0] + " socket(s) in use in the network namespace");
  }
  return {};
}

/// "FRAG: inuse 0 memory 0" in sockstat, "FRAG6: ..." in sockstat6: IP fragments waiting for the rest of
/// their datagram, which count against the namespace's reassembly memory for up to 30 s.
Result<void> noFragments(const char* path, const char* key) {
  auto text = readProc(path);
  if (!text) return text.error();
  for (const std::string& line : lines(*text)) {
    auto w = words(line);
    if (w.size() >= 5 && w[0] == key && (w[2] != "0" || w[4] != "0"))
      return residue(std::string("IP fragments waiting for reassembly (") + line + ")");
  }
  return {};
}

/// IPv6 flow labels outlive their socket by their linger time (at least 6 s).
Result<void> noFlowLabels() {
  auto text = readProc("/proc/net/ip6_flowlabel");
  if (!text && text.error().err == ENOENT) return {};  // no IPv6
  if (!text) return text.error();
  auto all = lines(*text);
  for (size_t i = 1; i < all.size(); ++i)
    if (!all[i].empty()) return residue("an IPv6 flow label (" + all[i] + ")");
  return {};
}

/// Sends one netlink request and reads the answers until NLMSG_DONE (a dump) or the first message (not a
/// dump); `each` sees every answer that is neither, and returns an error to stop.
template <typename Each>
Result<void> netlinkExchange(int fd, const void* req, size_t len, bool dump, const char* what, Each each) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (sendto(fd, req, len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) != ssize_t(len))
    return sysError("residue check", std::string("send ") + what);
  alignas(nlmsghdr) char buf[16384];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sysError("residue check", std::string("receive ") + what);
    if (n == 0) return Error{"residue check", EPROTO, std::string("no answer to ") + what};
    int left = int(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, unsigned(left)); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_DONE) return {};
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(h));
        if (e->error == 0 && !dump) return {};  // an ack
        return Error{"residue check", e->error ? -e->error : EPROTO, what};
      }
      MPEXEC_TRY(each(h));
      if (!dump) return {};
    }
  }
}

std::string endpoint(uint8_t family, const uint32_t* addr, uint16_t port_be) {
  char text[INET6_ADDRSTRLEN] = "?";
  inet_ntop(family, addr, text, sizeof text);
  return (family == AF_INET6 ? "[" + std::string(text) + "]" : std::string(text)) + ":" +
         std::to_string(ntohs(port_be));
}

const char* tcpState(uint8_t s) {
  static const char* const names[] = {"?",         "ESTABLISHED", "SYN_SENT", "SYN_RECV",  "FIN_WAIT1",
                                      "FIN_WAIT2", "TIME_WAIT",   "CLOSE",    "CLOSE_WAIT", "LAST_ACK",
                                      "LISTEN",    "CLOSING",     "NEW_SYN_RECV"};
  return s < sizeof names / sizeof *names ? names[s] : "?";
}

/// Asks sock_diag for every socket that `filter` (a request of its family's kind) selects, and hands each
/// answer's message to `each`.
template <typename Request, typename Each>
Result<void> sockDiagDump(int fd, const Request& filter, const char* what, Each each) {
  struct {
    nlmsghdr h;
    Request r;
  } req{};
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.r = filter;
  return netlinkExchange(fd, &req, sizeof req, true, what, [&](const nlmsghdr* h) -> Result<void> {
    if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) return {};
    return each(NLMSG_DATA(h));
  });
}

/// sock_diag of every socket of (family, protocol) in the namespace, in any state: TCP's dump includes
/// TIME_WAIT and request sockets, which /proc/net/protocols does not count.
Result<void> noInetSockets(int fd, uint8_t family, uint8_t protocol) {
  inet_diag_req_v2 filter{};
  filter.sdiag_family = family;
  filter.sdiag_protocol = protocol;
  filter.idiag_states = ~0u;
  const char* proto = protocol == IPPROTO_TCP ? "TCP" : "UDP";
  return sockDiagDump(fd, filter, "sock_diag", [&](const void* data) -> Result<void> {
    const auto* m = static_cast<const inet_diag_msg*>(data);
    std::string state = protocol == IPPROTO_TCP ? std::string(" in ") + tcpState(m->idiag_state) : "";
    return residue(std::string("a ") + proto + " socket" + state + " on " +
                   endpoint(m->idiag_family, m->id.idiag_src, m->id.idiag_sport));
  });
}

Result<void> noUnixSockets(int fd) {
  unix_diag_req filter{};
  filter.sdiag_family = AF_UNIX;
  filter.udiag_states = ~0u;
  return sockDiagDump(fd, filter, "unix sock_diag", [&](const void* data) -> Result<void> {
    const auto* m = static_cast<const unix_diag_msg*>(data);
    return residue("a Unix socket (inode " + std::to_string(m->udiag_ino) + ")");
  });
}

/// TCP sockets in TIME_WAIT, which /proc/net/protocols does not count: "TCP: ... tw N" in sockstat counts
/// those of this namespace (its own tcp_death_row), IPv6 ones included.
Result<void> noTimeWait() {
  auto text = readProc("/proc/net/sockstat");
  if (!text) return text.error();
  for (const std::string& line : lines(*text)) {
    auto w = words(line);
    for (size_t i = 1; w.size() > 1 && w[0] == "TCP:" && i + 1 < w.size(); ++i)
      if (w[i] == "tw" && w[i + 1] != "0") return residue(w[i + 1] + " TCP socket(s) in TIME_WAIT");
  }
  return {};
}

/// The namespace's TCP and UDP traffic counters (/proc/net/snmp and snmp6), as one string: while they stand
/// still, no socket of either protocol has changed state.
Result<std::string> trafficCounters() {
  std::string out;
  auto snmp = readProc("/proc/net/snmp");
  if (!snmp) return snmp.error();
  for (const std::string& line : lines(*snmp))
    if (line.rfind("Tcp: ", 0) == 0 || line.rfind("Udp: ", 0) == 0 || line.rfind("UdpLite: ", 0) == 0) out += line + "\n";
  auto snmp6 = readProc("/proc/net/snmp6");
  if (snmp6) {
    for (const std::string& line : lines(*snmp6))
      if (line.rfind("Udp", 0) == 0) out += line + "\n";
  } else if (snmp6.error().err != ENOENT) {
    return snmp6.error();
  }
  return out;
}

Result<void> noSockets(bool inet) {
  UniqueFd fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!fd) return sysError("residue check", "sock_diag socket");
  for (uint8_t family : {uint8_t(AF_INET), uint8_t(AF_INET6)})
    for (uint8_t protocol : {uint8_t(IPPROTO_TCP), uint8_t(IPPROTO_UDP)})
      if (inet) MPEXEC_TRY(noInetSockets(fd.get(), family, protocol));
  return noUnixSockets(fd.get());
}

/// One netlink attribute appended to `buf` at `len`.
void putAttr(char* buf, size_t& len, uint16_t type, const void* data, size_t size) {
  auto* a = reinterpret_cast<nlattr*>(buf + len);
  a->nla_type = type;
  a->nla_len = uint16_t(NLA_HDRLEN + size);
  memcpy(buf + len + NLA_HDRLEN, data, size);
  len += NLA_ALIGN(a->nla_len);
}

/// TCP keeps what it learnt of each peer (RTT, congestion window, Fast Open cookies) per namespace after the
/// connection is gone, and uses it for the next connection to that address; anyone may read it
/// (TCP_METRICS_CMD_GET). Flushed with TCP_METRICS_CMD_DEL without an address, which needs CAP_NET_ADMIN
/// over the namespace: the init's (the namespace is the host's user namespace's).
Result<void> flushTcpMetrics() {
  UniqueFd fd(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC));
  if (!fd) return sysError("residue check", "generic netlink socket");
  alignas(nlmsghdr) char req[128] = {};
  auto* h = reinterpret_cast<nlmsghdr*>(req);
  auto* g = static_cast<genlmsghdr*>(NLMSG_DATA(h));
  h->nlmsg_type = GENL_ID_CTRL;
  h->nlmsg_flags = NLM_F_REQUEST;
  g->cmd = CTRL_CMD_GETFAMILY;
  g->version = 1;
  size_t len = NLMSG_HDRLEN + GENL_HDRLEN;
  putAttr(req, len, CTRL_ATTR_FAMILY_NAME, TCP_METRICS_GENL_NAME, sizeof TCP_METRICS_GENL_NAME);
  h->nlmsg_len = uint32_t(len);
  uint16_t family = 0;
  MPEXEC_TRY(netlinkExchange(fd.get(), req, len, false, "tcp_metrics family", [&](const nlmsghdr* m) -> Result<void> {
    int left = int(m->nlmsg_len) - int(NLMSG_HDRLEN + GENL_HDRLEN);
    auto* a = reinterpret_cast<const nlattr*>(static_cast<const char*>(NLMSG_DATA(m)) + GENL_HDRLEN);
    for (; left >= int(NLA_HDRLEN) && a->nla_len >= NLA_HDRLEN && int(a->nla_len) <= left;
         left -= NLA_ALIGN(a->nla_len), a = reinterpret_cast<const nlattr*>(reinterpret_cast<const char*>(a) + NLA_ALIGN(a->nla_len)))
      if ((a->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID)
        memcpy(&family, reinterpret_cast<const char*>(a) + NLA_HDRLEN, sizeof family);
    return {};
  }));
  if (family == 0) return Error{"residue check", ENOENT, "no tcp_metrics family"};
  memset(req, 0, sizeof req);
  h->nlmsg_type = family;
  h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  g->cmd = TCP_METRICS_CMD_DEL;
  g->version = TCP_METRICS_GENL_VERSION;
  h->nlmsg_len = NLMSG_HDRLEN + GENL_HDRLEN;
  return netlinkExchange(fd.get(), req, h->nlmsg_len, false, "tcp_metrics flush",
                         [](const nlmsghdr*) -> Result<void> { return {}; });
}

}  // namespace

bool RecycleKit::skips(const char* check) const {
  for (const std::string& s : skip)
    if (s == check) return true;
  return false;
}

bool wantsRecycling(const Context& ctx, const UnitSpec& spec, const IdViews& views, int shared_root) {
  return spec.recycle && spec.isolation == Isolation::Namespaces && ctx.privileged() && views.owner >= 0 &&
         shared_root >= 0 && spec.policy.network == Network::None && !spec.policy.nested &&
         !ctx.usesUserNamespace(spec.policy);
}

Result<void> checkResidue(const RecycleKit& kit) {
  if (kit.skips("sockets")) return {};
  MPEXEC_TRY(noSocketsInUse());
  MPEXEC_TRY(noTimeWait());
  // sock_diag's TCP and UDP dumps walk the kernel's global hash tables, every bucket, whatever the
  // namespace: on W1 they were 28% of all samples. They are made when the unit sent or received TCP or UDP
  // (its counters moved since the last check); without traffic no TCP socket can have reached a state
  // that the counts above miss (a request socket, an orphan), and TCP learnt no metrics. Unix sockets live
  // in a table of the namespace's own, and are always dumped.
  auto traffic = trafficCounters();
  if (!traffic) return traffic.error();
  const bool moved = *traffic != kit.traffic;
  MPEXEC_TRY(noSockets(moved));
  MPEXEC_TRY(noFragments("/proc/net/sockstat", "FRAG:"));
  MPEXEC_TRY(noFragments("/proc/net/sockstat6", "FRAG6:"));
  MPEXEC_TRY(noFlowLabels());
  if (moved) MPEXEC_TRY(flushTcpMetrics());
  kit.traffic = *traffic;
  return {};
}

Result<void> recycleSandbox(const Context& ctx, const RecycleKit& kit, const UnitSpec& spec,
                            const std::vector<std::string>& cgroup_dirs, std::string* note) {
  UniqueFd kept;
  if (kit.skips("mounts")) kept.reset(open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC));
  // Leaving the unit's mount namespace drops it (nothing else is in it): its tmpfs go with it. In the host's,
  // the init moves itself into the unit's new cgroups (a v1 directory by `tasks`, which takes no global
  // lock), and a cgroup namespace made then is rooted there. SysV IPC objects and POSIX message queues live
  // in the IPC namespace, so a new one has none.
  if (setns(kit.host_mnt, CLONE_NEWNS) != 0) return sysError("setns", "the host's mount namespace");
  MPEXEC_TRY(UnitCgroupDirs::joinDirs(cgroup_dirs, false));
  int flags = CLONE_NEWCGROUP;
  if (!kit.skips("ipc")) flags |= CLONE_NEWIPC;
  if (!kit.skips("hostname")) flags |= CLONE_NEWUTS;
  if (unshare(flags) != 0) return sysError("unshare", "cgroup, IPC and UTS namespaces");
  if (!kit.skips("pids")) {
    // ns_last_pid acts on the writer's own pid namespace, whichever procfs it was opened in; it needs
    // CAP_SYS_ADMIN (or CAP_CHECKPOINT_RESTORE) over that namespace, which the init has. With no process
    // left but the init, the next one is pid 2, as in a new namespace.
    if (pwrite(kit.last_pid, "1", 1, 0) != 1) return sysError("recycle", "write /proc/sys/kernel/ns_last_pid");
  }
  if (kept) {
    if (setns(kept.get(), CLONE_NEWNS) != 0) return sysError("setns", "the unit's old mount namespace");
  } else {
    UnitMounts mounts{ctx.exe(), kit.shared_root, kit.views, cgroup_dirs, kit.cgroup_mounts};
    if (note) *note = kit.shared_root_note;
    MPEXEC_TRY(setupFilesystem(spec, mounts, note));
  }
  if (!kit.skips("hostname")) MPEXEC_TRY(setUnitHostname(spec.name));
  return {};
}

}  // namespace mpexec::sandbox
