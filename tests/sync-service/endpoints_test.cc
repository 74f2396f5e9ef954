#include "sync-service/endpoints.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace mpexec::sync {
namespace {

namespace json = boost::json;

class EndpointsTest : public ::testing::Test {
 protected:
  Reply call(const std::string& method, const std::string& path, const std::string& body = "",
             std::map<std::string, std::string> query = {}) {
    Request r{method, path, std::move(query), body, "Bearer " + token_};
    return ep_.handle(r, nullptr);
  }
  Endpoints ep_{Limits{}, R"({"np":2})"};
  std::string token_ = ep_.registerUnit("u1");
};

TEST(ValidNameTest, Charset) {
  EXPECT_TRUE(validName("a"));
  EXPECT_TRUE(validName("A-z_0.9/x"));
  EXPECT_TRUE(validName(std::string(256, 'k')));
  EXPECT_FALSE(validName(""));
  EXPECT_FALSE(validName(std::string(257, 'k')));
  EXPECT_FALSE(validName("a b"));
  EXPECT_FALSE(validName("a%2F"));
  EXPECT_FALSE(validName("caf\xc3\xa9"));
}

TEST_F(EndpointsTest, NamesWithSlashesRouteByTheirLastSegment) {
  EXPECT_EQ(call("POST", "/v1/lock/a/acquire/acquire").status, 200);
  EXPECT_EQ(ep_.locks().holder("a/acquire"), "u1");
  EXPECT_EQ(call("POST", "/v1/lock/a/acquire/release").status, 200);
  EXPECT_EQ(call("POST", "/v1/trail/x/y/start").status, 200);
  EXPECT_EQ(ep_.trails().view("x/y").in_block, "u1");
  EXPECT_EQ(call("POST", "/v1/trail/x/y/done").status, 200);
  EXPECT_EQ(call("POST", "/v1/lock/acquire").status, 404) << "no name: not an endpoint";
  EXPECT_EQ(call("POST", "/v1/lock//acquire").status, 400) << "an empty name";
  EXPECT_EQ(call("POST", "/v1/lock").status, 404);
}

TEST_F(EndpointsTest, HeadIsGetAndAllowNamesTheMethods) {
  EXPECT_EQ(call("HEAD", "/v1/board").status, 200);
  Reply r = call("PUT", "/v1/lock/x/release");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.allow, "POST");
}

TEST_F(EndpointsTest, WaitsAreCappedNotRefused) {
  Endpoints ep{Limits{.board = {}, .locks = {}, .trails = {}, .operations = 10, .max_wait_seconds = 0.05},
               "{}"};
  std::string token = ep.registerUnit("u1");
  Request r{"GET", "/v1/board/k", {{"after", "0"}, {"wait", "100000"}}, "", "Bearer " + token};
  EXPECT_EQ(ep.handle(r, nullptr).status, 408) << "a huge wait ends at the cap";
}

TEST_F(EndpointsTest, RunInfoAndUnitEndedLog) {
  EXPECT_EQ(call("GET", "/v1/run").body, R"({"np":2})");
  call("POST", "/v1/lock/l/acquire");
  call("POST", "/v1/trail/t/start");
  ep_.unitEnded("u1");
  EXPECT_EQ(call("GET", "/v1/run").status, 401);
  std::vector<Operation> ops = ep_.operations();
  ASSERT_FALSE(ops.empty());
  EXPECT_EQ(ops.back().op, "unit.ended");
  EXPECT_EQ(ops.back().result, "ok released_locks=l left_trails=t");
  EXPECT_EQ(ops[1].result, "ok");
  EXPECT_EQ(ops[2].result, "first");
}

TEST(OperationLogTest, KeepsTheFirstEntriesAndCountsTheRest) {
  OperationLog log(2);
  for (int i = 0; i < 5; ++i) log.record({"u", "op" + std::to_string(i), "", 200, "ok", i, i});
  ASSERT_EQ(log.snapshot().size(), 2u);
  EXPECT_EQ(log.snapshot()[1].op, "op1");
  EXPECT_EQ(log.dropped(), 3u);
}

}  // namespace
}  // namespace mpexec::sync
