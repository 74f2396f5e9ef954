// The spawner process: the request's wire form, a unit whose sandbox cannot be set up, and a spawner that
// is gone.

#include "sandbox/spawner.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cctype>
#include <cstring>
#include <fstream>
#include <set>

#include <gtest/gtest.h>

#include "sandbox/contain.h"
#include "sandbox/context.h"
#include "sandbox/seccomp.h"
#include "tests/sandbox/contained.h"
#include "tests/support/temp_dir.h"

namespace mpexec::sandbox {
namespace {
using testing::namespaceContext;

UnitSpec fullSpec() {
  UnitSpec s;
  s.name = "group-a#2";
  s.isolation = Isolation::Namespaces;
  s.policy.network = Network::Host;
  s.policy.memory_bytes = 64 << 20;
  s.policy.pids = 77;
  s.policy.writable = {"/srv/a", "/srv/b c"};
  s.policy.user = Identity::Nobody;
  s.policy.seccomp = false;
  s.policy.nested = true;
  for (Role role : {Role::Setup, Role::Test, Role::Teardown, Role::Batch}) {
    CommandSpec c;
    c.role = role;
    c.argv = {"/bin/sh", "-c", std::string("echo \0x", 8)};
    c.env = {"A=1", "EMPTY="};
    c.cwd = "/work";
    c.timeout_ms = 1234 + int64_t(role);
    c.log_name = "log" + std::to_string(int(role));
    c.preload = role == Role::Batch;
    s.commands.push_back(c);
  }
  s.log_dir_fd = 5;
  s.output_dir = "/out/u";
  s.output_dir_fd = 6;
  s.visible = {"/tmp/project"};
  s.hidden = {"/work/.mpexec"};
  s.sync_dir = "/run/mpexec-1";
  s.kill_grace_ms = 250;
  s.hold = true;
  return s;
}

TEST(SpawnRequest, RoundTripsEveryField) {
  UnitSpec s = fullSpec();
  auto decoded = decodeSpawnRequest(encodeSpawnRequest(s, {"/sys/fs/cgroup/memory/x", "/sys/fs/cgroup/pids/x"}));
  ASSERT_TRUE(decoded.ok()) << decoded.error().message();
  const UnitSpec& d = decoded->spec;
  EXPECT_EQ(d.name, s.name);
  EXPECT_EQ(d.isolation, s.isolation);
  EXPECT_EQ(d.policy, s.policy);
  ASSERT_EQ(d.commands.size(), s.commands.size());
  for (size_t i = 0; i < s.commands.size(); ++i) {
    EXPECT_EQ(d.commands[i].role, s.commands[i].role);
    EXPECT_EQ(d.commands[i].argv, s.commands[i].argv);
    EXPECT_EQ(d.commands[i].env, s.commands[i].env);
    EXPECT_EQ(d.commands[i].cwd, s.commands[i].cwd);
    EXPECT_EQ(d.commands[i].timeout_ms, s.commands[i].timeout_ms);
    EXPECT_EQ(d.commands[i].log_name, s.commands[i].log_name);
    EXPECT_EQ(d.commands[i].preload, s.commands[i].preload);
  }
  EXPECT_TRUE(decoded->has_log_dir);
  EXPECT_EQ(d.log_dir_fd, -1) << "the fd travels beside the bytes";
  EXPECT_EQ(d.output_dir, s.output_dir);
  EXPECT_TRUE(decoded->has_output_dir);
  EXPECT_EQ(d.output_dir_fd, -1) << "the fd travels beside the bytes";
  EXPECT_EQ(d.visible, s.visible);
  EXPECT_EQ(d.hidden, s.hidden);
  EXPECT_EQ(d.sync_dir, s.sync_dir);
  EXPECT_EQ(d.kill_grace_ms, s.kill_grace_ms);
  EXPECT_EQ(d.hold, s.hold);
  EXPECT_EQ(decoded->cgroup_dirs, (std::vector<std::string>{"/sys/fs/cgroup/memory/x", "/sys/fs/cgroup/pids/x"}));
}

TEST(SpawnRequest, MalformedBytesAreAnErrorNamingTheField) {
  std::string bytes = encodeSpawnRequest(fullSpec(), {});
  // Every truncation fails cleanly, none crashes or allocates wildly.
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto d = decodeSpawnRequest(bytes.substr(0, n));
    ASSERT_FALSE(d.ok()) << "accepted " << n << " of " << bytes.size() << " bytes";
    EXPECT_NE(d.error().detail.find("malformed request: field "), std::string::npos) << d.error().message();
  }
  auto trailing = decodeSpawnRequest(bytes + "x");
  ASSERT_FALSE(trailing.ok());
  EXPECT_NE(trailing.error().detail.find("trailing"), std::string::npos);
  // An enum out of range: the isolation field follows the name (8-byte length + 9 bytes).
  std::string bad = bytes;
  bad[8 + 9] = 7;
  auto d = decodeSpawnRequest(bad);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().detail.find("field isolation"), std::string::npos) << d.error().message();
}

TEST(SpawnerContext, RoundTripsEveryFactButTheCgroupRoot) {
  MPEXEC_NEED_NAMESPACES(ctx);
  auto d = decodeContext(encodeContext(*ctx));
  ASSERT_TRUE(d.ok()) << d.error().message();
  const Context& c = **d;
  EXPECT_EQ(c.isolation(), ctx->isolation());
  EXPECT_EQ(c.privileged(), ctx->privileged());
  EXPECT_EQ(c.idleAhead(), ctx->idleAhead());
  EXPECT_EQ(c.uid(), ctx->uid());
  EXPECT_EQ(c.gid(), ctx->gid());
  EXPECT_EQ(c.lastCap(), ctx->lastCap());
  EXPECT_EQ(c.exe(), ctx->exe());
  EXPECT_FALSE(c.exe().empty());
  EXPECT_EQ(c.cgroupLimitsMemory(), ctx->cgroupLimitsMemory());
  EXPECT_EQ(c.cgroupLimitsPids(), ctx->cgroupLimitsPids());
  EXPECT_EQ(c.cgroups(), nullptr) << "the directories stay mpexec's to remove";
  for (bool nested : {false, true}) {
    Policy p;
    p.seccomp = true;
    p.nested = nested;
    ASSERT_NE(ctx->seccompFor(p), nullptr);
    ASSERT_NE(c.seccompFor(p), nullptr);
    const auto& want = ctx->seccompFor(p)->insns;
    const auto& got = c.seccompFor(p)->insns;
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(memcmp(got.data(), want.data(), want.size() * sizeof want[0]), 0) << "nested " << nested;
  }
  auto none = Context::create(Isolation::None);
  ASSERT_TRUE(none.ok());
  auto dn = decodeContext(encodeContext(**none));
  ASSERT_TRUE(dn.ok()) << dn.error().message();
  EXPECT_EQ((*dn)->isolation(), Isolation::None);
  Policy p;
  p.seccomp = true;
  EXPECT_EQ((*dn)->seccompFor(p), nullptr);
}

TEST(SpawnerContext, MalformedBytesAreAnErrorNamingTheField) {
  MPEXEC_NEED_NAMESPACES(ctx);
  std::string bytes = encodeContext(*ctx);
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto d = decodeContext(bytes.substr(0, n));
    ASSERT_FALSE(d.ok()) << "accepted " << n << " of " << bytes.size() << " bytes";
    EXPECT_NE(d.error().detail.find("malformed context: field "), std::string::npos) << d.error().message();
  }
  EXPECT_FALSE(decodeContext(bytes + "x").ok());
  std::string old = bytes;
  old[0] = 9;  // another version of mpexec-spawner
  auto d = decodeContext(old);
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.error().detail.find("field version"), std::string::npos) << d.error().message();
}

/// mpexec-spawner as the build leaves it: beside the tests' directory. Empty when it is not built.
std::string spawnerProgram() { return Spawner::findProgram(1); }

TEST(SpawnerProgram, RefusesToRunByHand) {
  std::string program = spawnerProgram();
  if (program.empty()) GTEST_SKIP() << "mpexec-spawner is not built beside the tests' directory";
  for (const char* args : {"", " 2", " 2 1 4", " x 1", " -1 1", " 2 x", " 2 2", " 2 1"}) {  // " 2 1": fd 3 is no socket
    std::string out;
    FILE* p = popen((program + args + " 2>&1 3</dev/null").c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[512];
    while (fgets(buf, sizeof buf, p)) out += buf;
    int status = pclose(p);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << "args '" << args << "': " << status;
    EXPECT_NE(out.find("started by mpexec only"), std::string::npos) << out;
  }
}

// Every test runs twice: with the spawner a fork of the test, and with the fork exec'ing mpexec-spawner.
class SpawnerTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      program_ = spawnerProgram();
      if (program_.empty()) GTEST_SKIP() << "mpexec-spawner is not built beside the tests' directory";
    }
  }
  /// The spawner of this run of the test.
  Result<std::unique_ptr<Spawner>> startSpawner(const Context& ctx, int netns_ahead = 0) {
    return Spawner::start(ctx, netns_ahead, program_);
  }

  UnitSpec trueUnit(Isolation iso) {
    log_dir_.reset(open(dir_.path().c_str(), O_DIRECTORY | O_CLOEXEC));
    CommandSpec c;
    c.argv = {"/bin/true"};
    c.env = {"PATH=/usr/bin:/bin"};
    c.cwd = "/";
    c.log_name = "true.log";
    UnitSpec u;
    u.name = "u";
    u.isolation = iso;
    u.commands.push_back(c);
    u.log_dir_fd = log_dir_.get();
    return u;
  }

  /// Every event until the init is reaped.
  static std::vector<Event> runToEnd(UnitProcess& p) {
    std::vector<Event> events;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (p.readEvents(events) && std::chrono::steady_clock::now() < deadline) {
      pollfd fds[2] = {{p.eventFd(), POLLIN, 0}, {p.pidFd(), POLLIN, 0}};
      poll(fds, 2, 1000);
    }
    return events;
  }

  test::TempDir dir_;
  UniqueFd log_dir_;
  std::string program_;
};

INSTANTIATE_TEST_SUITE_P(Both, SpawnerTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Program" : "Fork"; });

TEST_P(SpawnerTest, ASandboxThatCannotBeSetUpReportsWhyAndRunsNothing) {
  MPEXEC_NEED_NAMESPACES(ctx);
  auto spawner = startSpawner(*ctx);
  ASSERT_TRUE(spawner.ok()) << spawner.error().message();
  UnitSpec u = trueUnit(Isolation::Namespaces);
  u.policy.writable = {dir_.path() + "/does-not-exist"};
  auto p = (*spawner)->spawn(u);
  ASSERT_TRUE(p.ok()) << "the spawn itself works; the set-up fails later: " << p.error().message();
  auto events = runToEnd(*p);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Event::Kind::SetupFailed);
  Error e = setupError(events[0]);
  EXPECT_NE(e.message().find("does-not-exist"), std::string::npos) << e.message();
  EXPECT_EQ(e.err, ENOENT) << e.message();
  EXPECT_EQ(p->setupDoneNs(), 0);
  EXPECT_TRUE(WIFEXITED(p->exitStatus()) && WEXITSTATUS(p->exitStatus()) == 1);
}

TEST_P(SpawnerTest, UnitsStartedBeforeTheSpawnerEndsRunToTheirEnd) {
  MPEXEC_NEED_NAMESPACES(ctx);
  auto spawner = startSpawner(*ctx);
  ASSERT_TRUE(spawner.ok());
  auto p = (*spawner)->spawn(trueUnit(Isolation::Namespaces));
  ASSERT_TRUE(p.ok()) << p.error().message();
  spawner->reset();
  auto events = runToEnd(*p);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].kind, Event::Kind::Exited);
  EXPECT_EQ(events[1].wait_status, 0);
  EXPECT_GT(p->setupDoneNs(), 0);
}

// A unit in a new sandbox that was not asked to be recycled: its Done says why it takes no other unit.
TEST_P(SpawnerTest, ANewSandboxNotForRecyclingSaysSoInItsDone) {
  MPEXEC_NEED_NAMESPACES(ctx);
  auto spawner = startSpawner(*ctx);
  ASSERT_TRUE(spawner.ok());
  auto p = (*spawner)->spawn(trueUnit(Isolation::Namespaces));
  ASSERT_TRUE(p.ok()) << p.error().message();
  runToEnd(*p);
  ASSERT_TRUE(p->done());
  EXPECT_FALSE(p->recyclable());
  EXPECT_EQ(p->recycleRefusal(), "recycle: " + std::string(strerror(EOPNOTSUPP)) +
                                     ": not a sandbox that can be recycled");
}

/// Polls pastSetup() for up to 30 s.
bool waitPastSetup(UnitProcess& p) {
  for (int i = 0; i < 3000; ++i) {
    if (p.pastSetup()) return true;
    usleep(10 * 1000);
  }
  return false;
}

TEST_P(SpawnerTest, PastSetupTakesReadyAndLeavesEveryOtherEvent) {
  MPEXEC_NEED_NAMESPACES(ctx);
  auto spawner = startSpawner(*ctx);
  ASSERT_TRUE(spawner.ok());
  UnitSpec held = trueUnit(Isolation::Namespaces);
  held.hold = true;
  auto p = (*spawner)->spawn(held);
  ASSERT_TRUE(p.ok()) << p.error().message();
  ASSERT_TRUE(waitPastSetup(*p)) << "a held unit never got past its set-up";
  EXPECT_GT(p->setupDoneNs(), 0) << "Ready was not taken";
  ASSERT_TRUE(p->go(0));
  auto events = runToEnd(*p);
  ASSERT_EQ(events.size(), 2u) << "pastSetup() took more than Ready";
  EXPECT_EQ(events[0].kind, Event::Kind::Started);
  EXPECT_EQ(events[1].kind, Event::Kind::Exited);

  // A set-up that fails: past it too, and its SetupFailed is still there for readEvents().
  UnitSpec broken = trueUnit(Isolation::Namespaces);
  broken.hold = true;
  broken.policy.writable = {dir_.path() + "/does-not-exist"};
  auto q = (*spawner)->spawn(broken);
  ASSERT_TRUE(q.ok()) << q.error().message();
  ASSERT_TRUE(waitPastSetup(*q));
  EXPECT_EQ(q->setupDoneNs(), 0);
  events = runToEnd(*q);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Event::Kind::SetupFailed);
}

/// Kilobytes resident in each of `pid`'s mappings named `name` ("[vdso]"), summed; -1 if unreadable.
long residentKb(pid_t pid, const std::string& name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  if (!in) return -1;
  long kb = 0;
  bool inside = false, read_any = false;
  for (std::string line; std::getline(in, line);) {
    read_any = true;
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) && line.find(' ') != std::string::npos &&
        line.find('-') < line.find(' '))
      inside = line.size() >= name.size() && line.compare(line.size() - name.size(), name.size(), name) == 0;
    else if (inside && line.rfind("Rss:", 0) == 0)
      kb += std::atol(line.c_str() + 4);
  }
  return read_any ? kb : -1;
}

// The init reads the clock by the system call: nothing of the vDSO is mapped into its address space (a
// read through the vDSO faults its pages in, with page tables of their own, in every init).
TEST_P(SpawnerTest, TheInitStampsItsEventsWithoutTheVdso) {
  MPEXEC_NEED_NAMESPACES(ctx);
  auto spawner = startSpawner(*ctx);
  ASSERT_TRUE(spawner.ok());
  UnitSpec u = trueUnit(Isolation::Namespaces);
  u.commands[0].argv = {"/bin/sleep", "30"};
  auto p = (*spawner)->spawn(u);
  ASSERT_TRUE(p.ok()) << p.error().message();
  std::vector<Event> events = testing::firstEvents(*p);
  ASSERT_FALSE(events.empty()) << "no Started from the unit";
  ASSERT_EQ(events[0].kind, Event::Kind::Started);
  EXPECT_GT(p->setupDoneNs(), 0) << "no Ready";
  long vvar = residentKb(p->pid(), "[vvar]"), vclock = residentKb(p->pid(), "[vvar_vclock]");
  long vdso = residentKb(p->pid(), "[vdso]");
  p->kill();
  if (vvar < 0) GTEST_SKIP() << "the init's /proc/<pid>/smaps cannot be read here (not root)";
  EXPECT_EQ(vvar, 0) << "the init read the clock through the vDSO";
  EXPECT_EQ(vclock, 0) << "the init read the clock through the vDSO";
  EXPECT_EQ(vdso, 0) << "the init called into the vDSO";
}

TEST_P(SpawnerTest, AUnitSetUpAheadWaitsAtIdlePriorityAndItsCommandRunsAtNormal) {
  MPEXEC_NEED_NAMESPACES(ctx);
  auto spawner = startSpawner(*ctx);
  ASSERT_TRUE(spawner.ok());
  UnitSpec held = trueUnit(Isolation::Namespaces);
  held.hold = true;
  held.commands[0].argv = {"/bin/sh", "-c", "grep ^policy /proc/self/sched"};
  auto p = (*spawner)->spawn(held);
  ASSERT_TRUE(p.ok()) << p.error().message();
  ASSERT_TRUE(waitPastSetup(*p));
  EXPECT_EQ(sched_getscheduler(p->pid()), ctx->idleAhead() ? SCHED_IDLE : SCHED_OTHER)
      << "a held init competes with the running units (or could not be put back)";
  ASSERT_TRUE(p->go(0));
  auto events = runToEnd(*p);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].wait_status, 0);
  std::ifstream log(dir_.path() + "/true.log");
  std::string line;
  std::getline(log, line);
  ASSERT_NE(line.rfind(':'), std::string::npos) << line;
  EXPECT_EQ(std::stoi(line.substr(line.rfind(':') + 1)), SCHED_OTHER) << "the command inherited " << line;
}

TEST_P(SpawnerTest, NetworkNamespacesMadeAheadGoToOneUnitEachWithLoopbackUp) {
  MPEXEC_NEED_NAMESPACES(ctx);
  auto spawner = startSpawner(*ctx, 2);
  ASSERT_TRUE(spawner.ok());
  usleep(200 * 1000);  // idle: the spawner fills its pool (made ahead or not, every unit needs its own)
  // All four alive at once: a namespace's inode number is reused once it is gone, so only namespaces that
  // exist together can be told apart by it.
  std::vector<UnitProcess> units;
  for (int i = 0; i < 4; ++i) {
    UnitSpec u = trueUnit(Isolation::Namespaces);
    u.commands[0].argv = {"/bin/sh", "-c",
                          "readlink /proc/self/ns/net; cat /sys/class/net/lo/operstate /sys/class/net/lo/flags; sleep 1"};
    u.commands[0].log_name = "net" + std::to_string(i) + ".log";
    auto p = (*spawner)->spawn(u);
    ASSERT_TRUE(p.ok()) << p.error().message();
    units.push_back(std::move(*p));
  }
  std::set<std::string> seen;
  for (int i = 0; i < 4; ++i) {
    std::string path = dir_.path() + "/net" + std::to_string(i) + ".log", ns, state, flags;
    for (int tries = 0; tries < 500 && flags.empty(); ++tries) {
      usleep(10 * 1000);
      std::ifstream log(path);
      log >> ns >> state >> flags;
    }
    EXPECT_TRUE(seen.insert(ns).second) << "unit " << i << " shares a network namespace: " << ns;
    ASSERT_FALSE(flags.empty()) << "unit " << i << " wrote nothing";
    EXPECT_EQ(std::stoul(flags, nullptr, 16) & 1, 1u) << "lo is not up in unit " << i << ": flags " << flags;
  }
  for (auto& p : units) {
    auto events = runToEnd(p);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[1].wait_status, 0);
  }
  char host[64] = {};
  ASSERT_GT(readlink("/proc/self/ns/net", host, sizeof host - 1), 0);
  EXPECT_EQ(seen.count(host), 0u);
}

TEST_P(SpawnerTest, LaunchedBeforeItsContextItServesOnceGivenIt) {
  MPEXEC_NEED_NAMESPACES(ctx);
  // mpexec launches the spawner before it reads its manifest; the program (as root) makes the shared root
  // and a network namespace meanwhile. Without a program, serve() forks.
  auto spawner = Spawner::launch(program_);
  ASSERT_TRUE(spawner.ok()) << spawner.error().message();
  usleep(100 * 1000);
  UnitSpec early = trueUnit(Isolation::Namespaces);
  EXPECT_FALSE((*spawner)->spawn(early).ok()) << "a spawner without its Context spawned a unit";
  ASSERT_TRUE((*spawner)->serve(*ctx, 1).ok());
  EXPECT_FALSE((*spawner)->serve(*ctx, 1).ok()) << "served a second Context";
  std::set<std::string> seen;
  for (int i = 0; i < 2; ++i) {
    UnitSpec u = trueUnit(Isolation::Namespaces);
    u.commands[0].argv = {"/bin/sh", "-c", "readlink /proc/self/ns/net; cat /sys/class/net/lo/flags; touch /x"};
    u.commands[0].log_name = "early" + std::to_string(i) + ".log";
    auto p = (*spawner)->spawn(u);
    ASSERT_TRUE(p.ok()) << p.error().message();
    auto events = runToEnd(*p);
    ASSERT_EQ(events.size(), 2u);
    std::ifstream log(dir_.path() + "/" + u.commands[0].log_name);
    std::string ns, flags, touch;
    log >> ns >> flags;
    std::getline(log >> std::ws, touch);
    EXPECT_TRUE(seen.insert(ns).second) << "unit " << i << " got a network namespace used before: " << ns;
    EXPECT_EQ(std::stoul(flags, nullptr, 16) & 1, 1u) << "lo is not up in unit " << i << ": flags " << flags;
    EXPECT_NE(touch.find("Read-only file system"), std::string::npos) << "the root is writable: " << touch;
    EXPECT_NE(events[1].wait_status, 0);
  }
  char host[64] = {};
  ASSERT_GT(readlink("/proc/self/ns/net", host, sizeof host - 1), 0);
  EXPECT_EQ(seen.count(host), 0u);
}

/// The pids of this thread's children, zombies included.
std::set<pid_t> children() {
  std::ifstream in("/proc/thread-self/children");
  std::set<pid_t> out;
  for (pid_t pid; in >> pid;) out.insert(pid);
  return out;
}

TEST(SpawnerProgram, LaunchedAndDroppedBeforeItsContextLeavesNoProcess) {
  std::string program = spawnerProgram();
  if (program.empty()) GTEST_SKIP() << "mpexec-spawner is not built beside the tests' directory";
  // As when a run stops at a bad manifest: at once, while the program makes the shared root, and after.
  // As a subreaper, this process would inherit whatever the program left behind.
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  struct Unset {
    ~Unset() { prctl(PR_SET_CHILD_SUBREAPER, 0); }
  } unset;
  for (int wait_us : {0, 500, 100000}) {
    std::set<pid_t> before = children();
    auto spawner = Spawner::launch(program);
    ASSERT_TRUE(spawner.ok()) << spawner.error().message();
    pid_t pid = (*spawner)->pid();
    EXPECT_EQ(children().count(pid), 1u);
    usleep(wait_us);
    spawner->reset();
    EXPECT_EQ(children(), before) << "after " << wait_us << " us";
    EXPECT_EQ(kill(pid, 0), -1) << "after " << wait_us << " us";
  }
}

TEST_P(SpawnerTest, ClosedItExitsOnItsOwnAndSpawnsNothingMore) {
  MPEXEC_NEED_NAMESPACES(ctx);
  auto spawner = startSpawner(*ctx, 2);
  ASSERT_TRUE(spawner.ok());
  auto p = (*spawner)->spawn(trueUnit(Isolation::Namespaces));
  ASSERT_TRUE(p.ok()) << p.error().message();
  (*spawner)->close();
  // It exits without being waited for (the run's end writes its reports meanwhile); the unit goes on.
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PID, (*spawner)->pid(), &info, WEXITED | WNOWAIT), 0);
  EXPECT_EQ(info.si_code, CLD_EXITED);
  EXPECT_EQ(info.si_status, 0);
  auto events = runToEnd(*p);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].wait_status, 0);
  auto later = (*spawner)->spawn(trueUnit(Isolation::Namespaces));
  ASSERT_FALSE(later.ok());
  EXPECT_NE(later.error().message().find("spawner"), std::string::npos) << later.error().message();
}

/// The CapBnd line of /proc/PID/status, as a number.
uint64_t boundingSetOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("CapBnd:", 0) == 0) return std::stoull(line.substr(7), nullptr, 16);
  return ~uint64_t(0);
}

TEST_P(SpawnerTest, AsRootItDropsTheBoundingSetOnceForEveryInit) {
  MPEXEC_NEED_NAMESPACES(ctx);
  if (!ctx->privileged()) GTEST_SKIP() << "not root with CAP_SYS_ADMIN: every unit gets a user namespace";
  auto spawner = startSpawner(*ctx);
  ASSERT_TRUE(spawner.ok());
  UnitSpec held = trueUnit(Isolation::Namespaces);
  held.hold = true;  // its init waits, past its set-up, for go
  auto p = (*spawner)->spawn(held);
  ASSERT_TRUE(p.ok()) << p.error().message();
  ASSERT_TRUE(waitPastSetup(*p));
  EXPECT_EQ(boundingSetOf((*spawner)->pid()), 0u) << "the spawner kept its bounding set";
  EXPECT_EQ(boundingSetOf(p->pid()), 0u);
  ASSERT_TRUE(p->go(0));
  EXPECT_EQ(runToEnd(*p).size(), 2u);
  // Without namespaces (--no-sandbox) nothing is dropped: the commands run as the user's own.
  auto none = Context::create(Isolation::None);
  ASSERT_TRUE(none.ok());
  auto plain = startSpawner(**none);
  ASSERT_TRUE(plain.ok());
  auto q = (*plain)->spawn(trueUnit(Isolation::None));  // its reply: the Context was taken
  ASSERT_TRUE(q.ok()) << q.error().message();
  EXPECT_NE(boundingSetOf((*plain)->pid()), 0u);
  q->kill();
}

// An init cloned into a user namespace starts with every capability in its bounding set (the kernel gives a
// new user namespace's first process a full set), so it drops each one itself; one cloned without takes the
// spawner's empty set. Either way nothing is left for its commands.
TEST_P(SpawnerTest, EveryInitEndsItsSetUpWithAnEmptyBoundingSet) {
  MPEXEC_NEED_NAMESPACES(ctx);
  auto spawner = startSpawner(*ctx);
  ASSERT_TRUE(spawner.ok());
  for (bool nested : {false, true}) {
    UnitSpec held = trueUnit(Isolation::Namespaces);
    held.policy.nested = nested;
    held.hold = true;
    auto p = (*spawner)->spawn(held);
    ASSERT_TRUE(p.ok()) << p.error().message();
    ASSERT_TRUE(waitPastSetup(*p));
    EXPECT_EQ(boundingSetOf(p->pid()), 0u) << "nested " << nested << ", user namespace "
                                           << ctx->usesUserNamespace(held.policy);
    ASSERT_TRUE(p->go(0));
    EXPECT_EQ(runToEnd(*p).size(), 2u);
  }
}

TEST_P(SpawnerTest, ASpawnerThatIsGoneIsAClearErrorEveryTime) {
  auto ctx = Context::create(Isolation::None);
  ASSERT_TRUE(ctx.ok());
  auto spawner = startSpawner(**ctx);
  ASSERT_TRUE(spawner.ok());
  pid_t pid = (*spawner)->pid();
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  // Not reaped yet (the Spawner reaps it): wait until it is a zombie.
  siginfo_t info{};
  ASSERT_EQ(waitid(P_PID, pid, &info, WEXITED | WNOWAIT), 0);
  for (int i = 0; i < 2; ++i) {
    auto p = (*spawner)->spawn(trueUnit(Isolation::None));
    ASSERT_FALSE(p.ok());
    EXPECT_NE(p.error().message().find("spawner"), std::string::npos) << p.error().message();
  }
}

TEST(SpawnerProgram, OneThatCannotBeStartedIsAClearErrorAndLeavesNoProcess) {
  auto ctx = Context::create(Isolation::None);
  ASSERT_TRUE(ctx.ok());
  auto spawner = Spawner::start(**ctx, 0, "/nonexistent/mpexec-spawner");
  if (!spawner.ok()) {
    EXPECT_NE(spawner.error().message().find("mpexec-spawner"), std::string::npos) << spawner.error().message();
    return;
  }
  UnitSpec u;
  u.name = "u";
  u.isolation = Isolation::None;
  u.commands.push_back(CommandSpec{});
  u.commands[0].argv = {"/bin/true"};
  auto p = (*spawner)->spawn(u);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.error().message().find("spawner"), std::string::npos) << p.error().message();
  pid_t pid = (*spawner)->pid();
  spawner->reset();
  EXPECT_NE(kill(pid, 0), 0) << "the spawner's child was not reaped";
}

}  // namespace
}  // namespace mpexec::sandbox
