// ns-floor: the least that DESIGN §4's namespaces cost per test, for bench/compare.sh.
//
//   ns-floor -j N PROG < ARGS      runs PROG ARG for each line of ARGS, N at a time (as `xargs -P N -n 1`)
//
// Each test runs in a child cloned with §4's namespace flags (mount, pid, network, IPC, UTS, cgroup; a user
// namespace mapping root when not run as root), which only makes its mounts private and brings `lo` up
// before it execs PROG: no mounts, no cgroups, no seccomp, no capabilities dropped, no init, no reports.
// No runner that keeps §4 can spend less per test; its ratio to `xargs -P` is the floor of mpexec's.
// Exits 0 when every test exited 0, 1 when one did not, 2 on a bad argument or a failed clone.
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iostream>
#include <string>

namespace {

constexpr unsigned long kNamespaces =
    CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP;

bool writeFile(const char* path, const std::string& text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  return ok;
}

bool loopbackUp() {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  ifreq req{};
  strcpy(req.ifr_name, "lo");
  bool ok = ioctl(s, SIOCGIFFLAGS, &req) == 0;
  req.ifr_flags |= IFF_UP;
  ok = ok && ioctl(s, SIOCSIFFLAGS, &req) == 0;
  close(s);
  return ok;
}

/// In the cloned child: what every §4 sandbox does at the least, then the test. Never returns.
[[noreturn]] void runTest(const char* prog, const std::string& arg, bool own_user, uid_t uid, gid_t gid) {
  if (own_user && !(writeFile("/proc/self/setgroups", "deny") &&
                    writeFile("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") &&
                    writeFile("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")))
    _exit(126);
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 || !loopbackUp()) _exit(126);
  char* argv[] = {const_cast<char*>(prog), const_cast<char*>(arg.c_str()), nullptr};
  execv(prog, argv);
  _exit(127);
}

int usage() {
  std::cerr << "usage: ns-floor -j N PROG < ARGS\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4 || std::string(argv[1]) != "-j") return usage();
  char* end = nullptr;
  long jobs = strtol(argv[2], &end, 10);
  if (*end != '\0' || jobs < 1 || jobs > 4096) return usage();
  const char* prog = argv[3];

  const uid_t uid = getuid();
  const gid_t gid = getgid();
  const bool own_user = geteuid() != 0;
  const unsigned long flags = kNamespaces | (own_user ? CLONE_NEWUSER : 0) | SIGCHLD;

  int running = 0;
  bool failed = false;
  std::string arg;
  bool more = static_cast<bool>(std::getline(std::cin, arg));
  while (more || running > 0) {
    while (more && running < jobs) {
      // A raw clone without a new stack is a fork into new namespaces; this program has one thread.
      long pid = syscall(SYS_clone, flags, nullptr, nullptr, nullptr, nullptr);
      if (pid < 0) {
        perror("ns-floor: clone");
        return 2;
      }
      if (pid == 0) runTest(prog, arg, own_user, uid, gid);
      ++running;
      more = static_cast<bool>(std::getline(std::cin, arg));
    }
    int status = 0;
    if (wait(&status) < 0) break;
    --running;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed = true;
  }
  return failed ? 1 : 0;
}
