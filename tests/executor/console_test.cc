#include "executor/console.h"

#include <cstdio>
#include <regex>

#include <gtest/gtest.h>

#include "tests/support/manifest_builder.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

using test::addTest;

bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

/// A Console writing into memory, on a clock the test moves.
class ConsoleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* n : {"alpha", "beta", "gamma", "delta"}) addTest(m_, n);
    opts_.now_us = [this] { return now_us_; };
    opts_.log_root = dir_.path();
    opts_.rerun_command = "mpexec";
    opts_.rerun_manifest = "m.json";
    opts_.columns = 200;
  }
  Console& console(size_t planned = 4) {
    out_ = open_memstream(&buf_, &size_);
    console_ = std::make_unique<Console>(m_, planned, opts_, out_);
    return *console_;
  }
  std::string text() {
    fflush(out_);
    return std::string(buf_, size_);
  }
  void TearDown() override {
    console_.reset();
    if (out_) fclose(out_);
    free(buf_);
  }
  TestRecord finished(Outcome o, int64_t start, int64_t end, std::optional<int> code = std::nullopt,
                      const std::string& log = "") {
    TestRecord r;
    r.outcome = o;
    r.start_us = start;
    r.end_us = end;
    r.exit_code = code;
    r.attempts = 1;
    r.log = log;
    return r;
  }

  Manifest m_;
  ConsoleOptions opts_;
  int64_t now_us_ = 0;
  test::TempDir dir_;
  std::unique_ptr<Console> console_;
  FILE* out_ = nullptr;
  char* buf_ = nullptr;
  size_t size_ = 0;
};

TEST_F(ConsoleTest, StatusLineHasElapsedTimeCountsSoFarAndEveryRunningTest) {
  opts_.status_line = true;
  Console& c = console();
  c.testStarted(0, "u0", 0);
  c.testStarted(1, "u1", 1);
  now_us_ = 2'500'000;
  c.testFinished(0, finished(Outcome::Pass, 0, 2'000'000));
  c.testStarted(2, "u2", 0);
  now_us_ = 65'000'000;
  c.tick();
  std::string out = text();
  // The last status drawn: done/planned, elapsed, a count per outcome so far, and both running tests, the
  // longest-running first with how long it has run.
  size_t last = out.rfind('\r');
  ASSERT_NE(last, std::string::npos) << out;
  std::string status = out.substr(last + 1);
  EXPECT_EQ(status, "[1/4 1m05s 1 PASS] 2 running: beta (1m05s), gamma (1m02s)\x1b[K") << out;
  EXPECT_FALSE(has(out, "\x1b[3")) << "no colour unless asked for: " << out;
}

TEST_F(ConsoleTest, StatusLineFitsTheTerminalAndSaysHowManyMoreRun) {
  opts_.status_line = true;
  opts_.columns = 40;
  Console& c = console();
  for (size_t t = 0; t < 4; ++t) c.testStarted(t, "u", int(t));
  std::string out = text();
  std::string status = out.substr(out.rfind('\r') + 1);
  status.resize(status.size() - 3);  // the erase-line sequence
  EXPECT_LE(status.size(), 39u) << status;
  EXPECT_EQ(status, "[0/4 0s] 4 running: alpha, beta, +2") << status;
}

// A status line wider than the terminal wraps, and each redraw (carriage return, erase line) then leaves
// the wrapped part behind: whatever the counts and the names, it never takes more than the width.
TEST_F(ConsoleTest, StatusLineNeverWrapsEvenWithManyOutcomesOnANarrowTerminal) {
  for (const char* n : {"e1", "e2", "e3", "e4"}) addTest(m_, n);
  for (int columns : {20, 30, 40, 60}) {
    opts_.status_line = true;
    opts_.color = true;  // the escapes take no columns
    opts_.columns = columns;
    Console& c = console(8);
    c.testFinished(0, finished(Outcome::Pass, 0, 10));
    c.testFinished(1, finished(Outcome::Fail, 0, 10, 1));
    c.testFinished(2, finished(Outcome::Skip, 0, 10, 77));
    c.testFinished(3, finished(Outcome::Timeout, 0, 10));
    c.testFinished(4, finished(Outcome::Crash, 0, 10));
    c.testStarted(5, "u5", 0);
    c.testStarted(6, "u6", 1);
    now_us_ = 3'725'000'000;  // 1h02m
    c.tick();
    std::string out = text();
    std::string status = out.substr(out.rfind('\r') + 1);
    status = std::regex_replace(status, std::regex("\x1b\\[[0-9;]*[mK]"), "");
    EXPECT_LE(status.size(), size_t(columns - 1)) << columns << " columns: " << status;
    EXPECT_EQ(status.rfind("[5/8 1h02m", 0), 0u) << columns << " columns: " << status;
    TearDown();
    console_.reset();
    out_ = nullptr;
    buf_ = nullptr;
    size_ = 0;
    now_us_ = 0;
  }
}

TEST_F(ConsoleTest, ColourPaintsOutcomesOnlyWhenAskedFor) {
  opts_.color = true;
  Console& c = console();
  c.testFinished(0, finished(Outcome::Pass, 0, 10));
  c.testFinished(1, finished(Outcome::Fail, 0, 10, 1));
  std::string out = text();
  EXPECT_TRUE(has(out, "\x1b[32mPASS\x1b[0m")) << out;
  EXPECT_TRUE(has(out, "\x1b[1;31mFAIL\x1b[0m")) << out;
}

TEST_F(ConsoleTest, SlowLinesComeAfterEachPeriodOfTheThreshold) {
  opts_.slow_us = 60'000'000;
  Console& c = console();
  c.testStarted(0, "u0", 0);
  now_us_ = 59'000'000;
  c.tick();
  EXPECT_FALSE(has(text(), "SLOW")) << text();
  now_us_ = 61'000'000;
  c.tick();
  c.tick();
  EXPECT_TRUE(has(text(), "[0/4] SLOW    alpha (running for 1m01s)\n")) << text();
  now_us_ = 121'000'000;
  c.tick();
  EXPECT_TRUE(has(text(), "SLOW    alpha (running for 2m01s)")) << text();
  size_t n = 0;
  for (size_t p = 0; (p = text().find("SLOW", p)) != std::string::npos; ++p) ++n;
  EXPECT_EQ(n, 2u) << text();
}

TEST_F(ConsoleTest, AFailureShowsItsExitCodeOutputAndRerunCommand) {
  dir_.write("logs/beta.log", "line 1\nwhy it failed\n");
  m_.tests[1].name = "suite.beta (x)";
  Console& c = console();
  c.testFinished(1, finished(Outcome::Fail, 0, 12'000, 3, "logs/beta.log"));
  std::string out = text();
  EXPECT_TRUE(has(out, "[1/4] FAIL    suite.beta (x) (12ms)  exit 3\n")) << out;
  EXPECT_TRUE(has(out, "--- output of suite.beta (x) ---\nline 1\nwhy it failed\n")) << out;
  EXPECT_TRUE(has(out, "  rerun: mpexec --filter '^suite\\.beta \\(x\\)$' m.json\n")) << out;
}

TEST_F(ConsoleTest, ALongOutputShowsItsLastLinesAndWhereTheRestIs) {
  std::string log;
  for (int i = 0; i < 1000; ++i) log += "line " + std::to_string(i) + "\n";
  dir_.write("logs/alpha.log", log);
  Console& c = console();
  c.testFinished(0, finished(Outcome::Fail, 0, 10, 1, "logs/alpha.log"));
  std::string out = text();
  EXPECT_TRUE(has(out, "--- output of alpha (its last lines; all 8.7 KiB in logs/alpha.log) ---\nline 800\n")) << out;
  EXPECT_TRUE(has(out, "line 999\n")) << out;
  EXPECT_FALSE(has(out, "line 799\n")) << out;
}

TEST_F(ConsoleTest, SkipReasonIsTheExitCodeAndTheLastLinePrinted) {
  dir_.write("logs/gamma.log", "checking\n  no GPU on this host  \n\n");
  TestRecord r = finished(Outcome::Skip, 0, 10, 77, "logs/gamma.log");
  EXPECT_EQ(skipReason(r, dir_.path()), "exit 77: no GPU on this host");
  r.reason = "skip regex matched";
  EXPECT_EQ(skipReason(r, dir_.path()), "skip regex matched");
  Console& c = console();
  c.testFinished(2, finished(Outcome::Skip, 0, 10, 77, "logs/gamma.log"));
  EXPECT_TRUE(has(text(), "SKIP    gamma (0ms)  exit 77: no GPU on this host")) << text();
}

TEST_F(ConsoleTest, InterruptedComesFirstAndWhatDidNotRunIsNoFailure) {
  Console& c = console();
  ScheduleResult result;
  result.records.resize(4);
  result.records[0] = finished(Outcome::Pass, 0, 10);
  result.records[1] = finished(Outcome::Fail, 0, 10, 1);
  result.records[2].outcome = Outcome::NotRun;
  result.records[2].reason = "interrupted";
  result.records[3].outcome = Outcome::NotRun;
  result.records[3].reason = "interrupted";
  result.interrupted = true;
  SummaryHeadline headline;
  headline.interrupt_signal = SIGINT;
  c.summary(m_, {0, 1, 2, 3}, result, 1000, headline, {"np 2"});
  std::string out = text();
  EXPECT_EQ(out.find("\nINTERRUPTED by signal 2 (SIGINT): every running unit was killed; 2 tests not run\n"), 0u) << out;
  size_t failures = out.find("Failures:");
  ASSERT_NE(failures, std::string::npos) << out;
  EXPECT_FALSE(has(out.substr(failures), "gamma")) << "NOT_RUN listed as a failure:\n" << out;
  EXPECT_FALSE(has(out.substr(failures), "NOT_RUN    ")) << out;
  EXPECT_TRUE(has(out, "FAIL    beta  exit 1\n")) << out;
  EXPECT_TRUE(has(out, "4 tests: 1 PASS, 1 FAIL, 2 NOT_RUN\n")) << out;
  EXPECT_LT(out.find("INTERRUPTED"), out.find("Slowest:")) << out;
}

TEST_F(ConsoleTest, RetriesKeepDurationsAndTheSumCountsEveryAttempt) {
  Console& c = console();
  ScheduleResult result;
  result.records.resize(4);
  TestRecord flaky = finished(Outcome::Flaky, 300'000, 500'000);
  flaky.attempts = 2;
  flaky.earlier.push_back(finished(Outcome::Fail, 0, 250'000, 1));
  result.records[0] = flaky;
  c.summary(m_, {0}, result, 600'000, {}, {});
  std::string out = text();
  // Ranked by its last attempt, as the reports time it, and saying what every attempt took.
  EXPECT_TRUE(has(out, "Slowest:\n      200ms  alpha (attempt 2; 450ms over 2 attempts)\n")) << out;
  EXPECT_TRUE(has(out, "sum of test times 450ms")) << out;
}

TEST_F(ConsoleTest, AFlakyTestEndsItsRetryLinesOnATerminal) {
  opts_.status_line = true;
  Console& c = console();
  c.testStarted(0, "u0", 0);
  TestRecord first = finished(Outcome::Fail, 0, 250'000, 1);
  c.testRetried(0, first);
  c.testStarted(0, "u0", 0);
  TestRecord flaky = finished(Outcome::Flaky, 300'000, 500'000);
  flaky.attempts = 2;
  flaky.earlier.push_back(first);
  c.testFinished(0, flaky);
  std::string out = text();
  EXPECT_TRUE(has(out, "[0/4] RETRY   alpha (250ms)  attempt 1 FAIL: exit 1, retrying\n")) << out;
  EXPECT_TRUE(has(out, "[1/4] FLAKY   alpha (200ms, attempt 2)  passed on attempt 2\n")) << out;
}

TEST_F(ConsoleTest, AFailureAfterRetriesSaysWhichAttemptItsTimeIs) {
  Console& c = console();
  TestRecord last = finished(Outcome::Fail, 300'000, 305'000, 3);
  last.attempts = 3;
  last.earlier.push_back(finished(Outcome::Fail, 0, 31'000, 3));
  last.earlier.push_back(finished(Outcome::Fail, 100'000, 118'000, 3));
  c.testFinished(0, last);
  EXPECT_TRUE(has(text(), "[1/4] FAIL    alpha (5ms, attempt 3)  exit 3\n")) << text();
}

TEST_F(ConsoleTest, TheSummaryListsFlakyTestsAndTheirFailedAttemptsEvenWithQuiet) {
  opts_.verbosity = 0;
  Console& c = console();
  ScheduleResult result;
  result.records.resize(4);
  TestRecord flaky = finished(Outcome::Flaky, 300'000, 500'000);
  flaky.attempts = 3;
  TestRecord a1 = finished(Outcome::Fail, 0, 100'000, 1);
  TestRecord a2 = finished(Outcome::Timeout, 100'000, 200'000);
  a2.attempts = 2;
  a2.reason = "timed out after 0.1s";
  flaky.earlier = {a1, a2};
  result.records[0] = flaky;
  result.records[1] = finished(Outcome::Pass, 0, 10);
  c.summary(m_, {0, 1}, result, 600'000, {}, {});
  std::string out = text();
  EXPECT_TRUE(has(out, "Flaky:\n  alpha  passed on attempt 3; attempt 1 FAIL: exit 1; attempt 2 TIMEOUT: timed out after 0.1s\n"))
      << out;
  EXPECT_TRUE(has(out, "2 tests: 1 PASS, 1 FLAKY\n")) << out;
}

TEST_F(ConsoleTest, NamesAndOutputAreShownEscaped) {
  dir_.write("logs/delta.log", "\x1b]0;title\x07 and \x1b]52;c;eA==\x07\n");
  m_.tests[3].name = "Evil.Case\x1b[2J";
  Console& c = console();
  c.testFinished(3, finished(Outcome::Fail, 0, 10, 1, "logs/delta.log"));
  std::string out = text();
  EXPECT_FALSE(has(out, "\x1b")) << out;
  EXPECT_TRUE(has(out, "Evil.Case\\x1b[2J")) << out;
  EXPECT_TRUE(has(out, "\\x1b]0;title\\x07 and \\x1b]52;c;eA==\\x07")) << out;
}

TEST_F(ConsoleTest, ALeakSaysHowManyProcessesTheUnitLeftRunning) {
  Console& c = console();
  Unit free_unit{"u0", "alpha", "", Strategy::Free, {0}};
  Unit group_unit{"u3", "db", "db", Strategy::Serial, {2, 3}};
  c.unitLeaked(free_unit, 1);
  c.unitLeaked(group_unit, 3);
  EXPECT_TRUE(has(text(), "[0/4] LEAK    alpha: 1 process still running after its last command, killed\n")) << text();
  EXPECT_TRUE(has(text(), "[0/4] LEAK    group db (unit u3): 3 processes still running after its last command, killed\n")) << text();
}

TEST(ShellQuote, QuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(shellQuote("build/mpexec"), "build/mpexec");
  EXPECT_EQ(shellQuote("a b"), "'a b'");
  EXPECT_EQ(shellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(shellQuote(""), "''");
  EXPECT_EQ(shellQuote(std::string("a\0b", 3)), std::string("'a\0b'", 5)) << "a NUL is no safe character";
  EXPECT_EQ(regexEscape("a.b[c]*(d)|e^$\\"), "a\\.b\\[c\\]\\*\\(d\\)\\|e\\^\\$\\\\");
}

}  // namespace
}  // namespace mpexec
