// What the host's kernel keeps in one table for everybody, whatever the uid: a unit that takes all it can
// of such a table must leave the host and the units beside it their share. (Per-user limits are issue 17's
// item 7, in escape_hostile_test.cc: each unit is a user of its own there.) Each TEST is the attack, and
// asserts from the host or a neighbouring unit that it still gets what it asks for.

#include <linux/aio_abi.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "tests/sandbox/escape_support.h"

namespace mpexec::test::escape {
namespace {

namespace fs = std::filesystem;

/// Takes kernel objects until the kernel refuses or argv[2] are held: "aio" contexts (io_setup of 4096
/// events each, counted against fs.aio-max-nr) or "pty" masters (/dev/ptmx, counted against
/// kernel.pty.max). Prints "holding N WHAT (why it stopped)", creates argv[3], and holds them until argv[4]
/// exists (or 20 s).
constexpr const char* kTakeAll = R"C(
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 5) return 2;
  int aio = strcmp(argv[1], "aio") == 0, max = atoi(argv[2]), n = 0, err = 0;
  while (n < max) {
    long rc;
    if (aio) {
      aio_context_t ctx = 0;
      rc = syscall(SYS_io_setup, 4096, &ctx);
    } else {
      rc = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    }
    if (rc < 0) {
      err = errno;
      break;
    }
    ++n;
  }
  printf("holding %d %s (%s)\n", n, argv[1], err ? strerrorname_np(err) : "stopped");
  fflush(stdout);
  close(open(argv[3], O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  for (int i = 0; i < 2000 && access(argv[4], F_OK) != 0; ++i) usleep(10000);
  return 0;
}
)C";

/// Forks until the kernel refuses or argv[1] children run; each child waits to be killed. Prints "forked N
/// (why it stopped)"; the children die with the unit.
constexpr const char* kForkAll = R"C(
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  int max = atoi(argv[1]), n = 0, err = 0;
  while (n < max) {
    pid_t pid = fork();
    if (pid == 0) {
      for (;;) pause();
    }
    if (pid < 0) {
      err = errno;
      break;
    }
    ++n;
  }
  printf("forked %d (%s)\n", n, err ? strerrorname_np(err) : "stopped");
  return 0;
}
)C";

class Shared : public EscapeTest {
 protected:
  std::string takeAll(std::string* why) { return compile("take_all", kTakeAll, "-O1 -Werror=implicit-function-declaration", why); }
  static long readLong(const char* path) {
    long v = -1;
    std::ifstream(path) >> v;
    return v;
  }
};

// Legacy AIO contexts are counted against one host-wide limit (fs.aio-max-nr, 65536 events by default),
// not per user: sixteen io_setup calls of a unit would make every io_setup of the host fail with EAGAIN
// (databases, qemu, anything on libaio) for as long as the unit runs.
TEST_F(Shared, AUnitCannotTakeTheHostsAioContexts) {
  std::string why;
  std::string bin = takeAll(&why);
  if (bin.empty()) GTEST_SKIP() << why;
  long max = readLong("/proc/sys/fs/aio-max-nr"), used = readLong("/proc/sys/fs/aio-nr");
  if (max <= 0 || used < 0) GTEST_SKIP() << "no /proc/sys/fs/aio-max-nr here";
  std::string bar = tools() + "/bar";
  fs::create_directories(bar);
  std::string m = writeManifest(json::array{
      argvTest("aio", {bin, "aio", "100000", bar + "/held", bar + "/release"}, {{"sandbox", sandboxWithTools()}})});
  std::string out = dir_.path() + "/out.txt";
  pid_t pid = startMpexec({"--json", reportPath(), m}, out);
  bool held = eventually([&] { return fs::exists(bar + "/held"); }, 30);
  aio_context_t ctx = 0;
  long host = syscall(SYS_io_setup, 1, &ctx);
  int host_errno = errno;
  long used_meanwhile = readLong("/proc/sys/fs/aio-nr");
  if (host == 0) syscall(SYS_io_destroy, ctx);
  std::ofstream(bar + "/release") << "go";
  auto r = waitMpexec(pid, out, 60);
  ASSERT_TRUE(held) << r.out;
  std::string l = log(report(), "aio");
  EXPECT_TRUE(contains(l, "holding ")) << l;
  EXPECT_EQ(host, 0) << "the host could not set up an AIO context while a unit held its own ("
                     << strerror(host_errno) << "; fs.aio-nr " << used_meanwhile << " of " << max << "):\n" << l;
}

// Every devpts instance but the host's first draws from one pool (kernel.pty.max less kernel.pty.reserve,
// 3072 by default): a unit that opens ptys until refused would leave none to the units beside it, nor to a
// host whose own /dev/pts is not the first instance (a container's).
TEST_F(Shared, AUnitCannotTakeEveryPty) {
  std::string why;
  std::string bin = takeAll(&why);
  if (bin.empty()) GTEST_SKIP() << why;
  std::string bar = tools() + "/bar";
  fs::create_directories(bar);
  std::string wait_for_a = "i=0; while [ ! -e " + bar + "/a.held ] && [ $i -lt 2000 ]; do sleep 0.01; i=$((i+1)); done; ";
  json::array tests{
      argvTest("a", {bin, "pty", "100000", bar + "/a.held", bar + "/release"}, {{"sandbox", sandboxWithTools()}}),
      shTest("b", wait_for_a + "exec " + bin + " pty 1 " + bar + "/b.held " + bar + "/release",
             {{"sandbox", sandboxWithTools()}})};
  std::string m = writeManifest(tests);
  std::string out = dir_.path() + "/out.txt";
  pid_t pid = startMpexec({"--json", reportPath(), "-j", "2", m}, out);
  bool held = eventually([&] { return fs::exists(bar + "/a.held") && fs::exists(bar + "/b.held"); }, 30);
  std::ofstream(bar + "/release") << "go";
  auto r = waitMpexec(pid, out, 60);
  ASSERT_TRUE(held) << r.out;
  auto rep = report();
  std::string a = log(rep, "a"), b = log(rep, "b");
  EXPECT_TRUE(contains(a, "holding ")) << a;
  EXPECT_TRUE(contains(b, "holding 1 pty")) << "a unit could not open a pty while its neighbour held its own:\n"
                                           << b << "\nthe neighbour: " << a;
}

// The pid and task tables are one for the whole host (kernel.pid_max, 32768 here, and kernel.threads-max),
// and a unit without a "pids" limit inherited mpexec's RLIMIT_NPROC (root's: half of threads-max, 96367
// here), so one fork bomb left the host no pid for the rest of its timeout. A unit with a uid of its own
// may take its share: the smaller table divided by the slots plus one. Run at -j N with N units, for a
// share small enough to reach without loading the machine.
TEST_F(Shared, AUnitTakesNoMoreThanItsShareOfTheHostsTasks) {
  if (geteuid() != 0) GTEST_SKIP() << "the share is for units of root's run, each a uid of its own; this test runs as uid "
                                   << geteuid();
  long pid_max = readLong("/proc/sys/kernel/pid_max"), threads_max = readLong("/proc/sys/kernel/threads-max");
  if (pid_max <= 0 || threads_max <= 0) GTEST_SKIP() << "no kernel.pid_max or kernel.threads-max here";
  long least = std::min(pid_max, threads_max);
  long slots = std::min(64L, least / 1000 + 1), share = least / (slots + 1);
  std::string why;
  std::string bin = compile("fork_all", kForkAll, "-O1 -Werror=implicit-function-declaration", &why);
  if (bin.empty()) GTEST_SKIP() << why;
  long tries = std::min(2 * share + 50, 3000L);
  // mpexec runs at most as many slots as there are units.
  json::array tests{argvTest("bomb", {bin, std::to_string(tries)}, {{"sandbox", sandboxWithTools()}})};
  for (long i = 1; i < slots; ++i) tests.push_back(argvTest("beside" + std::to_string(i), {"/bin/true"}));
  auto r = run(tests, {"-j", std::to_string(slots)});
  std::string l = log(report(), "bomb");
  std::smatch got;
  ASSERT_TRUE(std::regex_search(l, got, std::regex("forked ([0-9]+)"))) << l << r.out;
  EXPECT_LT(std::stol(got[1]), share) << "one unit of " << slots << " took more than its share (" << share
                                      << ") of the host's " << least << " tasks:\n" << l;
}

// The kernel broadcasts device events (uevents: a disk or a USB device plugged, a device changed) to every
// NETLINK_KOBJECT_UEVENT socket of each network namespace its root user namespace owns, the units' new ones
// included: a unit with network "none" heard what happens to the host's hardware. The host makes /dev/null
// announce itself ("change", harmless) while a unit listens.
TEST_F(Shared, NoUnitHearsTheHostsDeviceEvents) {
  if (geteuid() != 0) GTEST_SKIP() << "the host's event is made by root; this test runs as uid " << geteuid();
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  const char* trigger = "/sys/class/mem/null/uevent";
  if (access(trigger, W_OK) != 0) GTEST_SKIP() << "no writable " << trigger;
  std::string bar = tools() + "/bar";
  fs::create_directories(bar);
  std::string listen = tools_.write("uevent_listen.py",
                                    "import socket, sys\n"
                                    "try:\n"
                                    "    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 15)\n"
                                    "    s.bind((0, 1))\n"
                                    "    s.settimeout(5)\n"
                                    "except OSError as e:\n"
                                    "    print('no uevent socket:', e)\n"
                                    "    open(sys.argv[1], 'w').close()\n"
                                    "    sys.exit(0)\n"
                                    "open(sys.argv[1], 'w').close()\n"
                                    "try:\n"
                                    "    print('heard:', s.recv(4096)[:100])\n"
                                    "except OSError as e:\n"
                                    "    print('heard nothing:', e)\n");
  std::string m = writeManifest(json::array{
      argvTest("listen", {"/usr/bin/python3", listen, bar + "/listening"}, {{"sandbox", sandboxWithTools()}})});
  std::string out = dir_.path() + "/out.txt";
  pid_t pid = startMpexec({"--json", reportPath(), m}, out);
  bool listening = eventually([&] { return fs::exists(bar + "/listening"); }, 30);
  for (int i = 0; i < 3 && listening; ++i) {
    std::ofstream(trigger) << "change";
    usleep(100 * 1000);
  }
  auto r = waitMpexec(pid, out, 60);
  ASSERT_TRUE(listening) << r.out;
  std::string l = log(report(), "listen");
  EXPECT_FALSE(contains(l, "heard:")) << "a unit heard the host's device events:\n" << l;
}

}  // namespace
}  // namespace mpexec::test::escape
