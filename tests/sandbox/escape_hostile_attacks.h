#pragma once
// Sources of the hostile suite's attack programs (issue 17), written into the tools directory and compiled
// (C) or run (python3) inside a unit at test time. Each prints what it tried and what the kernel answered;
// the suite asserts on the host what came of it.

namespace mpexec::test::escape {

/// Every way to leave a setuid or setgid file (or a file capability) in the directory argv[1]: chmod and
/// its relatives, open/creat/mknod with the bits in their mode, O_TMPFILE then a link, openat2 (whose mode a
/// seccomp filter cannot read), and a security.capability xattr. Prints one line per attempt.
inline constexpr const char* kSetidAttack = R"C(
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static char dir[4096];

static const char* at(const char* name) {
  static char buf[8192];
  snprintf(buf, sizeof buf, "%s/%s", dir, name);
  return buf;
}

static void report(const char* what, long rc) {
  printf("%s: %s\n", what, rc < 0 ? strerrorname_np(errno) : "ok");
}

static void plain(const char* name) {
  int fd = open(at(name), O_CREAT | O_WRONLY | O_TRUNC, 0755);
  if (fd >= 0) {
    write(fd, "#!/bin/sh\nid\n", 13);
    close(fd);
  }
}

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  snprintf(dir, sizeof dir, "%s", argv[1]);
  setvbuf(stdout, NULL, _IOLBF, 0);
  umask(0);
  plain("chmod");
  report("chmod 04755", chmod(at("chmod"), 04755));
  plain("chmod-g");
  report("chmod 02755", chmod(at("chmod-g"), 02755));
  plain("fchmod");
  int fd = open(at("fchmod"), O_RDONLY);
  report("fchmod 06755", fchmod(fd, 06755));
  close(fd);
  plain("fchmodat");
  report("fchmodat 04755", fchmodat(AT_FDCWD, at("fchmodat"), 04755, 0));
  plain("fchmodat2");
  report("fchmodat2 04755", syscall(452, AT_FDCWD, at("fchmodat2"), 04755, 0));
  fd = open(at("open"), O_CREAT | O_WRONLY, 04755);
  report("open O_CREAT 04755", fd);
  if (fd >= 0) close(fd);
  int dfd = open(dir, O_RDONLY | O_DIRECTORY);
  fd = openat(dfd, "openat", O_CREAT | O_WRONLY, 02755);
  report("openat O_CREAT 02755", fd);
  if (fd >= 0) close(fd);
  fd = creat(at("creat"), 06755);
  report("creat 06755", fd);
  if (fd >= 0) close(fd);
  report("mknod S_IFREG|04755", mknod(at("mknod"), S_IFREG | 04755, 0));
  report("mknodat S_IFREG|02755", mknodat(dfd, "mknodat", S_IFREG | 02755, 0));
  fd = open(dir, O_TMPFILE | O_WRONLY, 04755);
  report("open O_TMPFILE 04755", fd);
  if (fd >= 0) {
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    report("linkat the O_TMPFILE", linkat(AT_FDCWD, proc, AT_FDCWD, at("tmpfile"), AT_SYMLINK_FOLLOW));
    close(fd);
  }
  struct { uint64_t flags, mode, resolve; } how = {O_CREAT | O_WRONLY, 04755, 0};
  fd = (int)syscall(437, dfd, "openat2", &how, sizeof how);
  report("openat2 O_CREAT 04755", fd);
  if (fd >= 0) close(fd);
  // A file capability (cap_setuid, effective), version 2: global on the host if it were stored.
  struct { uint32_t magic; struct { uint32_t permitted, inheritable; } data[2]; } cap = {0x02000001, {{1u << 7, 0}, {0, 0}}};
  plain("fcap");
  report("setxattr security.capability", syscall(SYS_setxattr, at("fcap"), "security.capability", &cap, sizeof cap, 0));
  close(dfd);
  return 0;
}
)C";

/// Opens inotify instances until the kernel refuses (at most 4096) and holds them: prints how many, creates
/// the file argv[1], and exits once argv[2] exists (or after 20 s).
inline constexpr const char* kInotifyHold = R"C(
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  int n = 0;
  while (n < 4096 && inotify_init1(IN_CLOEXEC) >= 0) ++n;
  printf("holding %d inotify instances (%s)\n", n, n < 4096 ? strerrorname_np(errno) : "stopped");
  fflush(stdout);
  close(open(argv[1], O_CREAT | O_WRONLY, 0644));
  for (int i = 0; i < 2000 && access(argv[2], F_OK) != 0; ++i) usleep(10000);
  return 0;
}
)C";

/// What a command may try on its unit's init (pid 1): lower its limits, signal it, trace it, renice it,
/// make it the OOM killer's choice. Prints one line per attempt.
inline constexpr const char* kInitProbe = R"C(
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char* what, long rc) {
  printf("%s: %s\n", what, rc < 0 ? strerrorname_np(errno) : "ok");
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct rlimit tiny = {3, 3};
  report("prlimit(1, NOFILE, 3)", prlimit(1, RLIMIT_NOFILE, &tiny, NULL));
  struct rlimit one = {1, 1};
  report("prlimit(1, NPROC, 1)", prlimit(1, RLIMIT_NPROC, &one, NULL));
  report("setpriority(1, 19)", setpriority(PRIO_PROCESS, 1, 19));
  report("ptrace(ATTACH, 1)", ptrace(PTRACE_ATTACH, 1, 0, 0));
  int fd = open("/proc/1/oom_score_adj", O_WRONLY);
  report("open /proc/1/oom_score_adj", fd);
  if (fd >= 0) close(fd);
  int pidfd = (int)syscall(SYS_pidfd_open, 1, 0);
  report("pidfd_send_signal(1, TERM)", pidfd < 0 ? -1 : syscall(SYS_pidfd_send_signal, pidfd, SIGTERM, NULL, 0));
  report("kill(1, HUP)", kill(1, SIGHUP));
  report("kill(1, INT)", kill(1, SIGINT));
  report("kill(1, TERM)", kill(1, SIGTERM));
  // Signals that look as if they came from outside the pid namespace (no sender's pid): queued with a
  // si_pid of the sender's choosing, and a file owner's signal, which carries none.
  int stops[] = {SIGHUP, SIGINT, SIGTERM};
  for (int i = 0; i < 3; ++i) {
    siginfo_t forged;
    memset(&forged, 0, sizeof forged);
    forged.si_signo = stops[i];
    forged.si_code = SI_QUEUE;
    char what[64];
    snprintf(what, sizeof what, "rt_sigqueueinfo(1, %s, si_pid 0)", sigabbrev_np(stops[i]));
    report(what, syscall(SYS_rt_sigqueueinfo, 1, stops[i], &forged));
  }
  int owned[2];
  if (pipe(owned) == 0) {
    report("fcntl(F_SETSIG, TERM)", fcntl(owned[0], F_SETSIG, SIGTERM));
    report("fcntl(F_SETOWN, 1)", fcntl(owned[0], F_SETOWN, 1));
    report("fcntl(O_ASYNC)", fcntl(owned[0], F_SETFL, O_ASYNC | O_NONBLOCK));
    report("write to the owned pipe", write(owned[1], "x", 1));
  }
  usleep(100 * 1000);
  puts("still here");
  return 0;
}
)C";

/// Connects to each Unix socket named on the command line: a path, or @name for the abstract namespace.
/// Prints "PATH: connected" or "PATH: ERRNO" per socket, and exits 0 only if none connected.
inline constexpr const char* kUnixConnectPy = R"PY(
import errno, socket, sys
connected = False
for name in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    address = "\0" + name[1:] if name.startswith("@") else name
    try:
        s.connect(address)
        s.sendall(b"hello from a unit")
        print(name + ": connected")
        connected = True
    except OSError as e:
        print(name + ": " + errno.errorcode.get(e.errno, str(e)))
    s.close()
sys.exit(1 if connected else 0)
)PY";

/// In a user and a mount namespace of its own (a unit with `nested: true`, where it holds every capability
/// over that mount namespace), every way to get a writable /run, mpexec's socket and binary there, /proc's
/// read-only entries, /dev or /sys/fs/cgroup: a bind remount without read-only (nosuid, nodev and noexec
/// kept, which the kernel would not let it clear anyway), an unmount (to what lies below), a copy
/// (open_tree) with read-only cleared, and the superblock reconfigured (fspick, fsconfig: a tmpfs of mode
/// 0777, a proc without hidepid); then a write to each, and a fresh proc of a pid namespace of its own.
/// Last, its own tmpfs over /run with a socket-like file in it, which no other unit may see. Prints
/// "HOLE: ..." for each that worked, "contained: ..." otherwise, and exits 1 after a hole.
inline constexpr const char* kUndoReadOnly = R"C(
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* x86_64 and aarch64 share these numbers (the new mount API came after the unified table). */
enum { kOpenTree = 428, kFsconfig = 431, kFspick = 433, kMountSetattr = 442 };
struct attr { uint64_t set, clr, propagation, userns; };
static int holes;
static void check(const char* what, const char* path, long rc) {
  if (rc >= 0) { printf("HOLE: %s %s\n", what, path); holes++; }
  else printf("contained: %s %s: %s\n", what, path, strerror(errno));
}
static void put(const char* path, const char* s) {
  int fd = open(path, O_WRONLY);
  if (fd >= 0) { if (write(fd, s, strlen(s)) < 0) {} close(fd); }
}
int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  uid_t uid = geteuid();
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) { printf("no namespace of its own: %s\n", strerror(errno)); return 2; }
  char map[64];
  put("/proc/self/setgroups", "deny");
  snprintf(map, sizeof map, "0 %u 1", uid);
  put("/proc/self/uid_map", map);
  const char* paths[] = {"/run", "/run/mpexec", "/run/mpexec/sync.sock", "/run/mpexec-bin/mpexec", "/proc/sys",
                         "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/dev", "/sys/fs/cgroup", NULL};
  for (int i = 0; paths[i]; ++i) {
    const char* p = paths[i];
    struct stat st;
    if (lstat(p, &st) != 0) continue;
    check("remount writable", p, mount(NULL, p, NULL, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL));
    check("unmount", p, umount2(p, MNT_DETACH));
    int tree = (int)syscall(kOpenTree, AT_FDCWD, p, 1 /* OPEN_TREE_CLONE */ | 0x8000 /* AT_RECURSIVE */);
    if (tree >= 0) {
      struct attr a = {0, 1 /* MOUNT_ATTR_RDONLY */, 0, 0};
      check("clear read-only on a copy of", p, syscall(kMountSetattr, tree, "", AT_EMPTY_PATH | 0x8000, &a, sizeof a));
      close(tree);
    }
    int fc = (int)syscall(kFspick, AT_FDCWD, p, 0);
    if (fc >= 0) {
      syscall(kFsconfig, fc, 1 /* FSCONFIG_SET_STRING */, "mode", "0777", 0);
      syscall(kFsconfig, fc, 1, "hidepid", "0", 0);
      check("reconfigure the filesystem of", p,
            syscall(kFsconfig, fc, 7 /* FSCONFIG_CMD_RECONFIGURE */, NULL, NULL, 0));
      close(fc);
    }
    if (S_ISDIR(st.st_mode)) {
      char f[256];
      snprintf(f, sizeof f, "%s/planted", p);
      check("create", f, open(f, O_CREAT | O_WRONLY, 0666));
    } else if (!S_ISSOCK(st.st_mode)) {
      check("open for writing", p, open(p, O_WRONLY));
    }
    check("chmod", p, chmod(p, 0777));
  }
  check("unlink", "/run/mpexec/sync.sock", unlink("/run/mpexec/sync.sock"));
  check("open for writing", "/proc/sys/kernel/hostname", open("/proc/sys/kernel/hostname", O_WRONLY));
  if (unshare(CLONE_NEWPID) == 0) {
    pid_t pid = fork();
    if (pid == 0) {
      mkdir("/tmp/proc", 0755);
      long rc = mount("proc", "/tmp/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
      if (rc == 0) {
        printf("note: a fresh proc was mounted\n");
        check("open for writing", "(fresh proc)/sys/kernel/hostname", open("/tmp/proc/sys/kernel/hostname", O_WRONLY));
        check("open for writing", "(fresh proc)/sysrq-trigger", open("/tmp/proc/sysrq-trigger", O_WRONLY));
      } else {
        printf("contained: mount a fresh proc: %s\n", strerror(errno));
      }
      _exit(0);
    }
    waitpid(pid, NULL, 0);
  }
  if (mount("tmpfs", "/run", "tmpfs", 0, NULL) == 0 && mkdir("/run/mpexec", 0755) == 0) {
    int fd = open("/run/mpexec/sync.sock", O_CREAT | O_WRONLY, 0666);
    printf("note: own /run mounted in its own namespace (%d)\n", fd);
  }
  printf("holes: %d\n", holes);
  return holes ? 1 : 0;
}
)C";

}  // namespace mpexec::test::escape
