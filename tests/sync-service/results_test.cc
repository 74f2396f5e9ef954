// The results endpoints of the batch protocol: bodies checked, answers as the sink says, and the sink gets
// what was sent before the process hears 200.
#include "sync-service/results.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>

#include "sync-service/endpoints.h"

namespace mpexec::sync {
namespace {

namespace json = boost::json;

/// Accepts ids "a" and "b" of unit u1; a second finish is a conflict.
class FakeSink : public ResultSink {
 public:
  ResultStatus started(const std::string& unit, const std::string& id) override {
    if (unit != "u1") return ResultStatus::NoBatch;
    if (id != "a" && id != "b") return ResultStatus::UnknownId;
    if (finished_ids.count(id)) return ResultStatus::AlreadyFinished;
    started_ids.push_back(id);
    return ResultStatus::Ok;
  }
  ResultStatus finished(const std::string& unit, FinishedResult r) override {
    if (unit != "u1") return ResultStatus::NoBatch;
    if (r.id != "a" && r.id != "b") return ResultStatus::UnknownId;
    if (!finished_ids.insert(r.id).second) return ResultStatus::AlreadyFinished;
    results.push_back(std::move(r));
    return ResultStatus::Ok;
  }
  std::vector<std::string> started_ids;
  std::set<std::string> finished_ids;
  std::vector<FinishedResult> results;
};

class ResultsTest : public ::testing::Test {
 protected:
  Reply post(const std::string& what, const std::string& body, const std::string& token) {
    return ep_.handle(Request{"POST", "/v1/results/" + what, {}, body, "Bearer " + token}, nullptr);
  }
  FakeSink sink_;
  Endpoints ep_{Limits{}, "{}", &sink_};
  std::string u1_ = ep_.registerUnit("u1");
  std::string u2_ = ep_.registerUnit("u2");
};

TEST_F(ResultsTest, StartedAndFinishedReachTheSink) {
  EXPECT_EQ(post("started", R"({"id": "a"})", u1_).status, 200);
  Reply r = post("finished",
                 R"({"id": "a", "outcome": "fail", "duration_s": 0.25, "message": "line 1\nline 2",
                     "output": "out\n", "note": "xpass", "future_key": 1})",
                 u1_);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body), json::parse(R"({"ok": true})"));
  ASSERT_EQ(sink_.started_ids, std::vector<std::string>{"a"});
  ASSERT_EQ(sink_.results.size(), 1u);
  const FinishedResult& f = sink_.results[0];
  EXPECT_EQ(f.id, "a");
  EXPECT_EQ(f.outcome, ResultOutcome::Fail);
  EXPECT_EQ(f.duration_s, 0.25);
  EXPECT_EQ(f.message, "line 1 line 2") << "a message is one line";
  EXPECT_EQ(f.output, "out\n");
  EXPECT_EQ(f.note, "xpass");
  // Only id and outcome are required.
  EXPECT_EQ(post("finished", R"({"id": "b", "outcome": "skip"})", u1_).status, 200);
  EXPECT_FALSE(sink_.results[1].duration_s);
}

TEST_F(ResultsTest, AnswersWhatTheSinkSays) {
  EXPECT_EQ(post("started", R"({"id": "zz"})", u1_).status, 404);
  EXPECT_EQ(post("started", R"({"id": "a"})", u2_).status, 404) << "u2 runs no batch";
  EXPECT_EQ(post("finished", R"({"id": "a", "outcome": "pass"})", u1_).status, 200);
  Reply again = post("finished", R"({"id": "a", "outcome": "pass"})", u1_);
  EXPECT_EQ(again.status, 409);
  EXPECT_NE(again.body.find("already finished"), std::string::npos) << again.body;
  EXPECT_EQ(post("started", R"({"id": "a"})", u1_).status, 409);
}

TEST_F(ResultsTest, BadBodiesAre400) {
  for (const char* body : {"", "[]", "{", R"({"id": ""})", R"({"id": 3})", R"({"outcome": "pass"})",
                           R"({"id": "a", "id": "b"})", "{\"id\": \"\xff\"}"}) {
    EXPECT_EQ(post("started", body, u1_).status, 400) << body;
  }
  for (const char* body :
       {R"({"id": "a"})", R"({"id": "a", "outcome": "PASS"})", R"({"id": "a", "outcome": "crash"})",
        R"({"id": "a", "outcome": "pass", "duration_s": -1})", R"({"id": "a", "outcome": "pass", "duration_s": "1"})",
        R"({"id": "a", "outcome": "pass", "message": 7})", R"({"id": "a", "outcome": "pass", "output": []})",
        R"({"id": "a", "outcome": "pass", "note": "a\nb"})"}) {
    EXPECT_EQ(post("finished", body, u1_).status, 400) << body;
  }
  std::string long_note = R"({"id": "a", "outcome": "pass", "note": ")" + std::string(65, 'x') + "\"}";
  EXPECT_EQ(post("finished", long_note, u1_).status, 400);
  EXPECT_TRUE(sink_.results.empty()) << "nothing bad reaches the sink";
}

TEST_F(ResultsTest, NeedsATokenAndPost) {
  EXPECT_EQ(post("started", R"({"id": "a"})", "nope").status, 401);
  Reply get = ep_.handle(Request{"GET", "/v1/results/started", {}, "", "Bearer " + u1_}, nullptr);
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(get.allow, "POST");
}

TEST_F(ResultsTest, WithoutASinkNoUnitRunsABatch) {
  Endpoints plain{Limits{}, "{}"};
  std::string t = plain.registerUnit("u1");
  EXPECT_EQ(plain.handle(Request{"POST", "/v1/results/started", {}, R"({"id": "a"})", "Bearer " + t}, nullptr).status,
            404);
}

TEST_F(ResultsTest, CallsAreRecordedWithTheirIds) {
  post("started", R"({"id": "a"})", u1_);
  post("finished", R"({"id": "a", "outcome": "error"})", u1_);
  auto ops = ep_.operations();
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[0].op, "results.started");
  EXPECT_EQ(ops[0].key, "a");
  EXPECT_EQ(ops[1].op, "results.finished");
  EXPECT_EQ(ops[1].result, "error");
}

TEST(ResultBodyTest, MessageIsCutWithoutSplittingACharacter) {
  FinishedResult f;
  std::string error;
  std::string msg(kMaxResultMessage - 1, 'x');
  msg += "\xc3\xa9tail";
  ASSERT_TRUE(parseFinishedBody(json::serialize(json::object{{"id", "a"}, {"outcome", "pass"}, {"message", msg}}),
                                &f, &error))
      << error;
  EXPECT_EQ(f.message, std::string(kMaxResultMessage - 1, 'x'));
}

}  // namespace
}  // namespace mpexec::sync
