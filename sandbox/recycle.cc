#include "sandbox/recycle.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>

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

Result<void> noUnixSockets(int fd) {
  struct {
    nlmsghdr h;
    unix_diag_req r;
  } req{};
  req.h.nlmsg_len = sizeof req;
  req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.r.sdiag_family = AF_UNIX;
  req.r.udiag_states = ~0u;
  return netlinkExchange(fd, &req, sizeof req, true, "unix sock_diag", [&](const nlmsghdr* h) -> Result<void> {
    if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) return {};
    const auto* m = static_cast<const unix_diag_msg*>(NLMSG_DATA(h));
    return residue("a Unix socket (inode " + std::to_string(m->udiag_ino) + ")");
  });
}

/// The first value that differs between two readings of `path`, named by the line above it where that line
/// holds the names (/proc/net/snmp and netstat); otherwise by the line's first word.
std::string describeMove(const std::string& path, const std::string& was, const std::string& is) {
  auto a = lines(was), b = lines(is);
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i] == b[i]) continue;
    auto wa = words(a[i]), wb = words(b[i]);
    // "Tcp: RtoAlgorithm ... OutSegs ..." above "Tcp: 1 ... 12 ...": name the first value that moved.
    auto names = i > 0 ? words(a[i - 1]) : std::vector<std::string>{};
    for (size_t j = 0; j < std::min(wa.size(), wb.size()); ++j) {
      if (wa[j] == wb[j]) continue;
      std::string name = names.size() == wa.size() && !names.empty() && names[0] == wa[0]
                             ? wa[0] + " " + names[j]
                             : wa[0] + (j > 0 ? " (field " + std::to_string(j) + ")" : "");
      return path + ": " + name + " " + wa[j] + " -> " + wb[j];
    }
    return path + ": " + b[i];
  }
  return path + " changed";
}

/// What moved between two readings, or nothing.
std::optional<std::string> firstMoved(const NetworkStatistics& was, const NetworkStatistics& is) {
  if (was.size() != is.size()) return std::string("the statistics files changed");
  for (size_t i = 0; i < was.size(); ++i)
    if (was[i].second != is[i].second) return describeMove(was[i].first, was[i].second, is[i].second);
  return std::nullopt;
}

}  // namespace

bool RecycleKit::skips(const char* check) const {
  for (const std::string& s : skip)
    if (s == check) return true;
  return false;
}

bool wantsRecycling(const Context& ctx, const UnitSpec& spec, const IdViews& views, int shared_root) {
  return spec.recycle && spec.isolation == Isolation::Namespaces && ctx.privileged() && views.owner >= 0 &&
         shared_root >= 0 && spec.policy.network == Network::None && !spec.policy.nested && spec.policy.seccomp &&
         !ctx.usesUserNamespace(spec.policy);
}

Result<NetworkStatistics> readNetworkStatistics() {
  NetworkStatistics out;
  for (const char* path : kStatisticsFiles) {
    auto text = readProc(path);
    if (!text && text.error().err == ENOENT) continue;  // no IPv6
    if (!text) return text.error();
    out.push_back({path, std::move(*text)});
  }
  return out;
}

Result<void> checkResidue(const RecycleKit& kit) {
  // First the statistics: while none has moved since the namespace was new, no packet went through it and
  // no socket of it changed state (docs/sandbox.md, "The argument"), so no TCP socket can be in a state
  // that the in-use counts below miss (TIME_WAIT, a request socket), no fragment waits for reassembly and
  // TCP learnt no metrics; and the next unit reads the statistics of a new namespace.
  if (!kit.skips("counters")) {
    auto now = readNetworkStatistics();
    if (!now) return now.error();
    if (auto moved = firstMoved(kit.statistics, *now)) return residue("the unit used the network: " + *moved);
  }
  if (kit.skips("sockets")) return {};
  MPEXEC_TRY(noSocketsInUse());
  UniqueFd diag(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!diag) return sysError("residue check", "sock_diag socket");
  MPEXEC_TRY(noUnixSockets(diag.get()));
  return noFlowLabels();
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
  if (kit.fail_setup) return Error{"recycle", EIO, "MPEXEC_TEST_RECYCLE_FAIL"};
  if (!kit.skips("pids")) {
    // ns_last_pid acts on the writer's own pid namespace, whichever procfs it was opened in; it needs
    // CAP_SYS_ADMIN (or CAP_CHECKPOINT_RESTORE) over that namespace, which the init has. With no process
    // left but the init, the next one is pid 2, as in a new namespace.
    if (pwrite(kit.last_pid, "1", 1, 0) != 1) return sysError("recycle", "write /proc/sys/kernel/ns_last_pid");
  }
  if (kept) {
    if (setns(kept.get(), CLONE_NEWNS) != 0) return sysError("setns", "the unit's old mount namespace");
  } else {
    UnitMounts mounts{ctx.exe(), kit.shared_root, kit.views, cgroup_dirs, kit.cgroup_mounts, kit.shared_run};
    if (note) *note = kit.shared_root_note;
    MPEXEC_TRY(setupFilesystem(spec, mounts, note));
  }
  if (!kit.skips("hostname")) MPEXEC_TRY(setUnitHostname(spec.name));
  return {};
}

}  // namespace mpexec::sandbox
