#include "sync-service/locks.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace mpexec::sync {
namespace {

using namespace std::chrono_literals;

Deadline in(std::chrono::milliseconds ms) { return Clock::now() + ms; }

TEST(LocksTest, AcquireReleaseAndConflicts) {
  Locks l;
  EXPECT_EQ(l.acquire("u1", "db", in(0ms), nullptr), Status::Ok);
  EXPECT_EQ(l.holder("db"), "u1");
  EXPECT_EQ(l.acquire("u1", "db", in(0ms), nullptr), Status::Conflict) << "the holder asks again";
  EXPECT_EQ(l.acquire("u2", "db", in(10ms), nullptr), Status::Timeout);
  EXPECT_EQ(l.release("u2", "db"), Status::Conflict) << "not the holder";
  EXPECT_EQ(l.release("u1", "db"), Status::Ok);
  EXPECT_EQ(l.release("u1", "db"), Status::Conflict) << "released twice";
  EXPECT_FALSE(l.holder("db"));
}

TEST(LocksTest, MutualExclusionUnderContention) {
  Locks l;
  constexpr int kThreads = 8, kEach = 100;
  std::atomic<int> inside{0}, max_inside{0}, total{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string unit = "u" + std::to_string(t);
      for (int i = 0; i < kEach; ++i) {
        ASSERT_EQ(l.acquire(unit, "x", in(30000ms), nullptr), Status::Ok);
        int now = ++inside;
        int seen = max_inside;
        while (now > seen && !max_inside.compare_exchange_weak(seen, now)) {
        }
        ++total;
        --inside;
        ASSERT_EQ(l.release(unit, "x"), Status::Ok);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(max_inside, 1);
  EXPECT_EQ(total, kThreads * kEach);
  EXPECT_FALSE(l.holder("x"));
}

TEST(LocksTest, WaitersAreServedInArrivalOrder) {
  Locks l;
  ASSERT_EQ(l.acquire("holder", "x", in(0ms), nullptr), Status::Ok);
  std::vector<std::string> order;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] {
      std::string unit = "w" + std::to_string(i);
      ASSERT_EQ(l.acquire(unit, "x", in(30000ms), nullptr), Status::Ok);
      {
        std::lock_guard lock(mu);
        order.push_back(unit);
      }
      l.release(unit, "x");
    });
    std::this_thread::sleep_for(30ms);  // makes the arrival order certain
  }
  l.release("holder", "x");
  for (auto& t : threads) t.join();
  EXPECT_EQ(order, (std::vector<std::string>{"w0", "w1", "w2"}));
}

TEST(LocksTest, UnitEndedReleasesItsLocksAndCancelsItsWaits) {
  Locks l;
  ASSERT_EQ(l.acquire("u1", "a", in(0ms), nullptr), Status::Ok);
  ASSERT_EQ(l.acquire("u1", "b", in(0ms), nullptr), Status::Ok);
  ASSERT_EQ(l.acquire("u2", "c", in(0ms), nullptr), Status::Ok);
  std::atomic<int> waiter_result{-1}, own_wait{-1};
  std::thread waiter([&] { waiter_result = static_cast<int>(l.acquire("u3", "a", in(30000ms), nullptr)); });
  std::thread own([&] { own_wait = static_cast<int>(l.acquire("u1", "c", in(30000ms), nullptr)); });
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(l.unitEnded("u1"), (std::vector<std::string>{"a", "b"}));
  waiter.join();
  own.join();
  EXPECT_EQ(waiter_result, static_cast<int>(Status::Ok)) << "the waiter gets the dead unit's lock";
  EXPECT_EQ(own_wait, static_cast<int>(Status::Ended)) << "the dead unit's own wait is cancelled";
  EXPECT_EQ(l.holder("a"), "u3");
  EXPECT_FALSE(l.holder("b"));
  EXPECT_EQ(l.holder("c"), "u2");
  EXPECT_EQ(l.acquire("u1", "b", in(0ms), nullptr), Status::Ended) << "an ended unit takes nothing new";
}

TEST(LocksTest, LimitsAndWaiterBudget) {
  Locks l({.max_locks = 1});
  ASSERT_EQ(l.acquire("u1", "a", in(0ms), nullptr), Status::Ok);
  EXPECT_EQ(l.acquire("u1", "b", in(0ms), nullptr), Status::TooMany);
  WaiterLimit none(0);
  EXPECT_EQ(l.acquire("u2", "a", in(10000ms), &none), Status::TooMany) << "would have to wait";
  l.release("u1", "a");
  EXPECT_EQ(l.acquire("u2", "a", in(10000ms), &none), Status::Ok) << "free: no waiting place needed";
}

TEST(LocksTest, StopCancelsWaits) {
  Locks l;
  ASSERT_EQ(l.acquire("u1", "a", in(0ms), nullptr), Status::Ok);
  std::atomic<int> r{-1};
  std::thread waiter([&] { r = static_cast<int>(l.acquire("u2", "a", in(30000ms), nullptr)); });
  std::this_thread::sleep_for(20ms);
  l.stop();
  waiter.join();
  EXPECT_EQ(r, static_cast<int>(Status::Stopping));
}

}  // namespace
}  // namespace mpexec::sync
