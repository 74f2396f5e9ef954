#pragma once
// Sources of the escape suite's attack programs, written into the tools directory and compiled (C) or run
// (python3) inside a unit at test time. Each prints what it tried and what the kernel answered, and exits 0
// only when every attempt failed in the expected way.

namespace mpexec::test::escape {

/// The seccomp policy: denied calls and their errnos; threads still work. `seccomp_probe strict` exits
/// non-zero on any unexpected answer; without an argument it only prints (for the seccomp-off control).
inline constexpr const char* kSeccompProbe = R"C(
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int bad = 0;

static void expect(const char* what, long rc, int want) {
  int e = rc < 0 ? errno : 0;
  printf("%s: %s\n", what, e ? strerrorname_np(e) : "ok");
  if (e != want) {
    printf("  expected %s\n", want ? strerrorname_np(want) : "ok");
    bad = 1;
  }
}

static void* thread_main(void* arg) { return arg; }

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  expect("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER), EPERM);
  expect("unshare(CLONE_NEWNS)", unshare(CLONE_NEWNS), EPERM);
  expect("mount(tmpfs)", mount("none", "/tmp", "tmpfs", 0, NULL), EPERM);
  long params[32];
  memset(params, 0, sizeof params);
  expect("io_uring_setup", syscall(SYS_io_uring_setup, 4, params), EPERM);
  char c = 'x';
  expect("ioctl(TIOCSTI)", ioctl(0, TIOCSTI, &c), EPERM);
  expect("socket(AF_VSOCK)", socket(40, SOCK_STREAM, 0), EPERM);
  expect("socket(AF_ALG)", socket(38, SOCK_SEQPACKET, 0), EPERM);
  // What names a namespace or the init: NS_GET_ID, SO_NETNS_COOKIE, file handles, a pidfd of pid 1.
  int ns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
  unsigned long long id = 0;
  expect("ioctl(NS_GET_ID)", ioctl(ns, 0x8008b70dUL, &id), EPERM);
  close(ns);
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  socklen_t len = sizeof id;
  expect("getsockopt(SO_NETNS_COOKIE)", getsockopt(s, SOL_SOCKET, 71, &id, &len), EPERM);
  close(s);
  struct { struct file_handle h; unsigned char bytes[128]; } fh;
  fh.h.handle_bytes = sizeof fh.bytes;
  int mnt;
  expect("name_to_handle_at", name_to_handle_at(AT_FDCWD, "/proc/self/ns/net", &fh.h, &mnt, AT_SYMLINK_FOLLOW),
         EOPNOTSUPP);
  expect("pidfd_open(1)", syscall(SYS_pidfd_open, 1, 0), EPERM);
  struct clone_args ca;
  memset(&ca, 0, sizeof ca);
  ca.exit_signal = SIGCHLD;
  long pid = syscall(SYS_clone3, &ca, sizeof ca);
  if (pid == 0) _exit(0);
  if (pid > 0) waitpid((pid_t)pid, NULL, 0);
  expect("clone3", pid, ENOSYS);
  pthread_t t;
  int rc = pthread_create(&t, NULL, thread_main, NULL);
  if (rc == 0) pthread_join(t, NULL);
  errno = rc;
  expect("pthread_create", rc ? -1 : 0, 0);
  pid_t child = fork();
  if (child == 0) _exit(0);
  if (child > 0) waitpid(child, NULL, 0);
  expect("fork", child, 0);
  return bad;
}
)C";

/// Forks children that wait, until fork fails; prints how many it got.
inline constexpr const char* kForkBomb = R"C(
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
  int n = 0;
  for (; n < 4096; ++n) {
    pid_t p = fork();
    if (p == 0) {
      pause();
      _exit(0);
    }
    if (p < 0) {
      printf("fork failed after %d children: %s\n", n, strerrorname_np(errno));
      fflush(stdout);
      usleep(300 * 1000);  /* hold the children while the sibling unit runs */
      return 1;
    }
  }
  printf("fork never failed: %d children\n", n);
  return 2;
}
)C";

/// LeakSanitizer finds this leak only if it can stop the world with ptrace.
inline constexpr const char* kLeaky = R"C(
#include <stdio.h>
#include <stdlib.h>
void* volatile keep;
int main(void) {
  keep = malloc(4242);
  keep = 0;
  puts("leaked 4242 bytes");
  return 0;
}
)C";

inline constexpr const char* kAsanClean = R"C(
#include <stdio.h>
#include <stdlib.h>
int main(void) {
  char* volatile p = malloc(16);
  p[0] = 1;
  free(p);
  puts("asan clean run");
  return 0;
}
)C";

/// Network and /tmp attacks, by mode:
///   host PORT           connect to a port the host listens on: must be refused
///   tcp8080 ME OTHER DIR  bind 127.0.0.1:8080, meet OTHER at the file barrier DIR, talk to itself over lo
///   unix ME OTHER DIR     the same with a Unix socket at /tmp/x.sock
///   alloc               allocate 1 MiB at a time, touching it, forever
inline constexpr const char* kAttackPy = R"PY(
import errno, os, socket, sys, time

def barrier(dir, me, other, step):
    open(os.path.join(dir, me + "." + step), "w").close()
    deadline = time.time() + 20
    while not os.path.exists(os.path.join(dir, other + "." + step)):
        if time.time() > deadline:
            print("the other unit never reached", step)
            sys.exit(1)
        time.sleep(0.01)

def hold(family, address, me, other, dir):
    server = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 0)
    server.bind(address)
    server.listen(1)
    print("bound", address)
    barrier(dir, me, other, "bound")
    client = socket.socket(family, socket.SOCK_STREAM)
    client.connect(address)
    client.sendall(me.encode())
    conn, _ = server.accept()
    got = conn.recv(100).decode()
    print("own server answered:", got)
    barrier(dir, me, other, "checked")
    sys.exit(0 if got == me else 1)

mode = sys.argv[1]
if mode == "host":
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(("127.0.0.1", int(sys.argv[2])))
        print("connected to the host's listener")
        sys.exit(1)
    except OSError as e:
        print("connect:", errno.errorcode.get(e.errno, str(e)))
        sys.exit(0 if e.errno == errno.ECONNREFUSED else 1)
elif mode == "tcp8080":
    hold(socket.AF_INET, ("127.0.0.1", 8080), *sys.argv[2:5])
elif mode == "unix":
    hold(socket.AF_UNIX, "/tmp/x.sock", *sys.argv[2:5])
elif mode == "alloc":
    hog = []
    while True:
        hog.append(b"x" * (1 << 20))
)PY";

}  // namespace mpexec::test::escape
