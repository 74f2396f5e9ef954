// What a batch unit decides, without processes: deadlines, and each test's outcome when its process ends.

#include "executor/batch_run.h"

#include <signal.h>
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <map>

#include "tests/support/manifest_builder.h"

namespace mpexec {
namespace {

class BatchRunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* id : {"a", "b", "c", "d"}) {
      test::addTest(m_, id, "g", Strategy::Serial);
      m_.tests.back().cmd.clear();
      m_.tests.back().id = id;
      m_.tests.back().settings.timeout_s = 2;
    }
  }
  static BatchProcessEnd exited(int code) { return {BatchProcessEnd::How::Exited, W_EXITCODE(code, 0), false, ""}; }
  static BatchProcessEnd signaled(int sig) { return {BatchProcessEnd::How::Exited, sig, false, ""}; }
  static BatchProcessEnd killed() { return {BatchProcessEnd::How::Exited, SIGKILL, true, ""}; }
  static sync::FinishedResult pass(const std::string& id) { return {id, sync::ResultOutcome::Pass, {}, "", "", ""}; }
  /// The outcome each test got, by index.
  static std::map<size_t, Outcome> outcomes(const BatchEvents& ev) {
    std::map<size_t, Outcome> out;
    for (const BatchResult& r : ev.finished) out[r.test] = r.record.outcome;
    return out;
  }
  Manifest m_;
};

TEST_F(BatchRunTest, DeadlineIsTheRunningTestsOrTheSumOfTheRest) {
  BatchRun run(m_, {0, 1, 2, 3}, false);
  run.startNext(1000);
  EXPECT_EQ(run.deadlineUs(), 1000 + 8'000'000) << "nothing started: the sum of four timeouts";
  BatchEvents ev;
  run.started(0, 5000, 0, false, ev);
  EXPECT_EQ(run.deadlineUs(), 5000 + 2'000'000);
  run.finished(0, pass("a"), 9000, 10, ev);
  EXPECT_EQ(run.deadlineUs(), 9000 + 6'000'000) << "from the last report, the three left";
  run.lineFinished(1, Outcome::Pass, 12000, 20);
  EXPECT_EQ(run.deadlineUs(), 12000 + 4'000'000);
}

TEST_F(BatchRunTest, ACrashPinsTheRunningTestAndTheRestGoOnTogether) {
  BatchRun run(m_, {0, 1, 2, 3}, false);
  run.startNext(0);
  BatchEvents ev;
  run.started(0, 10, 0, false, ev);
  run.finished(0, pass("a"), 20, 5, ev);
  run.started(1, 30, 5, false, ev);
  run.ended(signaled(SIGSEGV), 40, nullptr, "", "log", ev);
  EXPECT_EQ(outcomes(ev), (std::map<size_t, Outcome>{{0, Outcome::Pass}, {1, Outcome::Crash}}));
  EXPECT_EQ(*ev.finished.back().record.signal, SIGSEGV);
  EXPECT_EQ(ev.finished.back().slice_from, 5) << "its log is the output since it started";
  EXPECT_FALSE(run.done());
  EXPECT_EQ(run.startNext(50), (std::vector<size_t>{2, 3}));
  EXPECT_EQ(run.process(), 2u);
}

TEST_F(BatchRunTest, ACrashWithoutACulpritRunsEachTestAlone) {
  BatchRun run(m_, {0, 1, 2}, false);
  run.startNext(0);
  BatchEvents ev;
  run.ended(signaled(SIGABRT), 40, nullptr, "", "log", ev);
  EXPECT_TRUE(ev.finished.empty());
  for (size_t t : {0, 1, 2}) {
    EXPECT_EQ(run.startNext(50), std::vector<size_t>{t});
    BatchEvents one;
    if (t == 1) {
      run.ended(signaled(SIGABRT), 60, nullptr, "", "log", one);
      EXPECT_EQ(outcomes(one), (std::map<size_t, Outcome>{{1, Outcome::Crash}})) << "alone, it is the culprit";
    } else {
      run.finished(t, pass(m_.tests[t].id), 55, 0, one);
      run.ended(exited(0), 60, nullptr, "", "log", one);
      EXPECT_EQ(outcomes(one), (std::map<size_t, Outcome>{{t, Outcome::Pass}}));
    }
  }
  EXPECT_TRUE(run.startNext(70).empty());
  EXPECT_TRUE(run.done());
}

TEST_F(BatchRunTest, TimeoutAtARunningTestsDeadline) {
  BatchRun run(m_, {0, 1}, false);
  run.startNext(0);
  BatchEvents ev;
  run.started(0, 10, 0, true, ev);
  run.ended(killed(), 2'000'010, nullptr, "", "log", ev);
  EXPECT_EQ(outcomes(ev), (std::map<size_t, Outcome>{{0, Outcome::Timeout}}));
  EXPECT_EQ(run.startNext(0), std::vector<size_t>{1});
}

TEST_F(BatchRunTest, SeveralCulpritsEachRunAlone) {
  BatchRun run(m_, {0, 1, 2}, false);
  run.startNext(0);
  BatchEvents ev;
  run.started(0, 10, 0, false, ev);
  run.started(1, 10, 0, false, ev);
  run.ended(signaled(SIGKILL), 40, nullptr, "", "log", ev);
  EXPECT_TRUE(ev.finished.empty());
  EXPECT_EQ(run.startNext(50), std::vector<size_t>{0});
}

TEST_F(BatchRunTest, ExitsWithoutReports) {
  {
    BatchRun run(m_, {0, 1}, false);
    run.startNext(0);
    BatchEvents ev;
    run.ended(exited(2), 40, nullptr, "", "log", ev);
    EXPECT_EQ(outcomes(ev), (std::map<size_t, Outcome>{{0, Outcome::Error}, {1, Outcome::Error}}));
    EXPECT_EQ(*ev.finished[0].record.exit_code, 2);
    EXPECT_TRUE(run.done());
  }
  {
    BatchRun run(m_, {0, 1}, false);
    run.startNext(0);
    BatchEvents ev;
    run.finished(0, pass("a"), 20, 0, ev);
    run.ended(exited(1), 40, nullptr, "", "log", ev);
    EXPECT_EQ(outcomes(ev), (std::map<size_t, Outcome>{{0, Outcome::Pass}, {1, Outcome::NotRun}}));
    EXPECT_NE(ev.finished[1].record.reason.find("not reported by batch process 1, which exited (status 1)"),
              std::string::npos);
  }
}

TEST_F(BatchRunTest, JunitWinsOverLinesAndLiveOverJunit) {
  BatchRun run(m_, {0, 1, 2}, false);
  run.startNext(0);
  BatchEvents ev;
  run.finished(0, pass("a"), 10, 0, ev);
  run.lineFinished(1, Outcome::Pass, 20, 0);
  run.lineFinished(2, Outcome::Pass, 30, 0);
  JunitFile j = parseJunit(R"(<testsuite><testcase name="a"><failure message="x"/></testcase>
      <testcase name="b"><failure message="from junit"/></testcase></testsuite>)",
                           run.currentIds(), "j.xml");
  run.ended(exited(1), 40, &j, "", "log", ev);
  EXPECT_EQ(outcomes(ev), (std::map<size_t, Outcome>{{0, Outcome::Pass}, {1, Outcome::Fail}, {2, Outcome::Pass}}));
}

TEST_F(BatchRunTest, TestsNotReportedSayHowManyTestcasesNamedOtherIds) {
  BatchRun run(m_, {0, 1}, false);
  EXPECT_EQ(run.startNext(0), (std::vector<size_t>{0, 1}));
  EXPECT_EQ(run.currentIds(), (std::vector<std::string>{"a", "b"}));
  JunitFile j = parseJunit(R"(<testsuite><testcase classname="S" name="x"/><testcase classname="S" name="y"/>
      <testcase name="a"/></testsuite>)",
                           run.currentIds(), "j.xml");
  BatchEvents ev;
  run.ended(exited(0), 40, &j, "", "log", ev);
  EXPECT_EQ(outcomes(ev), (std::map<size_t, Outcome>{{0, Outcome::Pass}, {1, Outcome::NotRun}}));
  EXPECT_NE(ev.finished[1].record.reason.find("the JUnit file: 2 testcases for none of the process's ids"),
            std::string::npos)
      << ev.finished[1].record.reason;
}

TEST_F(BatchRunTest, ARetryRunsEachTestAlone) {
  BatchRun run(m_, {1, 3}, true);
  EXPECT_EQ(run.startNext(0), std::vector<size_t>{1});
  BatchEvents ev;
  run.abandon("gone", ev);
  EXPECT_EQ(outcomes(ev), (std::map<size_t, Outcome>{{1, Outcome::Error}, {3, Outcome::Error}}));
  EXPECT_TRUE(run.done());
}

}  // namespace
}  // namespace mpexec
