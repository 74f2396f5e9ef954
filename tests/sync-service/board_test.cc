#include "sync-service/board.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace mpexec::sync {
namespace {

using namespace std::chrono_literals;

Deadline in(std::chrono::milliseconds ms) { return Clock::now() + ms; }

PutCondition ifAbsent() {
  PutCondition c;
  c.if_absent = true;
  return c;
}

TEST(BoardTest, PutGetEraseAndVersionsOnlyGrow) {
  Board b;
  EXPECT_FALSE(b.get("k"));
  PutResult p1 = b.put("k", 1);
  ASSERT_EQ(p1.status, Status::Ok);
  PutResult p2 = b.put("k", "two");
  EXPECT_GT(p2.version, p1.version);
  ASSERT_TRUE(b.get("k"));
  EXPECT_EQ(b.get("k")->value.as_string(), "two");
  EXPECT_EQ(b.erase("k"), Status::Ok);
  EXPECT_EQ(b.erase("k"), Status::NotFound);
  PutResult p3 = b.put("k", 3);
  EXPECT_GT(p3.version, p2.version) << "a re-created key must not reuse an old version";
  EXPECT_EQ(b.list().size(), 1u);
}

TEST(BoardTest, CompareAndSetConflicts) {
  Board b;
  EXPECT_EQ(b.put("k", 1, {.if_version = 5}).status, Status::Conflict);
  PutResult first = b.put("k", 1, ifAbsent());
  ASSERT_EQ(first.status, Status::Ok);
  PutResult again = b.put("k", 2, ifAbsent());
  EXPECT_EQ(again.status, Status::Conflict);
  EXPECT_EQ(again.version, first.version);
  EXPECT_EQ(b.put("k", 2, {.if_version = first.version + 1}).status, Status::Conflict);
  EXPECT_EQ(b.put("k", 2, {.if_version = first.version}).status, Status::Ok);
  EXPECT_EQ(b.get("k")->value.as_int64(), 2);
}

TEST(BoardTest, ConcurrentCasIncrementsLoseNothing) {
  Board b;
  b.put("n", 0);
  constexpr int kThreads = 8, kEach = 200;
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach;) {
        BoardEntry e = *b.get("n");
        if (b.put("n", e.value.as_int64() + 1, {.if_version = e.version}).status == Status::Ok) {
          ++i;
        } else {
          ++conflicts;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(b.get("n")->value.as_int64(), kThreads * kEach);
}

TEST(BoardTest, LimitsSayTooMany) {
  Board b({.max_keys = 2, .max_bytes = 20});
  EXPECT_EQ(b.put("a", 1).status, Status::Ok);
  EXPECT_EQ(b.put("b", 2).status, Status::Ok);
  EXPECT_EQ(b.put("c", 3).status, Status::TooMany);
  EXPECT_EQ(b.put("a", 4).status, Status::Ok) << "overwriting an existing key adds no key";
  EXPECT_EQ(b.put("a", "a string well over twenty bytes").status, Status::TooMany);
  b.erase("b");
  EXPECT_EQ(b.put("c", 3).status, Status::Ok);
}

TEST(BoardTest, WaitSeesALaterPutAndTimesOut) {
  Board b;
  BoardEntry out;
  EXPECT_EQ(b.wait("u1", "k", 0, in(20ms), nullptr, &out), Status::Timeout);
  std::thread writer([&] {
    std::this_thread::sleep_for(20ms);
    b.put("k", "hello");
  });
  EXPECT_EQ(b.wait("u1", "k", 0, in(10s), nullptr, &out), Status::Ok);
  writer.join();
  EXPECT_EQ(out.value.as_string(), "hello");
  // Already newer than `after`: no wait at all.
  EXPECT_EQ(b.wait("u1", "k", out.version - 1, in(0ms), nullptr, &out), Status::Ok);
  EXPECT_EQ(b.wait("u1", "k", out.version, in(20ms), nullptr, &out), Status::Timeout);
}

TEST(BoardTest, WaiterLimitRefusesOnlyWaitsThatMustBlock) {
  Board b;
  WaiterLimit limit(1);
  ASSERT_TRUE(limit.tryEnter());  // the only place is taken
  BoardEntry out;
  EXPECT_EQ(b.wait("u1", "k", 0, in(10s), &limit, &out), Status::TooMany);
  b.put("k", 1);
  EXPECT_EQ(b.wait("u1", "k", 0, in(10s), &limit, &out), Status::Ok);
  limit.leave();
  EXPECT_EQ(limit.current(), 0u);
}

TEST(BoardTest, UnitEndedAndStopCancelWaits) {
  Board b;
  BoardEntry out;
  std::atomic<int> result{-1};
  std::thread waiter([&] { result = static_cast<int>(b.wait("u1", "k", 0, in(30s), nullptr, &out)); });
  std::this_thread::sleep_for(20ms);
  b.unitEnded("u1");
  waiter.join();
  EXPECT_EQ(result, static_cast<int>(Status::Ended));
  EXPECT_EQ(b.wait("u1", "k", 0, in(30s), nullptr, &out), Status::Ended);
  b.unitStarted("u1");
  EXPECT_EQ(b.wait("u1", "k", 0, in(0ms), nullptr, &out), Status::Timeout);

  std::thread waiter2([&] { result = static_cast<int>(b.wait("u2", "k", 0, in(30s), nullptr, &out)); });
  std::this_thread::sleep_for(20ms);
  b.stop();
  waiter2.join();
  EXPECT_EQ(result, static_cast<int>(Status::Stopping));
}

}  // namespace
}  // namespace mpexec::sync
