// The hostile-test suite (issue 17): a test running with the default sandbox of the invoking user (as root,
// the usual CI case) attacks the host, its neighbours and the run's own records. Each TEST is one item of
// the issue, written as the attack, and asserts from the host that the attack got nothing.

#include <poll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "tests/sandbox/escape_hostile_attacks.h"
#include "tests/sandbox/escape_support.h"

namespace mpexec::test::escape {
namespace {

namespace fs = std::filesystem;

class Hostile : public EscapeTest {
 protected:
  /// The manifest's directory, writable by every unit (`"writable": ["."]`, common in real manifests): its
  /// state directory .mpexec/ then lies inside what the units may write.
  json::object writableProject(json::object more = {}) const {
    json::array w{dir_.path()};
    more["writable"] = std::move(w);
    return json::object{{"sandbox", std::move(more)}};
  }
  std::string state() const { return dir_.path() + "/.mpexec"; }
  /// The Unix-socket probe, written into the tools directory; empty without python3.
  std::vector<std::string> unixProbe() {
    if (access("/usr/bin/python3", X_OK) != 0) return {};
    return {"/usr/bin/python3", tools_.write("unix_probe.py", kUnixConnectPy)};
  }
};

// 1. A test replaces a later test's log (and its group's teardown log) with a symlink to a host file. The
//    init opens logs on the host, as root: the later output must go to its log, never through the link.
TEST_F(Hostile, Item01_LogSymlinkWritesNoHostFile) {
  HostDir host;
  ASSERT_FALSE(host.path().empty());
  std::string target = host.write("target", "precious\n");
  // Relative links: the init opens a log through a descriptor of the host's logs directory, so "../" leads
  // up the host's tree (an absolute link would be resolved in the unit's read-only root).
  std::string plant = "for d in " + state() + "/runs/*/logs; do "
                      "up=$(echo \"$d\" | sed 's|[^/][^/]*|..|g; s|^/||'); "
                      "for l in later.log u0.teardown.log; do "
                      "ln -sfn \"$up" + target + "\" \"$d/$l\" && echo \"planted $d/$l -> $up" + target + "\"; "
                      "done; done; exit 0";
  json::object group = writableProject();
  json::array tests{
      shTest("plant", plant, {{"group", "g"}, {"strategy", "serial"}}),
      shTest("later", "echo later-output", {{"group", "g"}}),
  };
  json::object m{{"version", 1},
                 {"groups", {{"g", {{"sandbox", group["sandbox"]}, {"teardown", json::array{"/bin/echo", "bye"}}}}}},
                 {"tests", tests}};
  std::string path = dir_.write("m.json", json::serialize(m));
  auto r = runMpexec({"--json", reportPath(), "-j", "1", path});
  auto rep = report();
  EXPECT_EQ(readFile(target), "precious\n") << "the host file was written through the planted link:\n"
                                             << log(rep, "plant");
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(target)));
  EXPECT_EQ(outcome(rep, "later"), "PASS") << r.out;
  EXPECT_TRUE(contains(log(rep, "later"), "later-output")) << log(rep, "later");
}

// 1, a report: the same with the directory a report goes to (--junit inside the writable project), which
//    mpexec writes as root at the end of the run.
TEST_F(Hostile, Item01_ReportDirSymlinkWritesNoHostFile) {
  HostDir host;
  ASSERT_FALSE(host.path().empty());
  std::string reports = dir_.path() + "/reports";
  fs::create_directories(reports);
  std::string plant = "rm -rf " + reports + " && ln -s " + host.path() + " " + reports + " && echo planted";
  auto r = run(json::array{shTest("plant", plant, writableProject())},
               {"-j", "1", "--junit", reports + "/junit.xml", "--report-dir", reports});
  for (const auto& e : fs::directory_iterator(host.path()))
    ADD_FAILURE() << "mpexec wrote a report through the planted link: " << e.path() << "\n" << r.out;
  if (fs::is_symlink(reports)) {
    EXPECT_NE(r.exit_code, 0) << "a report that could not be written must not pass silently:\n" << r.out;
    EXPECT_TRUE(contains(r.out, "cannot write a report")) << r.out;
  }
}

// 2. A test replaces a later unit's output directory with a symlink to a host directory: the later unit
//    must get its own output directory, never the host's directory read-write.
TEST_F(Hostile, Item02_OutputDirSymlinkBindsNoHostDir) {
  HostDir host;
  ASSERT_FALSE(host.path().empty());
  fs::create_directories(host.path() + "/dir");
  std::string plant = "for r in " + state() + "/runs/*; do for u in u1 u2 u3 u4 u5 u6 u7; do "
                      "rm -rf \"$r/out/$u\"; ln -sfn " + host.path() + "/dir \"$r/out/$u\" && echo \"planted $r/out/$u\"; "
                      "done; done; exit 0";
  std::string use = "echo mine > \"$MPEXEC_OUTPUT_DIR/written-by-$MPEXEC_TEST_NAME\" && ls -la \"$MPEXEC_OUTPUT_DIR\"";
  json::array tests{shTest("plant", plant, writableProject())};
  for (const char* t : {"b", "c", "d", "e", "f"}) tests.push_back(shTest(t, use, writableProject()));
  auto r = run(tests, {"-j", "1"});
  auto rep = report();
  for (const auto& e : fs::directory_iterator(host.path() + "/dir"))
    ADD_FAILURE() << "a unit wrote into the host directory: " << e.path() << "\n" << log(rep, "plant");
  for (const char* t : {"b", "c", "d", "e", "f"}) {
    EXPECT_EQ(outcome(rep, t), "PASS") << t << ":\n" << log(rep, t);
    bool found = false;
    for (const auto& run_dir : fs::directory_iterator(state() + "/runs"))
      for (const auto& out : fs::directory_iterator(run_dir.path() / "out"))
        found |= fs::exists(out.path() / (std::string("written-by-") + t));
    EXPECT_TRUE(found) << t << " left nothing in its own output directory";
  }
}

// 2, a writable path: a unit that may write the project replaces a directory that a later unit declares
//    writable with a symlink to a host directory, during the run and for the next run. The later unit must
//    not get the host directory read-write: its set-up fails and says why.
TEST_F(Hostile, Item02_WritablePathSymlinkBindsNoHostDir) {
  HostDir host;
  ASSERT_FALSE(host.path().empty());
  fs::create_directories(host.path() + "/dir");
  std::string sub = dir_.path() + "/sub";
  fs::create_directories(sub);
  std::string plant = "rm -rf " + sub + " && ln -s " + host.path() + "/dir " + sub + " && echo planted";
  std::string use = "echo mine > " + sub + "/written-by-$MPEXEC_TEST_NAME; ls -la " + sub + "/";
  json::object later{{"writable", json::array{sub}}};
  // -j 1: "later" is set up while "between" runs, after "plant" has run.
  json::array tests{shTest("plant", plant, writableProject()), shTest("between", "sleep 0.1"),
                    shTest("later", use, {{"sandbox", later}})};
  for (int pass = 1; pass <= 2; ++pass) {
    // The second run of the same manifest starts with the link already there.
    auto r = run(tests, {"-j", "1"});
    auto rep = report();
    for (const auto& e : fs::directory_iterator(host.path() + "/dir"))
      ADD_FAILURE() << "run " << pass << ": a unit wrote into the host directory: " << e.path() << "\n"
                    << log(rep, "later");
    EXPECT_EQ(outcome(rep, "later"), "ERROR") << "run " << pass << ":\n" << log(rep, "later");
    EXPECT_TRUE(contains(str(testEntry(rep, "later"), "reason"), "symlink")) << str(testEntry(rep, "later"), "reason");
  }
}

// 3. A test leaves a setuid or setgid file (or a file capability) where it may write: a writable path and
//    its output directory, with the default seccomp policy, with nested namespaces, and with seccomp off.
//    None may survive on the host, where any local user could run it.
TEST_F(Hostile, Item03_NoSetidFileSurvivesOnTheHost) {
  std::string why;
  std::string bin = compile("setid_attack", kSetidAttack, "-O1 -Werror=implicit-function-declaration", &why);
  if (bin.empty()) GTEST_SKIP() << why;
  const std::vector<std::pair<const char*, json::object>> variants{
      {"default", {}}, {"nested", {{"nested", true}}}, {"seccomp-off", {{"seccomp", "off"}}}};
  json::array tests;
  for (const auto& [name, more] : variants) {
    std::string in_writable = tools() + "/setid-" + name;
    fs::create_directories(in_writable);
    tests.push_back(argvTest(std::string("writable-") + name, {bin, in_writable}, {{"sandbox", sandboxWithTools(more)}}));
    tests.push_back(shTest(std::string("output-") + name, bin + " \"$MPEXEC_OUTPUT_DIR\"", {{"sandbox", sandboxWithTools(more)}}));
  }
  auto r = run(tests, {"-j", "2"});
  auto rep = report();
  int files = 0;
  for (const std::string& root : {tools(), state()}) {
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      struct stat st;
      if (lstat(e.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      std::string name = e.path().filename().string();
      if (e.path().parent_path().filename().string().rfind("setid-", 0) != 0 &&
          e.path().parent_path().parent_path().filename() != "out")
        continue;
      ++files;
      EXPECT_EQ(st.st_mode & (S_ISUID | S_ISGID), 0u)
          << e.path() << " is setuid/setgid on the host, mode " << std::oct << st.st_mode << std::dec << ", owner "
          << st.st_uid;
      EXPECT_LT(getxattr(e.path().c_str(), "security.capability", nullptr, 0), 0)
          << e.path() << " carries a file capability on the host";
      // What a unit leaves belongs to the user who ran mpexec.
      EXPECT_EQ(st.st_uid, geteuid()) << e.path();
    }
  }
  EXPECT_GT(files, 0) << "the attack left no file at all:\n" << r.out;
  for (const auto& [name, more] : variants)
    EXPECT_TRUE(contains(log(rep, std::string("writable-") + name), "chmod 04755:")) << log(rep, std::string("writable-") + name);
}

// 4. With network "none", a test connects to the host's Unix sockets on the filesystem (an agent's 0600
//    socket, a world-writable one) and in the abstract namespace. None may answer.
TEST_F(Hostile, Item04_NoHostUnixSocketIsReachable) {
  auto probe = unixProbe();
  if (probe.empty()) GTEST_SKIP() << "no /usr/bin/python3";
  HostDir host;
  ASSERT_FALSE(host.path().empty());
  std::string abstract = "@mpexec-hostile-" + std::to_string(getpid());
  HostSocket world(host.path() + "/world.sock", 0777), agent(host.path() + "/agent.sock", 0600), hidden(abstract, 0);
  ASSERT_TRUE(world.ok() && agent.ok() && hidden.ok());
  std::vector<std::string> argv = probe;
  for (const std::string& s : {host.path() + "/world.sock", host.path() + "/agent.sock", abstract}) argv.push_back(s);
  json::array tests{argvTest("self", argv, {{"sandbox", sandboxWithTools()}}),
                    argvTest("nobody", argv, {{"sandbox", sandboxWithTools({{"user", "nobody"}})}}),
                    argvTest("nested", argv, {{"sandbox", sandboxWithTools({{"nested", true}})}})};
  auto r = run(tests, {"-j", "3"});
  auto rep = report();
  for (const char* t : {"self", "nobody", "nested"}) {
    EXPECT_EQ(outcome(rep, t), "PASS") << t << ":\n" << log(rep, t);
    EXPECT_FALSE(contains(log(rep, t), ": connected")) << t << ":\n" << log(rep, t);
  }
  EXPECT_FALSE(world.accepted()) << "a unit reached the host's world-writable socket";
  EXPECT_FALSE(agent.accepted()) << "a unit reached the host's 0600 socket";
  EXPECT_FALSE(hidden.accepted()) << "a unit reached the host's abstract socket";
}

// 5. A test reads what only the host's root may: /etc/shadow, a 0600 file of root's, a file below a 0700
//    directory of root's, root's home.
TEST_F(Hostile, Item05_RootOnlyHostFilesAreUnreadable) {
  if (geteuid() != 0) GTEST_SKIP() << "the attack is on root's files; this test runs as uid " << geteuid();
  HostDir host;
  ASSERT_FALSE(host.path().empty());
  std::string secret = "topsecret-" + std::to_string(getpid());
  std::string file = host.write("secret", secret + "\n");
  chmod(file.c_str(), 0600);
  fs::create_directories(host.path() + "/private");
  std::string inside = host.write("private/file", "inside-" + secret + "\n");
  chmod(inside.c_str(), 0644);
  chmod((host.path() + "/private").c_str(), 0700);
  std::string shadow_line;
  std::getline(std::ifstream("/etc/shadow"), shadow_line);
  std::string script = "for f in /etc/shadow " + file + " " + inside + "; do echo \"== $f\"; cat \"$f\"; done 2>&1; "
                       "echo '== /root'; ls -la /root 2>&1; exit 0";
  json::array tests{shTest("self", script), shTest("nobody", script, {{"sandbox", {{"user", "nobody"}}}}),
                    shTest("nested", script, {{"sandbox", {{"nested", true}}}})};
  auto r = run(tests, {"-j", "3"});
  auto rep = report();
  for (const char* t : {"self", "nobody", "nested"}) {
    std::string l = log(rep, t);
    EXPECT_EQ(outcome(rep, t), "PASS") << t << ":\n" << l;
    EXPECT_FALSE(contains(l, secret)) << t << " read a root-only file:\n" << l;
    if (!shadow_line.empty()) {
      EXPECT_FALSE(contains(l, shadow_line)) << t << " read /etc/shadow:\n" << l;
    }
    EXPECT_FALSE(contains(l, ".bashrc") || contains(l, ".profile")) << t << " listed /root:\n" << l;
  }
}

// 6. A unit reads what other units left: their output directories and logs, of this run and of an earlier
//    one, through the view of the state directory.
TEST_F(Hostile, Item06_NoUnitSeesAnotherUnitsOutputsOrLogs) {
  std::string flag = tools() + "/written";
  // An earlier run leaves a secret in its output directory and its log.
  json::array first{shTest("earlier", "echo \"$SECRET\" > \"$MPEXEC_OUTPUT_DIR/secret\"; echo \"$SECRET\"",
                           {{"env", {{"SECRET", "earlier-run-secret-1f3a"}}}})};
  auto r1 = run(first, {"-j", "1"});
  ASSERT_EQ(r1.exit_code, 0) << r1.out;
  std::string look =
      "i=0; while [ ! -e " + flag + " ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; "
      "for f in " + state() + "/runs/*/logs/* " + state() + "/runs/*/out/* " + state() + "/runs/*/out/*/*; do "
      "case \"$f\" in \"$MPEXEC_OUTPUT_DIR\"|\"$MPEXEC_OUTPUT_DIR\"/*) continue;; esac; "
      "[ -e \"$f\" ] && echo \"visible: $f\"; done; "
      "cat " + state() + "/runs/*/out/*/secret " + state() + "/runs/*/logs/*.log 2>&1; "
      "cat " + state() + "/state.json >/dev/null 2>&1 && echo 'visible: state.json'; exit 0";
  json::array second{
      shTest("writer", "echo \"$SECRET\" > \"$MPEXEC_OUTPUT_DIR/secret\"; echo \"$SECRET\"; touch " + flag,
             {{"env", {{"SECRET", "this-run-secret-9c2e"}}}, {"sandbox", sandboxWithTools()}}),
      shTest("reader", look, {{"sandbox", sandboxWithTools()}}),
  };
  auto r2 = run(second, {"-j", "2"});
  auto rep = report();
  std::string l = log(rep, "reader");
  EXPECT_EQ(outcome(rep, "reader"), "PASS") << l;
  EXPECT_FALSE(contains(l, "visible:")) << l;
  EXPECT_FALSE(contains(l, "earlier-run-secret-1f3a")) << l;
  EXPECT_FALSE(contains(l, "this-run-secret-9c2e")) << l;
  EXPECT_TRUE(contains(log(rep, "writer"), "this-run-secret-9c2e")) << log(rep, "writer");
}

// 6, across projects. Another project's run (another CI job of the same host, as the same user) left its
//    records in its own state directory, where the host's other users may search: a unit of this run
//    reads that run's logs, output directories, report and state.json through the host's view.
TEST_F(Hostile, Item06_NoUnitReadsAnotherProjectsRecords) {
  if (geteuid() != 0) GTEST_SKIP() << "a unit of a user's run is that user and reads what it may; this test runs as uid "
                                   << geteuid();
  HostDir other;
  ASSERT_FALSE(other.path().empty());
  std::string other_m = other.write(
      "m.json", R"({"version": 1, "tests": [{"name": "name-secret-4e1b", "cmd": ["/bin/sh", "-c",)"
                R"( "echo log-secret-7d2a; echo out-secret-0c9f > \"$MPEXEC_OUTPUT_DIR/a\""]}]})");
  auto first = runMpexec({"-q", "-j", "1", other_m});
  ASSERT_EQ(first.exit_code, 0) << first.out;
  std::string s = other.path() + "/.mpexec";
  std::string look = "ls -laR " + s + " 2>&1; for f in " + s + "/state.json " + s + "/runs/*/report.json " + s +
                     "/runs/*/logs/* " + s + "/runs/*/out/*/*; do echo \"== $f\"; cat \"$f\"; done 2>&1; exit 0";
  auto r = run(json::array{shTest("snoop", look), shTest("nobody", look, {{"sandbox", {{"user", "nobody"}}}})});
  auto rep = report();
  for (const char* t : {"snoop", "nobody"}) {
    std::string l = log(rep, t);
    EXPECT_EQ(outcome(rep, t), "PASS") << t << ":\n" << l << r.out;
    for (const char* secret : {"log-secret-7d2a", "out-secret-0c9f", "name-secret-4e1b"})
      EXPECT_FALSE(contains(l, secret)) << t << " read another project's records (" << secret << "):\n" << l;
  }
}

// 7. A test opens inotify instances until the kernel says no, and holds them. Neither the host's root nor
//    another unit running at the same time may find its own per-user limit used up.
TEST_F(Hostile, Item07_UnitsShareNoPerUserLimitWithTheHostOrEachOther) {
  if (geteuid() != 0) GTEST_SKIP() << "the limit shared is root's; this test runs as uid " << geteuid();
  std::string why;
  std::string bin = compile("inotify_hold", kInotifyHold, "-O1 -Werror=implicit-function-declaration", &why);
  if (bin.empty()) GTEST_SKIP() << why;
  int max_instances = 0;
  std::ifstream("/proc/sys/fs/inotify/max_user_instances") >> max_instances;
  std::string bar = tools() + "/bar";
  fs::create_directories(bar);
  json::array tests{argvTest("a", {bin, bar + "/a.held", bar + "/release"}, {{"sandbox", sandboxWithTools()}}),
                    argvTest("b", {bin, bar + "/b.held", bar + "/release"}, {{"sandbox", sandboxWithTools()}})};
  std::string m = writeManifest(tests);
  std::string out = dir_.path() + "/out.txt";
  pid_t pid = startMpexec({"--json", reportPath(), "-j", "2", m}, out);
  bool held = eventually([&] { return fs::exists(bar + "/a.held") && fs::exists(bar + "/b.held"); }, 30);
  int host_fd = inotify_init1(IN_CLOEXEC);
  int host_errno = errno;
  if (host_fd >= 0) close(host_fd);
  std::ofstream(bar + "/release") << "go";
  auto r = waitMpexec(pid, out, 60);
  ASSERT_TRUE(held) << r.out;
  EXPECT_GE(host_fd, 0) << "the host's root could not open an inotify instance while units held theirs: "
                        << strerror(host_errno);
  auto rep = report();
  for (const char* t : {"a", "b"}) {
    std::string l = log(rep, t);
    std::smatch got;
    ASSERT_TRUE(std::regex_search(l, got, std::regex("holding ([0-9]+) inotify"))) << l;
    // Each unit has a user of its own: the whole per-user limit, not a share of one.
    EXPECT_EQ(std::stoi(got[1]), std::min(max_instances, 4096)) << t << ":\n" << l;
  }
}

// 8. A test goes for its unit's init: lowers its limits (so that the next test cannot open its log),
//    signals it, traces it, renices it. The next test of the group and the teardown must still run.
TEST_F(Hostile, Item08_TheInitIsOutOfTheTestsReach) {
  std::string why;
  std::string bin = compile("init_probe", kInitProbe, "-O1 -Werror=implicit-function-declaration", &why);
  if (bin.empty()) GTEST_SKIP() << why;
  json::array tests{argvTest("probe", {bin}, {{"group", "g"}, {"strategy", "serial"}}),
                    shTest("after", "echo after", {{"group", "g"}})};
  json::object m{{"version", 1},
                 {"groups", {{"g", {{"sandbox", sandboxWithTools()}, {"teardown", json::array{"/bin/echo", "bye"}}}}}},
                 {"tests", tests}};
  std::string path = dir_.write("m.json", json::serialize(m));
  auto r = runMpexec({"--json", reportPath(), "-j", "1", path});
  auto rep = report();
  std::string l = log(rep, "probe");
  EXPECT_EQ(outcome(rep, "probe"), "PASS") << l;
  EXPECT_TRUE(contains(l, "still here")) << l;
  for (const char* attempt : {"prlimit(1, NOFILE, 3)", "prlimit(1, NPROC, 1)", "ptrace(ATTACH, 1)"})
    EXPECT_FALSE(contains(l, std::string(attempt) + ": ok")) << attempt << " reached the init:\n" << l;
  EXPECT_EQ(outcome(rep, "after"), "PASS") << str(testEntry(rep, "after"), "reason") << "\n" << r.out;
  EXPECT_EQ(r.exit_code, 0) << "the teardown or the unit failed:\n" << r.out;
}

// 8, by another way: a test leaves a process that stops (SIGSTOP) every process of the unit's uid. The next
//    command's process takes that uid before its exec, while its init waits for the exec (CLONE_VFORK):
//    stopped there, it held the init, which timed nothing out, and the run never ended. Stopped or not, the
//    next test is a TIMEOUT and the run ends.
TEST_F(Hostile, Item08_ACommandStoppedBeforeItsExecCannotHoldTheRun) {
  std::string why;
  std::string bin = compile("stopper", R"C(
#include <signal.h>
#include <time.h>
#include <unistd.h>
int main(void) {
  pid_t parent = getpid();
  if (fork() == 0) {
    setsid();
    while (getppid() == parent) usleep(1000);  // the test itself ends first
    for (time_t end = time(NULL) + 60; time(NULL) < end;) kill(-1, SIGSTOP);
    _exit(0);
  }
  return 0;
}
)C", "-O1", &why);
  if (bin.empty()) GTEST_SKIP() << why;
  // Each victim is stopped before its exec or after it (the stopper is not that precise): one of six before,
  // and the run never ended. Each victim lasts 0.2 s, so that a stopper slow to start on a loaded machine
  // still finds victims to stop (with `echo` alone all six could be done before its first kill).
  json::array tests{argvTest("plant", {bin}, {{"group", "g"}, {"strategy", "serial"}, {"timeout", 2}})};
  for (int i = 0; i < 6; ++i)
    tests.push_back(shTest("victim" + std::to_string(i), "sleep 0.2; echo ran", {{"group", "g"}, {"timeout", 1}}));
  json::object m{{"version", 1}, {"groups", {{"g", {{"sandbox", sandboxWithTools()}}}}}, {"tests", tests}};
  std::string path = dir_.write("m.json", json::serialize(m));
  auto r = runMpexec({"--json", reportPath(), "-j", "1", "--kill-grace", "0.5", path}, 90);
  ASSERT_EQ(r.exit_code, 1) << r.out;
  auto rep = report();
  EXPECT_EQ(outcome(rep, "plant"), "PASS") << r.out;
  int timeouts = 0;
  for (int i = 0; i < 6; ++i) timeouts += outcome(rep, "victim" + std::to_string(i)) == "TIMEOUT";
  EXPECT_GE(timeouts, 1) << r.out;
}

// 10. A test looks for what the host is: mpexec's host pid and command line through /proc/1/cmdline, and
//     other runs through the cgroups under /sys/fs/cgroup.
TEST_F(Hostile, Item10_NoHostPidOrOtherRunsCgroupsInside) {
  // Another run, alive meanwhile: its cgroups exist on the host.
  TempDir other;
  std::string other_m = other.write("m.json", R"({"version": 1, "tests": [{"name": "long", "cmd": ["/bin/sleep", "5"]}]})");
  pid_t other_pid = startMpexec({"-q", other_m}, other.path() + "/out.txt");
  std::string other_name = "mpexec-" + std::to_string(other_pid);
  bool other_up = eventually([&] {
    std::string cg;
    shell("find /sys/fs/cgroup -maxdepth 6 -name " + other_name + " 2>/dev/null", &cg);
    return !cg.empty();
  }, 10);
  std::string script = "echo \"cmdline: $(tr '\\0' ' ' < /proc/1/cmdline)\"; "
                       "find /sys/fs/cgroup -maxdepth 6 2>/dev/null | sed 's/^/cgroup: /'; exit 0";
  std::string m = writeManifest(json::array{shTest("look", script)});
  std::string out = dir_.path() + "/out.txt";
  pid_t pid = startMpexec({"--json", reportPath(), m}, out);
  auto r = waitMpexec(pid, out, 60);
  kill(other_pid, SIGTERM);
  waitMpexec(other_pid, other.path() + "/out.txt", 30);
  auto rep = report();
  std::string l = log(rep, "look");
  ASSERT_EQ(outcome(rep, "look"), "PASS") << l << r.out;
  std::smatch cmdline;
  ASSERT_TRUE(std::regex_search(l, cmdline, std::regex("cmdline: (.*)"))) << l;
  EXPECT_FALSE(std::regex_search(cmdline[1].str(), std::regex("\\b" + std::to_string(pid) + "\\b")))
      << "mpexec's host pid " << pid << " in /proc/1/cmdline: " << cmdline[1];
  EXPECT_FALSE(contains(cmdline[1].str(), dir_.path())) << "a host path in /proc/1/cmdline: " << cmdline[1];
  if (other_up) {
    EXPECT_FALSE(contains(l, other_name)) << "another run's cgroups are visible:\n" << l;
  }
  EXPECT_FALSE(contains(l, "mpexec-" + std::to_string(pid))) << "the run's own cgroup names are visible:\n" << l;
}

// What a unit may still do: compile and run a program, run python3, write its writable paths and output
// directory (what it leaves belongs to the user who ran mpexec), see itself as that user, use git in its
// project, reach the sync service by curl and by `mpexec sync`; a project below a directory only its owner
// may enter (root's home) still runs; and so does the same manifest with --no-sandbox.
TEST_F(Hostile, TheUnitsOwnWorkStillWorks) {
  HostDir host;
  ASSERT_FALSE(host.path().empty());
  // The project below a 0700 directory of the invoking user's, as a checkout under /root would be.
  std::string project = host.path() + "/private/project";
  fs::create_directories(project + "/out");
  chmod((host.path() + "/private").c_str(), 0700);
  std::ofstream(project + "/hello.c") << "#include <stdio.h>\nint main(void) { puts(\"compiled and ran\"); return 0; }\n";
  std::ofstream(project + "/run.sh") << "#!/bin/sh\necho project script ran as $(id -u)\n";
  chmod((project + "/run.sh").c_str(), 0755);
  bool git = access("/usr/bin/git", X_OK) == 0;
  std::string script =
      "set -e; ./run.sh; id -u; cc -o out/hello hello.c && ./out/hello; "
      "/usr/bin/python3 -c 'import sys; print(\"python\", sys.version_info[0])'; "
      "echo written > out/by-unit; mkdir -p out/dir; echo output > \"$MPEXEC_OUTPUT_DIR/result\"; "
      "curl -s --unix-socket \"$MPEXEC_SYNC_SOCKET\" -H \"Authorization: Bearer $MPEXEC_SYNC_TOKEN\" "
      "http://localhost/v1/run | grep -q run_id && echo 'curl reached the sync service'; "
      "\"$MPEXEC_EXE\" sync board put k '\"v\"' && \"$MPEXEC_EXE\" sync board get k; " +
      std::string(git ? "cd out && git init -q repo && cd repo && git status --short && echo git works; " : "") +
      "exit 0";
  json::object m{{"version", 1},
                 {"defaults", {{"sandbox", {{"writable", json::array{project + "/out"}}}}}},
                 {"tests", json::array{shTest("work", script)}}};
  std::string path = project + "/m.json";
  std::ofstream(path) << json::serialize(m);
  std::string rep_path = host.path() + "/report.json";
  for (const bool sandbox : {true, false}) {
    std::vector<std::string> args{"--json", rep_path, path};
    if (!sandbox) args.insert(args.begin(), "--no-sandbox");
    auto r = runMpexec(args);
    auto rep = readJson(rep_path);
    std::string l = log(rep, "work", project);
    const char* mode = sandbox ? "sandboxed" : "--no-sandbox";
    EXPECT_EQ(outcome(rep, "work"), "PASS") << mode << ":\n" << l << r.out;
    for (const char* line : {"project script ran as 0", "compiled and ran", "python 3", "curl reached the sync service",
                             "\"v\""})
      EXPECT_TRUE(contains(l, line)) << mode << ": no \"" << line << "\" in:\n" << l;
    if (git) {
      EXPECT_TRUE(contains(l, "git works")) << mode << ":\n" << l;
    }
    for (const std::string& left : {project + "/out/by-unit", project + "/out/hello", project + "/out/dir"}) {
      struct stat st;
      ASSERT_EQ(lstat(left.c_str(), &st), 0) << left;
      EXPECT_EQ(st.st_uid, geteuid()) << mode << ": " << left << " belongs to uid " << st.st_uid;
      EXPECT_EQ(st.st_gid, getegid()) << mode << ": " << left << " belongs to gid " << st.st_gid;
    }
    fs::remove_all(project + "/out");
    fs::create_directories(project + "/out");
  }
}

}  // namespace
}  // namespace mpexec::test::escape
