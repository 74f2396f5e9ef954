// A unit's sandbox, in the order the steps happen (nsjail's containProc() shape):
//
//   mpexec                 creates the unit cgroup and the event socket, asks the spawner (sandbox/spawner.cc).
//   spawner                clones the init with CLONE_PARENT (so it is mpexec's own child), CLONE_PIDFD, a new
//                          pid, ipc and uts namespace (and user namespace where needed) and CLONE_INTO_CGROUP;
//                          writes the id maps, lets the init go, and replies with the pid and pidfd.
//   init                   joins the v1 cgroups, unshares cgroup, mount and network namespaces, mounts,
//                          loopback, hostname, PDEATHSIG (after any id change), checks that mpexec still
//                          holds the other end of its report socket, reports Ready, and becomes the unit's
//                          init (runInit).
//
// Why a spawner: the init runs C++ (it allocates), and a raw clone3 from a multithreaded mpexec would copy
// a heap whose locks other threads may hold. The spawner is single-threaded and small, so a clone from it
// copies little, and the slow steps (a network namespace, the mounts) run in each init, in parallel, while
// mpexec goes on dispatching.

#include "sandbox/contain.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <vector>

#include "sandbox/caps.h"
#include "sandbox/cgroup.h"
#include "sandbox/landlock.h"
#include "sandbox/mount.h"
#include "sandbox/net.h"
#include "sandbox/pid.h"
#include "sandbox/seccomp.h"
#include "sandbox/user.h"
#include "sandbox/uts.h"

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif

namespace mpexec::sandbox {
namespace {

constexpr int kClonedTimeoutMs = 10000;
constexpr int kReadyTimeoutMs = 30000;  // mounts can be slow on a loaded host; this only catches hangs

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

// The unit must not inherit mpexec's other fds (sync server sockets, other units' pidfds, log dirs):
// a directory fd alone would be a way out of the mount namespace.
void closeOtherFds(std::vector<int> keep) {
  std::sort(keep.begin(), keep.end());
  unsigned lo = 3;
  for (int fd : keep) {
    if (fd < static_cast<int>(lo)) continue;
    if (static_cast<unsigned>(fd) > lo && syscall(SYS_close_range, lo, fd - 1, 0) != 0) {
      for (int i = lo; i < fd; ++i) close(i);
    }
    lo = fd + 1;
  }
  if (syscall(SYS_close_range, lo, ~0u, 0) != 0) {
    long max = sysconf(_SC_OPEN_MAX);
    for (long i = lo; i < std::min(max, 65536L); ++i) close(i);
  }
  // What is kept stays open in the init (which does not exec) but must not reach the commands: every fd
  // above 2 is now one of `keep`, marked close-on-exec in one call (Linux 5.11), else one by one.
  if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) != 0) {
    for (int fd : keep)
      if (fd > 2) fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
}

// At clone time: what must exist before the init runs (its pid namespace, its user namespace for the id maps)
// and what is cheap. The mount, network and cgroup namespaces are unshared by the init itself, in parallel
// with other units' set-up.
uint64_t cloneFlags(const Context& ctx, const Policy& policy) {
  uint64_t flags = CLONE_PARENT | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS;
  if (ctx.usesUserNamespace(policy)) flags |= CLONE_NEWUSER;
  return flags;
}

int unshareFlags(const Policy& policy, const InitChannel& ch) {
  int flags = CLONE_NEWCGROUP;
  if (ch.shared_root_fd < 0) flags |= CLONE_NEWNS;  // else setupFilesystem enters a copy of the shared root
  if (policy.network == Network::None && ch.netns_fd < 0) flags |= CLONE_NEWNET;
  return flags;
}

// The init's steps. Each skips itself when the policy does not ask for it; the first error ends the set-up.
Result<void> networkStep(const UnitSpec& spec, const InitChannel& ch) {
  if (spec.policy.network == Network::Host) return {};
  if (ch.netns_fd < 0) return bringUpLoopback();
  // Made ahead by the spawner, loopback already up.
  if (setns(ch.netns_fd, CLONE_NEWNET) != 0) return sysError("setns", "the unit's network namespace");
  close(ch.netns_fd);
  return {};
}

Result<void> containInit(const Context& ctx, const UnitSpec& spec, const InitChannel& ch, bool cloned_into_v2,
                         std::string* note) {
  // The v1 directories (and a v2 one that CLONE_INTO_CGROUP did not cover) are joined before the cgroup
  // namespace is made, so that the unit sees its own cgroup as "/".
  MPEXEC_TRY(UnitCgroupDirs::joinDirs(ch.cgroup_dirs, cloned_into_v2));
  const int flags = unshareFlags(spec.policy, ch);
  if (unshare(flags) != 0) return sysError("unshare", "cgroup, mount and network namespaces");
  RecycleKit* kit = ch.kit && wantsRecycling(ctx, spec, ch.views, ch.shared_root_fd) ? ch.kit : nullptr;
  // A namespace of the init's own is made quiet here, while /proc/sys is still writable (the pool's are
  // made so by the spawner). One that is not is never handed on (checked below).
  if (flags & CLONE_NEWNET) quietMulticast();
  if (kit) {
    // Still in the host's mount namespace (the shared root is entered by setupFilesystem).
    kit->host_mnt = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    kit->last_pid = open("/proc/sys/kernel/ns_last_pid", O_WRONLY | O_CLOEXEC);
    if (kit->host_mnt < 0 || kit->last_pid < 0) kit = nullptr;
  }
  UnitMounts mounts{ctx.exe(), ch.shared_root_fd, ch.views, ch.cgroup_dirs, ch.cgroup_mounts, ch.shared_run};
  if (ch.shared_root_fd >= 0) *note = ch.shared_root_note;
  MPEXEC_TRY(setupFilesystem(spec, mounts, note));
  if (kit) {
    kit->enabled = true;
    kit->shared_root = ch.shared_root_fd;
    kit->shared_root_note = ch.shared_root_note;
    kit->shared_run = ch.shared_run;
    kit->views = ch.views;
    kit->cgroup_mounts = ch.cgroup_mounts;
    const char* fail = getenv("MPEXEC_TEST_RECYCLE_FAIL");
    kit->fail_setup = fail && *fail;
    if (const char* skip = getenv("MPEXEC_TEST_RECYCLE_SKIP")) {
      std::string list = skip;
      for (size_t pos = 0; pos <= list.size();) {
        size_t end = list.find(',', pos);
        if (end == std::string::npos) end = list.size();
        if (end > pos) kit->skip.push_back(list.substr(pos, end - pos));
        pos = end + 1;
      }
    }
  } else {
    for (int fd : {ch.shared_root_fd, ch.views.stranger, ch.views.owner})
      if (fd >= 0) close(fd);
  }
  MPEXEC_TRY(networkStep(spec, ch));
  if (kit) {
    // The statistics of the namespace as new, which a later unit may find only unmoved (checkResidue).
    auto statistics = readNetworkStatistics();
    if (statistics && multicastIsQuiet()) kit->statistics = std::move(*statistics);
    else kit->enabled = false;
  }
  MPEXEC_TRY(setUnitHostname(spec.name));
  // Cloned into a user namespace, the init has every capability in its bounding set; otherwise it has the
  // spawner's, emptied once for every init.
  const Bounds bounds = ctx.usesUserNamespace(spec.policy) ? Bounds::Full
                        : ch.bounding_set_dropped          ? Bounds::Dropped
                                                           : Bounds::Unknown;
  MPEXEC_TRY(restrictUnit(ctx, bounds));
  MPEXEC_TRY(scopeUnit(ctx.landlockAbi()));
  // Not dumpable: /proc/1 is root's and nothing of the unit may trace the init, even as the same uid (not
  // root: every process of the unit is the invoking user).
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return sysError("prctl", "PR_SET_DUMPABLE");
  // Last: any credential change before it would clear it again.
  MPEXEC_TRY(dieWithParent());
  return {};
}

// After PDEATHSIG is armed: if the executor died before that, its end of the report socket is closed.
Result<void> executorAlive(int report_fd) {
  pollfd p{report_fd, POLLRDHUP, 0};
  if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR)))
    return Error{"sandbox set-up", EPIPE, "mpexec went away"};
  return {};
}

void report(const InitChannel& ch, const Result<void>& setup, const std::string& note = {}) {
  if (ch.report_fd == ch.event_fd) {
    Event ev = setupEvent(setup, note);
    (void)!send(ch.report_fd, &ev, sizeof ev, MSG_NOSIGNAL);
    return;
  }
  SpawnMessage m;
  if (setup) {
    m.kind = SpawnMessage::Kind::Ready;
    m.pid = 1;
  } else {
    m = failedMessage(setup.error());
  }
  sendSpawnMessage(ch.report_fd, m);
}

std::vector<int> initFds(const UnitSpec& spec, const InitChannel& ch, int gate) {
  std::vector<int> keep{ch.event_fd, ch.report_fd, gate, ch.netns_fd, ch.shared_root_fd, ch.views.stranger,
                        ch.views.owner};
  if (spec.log_dir_fd >= 0) keep.push_back(spec.log_dir_fd);
  if (spec.output_dir_fd >= 0) keep.push_back(spec.output_dir_fd);
  return keep;
}

[[noreturn]] void runContainedInit(const Context& ctx, const UnitSpec& spec, const InitChannel& ch, int gate,
                                   bool cloned_into_v2, const std::function<int()>& body) {
  closeOtherFds(initFds(spec, ch, gate));
  if (gate >= 0) {
    bool mapped = receiveGo(gate);  // the spawner has written our id maps (or died: then give up)
    close(gate);
    if (!mapped) _exit(1);
  }
  std::string note;
  Result<void> setup = containInit(ctx, spec, ch, cloned_into_v2, &note);
  if (setup) setup = executorAlive(ch.report_fd);
  report(ch, setup, note);
  if (!setup) _exit(1);
  _exit(body());
}

/// Isolation::None: its own process group so the terminal's Ctrl-C reaches only mpexec, and PDEATHSIG
/// SIGTERM (the init then kills its own descendants).
[[noreturn]] void runPlainInit(const UnitSpec& spec, const InitChannel& ch, const std::function<int()>& body) {
  closeOtherFds(initFds(spec, ch, -1));
  Result<void> setup;
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0) setup = sysError("prctl", "PR_SET_PDEATHSIG");
  if (setup) setup = executorAlive(ch.report_fd);
  if (setup && setpgid(0, 0) != 0) setup = sysError("setpgid");
  report(ch, setup);
  if (!setup) _exit(1);
  _exit(body());
}

void reap(pid_t pid) {
  int status;
  while (waitpid(pid, &status, __WALL) < 0 && errno == EINTR) {
  }
}

void killAndReap(pid_t pid, int pidfd) {
  if (pidfd < 0 || syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0) != 0) kill(pid, SIGKILL);
  reap(pid);
}

Error fromMessage(const SpawnMessage& m) { return Error{m.call, m.err, m.detail}; }

void copyInto(char* dst, size_t size, const std::string& src) {
  size_t n = std::min(src.size(), size - 1);
  memcpy(dst, src.data(), n);
  dst[n] = '\0';
}

Result<void> applyRlimitFallback(const Context& ctx, const Policy& policy) {
  if (policy.memory_bytes > 0 && !ctx.cgroupLimitsMemory()) {
    rlimit r{policy.memory_bytes, policy.memory_bytes};
    if (setrlimit(RLIMIT_AS, &r) != 0) return sysError("setrlimit", "RLIMIT_AS");
  }
  if (policy.pids > 0 && !ctx.cgroupLimitsPids()) {
    rlimit r{policy.pids, policy.pids};
    if (setrlimit(RLIMIT_NPROC, &r) != 0) return sysError("setrlimit", "RLIMIT_NPROC");
  }
  return {};
}

}  // namespace

void serveSpawn(const Context& ctx, const UnitSpec& spec, const InitChannel& ch, int reply_sock,
                const std::function<int()>& body) {
  auto fail = [&](const Error& e, pid_t pid = -1, int pidfd = -1) {
    SpawnMessage m = failedMessage(e);
    m.pid = pid;
    sendSpawnMessage(reply_sock, m, pidfd);
  };
  int pidfd = -1;
  if (spec.isolation == Isolation::None) {
    pid_t pid = cloneProcess(CLONE_PARENT, &pidfd);
    if (pid < 0) return fail(sysError("clone3", "the unit's init"));
    if (pid == 0) runPlainInit(spec, ch, body);
    SpawnMessage cloned;
    cloned.kind = SpawnMessage::Kind::Cloned;
    cloned.pid = pid;
    sendSpawnMessage(reply_sock, cloned, pidfd);
    close(pidfd);
    return;
  }
  bool userns = ctx.usesUserNamespace(spec.policy);
  int gate[2] = {-1, -1};
  if (userns && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, gate) != 0) return fail(sysError("socketpair"));
  int v2_dir = UnitCgroupDirs::openV2DirOf(ch.cgroup_dirs);
  pid_t pid = cloneProcess(cloneFlags(ctx, spec.policy), &pidfd, v2_dir);
  bool into_v2 = v2_dir >= 0 && pid >= 0;
  // No CLONE_INTO_CGROUP (an older kernel, or the cgroup refuses it): the init joins it by cgroup.procs.
  if (pid < 0 && v2_dir >= 0) pid = cloneProcess(cloneFlags(ctx, spec.policy), &pidfd);
  if (pid == 0) {
    if (gate[0] >= 0) close(gate[0]);
    runContainedInit(ctx, spec, ch, gate[1], into_v2, body);
  }
  // A unit set up ahead is not needed yet: its set-up takes only CPU time nothing else wants, until
  // UnitProcess::go() (or the init itself, on reading go) puts it back to SCHED_OTHER. Only where mpexec
  // is allowed to put it back (Context::idleAhead()).
  if (pid > 0 && spec.hold && ctx.idleAhead()) {
    sched_param idle{};
    sched_setscheduler(pid, SCHED_IDLE, &idle);
  }
  if (v2_dir >= 0) close(v2_dir);
  if (gate[1] >= 0) close(gate[1]);
  if (pid < 0) {
    if (gate[0] >= 0) close(gate[0]);
    return fail(sysError("clone3", "namespaces of the unit"));
  }
  Result<void> mapped;
  if (userns) mapped = writeIdMaps(pid, ctx, spec.policy);
  if (mapped && gate[0] >= 0 && !sendGo(gate[0])) mapped = Error{"sandbox set-up", EPIPE, "the init exited before its id maps were written"};
  if (gate[0] >= 0) close(gate[0]);  // without the go byte, the init gives up
  if (mapped) {
    SpawnMessage cloned;
    cloned.kind = SpawnMessage::Kind::Cloned;
    cloned.pid = pid;
    sendSpawnMessage(reply_sock, cloned, pidfd);
  } else {
    fail(mapped.error(), pid, pidfd);
  }
  close(pidfd);
}

Result<ContainedChild> receiveCloned(int reply_sock, int timeout_ms) {
  int fd = -1;
  auto m = receiveSpawnMessage(reply_sock, timeout_ms, &fd);
  UniqueFd pidfd(fd);
  if (!m) return m.error();
  if (m->kind == SpawnMessage::Kind::Cloned && m->pid > 0 && pidfd) {
    ContainedChild child;
    child.pid = m->pid;
    child.pidfd = std::move(pidfd);
    return child;
  }
  if (m->pid > 0) killAndReap(m->pid, pidfd.get());
  if (m->kind == SpawnMessage::Kind::Failed) return fromMessage(*m);
  return Error{"sandbox handshake", EPROTO, "unexpected reply from the spawner"};
}

int64_t eventClockNs() {
  timespec ts;
  syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

Event setupEvent(const Result<void>& setup, const std::string& note) {
  Event ev;
  ev.mono_ns = eventClockNs();
  if (setup) {
    ev.kind = Event::Kind::Ready;
    copyInto(ev.detail, sizeof ev.detail, note);
    return ev;
  }
  ev.kind = Event::Kind::SetupFailed;
  ev.err = setup.error().err;
  // "call\x1fdetail": setupError() splits it again.
  copyInto(ev.detail, sizeof ev.detail, setup.error().call + '\x1f' + setup.error().detail);
  return ev;
}

Error setupError(const Event& ev) {
  std::string s(ev.detail, strnlen(ev.detail, sizeof ev.detail));
  size_t sep = s.find('\x1f');
  if (sep == std::string::npos) return Error{s, ev.err, {}};
  return Error{s.substr(0, sep), ev.err, s.substr(sep + 1)};
}

Result<ContainedChild> spawnContainedWith(const Context& ctx, const UnitSpec& spec, int child_event_fd,
                                          const std::function<int()>& body, int shared_root) {
  std::unique_ptr<UnitCgroupDirs> cgroup;
  if (ctx.cgroups()) {
    auto made = ctx.cgroups()->createUnit(spec.name, spec.policy);
    if (!made) return made.error();
    cgroup = std::move(*made);
  }
  int reply[2], status[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, reply) != 0) return sysError("socketpair");
  UniqueFd reply_mine(reply[0]), reply_theirs(reply[1]);
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, status) != 0) return sysError("socketpair");
  UniqueFd status_mine(status[0]), status_theirs(status[1]);
  InitChannel ch;
  ch.event_fd = child_event_fd;
  ch.report_fd = status_theirs.get();
  ch.shared_root_fd = ctx.usesUserNamespace(spec.policy) ? -1 : shared_root;
  if (cgroup) ch.cgroup_dirs = cgroup->dirs();
  // The helper is single-threaded whatever the caller is: glibc's fork() leaves its heap usable.
  pid_t helper = fork();
  if (helper < 0) return sysError("fork");
  if (helper == 0) {
    serveSpawn(ctx, spec, ch, reply_theirs.get(), body);
    _exit(0);
  }
  reply_theirs.reset();
  status_theirs.reset();
  auto cloned = receiveCloned(reply_mine.get(), kClonedTimeoutMs);
  if (!cloned) kill(helper, SIGKILL);
  reap(helper);
  if (!cloned) return cloned.error();
  ContainedChild child = std::move(cloned.value());
  auto ready = receiveSpawnMessage(status_mine.get(), kReadyTimeoutMs);
  if (!ready || ready->kind != SpawnMessage::Kind::Ready) {
    killAndReap(child.pid, child.pidfd.get());
    if (!ready) return ready.error();
    if (ready->kind == SpawnMessage::Kind::Failed) return fromMessage(*ready);
    return Error{"sandbox handshake", EPROTO, "unexpected message from the unit's init"};
  }
  child.cgroup = std::move(cgroup);
  return child;
}

Result<void> restrictUnit(const Context& ctx, Bounds bounds) { return dropCapabilityBounds(ctx.lastCap(), bounds); }

Result<void> becomeCommandUser(const Context& ctx, const UnitSpec& spec) {
  // Before the user namespace: a new one takes its limits from its creator's.
  MPEXEC_TRY(applyRlimitFallback(ctx, spec.policy));
  if (ctx.unitIds() > 0 && spec.identity >= 0 && unsigned(spec.identity) < ctx.unitIds()) {
    // The unit's uid is its own, so RLIMIT_NPROC counts the unit's tasks alone (each command's user
    // namespace records the limit its creator had, and the unit cannot raise it in the host's).
    rlimit r{};
    bool pids_cgroup = spec.policy.pids > 0 && ctx.cgroupLimitsPids();
    if (spec.task_limit > 0 && !pids_cgroup && getrlimit(RLIMIT_NPROC, &r) == 0 && r.rlim_max > spec.task_limit) {
      r.rlim_cur = r.rlim_max = spec.task_limit;
      if (setrlimit(RLIMIT_NPROC, &r) != 0) return sysError("setrlimit", "RLIMIT_NPROC");
    }
    return becomeUnitUser(ctx, spec.policy, uint32_t(spec.identity));
  }
  // Root without a unit id for this unit: uid 0 without capabilities, or nobody.
  if (ctx.privileged() && spec.policy.user == Identity::Nobody) MPEXEC_TRY(switchToNobody());
  return {};
}

Result<void> restrictCommand(const Context& ctx, const Policy& policy) {
  MPEXEC_TRY(clearCapabilities());
  // Last before exec (DESIGN §4): nothing of the unit's own set-up runs under it.
  if (const SeccompProgram* program = ctx.seccompFor(policy)) MPEXEC_TRY(loadSeccomp(*program));
  return {};
}

}  // namespace mpexec::sandbox
