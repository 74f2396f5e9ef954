// restrictCommand as a command sees it: seccomp denials, empty capability sets, no_new_privs, identity.
#include "sandbox/seccomp.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/io_uring.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <thread>

#include "tests/sandbox/contained.h"

namespace mpexec::sandbox {
namespace {
using namespace testing;

// Inside the unit: forks a "command" that restricts itself, then runs `fn` (0 = pass).
int asCommand(const Context& ctx, const Policy& policy, int fd, const std::function<int()>& fn) {
  UnitSpec spec;
  spec.policy = policy;
  spec.identity = ctx.unitIds() > 0 ? 0 : -1;  // as the executor gives it: the unit's own uid where there are
  pid_t pid = fork();
  if (pid == 0) {
    if (auto r = becomeCommandUser(ctx, spec); !r) {
      say(fd, "becomeCommandUser: " + r.error().message());
      _exit(100);
    }
    if (auto r = restrictCommand(ctx, policy); !r) {
      say(fd, "restrictCommand: " + r.error().message());
      _exit(100);
    }
    _exit(fn());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status)) say(fd, "command died, status " + std::to_string(status));
  return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

bool fails(long rc, int err) { return rc == -1 && errno == err; }

std::string statusField(const std::string& key) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.compare(0, key.size() + 1, key + ":") == 0) {
      size_t i = line.find_first_not_of(" \t", key.size() + 1);
      return line.substr(i);
    }
  return "?";
}

TEST(SeccompTest, CompilesBothProfiles) {
  auto def = compileSeccomp(SeccompProfile::Default);
  auto nested = compileSeccomp(SeccompProfile::Nested);
  ASSERT_TRUE(def.ok()) << def.error().message();
  ASSERT_TRUE(nested.ok()) << nested.error().message();
  EXPECT_GT(def->insns.size(), nested->insns.size());
}

// The nsfs ioctls by number, whatever their direction, size and high bits: refused (EPERM) but for
// NS_GET_USERNS, NS_GET_PARENT, NS_GET_NSTYPE, NS_GET_OWNER_UID (1-4) and the pid translations (6-9), which
// reach the kernel (here EBADF, on no fd). Every number of the type, so that the rules that cover the refused
// ones leave none out and take none more; other types pass.
TEST(SeccompTest, EveryNsfsIoctlNumberButTheAllowedOnesIsRefused) {
  auto program = compileSeccomp(SeccompProfile::Default);
  ASSERT_TRUE(program.ok()) << program.error().message();
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(pipe_fds[0]);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || !loadSeccomp(*program).ok()) _exit(2);
    std::string wrong;
    for (uint64_t high : {uint64_t(0), uint64_t(0x80080000), uint64_t(0xc0100000), uint64_t(1) << 32}) {
      for (uint64_t type : {uint64_t(0xb600), uint64_t(0xb700), uint64_t(0xb800)}) {
        for (uint64_t nr = 0; nr <= 0xff; ++nr) {
          bool allowed = type != 0xb700 || (nr >= 1 && nr <= 4) || (nr >= 6 && nr <= 9);
          long rc = syscall(SYS_ioctl, -1, high | type | nr, nullptr);
          int want = allowed ? EBADF : EPERM;
          if (rc != -1 || errno != want) {
            char line[96];
            snprintf(line, sizeof line, "%#llx: %s\n", (unsigned long long)(high | type | nr), strerror(errno));
            wrong += line;
          }
        }
      }
    }
    (void)!write(pipe_fds[1], wrong.data(), wrong.size());
    _exit(wrong.empty() ? 0 : 1);
  }
  close(pipe_fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(pipe_fds[0], buf, sizeof buf)) > 0;) out.append(buf, n);
  close(pipe_fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << ", answered wrongly:\n"
                                                             << out.substr(0, 2000);
}

TEST(SeccompTest, DefaultPolicyDeniesWithErrnoAndKeepsThreads) {
  MPEXEC_NEED_NAMESPACES(ctx);
  expectContainedPasses(*ctx, unitSpec("seccomp"), [ctx](int fd) {
    return asCommand(*ctx, Policy{}, fd, [fd] {
      bool ok = check(fd, fails(unshare(CLONE_NEWUSER), EPERM), "unshare");
      ok &= check(fd, fails(mount("none", "/tmp", "tmpfs", 0, nullptr), EPERM), "mount");
      ok &= check(fd, fails(syscall(SYS_setns, 0, 0), EPERM), "setns");
      ok &= check(fd, fails(syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0), EPERM), "clone(CLONE_NEWNS)");
      ok &= check(fd, fails(syscall(SYS_clone, CLONE_NEWNET | SIGCHLD, 0, 0, 0, 0), EPERM), "clone(CLONE_NEWNET)");
      ok &= check(fd, fails(syscall(SYS_clone3, nullptr, 0), ENOSYS), "clone3");
      io_uring_params params{};
      ok &= check(fd, fails(syscall(SYS_io_uring_setup, 1, &params), EPERM), "io_uring_setup");
      char c = 'x';
      ok &= check(fd, fails(ioctl(0, TIOCSTI, &c), EPERM), "TIOCSTI");
      ok &= check(fd, fails(syscall(SYS_ioctl, 0, TIOCSTI | (1ul << 32), &c), EPERM), "TIOCSTI with high bits");
      ok &= check(fd, fails(ioctl(0, TIOCLINUX, &c), EPERM), "TIOCLINUX");
      ok &= check(fd, fails(socket(AF_VSOCK, SOCK_STREAM, 0), EPERM), "AF_VSOCK");
      ok &= check(fd, fails(socket(AF_ALG, SOCK_SEQPACKET, 0), EPERM), "AF_ALG");
      ok &= check(fd, fails(syscall(SYS_bpf, 0, nullptr, 0), EPERM), "bpf");
      ok &= check(fd, fails(syscall(SYS_keyctl, 0, 0, 0, 0, 0), EPERM), "keyctl");
      ok &= check(fd, fails(syscall(SYS_reboot, 0, 0, 0, nullptr), EPERM), "reboot");
      // Still allowed: threads (clone without namespace flags), fork, ordinary sockets.
      bool ran = false;
      std::thread([&] { ran = true; }).join();
      ok &= check(fd, ran, "std::thread");
      int s = socket(AF_INET, SOCK_STREAM, 0);
      ok &= check(fd, s >= 0, "AF_INET socket");
      close(s);
      pid_t p = fork();
      if (p == 0) _exit(7);
      int st = 0;
      ok &= check(fd, p > 0 && waitpid(p, &st, 0) == p && WEXITSTATUS(st) == 7, "fork");
      return ok ? 0 : 1;
    });
  });
}

// Nothing that names a namespace or the init (docs/sandbox.md, "What a unit can tell"), whatever the ioctl's
// size and direction bits; what tools use of namespaces and pidfds stays.
TEST(SeccompTest, DefaultPolicyRefusesNamespaceIdsHandlesAndAPidfdOfTheInit) {
  MPEXEC_NEED_NAMESPACES(ctx);
  expectContainedPasses(*ctx, unitSpec("seccomp-identity"), [ctx](int fd) {
    return asCommand(*ctx, Policy{}, fd, [fd] {
      int ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
      bool ok = check(fd, ns >= 0, "open /proc/self/ns/net");
      uint64_t id = 0;
      constexpr unsigned long kNsGetId = 0x8008b70d, kNsGetMntnsId = 0x8008b705, kNsMntGetInfo = 0x8010b70a;
      ok &= check(fd, fails(ioctl(ns, kNsGetId, &id), EPERM), "NS_GET_ID");
      ok &= check(fd, fails(ioctl(ns, 0xc008b70d, &id), EPERM), "NS_GET_ID with other direction bits");
      ok &= check(fd, fails(syscall(SYS_ioctl, ns, kNsGetId | (1ul << 32), &id), EPERM), "NS_GET_ID with high bits");
      ok &= check(fd, fails(ioctl(ns, kNsGetMntnsId, &id), EPERM), "NS_GET_MNTNS_ID");
      ok &= check(fd, fails(ioctl(ns, kNsMntGetInfo, &id), EPERM), "NS_MNT_GET_INFO");
      ok &= check(fd, fails(ioctl(ns, 0x8008b742, &id), EPERM), "a future nsfs ioctl");
      ok &= check(fd, ioctl(ns, 0xb703) == CLONE_NEWNET, "NS_GET_NSTYPE still answers");
      char link[64];
      ok &= check(fd, readlink("/proc/self/ns/net", link, sizeof link) > 0, "readlink /proc/self/ns/net");
      close(ns);
      int s = socket(AF_INET, SOCK_DGRAM, 0);
      socklen_t len = sizeof id;
      ok &= check(fd, fails(getsockopt(s, SOL_SOCKET, 71, &id, &len), EPERM), "SO_NETNS_COOKIE");
      int type = 0;
      len = sizeof type;
      ok &= check(fd, getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_DGRAM, "SO_TYPE");
      close(s);
      struct {
        file_handle h;
        unsigned char bytes[128];
      } fh{};
      fh.h.handle_bytes = sizeof fh.bytes;
      int mnt = 0;
      ok &= check(fd, fails(name_to_handle_at(AT_FDCWD, "/proc/self/ns/pid", &fh.h, &mnt, AT_SYMLINK_FOLLOW), EOPNOTSUPP),
                  "name_to_handle_at");
      ok &= check(fd, fails(syscall(SYS_pidfd_open, 1, 0), EPERM), "pidfd_open(1)");
      ok &= check(fd, fails(syscall(SYS_pidfd_open, 1 | (1l << 32), 0), EPERM), "pidfd_open(1) with high bits");
      pid_t child = fork();
      if (child == 0) {
        pause();
        _exit(0);
      }
      int pidfd = int(syscall(SYS_pidfd_open, child, 0));
      ok &= check(fd, pidfd >= 0, "pidfd_open of a child");
      ok &= check(fd, syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0) == 0, "pidfd_send_signal");
      waitpid(child, nullptr, 0);
      close(pidfd);
      return ok ? 0 : 1;
    });
  });
}

#if defined(__x86_64__)
/// How a child that makes one raw system call ends: "exit N" (N = -errno, or the call's result) or "signal N".
std::string rawCall(long (*call)()) {
  pid_t p = fork();
  if (p == 0) {
    long rc = call();
    _exit(rc < 0 ? int(-rc) & 0xff : 0);
  }
  int st = 0;
  waitpid(p, &st, 0);
  return WIFSIGNALED(st) ? "signal " + std::to_string(WTERMSIG(st)) : "exit " + std::to_string(WEXITSTATUS(st));
}

long i386Unshare() {  // int $0x80: the i386 table, where 310 is unshare
  long rc, nr = 310, flags = CLONE_NEWUSER;
  __asm__ volatile("int $0x80" : "=a"(rc) : "a"(nr), "b"(flags) : "memory");
  return rc;
}
long i386Getpid() {
  long rc, nr = 20;
  __asm__ volatile("int $0x80" : "=a"(rc) : "a"(nr) : "memory");
  return rc;
}
long x32Unshare() {  // the x32 ABI: the native numbers with bit 30 set
  long rc = syscall(0x40000000L | SYS_unshare, CLONE_NEWUSER);
  return rc < 0 ? -errno : rc;
}
long unknownCall() {  // past every table: the kernel's own ENOSYS
  long rc = syscall(1000);
  return rc < 0 ? -errno : rc;
}

// A filter written for the native numbers cannot judge another ABI's (unshare is 310 for i386 and 272 | bit 30
// for x32): a command that switches ABI is killed, whatever the call. Numbers no table has stay the kernel's
// ENOSYS. Where the kernel runs no i386 code (ia32_emulation off, as on this VM), int 0x80 is a SIGSEGV
// before any filter sees it.
TEST(SeccompTest, AForeignSyscallAbiKillsTheCommand) {
  MPEXEC_NEED_NAMESPACES(ctx);
  const bool ia32 = rawCall(i386Getpid) == "exit 0";
  expectContainedPasses(*ctx, unitSpec("seccomp-abi"), [ctx, ia32](int fd) {
    return asCommand(*ctx, Policy{}, fd, [fd, ia32] {
      const std::string sigsys = "signal " + std::to_string(SIGSYS), i386 = rawCall(i386Unshare),
                        x32 = rawCall(x32Unshare), unknown = rawCall(unknownCall);
      bool ok = check(fd, x32 == sigsys, "x32 unshare: " + x32);
      ok &= check(fd, i386 == (ia32 ? sigsys : "signal " + std::to_string(SIGSEGV)), "int 0x80 unshare: " + i386);
      ok &= check(fd, unknown == "exit " + std::to_string(ENOSYS), "syscall 1000: " + unknown);
      ok &= check(fd, fails(unshare(CLONE_NEWUSER), EPERM), "native unshare");
      return ok ? 0 : 1;
    });
  });
}
#endif

TEST(SeccompTest, CapabilitiesAreEmptyAndStayEmptyAcrossExec) {
  MPEXEC_NEED_NAMESPACES(ctx);
  expectContainedPasses(*ctx, unitSpec("caps"), [ctx](int fd) {
    int rc = asCommand(*ctx, Policy{}, fd, [fd] {
      bool ok = true;
      for (const char* k : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"})
        ok &= check(fd, statusField(k) == "0000000000000000", std::string(k) + " " + statusField(k));
      ok &= check(fd, statusField("NoNewPrivs") == "1", "NoNewPrivs");
      ok &= check(fd, statusField("Seccomp") == "2", "Seccomp mode");
      if (!ok) return 1;
      // uid 0 would get every capability back at execve without the bounding set and securebits.
      execl("/bin/sh", "sh", "-c",
            "grep -q '^CapEff:[[:space:]]*0000000000000000$' /proc/self/status && "
            "grep -q '^CapPrm:[[:space:]]*0000000000000000$' /proc/self/status",
            nullptr);
      return 2;
    });
    return check(fd, rc == 0, "after exec: rc " + std::to_string(rc)) ? 0 : 1;
  });
}

TEST(SeccompTest, NestedPolicyAllowsUserNamespaces) {
  MPEXEC_NEED_NAMESPACES(ctx);
  std::ifstream max("/proc/sys/user/max_user_namespaces");
  int n = 0;
  max >> n;
  if (n == 0) GTEST_SKIP() << "user namespaces disabled on this host";
  UnitSpec spec = unitSpec("nested");
  spec.policy.nested = true;
  expectContainedPasses(*ctx, spec, [ctx, &spec](int fd) {
    return asCommand(*ctx, spec.policy, fd, [fd] {
      bool ok = check(fd, unshare(CLONE_NEWUSER) == 0, "unshare(CLONE_NEWUSER) under nested");
      ok &= check(fd, fails(syscall(SYS_clone3, nullptr, 0), ENOSYS), "clone3");
      ok &= check(fd, fails(syscall(SYS_bpf, 0, nullptr, 0), EPERM), "bpf");
      return ok ? 0 : 1;
    });
  });
}

// "off" leaves only the guard: what no unit may do whatever its policy.
TEST(SeccompTest, OffKeepsOnlyTheGuard) {
  MPEXEC_NEED_NAMESPACES(ctx);
  UnitSpec spec = unitSpec("seccomp-off");
  spec.policy.seccomp = false;
  expectContainedPasses(*ctx, spec, [ctx, &spec](int fd) {
    return asCommand(*ctx, spec.policy, fd, [fd] {
      bool ok = check(fd, statusField("Seccomp") == "2", "Seccomp mode " + statusField("Seccomp"));
      ok &= check(fd, fails(syscall(SYS_clone3, nullptr, 0), EINVAL), "clone3 without the policy");
      ok &= check(fd, statusField("CapEff") == "0000000000000000", "CapEff");
      ok &= check(fd, fails(open("/tmp/setuid", O_CREAT | O_WRONLY | O_CLOEXEC, 04755), EPERM), "open 04755");
      int plain = open("/tmp/plain", O_CREAT | O_WRONLY | O_CLOEXEC, 0755);
      ok &= check(fd, plain >= 0, "open 0755");
      if (plain >= 0) close(plain);
      // The command owns the file: only the filter refuses the bits.
      ok &= check(fd, chmod("/tmp/plain", 0700) == 0, "chmod 0700");
      ok &= check(fd, fails(chmod("/tmp/plain", 04755), EPERM), "chmod u+s");
      ok &= check(fd, fails(chmod("/tmp/plain", 02755), EPERM), "chmod g+s");
      rlimit mine{};
      ok &= check(fd, prlimit(0, RLIMIT_NOFILE, nullptr, &mine) == 0 && prlimit(0, RLIMIT_NOFILE, &mine, nullptr) == 0,
                  "prlimit of oneself");
      ok &= check(fd, fails(prlimit(1, RLIMIT_NOFILE, &mine, nullptr), EPERM), "prlimit of the init");
      ok &= check(fd, fails(syscall(437, AT_FDCWD, "/tmp", nullptr, 0), ENOSYS), "openat2");
      return ok ? 0 : 1;
    });
  });
}

TEST(SeccompTest, NobodyIs65534) {
  MPEXEC_NEED_NAMESPACES(ctx);
  UnitSpec spec = unitSpec("nobody");
  spec.policy.user = Identity::Nobody;
  expectContainedPasses(*ctx, spec, [ctx, &spec](int fd) {
    return asCommand(*ctx, spec.policy, fd, [fd] {
      bool ok = check(fd, getuid() == 65534 && geteuid() == 65534, "uid " + std::to_string(getuid()));
      ok &= check(fd, getgid() == 65534 && getegid() == 65534, "gid " + std::to_string(getgid()));
      ok &= check(fd, getgroups(0, nullptr) == 0, "supplementary groups");
      return ok ? 0 : 1;
    });
  });
}

TEST(SeccompTest, SelfKeepsTheInvokingIds) {
  MPEXEC_NEED_NAMESPACES(ctx);
  uid_t uid = geteuid();
  gid_t gid = getegid();
  expectContainedPasses(*ctx, unitSpec("self"), [ctx, uid, gid](int fd) {
    return asCommand(*ctx, Policy{}, fd, [fd, uid, gid] {
      return check(fd, getuid() == uid && getgid() == gid, "uid " + std::to_string(getuid())) ? 0 : 1;
    });
  });
}

TEST(SeccompTest, RlimitsStandInForMissingCgroupLimits) {
  MPEXEC_NEED_NAMESPACES(ctx);
  if (ctx->cgroupLimitsMemory() && ctx->cgroupLimitsPids()) GTEST_SKIP() << "cgroups enforce both limits here";
  UnitSpec spec = unitSpec("rlimits");
  spec.policy.memory_bytes = 256 << 20;
  spec.policy.pids = 4096;
  bool memory = !ctx->cgroupLimitsMemory(), pids = !ctx->cgroupLimitsPids();
  expectContainedPasses(*ctx, spec, [ctx, &spec, memory, pids](int fd) {
    return asCommand(*ctx, spec.policy, fd, [fd, memory, pids] {
      rlimit as{}, nproc{};
      getrlimit(RLIMIT_AS, &as);
      getrlimit(RLIMIT_NPROC, &nproc);
      bool ok = check(fd, !memory || as.rlim_cur == (256u << 20), "RLIMIT_AS " + std::to_string(as.rlim_cur));
      ok &= check(fd, !pids || nproc.rlim_cur == 4096, "RLIMIT_NPROC " + std::to_string(nproc.rlim_cur));
      return ok ? 0 : 1;
    });
  });
}

}  // namespace
}  // namespace mpexec::sandbox
