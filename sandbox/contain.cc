// A unit's sandbox, in the order the steps happen (nsjail's containProc() shape):
//
//   mpexec (spawner thread)   creates the unit cgroup, forks a "middle" process, waits for the handshake.
//   middle                    closes every fd the unit must not hold, joins the cgroup, clones the init
//                             with CLONE_PARENT (so the init is mpexec's own child) and the namespace flags,
//                             reports pid and pidfd, writes the id maps, lets the init go, exits.
//   init                      mounts, loopback, hostname, PDEATHSIG (after any id change), reports Ready,
//                             waits for mpexec's go byte, then becomes the unit's init (runInit).
//
// Why a middle process: the init runs C++ (it allocates), and a raw clone3 from a multithreaded mpexec
// would copy a heap whose locks other threads may hold. glibc's fork() makes the heap safe in the middle,
// which is single-threaded, so its raw clone3 is safe too.

#include "sandbox/contain.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "sandbox/caps.h"
#include "sandbox/cgroup.h"
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
    // They stay open in the init (which does not exec) but must not reach the commands.
    fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  if (syscall(SYS_close_range, lo, ~0u, 0) != 0) {
    long max = sysconf(_SC_OPEN_MAX);
    for (long i = lo; i < std::min(max, 65536L); ++i) close(i);
  }
}

uint64_t cloneFlags(const Context& ctx, const Policy& policy) {
  uint64_t flags = CLONE_PARENT | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;
  if (policy.network == Network::None) flags |= CLONE_NEWNET;
  if (ctx.usesUserNamespace(policy)) flags |= CLONE_NEWUSER;
  return flags;
}

// The init's steps. Each skips itself when the policy does not ask for it; the first error ends the set-up.
Result<void> networkStep(const UnitSpec& spec) {
  if (spec.policy.network == Network::Host) return {};
  return bringUpLoopback();
}

Result<void> containInit(const UnitSpec& spec) {
  MPEXEC_TRY(setupFilesystem(spec));
  MPEXEC_TRY(networkStep(spec));
  MPEXEC_TRY(setUnitHostname(spec.name));
  // Last: any credential change before it would clear it again.
  MPEXEC_TRY(dieWithParent());
  return {};
}

[[noreturn]] void runInitSide(const UnitSpec& spec, int sock, int gate, const std::function<int()>& body) {
  bool mapped = receiveGo(gate);  // the middle has written our id maps (or died: then give up)
  close(gate);
  if (!mapped) _exit(1);
  if (auto r = containInit(spec); !r) {
    sendSpawnMessage(sock, failedMessage(r.error()));
    _exit(1);
  }
  SpawnMessage ready;
  ready.kind = SpawnMessage::Kind::Ready;
  ready.pid = 1;
  // PDEATHSIG is armed; if mpexec died before that, its end of the socket is closed and no go byte comes.
  if (!sendSpawnMessage(sock, ready) || !receiveGo(sock)) _exit(1);
  close(sock);
  _exit(body());
}

[[noreturn]] void runMiddle(const Context& ctx, const UnitSpec& spec, int sock, int event_fd,
                            const UnitCgroupDirs* cgroup, const std::function<int()>& body) {
  auto fail = [&](const Error& e) {
    sendSpawnMessage(sock, failedMessage(e));
    _exit(1);
  };
  std::vector<int> keep{sock, event_fd};
  if (spec.log_dir_fd >= 0) keep.push_back(spec.log_dir_fd);
  closeOtherFds(keep);
  // The v1 directories are joined by this process; the v2 one (if any) is entered at clone time.
  int v2_dir = cgroup ? cgroup->openV2Dir() : -1;
  if (cgroup)
    if (auto r = cgroup->join(v2_dir >= 0); !r) fail(r.error());

  int gate[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, gate) != 0) fail(sysError("socketpair"));
  int pidfd = -1;
  pid_t pid = cloneProcess(cloneFlags(ctx, spec.policy), &pidfd, v2_dir);
  if (pid < 0 && v2_dir >= 0) {
    // No CLONE_INTO_CGROUP (an older kernel, or the cgroup refuses it): migrate, then clone as before.
    if (auto r = cgroup->join(false); !r) fail(r.error());
    pid = cloneProcess(cloneFlags(ctx, spec.policy), &pidfd);
  }
  if (v2_dir >= 0 && pid != 0) close(v2_dir);
  if (pid < 0) fail(sysError("clone3", "namespaces of the unit"));
  if (pid == 0) {
    close(gate[0]);
    runInitSide(spec, sock, gate[1], body);
  }
  close(gate[1]);
  SpawnMessage cloned;
  cloned.kind = SpawnMessage::Kind::Cloned;
  cloned.pid = pid;
  if (!sendSpawnMessage(sock, cloned, pidfd)) _exit(1);  // mpexec is gone; the init sees the gate close
  if (ctx.usesUserNamespace(spec.policy))
    if (auto r = writeIdMaps(pid, ctx, spec.policy); !r) fail(r.error());
  _exit(sendGo(gate[0]) ? 0 : 1);
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

Result<ContainedChild> spawnContainedWith(const Context& ctx, const UnitSpec& spec, int child_event_fd,
                                          const std::function<int()>& body) {
  std::unique_ptr<UnitCgroupDirs> cgroup;
  if (ctx.cgroups()) {
    auto made = ctx.cgroups()->createUnit(spec.name, spec.policy);
    if (!made) return made.error();
    cgroup = std::move(*made);
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return sysError("socketpair");
  UniqueFd mine(sv[0]), theirs(sv[1]);
  pid_t middle = fork();
  if (middle < 0) return sysError("fork");
  if (middle == 0) {
    mine.reset();
    runMiddle(ctx, spec, theirs.get(), child_event_fd, cgroup.get(), body);
  }
  theirs.reset();

  int fd = -1;
  auto cloned = receiveSpawnMessage(mine.get(), kClonedTimeoutMs, &fd);
  UniqueFd pidfd(fd);
  if (!cloned) {
    kill(middle, SIGKILL);
    reap(middle);
    return cloned.error();
  }
  if (cloned->kind != SpawnMessage::Kind::Cloned) {
    reap(middle);
    return fromMessage(*cloned);
  }
  pid_t pid = cloned->pid;
  auto ready = receiveSpawnMessage(mine.get(), kReadyTimeoutMs);
  reap(middle);
  if (!ready || ready->kind != SpawnMessage::Kind::Ready || !sendGo(mine.get())) {
    killAndReap(pid, pidfd.get());
    if (!ready) return ready.error();
    if (ready->kind == SpawnMessage::Kind::Failed) return fromMessage(*ready);
    return Error{"sandbox handshake", EPROTO, "unexpected message from the unit's init"};
  }
  ContainedChild child;
  child.pid = pid;
  child.pidfd = std::move(pidfd);
  child.cgroup = std::move(cgroup);
  return child;
}

Result<void> restrictCommand(const Context& ctx, const Policy& policy) {
  MPEXEC_TRY(applyRlimitFallback(ctx, policy));
  MPEXEC_TRY(dropCapabilityBounds(ctx.lastCap()));
  if (commandSwitchesToNobody(ctx, policy)) MPEXEC_TRY(switchToNobody());
  MPEXEC_TRY(clearCapabilities());
  if (const SeccompProgram* program = ctx.seccompFor(policy)) MPEXEC_TRY(loadSeccomp(*program));
  return {};
}

}  // namespace mpexec::sandbox
