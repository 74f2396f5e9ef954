// A unit's Batch command: the executor moves its process's deadline while it runs, then has the init run
// another process in its place or go on to the teardown. With and without namespaces (where the init is
// pid 1 and must still hear the executor).

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <deque>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "sandbox/context.h"
#include "sandbox/spawner.h"
#include "sandbox/unit_process.h"
#include "tests/sandbox/contained.h"
#include "tests/support/temp_dir.h"

namespace mpexec::sandbox {
namespace {

int64_t monoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

class BatchInitTest : public ::testing::TestWithParam<Isolation> {
 protected:
  void SetUp() override {
    if (GetParam() == Isolation::Namespaces) {
      std::string why;
      ctx_ = testing::namespaceContext(&why);
      if (!ctx_) GTEST_SKIP() << "no namespaces here: " << why;
    } else {
      auto ctx = Context::create(Isolation::None);
      ASSERT_TRUE(ctx.ok()) << ctx.error().message();
      own_ctx_ = std::move(ctx.value());
      ctx_ = own_ctx_.get();
    }
    auto spawner = Spawner::start(*ctx_);
    ASSERT_TRUE(spawner.ok()) << spawner.error().message();
    spawner_ = std::move(spawner.value());
    log_dir_.reset(open(dir_.path().c_str(), O_DIRECTORY | O_CLOEXEC));
  }

  CommandSpec command(Role role, const std::string& script, const std::string& log, int64_t timeout_ms = 20000) {
    CommandSpec c;
    c.role = role;
    c.argv = {"/bin/sh", "-c", script};
    c.env = {"PATH=/usr/bin:/bin"};
    c.cwd = "/";
    c.timeout_ms = timeout_ms;
    c.log_name = log;
    return c;
  }

  UnitSpec unit(std::vector<CommandSpec> commands) {
    UnitSpec u;
    u.name = "u";
    u.isolation = GetParam();
    u.commands = std::move(commands);
    u.log_dir_fd = log_dir_.get();
    u.kill_grace_ms = 300;
    return u;
  }

  /// The next event of `p` (Ready and Done are kept by readEvents); fails the test after 20 s.
  Event next(UnitProcess& p) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (pending_.empty()) {
      std::vector<Event> got;
      bool alive = p.readEvents(got);
      pending_.insert(pending_.end(), got.begin(), got.end());
      if (!pending_.empty()) break;
      if (!alive || std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << (alive ? "no event in 20 s" : "the init is gone");
        return Event{};
      }
      pollfd fds[2] = {{p.eventFd(), POLLIN, 0}, {p.pidFd(), POLLIN, 0}};
      poll(fds, 2, 1000);
    }
    Event e = pending_.front();
    pending_.pop_front();
    return e;
  }

  std::string readLog(const std::string& name) {
    std::ifstream f(dir_.path() + "/" + name);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  const Context* ctx_ = nullptr;
  std::unique_ptr<Context> own_ctx_;
  std::unique_ptr<Spawner> spawner_;
  test::TempDir dir_;
  UniqueFd log_dir_;
  std::deque<Event> pending_;
};

INSTANTIATE_TEST_SUITE_P(Both, BatchInitTest, ::testing::Values(Isolation::None, Isolation::Namespaces),
                         [](const auto& info) { return info.param == Isolation::None ? "Plain" : "Namespaces"; });

TEST_P(BatchInitTest, DeadlineMovesAndNextProcessesRunInTheSameUnit) {
  auto p = spawner_->spawn(unit({command(Role::Setup, "echo setup > /tmp/mark", "setup.log"),
                                 command(Role::Batch, "echo first; exec sleep 30", "b1.log", 60000),
                                 command(Role::Teardown, "cat /tmp/mark; echo teardown", "td.log")}));
  ASSERT_TRUE(p.ok()) << p.error().message();
  EXPECT_EQ(next(*p).kind, Event::Kind::Started);  // setup
  EXPECT_EQ(next(*p).kind, Event::Kind::Exited);
  Event started = next(*p);
  ASSERT_EQ(started.kind, Event::Kind::Started);
  ASSERT_EQ(started.index, 1u);
  // The process would run 30 s, and its command allows 60: a deadline in 200 ms ends it.
  int64_t sent = monoNs();
  ASSERT_TRUE(p->setBatchDeadline(1, 1, sent + 200'000'000));
  Event exited = next(*p);
  ASSERT_EQ(exited.kind, Event::Kind::Exited);
  EXPECT_EQ(exited.index, 1u);
  EXPECT_TRUE(exited.timed_out);
  EXPECT_TRUE(WIFSIGNALED(exited.wait_status) && WTERMSIG(exited.wait_status) == SIGTERM) << exited.wait_status;
  EXPECT_LT(exited.mono_ns - sent, 10'000'000'000) << "ended at the new deadline, not the command's 60 s";

  // The next process, in the same sandbox (it sees what the setup left in /tmp).
  ASSERT_TRUE(p->nextBatch(1, 2, command(Role::Batch, "cat /tmp/mark; exit 3", "b2.log")));
  EXPECT_EQ(next(*p).kind, Event::Kind::Started);
  exited = next(*p);
  ASSERT_EQ(exited.kind, Event::Kind::Exited);
  EXPECT_FALSE(exited.timed_out);
  EXPECT_TRUE(WIFEXITED(exited.wait_status) && WEXITSTATUS(exited.wait_status) == 3);
  EXPECT_EQ(readLog("b2.log"), "setup\n");

  // A deadline for an earlier process is ignored by the next one.
  ASSERT_TRUE(p->nextBatch(1, 3, command(Role::Batch, "sleep 0.5; echo third", "b3.log")));
  EXPECT_EQ(next(*p).kind, Event::Kind::Started);
  ASSERT_TRUE(p->setBatchDeadline(1, 2, monoNs()));
  exited = next(*p);
  EXPECT_FALSE(exited.timed_out);
  EXPECT_TRUE(WIFEXITED(exited.wait_status) && WEXITSTATUS(exited.wait_status) == 0) << exited.wait_status;
  EXPECT_EQ(readLog("b3.log"), "third\n");

  ASSERT_TRUE(p->endBatch(1));
  Event td = next(*p);
  EXPECT_EQ(td.kind, Event::Kind::Started);
  EXPECT_EQ(td.index, 2u);
  EXPECT_EQ(next(*p).kind, Event::Kind::Exited);
  EXPECT_EQ(readLog("td.log"), "setup\nteardown\n");
  std::vector<Event> rest;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!p->done() && p->readEvents(rest) && std::chrono::steady_clock::now() < until) usleep(10000);
  EXPECT_TRUE(p->done() || p->reaped());
}

TEST_P(BatchInitTest, AFailedSetupSkipsTheBatch) {
  auto p = spawner_->spawn(unit({command(Role::Setup, "exit 1", "setup.log"),
                                 command(Role::Batch, "echo never", "b1.log"),
                                 command(Role::Teardown, "echo teardown", "td.log")}));
  ASSERT_TRUE(p.ok()) << p.error().message();
  next(*p);
  next(*p);
  Event skipped = next(*p);
  EXPECT_EQ(skipped.kind, Event::Kind::Skipped);
  EXPECT_EQ(skipped.index, 1u);
  EXPECT_EQ(next(*p).kind, Event::Kind::Started);
  EXPECT_EQ(next(*p).index, 2u);
}

TEST_P(BatchInitTest, KillWhileWaitingForTheNextProcessEndsTheUnit) {
  auto p = spawner_->spawn(unit({command(Role::Batch, "true", "b1.log"), command(Role::Teardown, "true", "td.log")}));
  ASSERT_TRUE(p.ok()) << p.error().message();
  next(*p);
  EXPECT_EQ(next(*p).kind, Event::Kind::Exited);
  // The init now waits for Next or End; a kill must still end it.
  p->kill();
  pollfd fd{p->pidFd(), POLLIN, 0};
  EXPECT_EQ(poll(&fd, 1, 10000), 1) << "the init did not exit";
}

TEST(CommandWireTest, RoundTrips) {
  CommandSpec c;
  c.role = Role::Batch;
  c.argv = {"/bin/x", std::string("a\0b", 3)};
  c.env = {"A=1"};
  c.cwd = "/w";
  c.timeout_ms = 42;
  c.log_name = "u.batch.2.log";
  auto back = decodeCommand(encodeCommand(c));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->role, Role::Batch);
  EXPECT_EQ(back->argv, c.argv);
  EXPECT_EQ(back->env, c.env);
  EXPECT_EQ(back->cwd, "/w");
  EXPECT_EQ(back->timeout_ms, 42);
  EXPECT_EQ(back->log_name, c.log_name);
  EXPECT_FALSE(decodeCommand(encodeCommand(c) + "x").ok());
  EXPECT_FALSE(decodeCommand("").ok());
}

}  // namespace
}  // namespace mpexec::sandbox
