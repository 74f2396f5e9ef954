#include "sync-service/board.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/json/parse.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace mpexec::sync {
namespace {

using namespace std::chrono_literals;

Deadline in(std::chrono::milliseconds ms) { return Clock::now() + ms; }

// The whole text of a listing, its pieces one after the other.
std::string text(const SharedBody& body) {
  std::string out;
  for (size_t i = 0; i < body.pieces(); ++i) out += body.piece(i);
  EXPECT_EQ(out.size(), body.size());
  return out;
}

PutCondition ifAbsent() {
  PutCondition c;
  c.if_absent = true;
  return c;
}

TEST(BoardTest, PutGetEraseAndVersionsOnlyGrow) {
  Board b;
  EXPECT_FALSE(b.get("k"));
  PutResult p1 = b.put("k", "1");
  ASSERT_EQ(p1.status, Status::Ok);
  PutResult p2 = b.put("k", R"("two")");
  EXPECT_GT(p2.version, p1.version);
  ASSERT_TRUE(b.get("k"));
  EXPECT_EQ(b.get("k")->value(), R"("two")");
  EXPECT_EQ(b.get("k")->answer(), R"({"value":"two","version":)" + std::to_string(p2.version) + "}");
  EXPECT_EQ(b.erase("k"), Status::Ok);
  EXPECT_EQ(b.erase("k"), Status::NotFound);
  PutResult p3 = b.put("k", "3");
  EXPECT_GT(p3.version, p2.version) << "a re-created key must not reuse an old version";
  std::shared_ptr<const BoardListing> listing;
  ASSERT_EQ(b.list(&listing), Status::Ok);
  EXPECT_EQ(listing->entries().size(), 1u);
}

TEST(BoardTest, AListingIsTheBoardAsJsonSharedUntilTheBoardChanges) {
  Board b;
  std::shared_ptr<const BoardListing> empty;
  ASSERT_EQ(b.list(&empty), Status::Ok);
  EXPECT_EQ(text(*empty), "{}");
  b.put("b", R"({"x":[1,2.5e3,null]})");
  b.put("a", R"("\u00e9\n")");
  std::shared_ptr<const BoardListing> first, again;
  ASSERT_EQ(b.list(&first), Status::Ok);
  ASSERT_EQ(b.list(&again), Status::Ok);
  EXPECT_EQ(first, again) << "an unchanged board is listed once, whoever asks";
  std::string listed = text(*first);
  EXPECT_EQ(listed.find(R"({"a":{"value":)"), 0u) << listed;
  boost::json::value v = boost::json::parse(listed);
  EXPECT_EQ(v.at("b").at("value").at("x").as_array().size(), 3u) << listed;
  EXPECT_EQ(v.at("b").at("version").as_int64(), 1) << listed;
  b.erase("a");
  std::shared_ptr<const BoardListing> after;
  ASSERT_EQ(b.list(&after), Status::Ok);
  EXPECT_NE(after, first);
  EXPECT_EQ(after->entries().size(), 1u);
  EXPECT_EQ(first->entries().size(), 2u) << "a listing already made is not changed by a later erase";
}

// Listings of earlier boards keep alive what has changed since; their bytes are capped, and a listing of
// the current board is refused (Busy) when it would pass the cap, unless no other listing is alive.
TEST(BoardTest, ListingsAliveAreCappedByTheirBytes) {
  BoardLimits limits;
  limits.max_listing_bytes = 100;
  Board b(limits);
  std::string value = "\"" + std::string(50, 'x') + "\"";
  b.put("k", value);
  std::shared_ptr<const BoardListing> first, second;
  ASSERT_EQ(b.list(&first), Status::Ok);
  EXPECT_EQ(b.listingBytes(), first->size());
  b.put("k", value);
  EXPECT_EQ(b.list(&second), Status::Busy) << "two listings of 70-odd bytes pass 100";
  EXPECT_FALSE(second);
  first.reset();
  EXPECT_EQ(b.listingBytes(), 0u);
  ASSERT_EQ(b.list(&second), Status::Ok);
  b.put("k", std::string(200, '1'));
  std::shared_ptr<const BoardListing> large;
  EXPECT_EQ(b.list(&large), Status::Busy);
  second.reset();
  ASSERT_EQ(b.list(&large), Status::Ok) << "one listing alone is never refused, whatever its size";
  EXPECT_GT(large->size(), 200u);
}

TEST(BoardTest, CompareAndSetConflicts) {
  Board b;
  EXPECT_EQ(b.put("k", "1", {.if_version = 5}).status, Status::Conflict);
  PutResult first = b.put("k", "1", ifAbsent());
  ASSERT_EQ(first.status, Status::Ok);
  PutResult again = b.put("k", "2", ifAbsent());
  EXPECT_EQ(again.status, Status::Conflict);
  EXPECT_EQ(again.version, first.version);
  EXPECT_EQ(b.put("k", "2", {.if_version = first.version + 1}).status, Status::Conflict);
  EXPECT_EQ(b.put("k", "2", {.if_version = first.version}).status, Status::Ok);
  EXPECT_EQ(b.get("k")->value(), "2");
}

TEST(BoardTest, ConcurrentCasIncrementsLoseNothing) {
  Board b;
  b.put("n", "0");
  constexpr int kThreads = 8, kEach = 200;
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kEach;) {
        std::shared_ptr<const BoardEntry> e = b.get("n");
        std::string next = std::to_string(std::stoll(std::string(e->value())) + 1);
        if (b.put("n", next, {.if_version = e->version()}).status == Status::Ok) {
          ++i;
        } else {
          ++conflicts;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(b.get("n")->value(), std::to_string(kThreads * kEach));
}

TEST(BoardTest, LimitsSayTooMany) {
  Board b({.max_keys = 2, .max_bytes = 20});
  EXPECT_EQ(b.put("a", "1").status, Status::Ok);
  EXPECT_EQ(b.put("b", "2").status, Status::Ok);
  EXPECT_EQ(b.put("c", "3").status, Status::TooMany);
  EXPECT_EQ(b.put("a", "4").status, Status::Ok) << "overwriting an existing key adds no key";
  EXPECT_EQ(b.put("a", R"("a string well over twenty bytes")").status, Status::TooMany);
  b.erase("b");
  EXPECT_EQ(b.put("c", "3").status, Status::Ok);
}

TEST(BoardTest, WaitSeesALaterPutAndTimesOut) {
  Board b;
  std::shared_ptr<const BoardEntry> out;
  EXPECT_EQ(b.wait("u1", "k", 0, in(20ms), nullptr, &out), Status::Timeout);
  std::thread writer([&] {
    std::this_thread::sleep_for(20ms);
    b.put("k", R"("hello")");
  });
  EXPECT_EQ(b.wait("u1", "k", 0, in(10s), nullptr, &out), Status::Ok);
  writer.join();
  EXPECT_EQ(out->value(), R"("hello")");
  // Already newer than `after`: no wait at all.
  EXPECT_EQ(b.wait("u1", "k", out->version() - 1, in(0ms), nullptr, &out), Status::Ok);
  EXPECT_EQ(b.wait("u1", "k", out->version(), in(20ms), nullptr, &out), Status::Timeout);
}

TEST(BoardTest, WaiterLimitRefusesOnlyWaitsThatMustBlock) {
  Board b;
  WaiterLimit limit(1);
  ASSERT_TRUE(limit.tryEnter());  // the only place is taken
  std::shared_ptr<const BoardEntry> out;
  EXPECT_EQ(b.wait("u1", "k", 0, in(10s), &limit, &out), Status::TooMany);
  b.put("k", "1");
  EXPECT_EQ(b.wait("u1", "k", 0, in(10s), &limit, &out), Status::Ok);
  limit.leave();
  EXPECT_EQ(limit.current(), 0u);
}

TEST(BoardTest, UnitEndedAndStopCancelWaits) {
  Board b;
  std::shared_ptr<const BoardEntry> out;
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
