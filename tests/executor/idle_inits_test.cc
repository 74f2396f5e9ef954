// Unit ids, and inits kept for the next unit: without namespaces (runNext), so that it runs anywhere.

#include "executor/idle_inits.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/epoll.h>

#include <chrono>

#include "sandbox/unique_fd.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

TEST(UnitIdsTest, EachLeaseTakesTheLowestFreeIdAndGivesItBackWhenItGoes) {
  UnitIds ids(3);
  EXPECT_FALSE(ids.empty());
  IdLease a = ids.lease();
  IdLease b = ids.lease();
  EXPECT_EQ(a.id(), 0);
  EXPECT_EQ(b.id(), 1);
  {
    IdLease c = ids.lease();
    EXPECT_EQ(c.id(), 2);
    EXPECT_EQ(ids.lease().id(), -1);  // every one taken
  }
  a = IdLease();  // given back
  EXPECT_EQ(ids.lease().id(), 0);
  IdLease moved = std::move(b);
  EXPECT_EQ(b.id(), -1);
  EXPECT_EQ(moved.id(), 1);
  IdLease again = ids.lease();
  EXPECT_EQ(again.id(), 0);
  EXPECT_EQ(ids.lease().id(), 2);  // 1 is still held, by `moved`
  EXPECT_TRUE(UnitIds(0).empty());
  EXPECT_EQ(UnitIds(0).lease().id(), -1);
}

class IdleInitsTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kTag = 42;
  void SetUp() override {
    auto ctx = sandbox::Context::create(sandbox::Isolation::None);
    ASSERT_TRUE(ctx.ok()) << ctx.error().message();
    ctx_ = std::move(ctx.value());
    auto spawner = sandbox::Spawner::start(*ctx_);
    ASSERT_TRUE(spawner.ok()) << spawner.error().message();
    spawner_ = std::move(spawner.value());
    log_dir_.reset(open(dir_.path().c_str(), O_DIRECTORY | O_CLOEXEC));
    epoll_.reset(epoll_create1(EPOLL_CLOEXEC));
  }
  sandbox::UnitSpec spec(bool hold = false) {
    sandbox::CommandSpec c;
    c.argv = {"/bin/true"};
    c.env = {"PATH=/usr/bin:/bin"};
    c.cwd = dir_.path();
    c.timeout_ms = 20000;
    c.log_name = "t" + std::to_string(next_log_++) + ".log";
    sandbox::UnitSpec u;
    u.name = "u";
    u.isolation = sandbox::Isolation::None;
    u.commands = {c};
    u.log_dir_fd = log_dir_.get();
    u.kill_grace_ms = 300;
    u.hold = hold;
    return u;
  }
  /// Reads the unit's events until it reports Done (or its init exits).
  static void runToDone(sandbox::UnitProcess& p) {
    std::vector<sandbox::Event> events;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (p.readEvents(events) && !p.done() && std::chrono::steady_clock::now() < deadline) {
      pollfd fds[2] = {{p.eventFd(), POLLIN, 0}, {p.pidFd(), POLLIN, 0}};
      poll(fds, 2, 1000);
    }
    ASSERT_TRUE(p.done());
  }
  /// Waits until the epoll set reports kTag, as the runner's loop would, then reaps.
  void reapWhenTold(IdleInits& inits) {
    epoll_event ev;
    ASSERT_EQ(epoll_wait(epoll_.get(), &ev, 1, 20000), 1);
    EXPECT_EQ(ev.data.u64, kTag);
    inits.reap();
  }
  std::unique_ptr<sandbox::Context> ctx_;
  std::unique_ptr<sandbox::Spawner> spawner_;
  test::TempDir dir_;
  UniqueFd log_dir_;
  UniqueFd epoll_;
  int next_log_ = 0;
};

TEST_F(IdleInitsTest, WithoutNamespacesNothingIsRecycled) {
  IdleInits inits(*ctx_, *spawner_, epoll_.get(), kTag, 2, false);
  EXPECT_FALSE(inits.recycles(sandbox::Policy{}));
  EXPECT_EQ(inits.takeSandbox(sandbox::Policy{}), nullptr);
}

TEST_F(IdleInitsTest, AnInitThatReportedDoneRunsTheNextUnit) {
  IdleInits inits(*ctx_, *spawner_, epoll_.get(), kTag, 1, true);
  auto first = inits.start(spec(), nullptr, nullptr);
  ASSERT_TRUE(first.ok()) << first.error().message();
  const pid_t pid = first->pid();
  runToDone(*first);
  inits.retire(std::move(*first), IdLease(), sandbox::Policy{});
  // A unit set up ahead does not take it: it waits for go(), in an init of its own.
  auto held = inits.start(spec(true), nullptr, nullptr);
  ASSERT_TRUE(held.ok());
  EXPECT_NE(held->pid(), pid);
  held->kill();
  auto next = inits.start(spec(), nullptr, nullptr);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->pid(), pid);
  runToDone(*next);
  EXPECT_EQ(inits.sandboxedUnits(), 0u);  // none was in a sandbox
}

TEST_F(IdleInitsTest, AtMostMaxIdleWaitAndTheRestAreKilledAndReaped) {
  IdleInits inits(*ctx_, *spawner_, epoll_.get(), kTag, 1, true);
  auto a = inits.start(spec(), nullptr, nullptr);
  auto b = inits.start(spec(), nullptr, nullptr);
  ASSERT_TRUE(a.ok() && b.ok());
  const pid_t kept = a->pid();
  runToDone(*a);
  runToDone(*b);
  inits.retire(std::move(*a), IdLease(), sandbox::Policy{});
  inits.retire(std::move(*b), IdLease(), sandbox::Policy{});  // one is waiting already: killed
  reapWhenTold(inits);
  auto next = inits.start(spec(), nullptr, nullptr);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->pid(), kept);
}

TEST_F(IdleInitsTest, AfterReleaseNoInitWaitsUntilKeep) {
  UnitIds* ids = nullptr;
  IdleInits inits(*ctx_, *spawner_, epoll_.get(), kTag, 2, true);
  ids = &inits.ids();
  auto a = inits.start(spec(), nullptr, nullptr);
  ASSERT_TRUE(a.ok());
  const pid_t released = a->pid();
  runToDone(*a);
  inits.retire(std::move(*a), IdLease(), sandbox::Policy{});
  inits.release();  // killed; reaped once the kernel says it exited
  reapWhenTold(inits);
  auto b = inits.start(spec(), nullptr, nullptr);
  ASSERT_TRUE(b.ok());
  EXPECT_NE(b->pid(), released);
  const pid_t after_release = b->pid();
  runToDone(*b);
  inits.retire(std::move(*b), IdLease(), sandbox::Policy{});  // not kept either
  reapWhenTold(inits);
  inits.keep();
  auto c = inits.start(spec(), nullptr, nullptr);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(c->pid(), after_release);
  const pid_t kept = c->pid();
  runToDone(*c);
  inits.retire(std::move(*c), IdLease(), sandbox::Policy{});
  auto d = inits.start(spec(), nullptr, nullptr);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->pid(), kept);
  EXPECT_TRUE(ids->empty());  // a run without namespaces has no unit ids
}

TEST_F(IdleInitsTest, ARetiredInitWatchedUnderItsSlotsTagTakesTheRetiringTag) {
  // The runner watches a running unit's pidfd under the unit's slot; retire() must move it to kTag, or the
  // init's exit would be read as the slot's.
  IdleInits inits(*ctx_, *spawner_, epoll_.get(), kTag, 0, true);
  auto a = inits.start(spec(), nullptr, nullptr);
  ASSERT_TRUE(a.ok());
  runToDone(*a);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 7;
  ASSERT_EQ(epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, a->pidFd(), &ev), 0);
  const pid_t pid = a->pid();
  inits.retire(std::move(*a), IdLease(), sandbox::Policy{});  // max_idle 0: killed
  reapWhenTold(inits);
  EXPECT_EQ(kill(pid, 0), -1);  // reaped
  EXPECT_EQ(epoll_wait(epoll_.get(), &ev, 1, 0), 0);  // and no longer watched
}

TEST_F(IdleInitsTest, KillRetiringThenReapAllLeavesNothingWatched) {
  IdleInits inits(*ctx_, *spawner_, epoll_.get(), kTag, 0, true);
  auto a = inits.start(spec(), nullptr, nullptr);
  ASSERT_TRUE(a.ok());
  runToDone(*a);
  const pid_t pid = a->pid();
  inits.retire(std::move(*a), IdLease(), sandbox::Policy{});  // max_idle 0: killed
  inits.killRetiring();
  inits.reapAll();
  EXPECT_EQ(kill(pid, 0), -1);  // reaped: no such process, nor a zombie
  epoll_event ev;
  EXPECT_EQ(epoll_wait(epoll_.get(), &ev, 1, 0), 0);  // its pidfd closed, so no longer watched
}

}  // namespace
}  // namespace mpexec
