// The escape and abuse suite (issue 3): each case runs the real mpexec binary, with the sandbox, on a
// manifest whose tests attack the sandbox, and checks from the report, the logs and the host that every
// attack failed in the stated way. One TEST per numbered case.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "tests/sandbox/escape_attacks.h"
#include "tests/sandbox/escape_support.h"

namespace mpexec::test::escape {
namespace {

namespace fs = std::filesystem;

class Escape : public EscapeTest {
 protected:
  /// Writes the python attack script into the tools directory; returns the argv prefix that runs it.
  std::vector<std::string> python() {
    if (access("/usr/bin/python3", X_OK) != 0) return {};
    return {"/usr/bin/python3", tools_.write("attack.py", kAttackPy)};
  }
  /// A fresh directory inside the tools directory (so units see it read-write), for file barriers.
  std::string barrierDir(const std::string& name) {
    std::string d = tools_.path() + "/" + name;
    fs::create_directories(d);
    return d;
  }
  static std::vector<std::string> cat(std::vector<std::string> a, const std::vector<std::string>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  }
};

/// A directory outside /tmp (so that a unit's /tmp holds nothing of the test's), removed afterwards.
class OutsideTmpDir {
 public:
  OutsideTmpDir() {
    char tmpl[] = "/var/tmp/mpexec-escape-XXXXXX";
    if (mkdtemp(tmpl)) path_ = tmpl;
  }
  ~OutsideTmpDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// 1. The root and $HOME are read-only; /tmp is writable, empty and private, even for two units that use
//    the same socket path at the same time.
TEST_F(Escape, Case01_ReadOnlyRootAndHomePrivateTmp) {
  auto py = python();
  if (py.empty()) GTEST_SKIP() << "no /usr/bin/python3";
  OutsideTmpDir state;
  ASSERT_FALSE(state.path().empty()) << "cannot create a directory in /var/tmp";
  std::string mark = marker("ro");
  const char* home = getenv("HOME");
  std::string home_dir = home && *home ? home : "/root";
  std::string bar = barrierDir("bar");
  bool sock_before = fs::exists("/tmp/x.sock");
  // The state directory and cwd are outside /tmp, so nothing of the test's needs to appear there.
  json::object at_root;
  json::object with_tools{{"sandbox", sandboxWithTools()}};
  json::array tests{
      shTest("root", "for f in /" + mark + " /usr/" + mark + " /etc/" + mark +
                         "; do touch $f && { echo \"wrote $f\"; exit 1; }; done; exit 0", at_root),
      shTest("home", "echo HOME=$HOME; touch \"$HOME/" + mark + "\" && exit 1; exit 0", at_root),
      shTest("tmp",
             "left=$(ls -A /tmp); test -z \"$left\" || { echo \"/tmp not empty: $left\"; exit 1; }; "
             "test \"$TMPDIR\" = /tmp || exit 1; echo private > /tmp/" + mark + " && cat /tmp/" + mark,
             at_root),
      argvTest("sock-a", cat(py, {"unix", "a", "b", bar}), with_tools),
      argvTest("sock-b", cat(py, {"unix", "b", "a", bar}), with_tools),
  };
  // The manifest too: a project under /tmp is bound into the unit's /tmp so that its tests can see it.
  json::object manifest{{"version", 1}, {"tests", tests}, {"defaults", {{"cwd", "/"}, {"env", {{"HOME", home_dir}}}}}};
  std::string manifest_path = state.path() + "/m.json";
  std::ofstream(manifest_path) << json::serialize(manifest);
  auto r = runMpexec({"--json", reportPath(), "-j", "5", "--state-dir", state.path() + "/state", manifest_path});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  auto rep = report();
  for (const char* t : {"root", "home", "tmp", "sock-a", "sock-b"})
    EXPECT_EQ(outcome(rep, t), "PASS") << t << ":\n" << log(rep, t, state.path());
  EXPECT_TRUE(contains(log(rep, "root", state.path()), "Read-only file system")) << log(rep, "root", state.path());
  // Where the host lets the unit's user write $HOME, only the read-only mount stops it; a unit of root with
  // a uid of its own is refused by the permissions of root's home first.
  if (access(home_dir.c_str(), W_OK) == 0) {
    std::string home_log = log(rep, "home", state.path());
    EXPECT_TRUE(contains(home_log, "Read-only file system") || contains(home_log, "Permission denied")) << home_log;
  }
  EXPECT_TRUE(contains(log(rep, "tmp", state.path()), "private")) << log(rep, "tmp", state.path());
  EXPECT_TRUE(contains(log(rep, "sock-a", state.path()), "own server answered: a")) << log(rep, "sock-a", state.path());
  EXPECT_TRUE(contains(log(rep, "sock-b", state.path()), "own server answered: b")) << log(rep, "sock-b", state.path());
  // Nothing reached the host.
  for (const std::string& p : {"/" + mark, "/usr/" + mark, "/etc/" + mark, home_dir + "/" + mark, "/tmp/" + mark})
    EXPECT_FALSE(fs::exists(p)) << p << " was written on the host";
  if (!sock_before) {
    EXPECT_FALSE(fs::exists("/tmp/x.sock")) << "/tmp/x.sock appeared on the host";
  }
}

// 2. /proc shows only the unit; kill -9 of mpexec's pid, of 1 and of -1 reaches nothing outside.
TEST_F(Escape, Case02_ProcIsTheUnitsAndKillReachesNothingOutside) {
  std::string host_mark = marker("host");
  HostProcess host(host_mark);
  ASSERT_TRUE(eventually([&] { return !processesWith(host_mark).empty(); })) << "the host process did not start";
  std::string pid_file = barrierDir("pid") + "/mpexec.pid";
  // The pattern does not match its own grep's command line: "hos[t]" only matches "host".
  std::string pattern = std::regex_replace(host_mark, std::regex("host"), "hos[t]");
  std::string wait_pid = "i=0; while [ ! -s " + pid_file + " ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; "
                         "P=$(cat " + pid_file + "); ";
  json::object sb{{"sandbox", sandboxWithTools()}};
  json::array tests{
      shTest("proc",
             "pids=$(ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' '); echo \"pids: $pids\"; "
             "echo \"pid 1: $(tr '\\0' ' ' < /proc/1/cmdline)\"; "
             "if grep -qs '" + pattern + "' /proc/[0-9]*/cmdline; then echo 'host process visible'; exit 1; fi; "
             "n=$(echo $pids | wc -w); test $n -le 8 || { echo \"$n processes\"; exit 1; }",
             sb),
      shTest("killer",
             wait_pid + "echo \"mpexec is $P outside\"; kill -9 $P; echo \"kill mpexec: $?\"; "
             "kill -9 " + std::to_string(host.pid()) + "; echo \"kill host: $?\"; "
             "kill -9 1; echo \"kill 1: $?\"; kill -9 -1; echo \"kill -1: $?\"; sleep 0.2; echo survived",
             sb),
      shTest("sibling", wait_pid + "sleep 0.5; echo sibling alive", sb),
  };
  std::string m = writeManifest(tests);
  std::string out = dir_.path() + "/out.txt";
  pid_t pid = startMpexec({"--json", reportPath(), "-j", "3", m}, out);
  std::ofstream(pid_file + ".tmp") << pid << "\n";
  fs::rename(pid_file + ".tmp", pid_file);
  auto r = waitMpexec(pid, out, 60);
  EXPECT_EQ(r.signal, 0) << "mpexec was killed:\n" << r.out;
  EXPECT_EQ(r.exit_code, 0) << r.out;
  auto rep = report();
  for (const char* t : {"proc", "killer", "sibling"}) EXPECT_EQ(outcome(rep, t), "PASS") << t << ":\n" << log(rep, t);
  std::string proc = log(rep, "proc");
  EXPECT_TRUE(contains(proc, "pid 1: ")) << proc;

  std::string killer = log(rep, "killer");
  EXPECT_TRUE(contains(killer, "survived")) << killer;
  EXPECT_TRUE(contains(killer, "kill host: 1")) << "the host's pid exists inside?\n" << killer;
  EXPECT_TRUE(contains(killer, "kill mpexec: 1")) << "mpexec's pid exists inside?\n" << killer;
  EXPECT_TRUE(host.alive()) << "the host process was killed";
  if (getenv("MPEXEC_ESCAPE_VERBOSE")) std::cout << proc << killer;
  EXPECT_FALSE(processesWith(host_mark).empty());
}

// 3. No way to the host's 127.0.0.1; the unit's own lo works; two units bind 127.0.0.1:8080 at once.
TEST_F(Escape, Case03_LoopbackIsTheUnitsOwn) {
  auto py = python();
  if (py.empty()) GTEST_SKIP() << "no /usr/bin/python3";
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(listener, 8), 0);
  socklen_t len = sizeof a;
  getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len);
  std::string port = std::to_string(ntohs(a.sin_port));
  std::string bar = barrierDir("bar");
  json::object sb{{"sandbox", sandboxWithTools()}};
  json::array tests{
      argvTest("host-port", cat(py, {"host", port}), sb),
      argvTest("lo-a", cat(py, {"tcp8080", "a", "b", bar}), sb),
      argvTest("lo-b", cat(py, {"tcp8080", "b", "a", bar}), sb),
  };
  auto r = run(tests, {"-j", "3"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  auto rep = report();
  for (const char* t : {"host-port", "lo-a", "lo-b"}) EXPECT_EQ(outcome(rep, t), "PASS") << t << ":\n" << log(rep, t);
  EXPECT_TRUE(contains(log(rep, "host-port"), "connect: ECONNREFUSED")) << log(rep, "host-port");
  EXPECT_TRUE(contains(log(rep, "lo-a"), "own server answered: a")) << log(rep, "lo-a");
  EXPECT_TRUE(contains(log(rep, "lo-b"), "own server answered: b")) << log(rep, "lo-b");
  // Nothing knocked at the host's listener.
  pollfd p{listener, POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 0) << "a connection reached the host's listener";
  close(listener);
}

// 4. A fork bomb stops at the pids limit, and neither the host nor a sibling unit notices.
TEST_F(Escape, Case04_ForkBombStopsAtThePidsLimit) {
  if (!hostSandbox().has("pids")) GTEST_SKIP() << "no pids cgroup here (limits: rlimit), a fork bomb is not bounded";
  std::string why;
  std::string bomb = compile("forkbomb", kForkBomb, "-O1 -Werror=implicit-function-declaration", &why);
  if (bomb.empty()) GTEST_SKIP() << why;
  json::object limited{{"sandbox", sandboxWithTools({{"pids", 64}})}};
  json::array tests{
      argvTest("bomb", {bomb}, limited),
      shTest("sibling", "sleep 0.1; for i in $(seq 40); do /bin/true & done; wait; echo forty forks",
             {{"sandbox", sandboxWithTools({{"pids", 64}})}}),
      shTest("after", "/bin/true"),
  };
  auto r = run(tests, {"-j", "2"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto rep = report();
  EXPECT_EQ(outcome(rep, "bomb"), "FAIL") << log(rep, "bomb");
  std::string bl = log(rep, "bomb");
  std::smatch got;
  ASSERT_TRUE(std::regex_search(bl, got, std::regex("fork failed after ([0-9]+) children: EAGAIN"))) << bl;
  EXPECT_LT(std::stoi(got[1]), 64) << bl;
  EXPECT_EQ(outcome(rep, "sibling"), "PASS") << log(rep, "sibling");
  EXPECT_EQ(outcome(rep, "after"), "PASS");
  // The host can still fork.
  EXPECT_EQ(system("/bin/true"), 0);
}

// 5. Daemons (setsid, double fork, nohup) die with their unit.
TEST_F(Escape, Case05_NoDaemonSurvivesItsUnit) {
  std::string mark = marker("daemon");
  std::string pattern = std::regex_replace(mark, std::regex("daemon"), "daemo[n]");
  std::string script =
      "setsid bash -c 'exec -a " + mark + "-setsid sleep 1000' & "
      "( bash -c 'exec -a " + mark + "-double sleep 1000' & ) ; "
      "nohup bash -c 'exec -a " + mark + "-nohup sleep 1000' >/dev/null 2>&1 & "
      "setsid -f bash -c 'exec -a " + mark + "-setsidf sleep 1000' ; "
      "for i in $(seq 200); do n=$(grep -ls '" + pattern + "' /proc/[0-9]*/cmdline | wc -l); "
      "[ $n -ge 4 ] && break; sleep 0.01; done; echo \"$n daemons running\"; [ $n -ge 4 ]";
  json::array tests{shTest("daemons", script, {}, /*bash=*/true),
                    shTest("g.first", script, {{"group", "g"}, {"strategy", "serial"}}, true),
                    shTest("g.second", "echo second", {{"group", "g"}})};
  auto r = run(tests, {"-j", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  auto rep = report();
  EXPECT_EQ(outcome(rep, "daemons"), "PASS") << log(rep, "daemons");
  // Each daemon's command line carries the marker (and so may the shell that execs it, for a moment).
  std::smatch n;
  std::string dl = log(rep, "daemons");
  ASSERT_TRUE(std::regex_search(dl, n, std::regex("([0-9]+) daemons running"))) << dl;
  EXPECT_GE(std::stoi(n[1]), 4) << dl;
  EXPECT_EQ(outcome(rep, "g.first"), "PASS") << log(rep, "g.first");
  EXPECT_EQ(outcome(rep, "g.second"), "PASS");
  auto left = processesWith(mark);
  EXPECT_TRUE(left.empty()) << left.size() << " daemons survived their unit";
}

// 6. A timeout kills the whole tree: processes that ignore SIGTERM, leave the session, or are stopped.
TEST_F(Escape, Case06_TimeoutKillsTheWholeTree) {
  std::string mark = marker("timeout");
  std::string ignore = "trap '' TERM; ";
  json::object quick{{"timeout", 0.5}};
  json::array tests{
      shTest("ignores-term",
             ignore + "bash -c \"exec -a " + mark + "-child sleep 1000\" & "
             "setsid bash -c \"exec -a " + mark + "-setsid sleep 1000\" & "
             "while :; do sleep 0.05; done", quick, true),
      shTest("stopped",
             "bash -c \"exec -a " + mark + "-stopchild sleep 1000\" & sleep 0.05; kill -STOP $!; kill -STOP $$",
             quick, true),
      shTest("stopped-ignoring",
             ignore + "bash -c \"exec -a " + mark + "-both sleep 1000\" & sleep 0.05; kill -STOP $!; kill -STOP $$",
             quick, true),
      shTest("after", "echo still running"),
  };
  auto r = run(tests, {"-j", "2", "--kill-grace", "0.3"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto rep = report();
  for (const char* t : {"ignores-term", "stopped", "stopped-ignoring"})
    EXPECT_EQ(outcome(rep, t), "TIMEOUT") << t << ":\n" << log(rep, t);
  EXPECT_EQ(outcome(rep, "after"), "PASS");
  auto left = processesWith(mark);
  EXPECT_TRUE(left.empty()) << left.size() << " processes survived the timeout";
}

// 7. Allocating past the memory limit is an OOM outcome, and the run goes on.
TEST_F(Escape, Case07_MemoryLimitGivesAnOomOutcome) {
  if (!hostSandbox().has("memory"))
    GTEST_SKIP() << "no memory cgroup here (limits: rlimit): an address-space rlimit fails malloc, no OOM kill";
  auto py = python();
  if (py.empty()) GTEST_SKIP() << "no /usr/bin/python3";
  json::array tests{
      argvTest("hog", cat(py, {"alloc"}), {{"sandbox", sandboxWithTools({{"memory", "64M"}})}, {"timeout", 30}}),
      shTest("next", "echo next"),
  };
  auto r = run(tests, {"-j", "1"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto rep = report();
  const auto& hog = testEntry(rep, "hog");
  EXPECT_EQ(str(hog, "outcome"), "CRASH") << log(rep, "hog");
  EXPECT_EQ(num(hog, "signal"), 9);
  EXPECT_TRUE(contains(str(hog, "reason"), "oom: killed at the memory limit")) << str(hog, "reason");
  EXPECT_EQ(outcome(rep, "next"), "PASS");
}

// 8. The seccomp policy: namespace, mount, io_uring, TIOCSTI, AF_VSOCK/AF_ALG, NS_GET_ID, SO_NETNS_COOKIE and
//    pidfd_open(1) are EPERM, name_to_handle_at EOPNOTSUPP; clone3 is ENOSYS
//    while threads work; LeakSanitizer (ptrace) still works.
TEST_F(Escape, Case08_SeccompPolicyHolds) {
  std::string why;
  std::string probe = compile("seccomp_probe", kSeccompProbe, "-O1 -pthread -Werror=implicit-function-declaration", &why);
  if (probe.empty()) GTEST_SKIP() << why;
  std::string asan_why;
  std::string leaky = compile("leaky", kLeaky, "-g -fsanitize=address", &asan_why);
  std::string clean = leaky.empty() ? "" : compile("asan_clean", kAsanClean, "-g -fsanitize=address", &asan_why);
  json::object sb{{"sandbox", sandboxWithTools()}};
  json::array tests{
      argvTest("seccomp", {probe}, sb),
      argvTest("seccomp-off", {probe}, {{"sandbox", sandboxWithTools({{"seccomp", "off"}})}}),
  };
  if (!clean.empty()) {
    tests.push_back(argvTest("asan-clean", {clean}, sb));
    tests.push_back(argvTest("asan-leak", {leaky}, sb));
  }
  auto r = run(tests, {"-j", "2"});
  auto rep = report();
  std::string sl = log(rep, "seccomp");
  EXPECT_EQ(outcome(rep, "seccomp"), "PASS") << sl;
  for (const char* line : {"unshare(CLONE_NEWUSER): EPERM", "unshare(CLONE_NEWNS): EPERM", "mount(tmpfs): EPERM",
                           "io_uring_setup: EPERM", "ioctl(TIOCSTI): EPERM", "socket(AF_VSOCK): EPERM",
                           "socket(AF_ALG): EPERM", "ioctl(NS_GET_ID): EPERM", "getsockopt(SO_NETNS_COOKIE): EPERM",
                           "name_to_handle_at: EOPNOTSUPP", "pidfd_open(1): EPERM", "clone3: ENOSYS",
                           "pthread_create: ok", "fork: ok"})
    EXPECT_TRUE(contains(sl, line)) << line << " missing from:\n" << sl;
  // The control: without the filter the same probe gets other answers, so the filter is what says no.
  std::string off = log(rep, "seccomp-off");
  EXPECT_FALSE(contains(off, "clone3: ENOSYS")) << off;
  EXPECT_FALSE(contains(off, "socket(AF_ALG): EPERM")) << off;
  EXPECT_FALSE(contains(off, "ioctl(NS_GET_ID): EPERM")) << off;
  EXPECT_FALSE(contains(off, "pidfd_open(1): EPERM")) << off;
  if (clean.empty()) GTEST_SKIP() << "seccomp checked; no ASan toolchain: " << asan_why;
  EXPECT_EQ(outcome(rep, "asan-clean"), "PASS") << log(rep, "asan-clean");
  std::string leak = log(rep, "asan-leak");
  EXPECT_EQ(outcome(rep, "asan-leak"), "FAIL") << leak;
  EXPECT_TRUE(contains(leak, "ERROR: LeakSanitizer: detected memory leaks")) << leak;
  EXPECT_TRUE(contains(leak, "4242 byte(s)")) << leak;
  EXPECT_FALSE(contains(leak, "LeakSanitizer has encountered a fatal error")) << leak;
}

// 9. No capabilities, no new privileges, and the kernel's knobs are out of reach.
TEST_F(Escape, Case09_NoCapabilitiesNoNewPrivsReadOnlySysrq) {
  // Opening a knob for writing writes nothing; a read-only mount refuses the open itself. This kernel may
  // have no sysrq-trigger at all (CONFIG_MAGIC_SYSRQ off): then it must not exist inside either.
  bool host_sysrq = fs::exists("/proc/sysrq-trigger");
  std::string script =
      "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; "
      "for k in /proc/sysrq-trigger /proc/sys/kernel/hostname /proc/sys/vm/drop_caches; do "
      "if ( : > $k ) 2>/dev/null; then echo \"$k writable\"; exit 1; fi; "
      "/usr/bin/python3 -c \"import os,sys\ntry: os.open(sys.argv[1], os.O_WRONLY)\n"
      "except OSError as e: print(sys.argv[1] + ':', e.strerror)\" $k; done; "
      "grep -q '^CapEff:[[:space:]]*0000000000000000$' /proc/self/status && "
      "grep -q '^NoNewPrivs:[[:space:]]*1$' /proc/self/status";
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  json::array tests{shTest("privs", script), shTest("privs-nobody", script, {{"sandbox", {{"user", "nobody"}}}})};
  auto r = run(tests, {"-j", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  auto rep = report();
  for (const char* t : {"privs", "privs-nobody"}) {
    std::string l = log(rep, t);
    EXPECT_EQ(outcome(rep, t), "PASS") << t << ":\n" << l;
    EXPECT_TRUE(std::regex_search(l, std::regex("CapEff:\\s*0000000000000000"))) << l;
    EXPECT_TRUE(std::regex_search(l, std::regex("CapBnd:\\s*0000000000000000"))) << l;
    EXPECT_TRUE(std::regex_search(l, std::regex("NoNewPrivs:\\s*1"))) << l;
    // As the host's uid 0 (no capabilities, but the files' owner: a unit of root without a uid of its own)
    // only the read-only mount stops the open; as nobody, as a uid of its own, or as a non-root user, the
    // file mode already does.
    bool own_uid = contains(str(rep.at("run").as_object(), "sandbox_detail"), "uid of its own");
    bool owner = t == std::string("privs") && geteuid() == 0 && !own_uid;
    std::string refused = owner ? "Read-only file system" : "Permission denied";
    EXPECT_TRUE(contains(l, "/proc/sys/kernel/hostname: " + refused)) << l;
    EXPECT_TRUE(contains(l, "/proc/sys/vm/drop_caches: " + refused)) << l;
    if (host_sysrq) {
      EXPECT_TRUE(contains(l, "/proc/sysrq-trigger: " + refused)) << l;
    } else {
      EXPECT_TRUE(contains(l, "/proc/sysrq-trigger: No such file or directory")) << l;
    }
  }
}

/// Removes the cgroups an mpexec killed with SIGKILL left behind (mpexec-<pid>/ below its own cgroups).
void removeLeftCgroups(pid_t pid) {
  std::string name = "mpexec-" + std::to_string(pid);
  std::error_code ec;
  std::vector<fs::path> found;
  for (auto it = fs::recursive_directory_iterator("/sys/fs/cgroup", fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_directory(ec) && it->path().filename() == name) {
      found.push_back(it->path());
      it.disable_recursion_pending();
    }
  }
  for (const auto& top : found) {
    std::vector<fs::path> dirs;
    for (auto it = fs::recursive_directory_iterator(top, ec); it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (it->is_directory(ec)) dirs.push_back(it->path());
    }
    std::sort(dirs.rbegin(), dirs.rend());  // children before parents
    dirs.push_back(top);
    for (const auto& d : dirs) eventually([&] { return rmdir(d.c_str()) == 0 || errno == ENOENT; }, 3);
  }
}

// 10. kill -9 of mpexec leaves no process of any sandbox alive.
TEST_F(Escape, Case10_KillingMpexecKillsEverySandbox) {
  std::string mark = marker("orphan");
  std::string script = "setsid bash -c 'exec -a " + mark + "-setsid sleep 1000' & exec -a " + mark + "-main sleep 1000";
  json::object m{{"version", 1},
                 {"tests", json::array{shTest("a", script, {}, true), shTest("b", script, {}, true),
                                       shTest("c", script, {}, true)}}};
  std::string path = dir_.write(mark + ".json", json::serialize(m));
  std::string out = dir_.path() + "/out.txt";
  // A killed mpexec cannot remove its sync service's directory: it goes under a TMPDIR of the test's own.
  std::string tmp = dir_.path() + "/tmp";
  mkdir(tmp.c_str(), 0700);
  pid_t pid;
  {
    ScopedEnv tmpdir("TMPDIR", tmp);
    pid = startMpexec({"-j", "2", path}, out);
  }
  // mpexec + 2 inits + 2 × (main + setsid).
  bool started = eventually([&] { return processesWith(mark + "-").size() >= 4; }, 20);
  // The spawner and the inits: the inits are cloned with CLONE_PARENT, so they are mpexec's own children.
  auto children = childrenOf(pid);
  kill(pid, SIGKILL);
  auto r = waitMpexec(pid, out, 30);
  ASSERT_TRUE(started) << readFile(out);
  EXPECT_GE(children.size(), 3u) << "the spawner and two inits";
  EXPECT_EQ(r.signal, SIGKILL);
  auto survivors = [&] {
    size_t n = processesWith(mark).size();
    for (const auto& c : children) n += stillRuns(c);
    return n;
  };
  bool gone = eventually([&] { return survivors() == 0; }, 10);
  EXPECT_TRUE(gone) << survivors() << " processes of mpexec or of the sandboxes survived mpexec";
  removeLeftCgroups(pid);
}

// 11. The hostname is the unit's, the mount namespace is the unit's, and a mount made inside (where
//     nested namespaces are allowed) is invisible outside.
TEST_F(Escape, Case11_HostnameAndMountsStayInside) {
  char host_name[256] = {};
  gethostname(host_name, sizeof host_name - 1);
  std::string host_mnt = fs::read_symlink("/proc/self/ns/mnt").string();
  std::string host_uts = fs::read_symlink("/proc/self/ns/uts").string();
  std::string mark = marker("mount");
  std::string shared = barrierDir("shared");
  chmod(shared.c_str(), 0777);
  chmod(tools().c_str(), 0755);
  // The nested user namespace maps the unit's uid to root inside. Mapping uid 0 itself needs CAP_SETFCAP
  // in the parent namespace (Linux 5.12+), which a command never has, so the unit runs as nobody.
  std::string nested_script =
      "unshare --user --map-root-user --mount sh -c 'mount -t tmpfs " + mark + " " + shared + " && touch " + shared +
      "/inside && grep -c " + mark + " /proc/self/mountinfo && ls " + shared + "' && echo mounted";
  json::array tests{
      shTest("host",
             "h=$(hostname); echo \"hostname $h\"; test \"$h\" != '" + std::string(host_name) + "' && "
             "m=$(readlink /proc/self/ns/mnt); u=$(readlink /proc/self/ns/uts); echo \"$m $u\"; "
             "test \"$m\" != '" + host_mnt + "' && test \"$u\" != '" + host_uts + "'"),
      shTest("nested-mount", nested_script, {{"sandbox", sandboxWithTools({{"nested", true}, {"user", "nobody"}})}}),
  };
  auto r = run(tests, {"-j", "2"});
  auto rep = report();
  std::string hl = log(rep, "host");
  EXPECT_EQ(outcome(rep, "host"), "PASS") << hl;
  EXPECT_TRUE(contains(hl, "hostname mpexec-")) << hl;
  std::string nl = log(rep, "nested-mount");
  EXPECT_EQ(outcome(rep, "nested-mount"), "PASS") << nl;
  EXPECT_TRUE(contains(nl, "mounted")) << nl;
  // The host sees neither the mount nor the file written into it.
  EXPECT_FALSE(fs::exists(shared + "/inside"));
  EXPECT_FALSE(contains(readFile("/proc/self/mountinfo"), mark));
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

// 12. What the init keeps open (its event socket, the log directory, the fds it holds for its set-up) reaches
// no command: a directory fd would lead out of the mount namespace, the event socket would let the test
// speak for its init.
TEST_F(Escape, Case12_ACommandInheritsNoFdButItsThree) {
  // No pipe, no subshell, no directory opened: the shell's own fds are the ones it inherited.
  std::string script =
      "i=3; while [ $i -lt 1024 ]; do [ -e /proc/$$/fd/$i ] && echo \"open fd $i\" && ls -l /proc/$$/fd/$i; "
      "i=$((i+1)); done; echo checked";
  json::array tests{shTest("fds", script), shTest("fds-nobody", script, {{"sandbox", {{"user", "nobody"}}}}),
                    shTest("fds-nested", script, {{"sandbox", {{"nested", true}}}})};
  auto r = run(tests, {"-j", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  auto rep = report();
  for (const char* t : {"fds", "fds-nobody", "fds-nested"}) {
    std::string l = log(rep, t);
    EXPECT_EQ(outcome(rep, t), "PASS") << t << ":\n" << l;
    EXPECT_TRUE(contains(l, "checked")) << t << ":\n" << l;
    EXPECT_FALSE(contains(l, "open fd")) << t << ":\n" << l;
  }
}

}  // namespace
}  // namespace mpexec::test::escape
