#include "sync-service/trails.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

namespace mpexec::sync {
namespace {

using namespace std::chrono_literals;

Deadline in(std::chrono::milliseconds ms) { return Clock::now() + ms; }
Deadline later() { return in(30000ms); }

TEST(TrailsTest, FirstAndLastFollowTheConsumers) {
  Trails t;
  BlockResult s1 = t.start("u1", "db", later(), nullptr);
  ASSERT_EQ(s1.status, Status::Ok);
  EXPECT_TRUE(s1.flag) << "no consumer yet";
  ASSERT_EQ(t.done("u1", "db"), Status::Ok);
  BlockResult s2 = t.start("u2", "db", later(), nullptr);
  EXPECT_FALSE(s2.flag);
  t.done("u2", "db");
  BlockResult f1 = t.finish("u1", "db", later(), nullptr);
  EXPECT_FALSE(f1.flag) << "u2 still consumes";
  t.done("u1", "db");
  BlockResult f2 = t.finish("u2", "db", later(), nullptr);
  EXPECT_TRUE(f2.flag) << "the only consumer left";
  t.done("u2", "db");
  // After a last finish, the next use sets the trail up again.
  EXPECT_TRUE(t.start("u3", "db", later(), nullptr).flag);
  t.done("u3", "db");
  EXPECT_TRUE(t.warnings().empty());
}

TEST(TrailsTest, Conflicts) {
  Trails t;
  EXPECT_EQ(t.finish("u1", "x", in(0ms), nullptr).status, Status::Conflict) << "finish before start";
  EXPECT_EQ(t.done("u1", "x"), Status::Conflict) << "done outside the block";
  ASSERT_EQ(t.start("u1", "x", later(), nullptr).status, Status::Ok);
  EXPECT_EQ(t.start("u1", "x", in(0ms), nullptr).status, Status::Conflict) << "already inside the block";
  EXPECT_EQ(t.done("u2", "x"), Status::Conflict) << "u2 is not inside";
  t.done("u1", "x");
  EXPECT_EQ(t.start("u1", "x", in(0ms), nullptr).status, Status::Conflict) << "already a consumer";
  EXPECT_EQ(t.finish("u2", "x", in(0ms), nullptr).status, Status::Conflict) << "u2 never started";
}

TEST(TrailsTest, BlockExcludesOtherUnitsOfTheSameTrailOnly) {
  Trails t;
  ASSERT_EQ(t.start("u1", "a", later(), nullptr).status, Status::Ok);
  EXPECT_EQ(t.start("u2", "a", in(20ms), nullptr).status, Status::Timeout) << "u1 is inside a's block";
  EXPECT_EQ(t.start("u2", "b", in(0ms), nullptr).status, Status::Ok) << "trail b has its own block";
  std::atomic<bool> entered{false};
  std::thread waiter([&] {
    BlockResult r = t.start("u3", "a", later(), nullptr);
    EXPECT_EQ(r.status, Status::Ok);
    EXPECT_FALSE(r.flag) << "u1 consumes a";
    entered = true;
    t.done("u3", "a");
  });
  std::this_thread::sleep_for(30ms);
  EXPECT_FALSE(entered);
  t.done("u1", "a");
  waiter.join();
  EXPECT_TRUE(entered);
}

TEST(TrailsTest, ManyUnitsEnterOneAtATimeAndExactlyOneIsFirstAndLast) {
  Trails t;
  constexpr int kUnits = 12;
  std::atomic<int> inside{0}, max_inside{0}, firsts{0}, lasts{0};
  auto mark = [&] {
    int now = ++inside;
    int seen = max_inside;
    while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(1ms);
    --inside;
  };
  std::atomic<int> started{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kUnits; ++i) {
    threads.emplace_back([&, i] {
      std::string unit = "u" + std::to_string(i);
      BlockResult s = t.start(unit, "db", later(), nullptr);
      ASSERT_EQ(s.status, Status::Ok);
      firsts += s.flag;
      mark();
      t.done(unit, "db");
      // Every unit starts before any finishes, so the trail is set up and torn down once.
      ++started;
      while (started < kUnits) std::this_thread::sleep_for(1ms);
      BlockResult f = t.finish(unit, "db", later(), nullptr);
      ASSERT_EQ(f.status, Status::Ok);
      lasts += f.flag;
      mark();
      t.done(unit, "db");
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(max_inside, 1);
  EXPECT_EQ(firsts, 1);
  EXPECT_EQ(lasts, 1);
  EXPECT_TRUE(t.view("db").consumers.empty());
}

TEST(TrailsTest, UnitDyingInsideItsFirstStartBlockLetsTheNextStarterBeFirst) {
  Trails t;
  ASSERT_TRUE(t.start("u1", "db", later(), nullptr).flag);
  std::atomic<int> first{-1};
  std::thread next([&] {
    BlockResult r = t.start("u2", "db", later(), nullptr);
    EXPECT_EQ(r.status, Status::Ok);
    first = r.flag;
  });
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(first, -1) << "u2 waits for u1's block";
  EXPECT_EQ(t.unitEnded("u1"), (std::vector<std::string>{"db"}));
  next.join();
  EXPECT_EQ(first, 1) << "u1's setup never completed";
  ASSERT_EQ(t.warnings().size(), 1u);
  EXPECT_NE(t.warnings()[0].find("first start block"), std::string::npos) << t.warnings()[0];
}

TEST(TrailsTest, UnitEndedDropsConsumerSoTheOtherSeesLast) {
  Trails t;
  t.start("u1", "db", later(), nullptr);
  t.done("u1", "db");
  t.start("u2", "db", later(), nullptr);
  t.done("u2", "db");
  t.unitEnded("u1");
  EXPECT_EQ(t.view("db").consumers, (std::set<std::string>{"u2"}));
  EXPECT_TRUE(t.finish("u2", "db", later(), nullptr).flag);
  t.done("u2", "db");
  EXPECT_TRUE(t.warnings().empty()) << "u2 tore the trail down";
  EXPECT_EQ(t.start("u1", "db", in(0ms), nullptr).status, Status::Ended);
}

TEST(TrailsTest, LastConsumerDyingUnfinishedIsAWarning) {
  Trails t;
  t.start("u1", "db", later(), nullptr);
  t.done("u1", "db");
  t.unitEnded("u1");
  ASSERT_EQ(t.warnings().size(), 1u);
  EXPECT_NE(t.warnings()[0].find("teardown never ran"), std::string::npos) << t.warnings()[0];
  EXPECT_TRUE(t.start("u2", "db", later(), nullptr).flag);
}

TEST(TrailsTest, DyingInsideTheLastFinishBlockIsAWarning) {
  Trails t;
  t.start("u1", "db", later(), nullptr);
  t.done("u1", "db");
  ASSERT_TRUE(t.finish("u1", "db", later(), nullptr).flag);
  t.unitEnded("u1");
  ASSERT_EQ(t.warnings().size(), 1u);
  EXPECT_NE(t.warnings()[0].find("last finish block"), std::string::npos);
  EXPECT_FALSE(t.view("db").in_block);
}

TEST(TrailsTest, FailedStartCommandLeavesTheTrail) {
  Trails t;
  ASSERT_TRUE(t.start("u1", "db", later(), nullptr).flag);
  ASSERT_EQ(t.done("u1", "db", /*succeeded=*/false), Status::Ok);
  EXPECT_TRUE(t.view("db").consumers.empty());
  EXPECT_TRUE(t.start("u2", "db", later(), nullptr).flag) << "the failed setup is not taken as done";
}

TEST(TrailsTest, LimitsWaiterBudgetAndStop) {
  Trails t({.max_trails = 1});
  ASSERT_EQ(t.start("u1", "a", later(), nullptr).status, Status::Ok);
  EXPECT_EQ(t.start("u1", "b", later(), nullptr).status, Status::TooMany);
  WaiterLimit none(0);
  EXPECT_EQ(t.start("u2", "a", later(), &none).status, Status::TooMany);
  std::atomic<int> r{-1};
  std::thread waiter([&] { r = static_cast<int>(t.start("u2", "a", later(), nullptr).status); });
  std::this_thread::sleep_for(20ms);
  t.stop();
  waiter.join();
  EXPECT_EQ(r, static_cast<int>(Status::Stopping));
}

}  // namespace
}  // namespace mpexec::sync
