// The unit lifecycle without namespaces: commands in order, setup failure, timeouts, leftovers, kill.

#include "sandbox/unit_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "sandbox/contain.h"
#include "sandbox/context.h"
#include "sandbox/spawner.h"
#include "tests/support/temp_dir.h"

namespace mpexec::sandbox {
namespace {

class UnitProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ctx = Context::create(Isolation::None);
    ASSERT_TRUE(ctx.ok()) << ctx.error().message();
    ctx_ = std::move(ctx.value());
    auto spawner = Spawner::start(*ctx_);
    ASSERT_TRUE(spawner.ok()) << spawner.error().message();
    spawner_ = std::move(spawner.value());
    log_dir_.reset(open(dir_.path().c_str(), O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(log_dir_.valid());
  }

  CommandSpec command(Role role, const std::string& script, int64_t timeout_ms = 20000) {
    CommandSpec c;
    c.role = role;
    c.argv = {"/bin/sh", "-c", script};
    c.env = {"PATH=/usr/bin:/bin", "MARK=" + dir_.path()};
    c.cwd = dir_.path();
    c.timeout_ms = timeout_ms;
    c.log_name = "cmd" + std::to_string(next_log_++) + ".log";
    return c;
  }

  UnitSpec unit(std::vector<CommandSpec> commands) {
    UnitSpec u;
    u.name = "u";
    u.isolation = Isolation::None;
    u.commands = std::move(commands);
    u.log_dir_fd = log_dir_.get();
    u.kill_grace_ms = 300;
    return u;
  }

  /// Runs the unit to its end and returns its events.
  std::vector<Event> runToEnd(const UnitSpec& u) {
    auto p = spawner_->spawn(u);
    EXPECT_TRUE(p.ok()) << (p.ok() ? "" : p.error().message());
    if (!p.ok()) return {};
    std::vector<Event> events;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    // Done ends the unit: the init then waits for another one (runNext) rather than exit.
    while (p->readEvents(events) && !p->done()) {
      pollfd fds[2] = {{p->eventFd(), POLLIN, 0}, {p->pidFd(), POLLIN, 0}};
      poll(fds, 2, 1000);
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "unit did not end";
        break;
      }
    }
    return events;
  }

  /// A pid a command wrote into the temp dir; 0 when there is none.
  pid_t readPid(const std::string& name) {
    std::ifstream f(dir_.path() + "/" + name);
    pid_t pid = 0;
    f >> pid;
    return pid;
  }

  std::string readLog(int index) {
    std::ifstream f(dir_.path() + "/cmd" + std::to_string(index) + ".log");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  test::TempDir dir_;
  UniqueFd log_dir_;
  std::unique_ptr<Context> ctx_;
  std::unique_ptr<Spawner> spawner_;
  int next_log_ = 0;
};

TEST_F(UnitProcessTest, RunsCommandsInOrderAndReportsRawStatus) {
  auto events = runToEnd(unit({command(Role::Test, "echo one"), command(Role::Test, "exit 3"),
                               command(Role::Test, "kill -SEGV $$")}));
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[0].kind, Event::Kind::Started);
  EXPECT_EQ(events[1].kind, Event::Kind::Exited);
  EXPECT_EQ(events[1].index, 0u);
  EXPECT_TRUE(WIFEXITED(events[1].wait_status) && WEXITSTATUS(events[1].wait_status) == 0);
  EXPECT_EQ(events[3].index, 1u);
  EXPECT_EQ(WEXITSTATUS(events[3].wait_status), 3);
  EXPECT_TRUE(WIFSIGNALED(events[5].wait_status));
  EXPECT_EQ(WTERMSIG(events[5].wait_status), SIGSEGV);
  EXPECT_LE(events[0].mono_ns, events[1].mono_ns);
  EXPECT_EQ(readLog(0), "one\n");
}

TEST_F(UnitProcessTest, FailedSetupSkipsTestsButRunsTeardown) {
  auto events = runToEnd(unit({command(Role::Setup, "exit 1"), command(Role::Test, "echo ran > t"),
                               command(Role::Teardown, "echo down > td")}));
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[2].kind, Event::Kind::Skipped);
  EXPECT_EQ(events[2].index, 1u);
  EXPECT_EQ(events[4].kind, Event::Kind::Exited);
  EXPECT_EQ(events[4].index, 2u);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/t"));
  EXPECT_TRUE(std::filesystem::exists(dir_.path() + "/td"));
}

TEST_F(UnitProcessTest, SpawnFailureNamesTheStepAndErrno) {
  CommandSpec c = command(Role::Test, "");
  c.argv = {dir_.path() + "/no-such-program"};
  auto events = runToEnd(unit({c}));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Event::Kind::SpawnFailed);
  EXPECT_EQ(events[0].err, ENOENT);
  EXPECT_NE(std::string(events[0].detail).find("execve"), std::string::npos);
  EXPECT_NE(readLog(0).find("No such file"), std::string::npos);
}

TEST_F(UnitProcessTest, TimeoutKillsTheWholeGroupEvenWhenSigtermIsIgnored) {
  auto events = runToEnd(unit({command(Role::Test, "trap '' TERM; sleep 1000 & echo $! > grandchild; wait", 300),
                               command(Role::Teardown, "echo down > td")}));
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[1].kind, Event::Kind::Exited);
  EXPECT_TRUE(events[1].timed_out);
  EXPECT_TRUE(WIFSIGNALED(events[1].wait_status));
  EXPECT_TRUE(std::filesystem::exists(dir_.path() + "/td"));
  pid_t grandchild = readPid("grandchild");
  ASSERT_GT(grandchild, 0);
  EXPECT_NE(::kill(grandchild, 0), 0) << "grandchild " << grandchild << " survived";
}

TEST_F(UnitProcessTest, LeftoverDaemonsDieWithTheUnit) {
  auto events = runToEnd(unit({command(Role::Test, "setsid sh -c 'sleep 1000 & echo $! > daemon; wait' &"
                                                   " sleep 0.2; exit 0")}));
  ASSERT_EQ(events.size(), 2u);
  pid_t daemon = readPid("daemon");
  ASSERT_GT(daemon, 0);
  EXPECT_NE(::kill(daemon, 0), 0) << "daemon " << daemon << " survived its unit";
}

TEST_F(UnitProcessTest, DoneComesOnlyOnceNothingButTheInitIsLeft) {
  auto p = spawner_->spawn(unit({command(Role::Test, "setsid sh -c 'sleep 1000 & echo $! > daemon; wait' &"
                                                      " sleep 0.2; exit 0")}));
  ASSERT_TRUE(p.ok()) << p.error().message();
  std::vector<Event> events;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool alive = true;
  while (!p->done() && (alive = p->readEvents(events)) && std::chrono::steady_clock::now() < deadline) {
    pollfd fds[2] = {{p->eventFd(), POLLIN, 0}, {p->pidFd(), POLLIN, 0}};
    poll(fds, 2, 1000);
  }
  ASSERT_TRUE(p->done()) << "no Done event (init alive: " << alive << ")";
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].kind, Event::Kind::Exited);
  pid_t daemon = readPid("daemon");
  ASSERT_GT(daemon, 0);
  // Done means swept: the daemon is gone (not even a zombie of ours), whether or not the init has exited.
  EXPECT_NE(::kill(daemon, 0), 0) << "daemon " << daemon << " alive when Done arrived";
}

/// Polls until the init reports Done (true) or exits (false).
bool untilDone(UnitProcess& p, std::vector<Event>& events) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (p.readEvents(events) && !p.done() && std::chrono::steady_clock::now() < deadline) {
    pollfd fds[2] = {{p.eventFd(), POLLIN, 0}, {p.pidFd(), POLLIN, 0}};
    poll(fds, 2, 1000);
  }
  return p.done();
}

TEST_F(UnitProcessTest, AnInitThatIsDoneRunsTheNextUnitAndSweepsEachOnItsOwn) {
  auto p = spawner_->spawn(unit({command(Role::Test, "setsid sh -c 'sleep 1000 & echo $! > daemon1; wait' &"
                                                      " sleep 0.2; echo $PPID > init1")}));
  ASSERT_TRUE(p.ok()) << p.error().message();
  std::vector<Event> events;
  ASSERT_TRUE(untilDone(*p, events));
  ASSERT_EQ(events.size(), 2u);
  pid_t daemon1 = readPid("daemon1");
  ASSERT_GT(daemon1, 0);
  EXPECT_NE(::kill(daemon1, 0), 0) << "the first unit's daemon " << daemon1 << " outlived it";

  // The next unit: a big environment (several datagrams), a failing command, a daemon of its own.
  CommandSpec big = command(Role::Test, "echo $PPID > init2; echo ${#BIG} > size; exit 4");
  big.env.push_back("BIG=" + std::string(100000, 'x'));
  CommandSpec second = command(Role::Test, "setsid sh -c 'sleep 1000 & echo $! > daemon2; wait' & sleep 0.2");
  ASSERT_TRUE(p->runNext(unit({big, second})));
  EXPECT_FALSE(p->done());
  EXPECT_FALSE(p->runNext(unit({big}))) << "a busy init took another unit";
  events.clear();
  ASSERT_TRUE(untilDone(*p, events));
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[1].kind, Event::Kind::Exited);
  EXPECT_EQ(WEXITSTATUS(events[1].wait_status), 4);
  EXPECT_EQ(readPid("init1"), readPid("init2")) << "not the same init";
  EXPECT_EQ(readPid("init1"), p->pid());
  EXPECT_EQ(readPid("size"), 100000);
  EXPECT_EQ(readLog(1), "");
  pid_t daemon2 = readPid("daemon2");
  ASSERT_GT(daemon2, 0);
  EXPECT_NE(::kill(daemon2, 0), 0) << "the second unit's daemon " << daemon2 << " outlived it";
}

TEST_F(UnitProcessTest, AnIdleInitExitsWhenDropped) {
  auto p = spawner_->spawn(unit({command(Role::Test, "true")}));
  ASSERT_TRUE(p.ok()) << p.error().message();
  std::vector<Event> events;
  ASSERT_TRUE(untilDone(*p, events));
  pid_t pid = p->pid();
  std::optional<UnitProcess> holder(std::move(*p));
  holder.reset();  // the destructor reaps it: no zombie, no process
  EXPECT_NE(::kill(pid, 0), 0);
}

TEST_F(UnitProcessTest, StartedArrivesWhileALongerCommandStillRuns) {
  // A short command's Started waits for its Exited (one wake-up for both); a longer one's must not.
  auto p = spawner_->spawn(unit({command(Role::Test, "sleep 1")}));
  ASSERT_TRUE(p.ok()) << p.error().message();
  std::vector<Event> events;
  auto t0 = std::chrono::steady_clock::now();
  while (p->readEvents(events) && events.empty() && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(30)) {
    pollfd fds[2] = {{p->eventFd(), POLLIN, 0}, {p->pidFd(), POLLIN, 0}};
    poll(fds, 2, 1000);
  }
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Event::Kind::Started);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(900)) << "Started came only at the end";
  events.clear();
  while (p->readEvents(events) && !p->done()) {
    pollfd fds[2] = {{p->eventFd(), POLLIN, 0}, {p->pidFd(), POLLIN, 0}};
    poll(fds, 2, 1000);
  }
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, Event::Kind::Exited);
}

TEST_F(UnitProcessTest, EveryQueuedEventIsReadAtOnceAndTheInitReapedOnlyOnceItsExitIsKnown) {
  // More events than readEvents() takes in one system call (26: Ready, Started and Exited of 12 commands,
  // Done).
  std::vector<CommandSpec> commands;
  for (int i = 0; i < 12; ++i) commands.push_back(command(Role::Test, "true"));
  auto p = spawner_->spawn(unit(commands));
  ASSERT_TRUE(p.ok()) << p.error().message();
  // Let them all queue up unread: Done is the last, and the socket then holds 26 of them.
  int queued = 0;
  for (int i = 0; i < 6000 && queued < int(26 * sizeof(Event)); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    ASSERT_EQ(ioctl(p->eventFd(), FIONREAD, &queued), 0);
  }
  ASSERT_EQ(queued, int(26 * sizeof(Event)));
  std::vector<Event> events;
  EXPECT_TRUE(p->readEvents(events, false));
  EXPECT_EQ(events.size(), 24u);
  EXPECT_TRUE(p->done());
  ASSERT_EQ(ioctl(p->eventFd(), FIONREAD, &queued), 0);
  EXPECT_EQ(queued, 0);
  EXPECT_EQ(events.back().kind, Event::Kind::Exited);
  EXPECT_EQ(events.back().index, 11u);

  // After Done the init waits for another unit: it has not exited, and reapIfExited() leaves it.
  EXPECT_FALSE(p->reapIfExited());
  p->kill();
  pollfd pfd{p->pidFd(), POLLIN, 0};
  ASSERT_EQ(poll(&pfd, 1, 10000), 1);
  // Told that its exit is not known (an epoll that did not report the pidfd), readEvents() does not reap.
  events.clear();
  EXPECT_TRUE(p->readEvents(events, false));
  EXPECT_FALSE(p->reaped());
  EXPECT_TRUE(events.empty());
  EXPECT_FALSE(p->readEvents(events, true));
  EXPECT_TRUE(p->reaped());
  EXPECT_NE(::kill(p->pid(), 0), 0) << "not reaped";
}

TEST_F(UnitProcessTest, ReapIfExitedReapsAnInitThatIsGoneWithoutItsEvents) {
  auto p = spawner_->spawn(unit({command(Role::Test, "true")}));
  ASSERT_TRUE(p.ok()) << p.error().message();
  std::vector<Event> events;
  ASSERT_TRUE(untilDone(*p, events));
  p->kill();
  pollfd pfd{p->pidFd(), POLLIN, 0};
  ASSERT_EQ(poll(&pfd, 1, 10000), 1);
  EXPECT_TRUE(p->reapIfExited());
  EXPECT_TRUE(p->reaped());
  EXPECT_TRUE(WIFSIGNALED(p->exitStatus()) || WIFEXITED(p->exitStatus()));
  EXPECT_NE(::kill(p->pid(), 0), 0) << "not reaped";
  EXPECT_FALSE(p->readEvents(events));
}

TEST_F(UnitProcessTest, KillEndsTheUnitAndItsProcesses) {
  auto p = spawner_->spawn(unit({command(Role::Test, "sleep 1000 & echo $! > bg; wait")}));
  ASSERT_TRUE(p.ok());
  std::vector<Event> events;
  // The file appears before the shell has written the pid into it: wait for the pid itself (a loaded
  // machine took longer than a fixed 20 ms between the two).
  pid_t bg = 0;
  for (int i = 0; i < 1000 && (bg = readPid("bg")) <= 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_GT(bg, 0);
  p->kill();
  pollfd pfd{p->pidFd(), POLLIN, 0};
  ASSERT_EQ(poll(&pfd, 1, 10000), 1);
  EXPECT_FALSE(p->readEvents(events));
  EXPECT_NE(::kill(bg, 0), 0);
}

// An init whose set-up failed reports SetupFailed and exits. If mpexec wrote to it meanwhile (the Go of a
// unit set up ahead, sent as the unit's slot freed), the init leaves with that unread, and the kernel then
// marks mpexec's end ECONNRESET: the first receive reports the reset, not the event queued before it. The
// event must still be read, or the unit ends as "ended early (init exit 1)" without the reason.
TEST(UnitProcessEvents, AResetAfterTheInitLeftUnreadDataStillYieldsItsLastEvents) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd ours(sv[0]), theirs(sv[1]);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    Event ev = setupEvent(Error{"mount /w", ENOENT, "open source /w"});
    if (send(theirs.get(), &ev, sizeof ev, MSG_NOSIGNAL) != ssize_t(sizeof ev)) _exit(2);
    // Leave only once mpexec's datagram is queued here, unread.
    pollfd p{theirs.get(), POLLIN, 0};
    _exit(poll(&p, 1, 10000) == 1 ? 1 : 3);
  }
  theirs.reset();
  ContainedChild child;
  child.pid = pid;
  child.pidfd.reset(int(syscall(SYS_pidfd_open, pid, 0)));
  ASSERT_TRUE(child.pidfd.valid());
  UnitProcess p = adoptUnit(Isolation::None, std::move(child), std::move(ours));
  const char go[8] = "go";
  ASSERT_EQ(send(p.eventFd(), go, sizeof go, MSG_NOSIGNAL), ssize_t(sizeof go));
  pollfd exited{p.pidFd(), POLLIN, 0};
  ASSERT_EQ(poll(&exited, 1, 10000), 1);
  std::vector<Event> events;
  EXPECT_FALSE(p.readEvents(events, true));
  EXPECT_TRUE(p.reaped());
  ASSERT_EQ(events.size(), 1u) << "the SetupFailed queued before the reset was lost";
  EXPECT_EQ(events[0].kind, Event::Kind::SetupFailed);
  EXPECT_EQ(setupError(events[0]).err, ENOENT);
  EXPECT_EQ(WEXITSTATUS(p.exitStatus()), 1);
}

}  // namespace
}  // namespace mpexec::sandbox
