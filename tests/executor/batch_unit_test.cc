// A batch unit's IO: each process's files, output lines turned into events, each finished test's log.

#include "executor/batch_unit.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <gtest/gtest.h>
#include <re2/re2.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "executor/local_runner.h"
#include "tests/support/manifest_builder.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

class BatchUnitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* id : {"a", "b", "c"}) {
      test::addTest(m_, id, "g", Strategy::Serial);
      m_.tests.back().cmd.clear();
      m_.tests.back().id = id;
      m_.tests.back().settings.timeout_s = 2;
    }
    spec_.cmd = {"/bin/runner", "{ids}"};
    paths_.run_dir = dir_.path();
    paths_.logs_dir = dir_.path() + "/logs";
    paths_.log_prefix = "logs";
    mkdir(paths_.logs_dir.c_str(), 0755);
    mkdir((dir_.path() + "/out").c_str(), 0755);
    mkdir((dir_.path() + "/out/u").c_str(), 0755);
    logs_fd_.reset(open(paths_.logs_dir.c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
    site_.logs_dir_fd = logs_fd_.get();
  }
  static LinePattern pattern(const std::string& text) { return {text, std::make_shared<re2::RE2>(text)}; }
  BatchUnit unit(std::vector<size_t> tests, int attempt = 1) {
    sandbox::CommandSpec base;
    base.role = sandbox::Role::Batch;
    base.env = {"MPEXEC_SLOT="};
    return BatchUnit(site_, spec_, 7, "u", std::move(tests), attempt, base,
                     UniqueFd(open((dir_.path() + "/out/u").c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC)));
  }
  std::string read(const std::string& path) {
    std::ifstream in(dir_.path() + "/" + path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  void append(const std::string& log, const std::string& text) {
    std::ofstream(dir_.path() + "/logs/" + log, std::ios::app) << text;
  }
  static sandbox::Event exited(int status) {
    sandbox::Event ev;
    ev.kind = sandbox::Event::Kind::Exited;
    ev.wait_status = status;
    ev.mono_ns = monotonicNs();
    return ev;
  }
  static const RunnerEvent* find(const std::vector<RunnerEvent>& out, RunnerEvent::Kind kind, size_t test) {
    auto it = std::find_if(out.begin(), out.end(), [&](const RunnerEvent& e) { return e.kind == kind && e.test == test; });
    return it == out.end() ? nullptr : &*it;
  }

  Manifest m_;
  BatchSpec spec_;
  test::TempDir dir_;
  RunPaths paths_;
  UniqueFd logs_fd_;
  RunClock clock_;
  BatchSite site_{m_, paths_, -1, clock_,  // logs_dir_fd: SetUp()'s
                 nullptr, [](size_t t, int attempt) {
                    return std::string(1, char('a' + t)) + (attempt > 1 ? "~attempt" + std::to_string(attempt) : "") + ".log";
                  }};
};

TEST_F(BatchUnitTest, TheFirstProcessGetsItsIdsFileCommandAndLog) {
  BatchUnit u = unit({0, 1, 2});
  sandbox::CommandSpec c;
  ASSERT_EQ(u.startFirst(c), std::nullopt);
  EXPECT_EQ(u.process(), 1u);
  EXPECT_EQ(c.argv, (std::vector<std::string>{"/bin/runner", "a", "b", "c"}));
  EXPECT_EQ(read("out/u/batch.1.ids"), "a\nb\nc\n");
  EXPECT_EQ(c.log_name, "u.batch.1.log");
  EXPECT_EQ(c.timeout_ms, 6000) << "the sum of the tests' timeouts";
  const std::string out = dir_.path() + "/out/u/";
  EXPECT_NE(std::find(c.env.begin(), c.env.end(), "MPEXEC_BATCH_IDS_FILE=" + out + "batch.1.ids"), c.env.end());
  EXPECT_NE(std::find(c.env.begin(), c.env.end(), "MPEXEC_BATCH_JUNIT=" + out + "batch.1.junit.xml"), c.env.end());
  EXPECT_NE(std::find(c.env.begin(), c.env.end(), "MPEXEC_BATCH_PROCESS=1"), c.env.end());
  struct stat st;
  EXPECT_EQ(stat((dir_.path() + "/logs/u.batch.1.log").c_str(), &st), 0) << "its log is made before it starts";
}

TEST_F(BatchUnitTest, WithoutItsOutputDirectoryNoProcessStarts) {
  sandbox::CommandSpec base;
  BatchUnit u(site_, spec_, 7, "u", {0}, 1, base, UniqueFd());
  sandbox::CommandSpec c;
  auto why = u.startFirst(c);
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("cannot open the unit's output directory"), std::string::npos) << *why;
}

TEST_F(BatchUnitTest, LinesStartTestsAndEachTestsLogIsItsSliceOfTheOutput) {
  spec_.lines.started = pattern("^START (\\S+)$");
  spec_.lines.pass = pattern("^PASS (\\S+)$");
  BatchUnit u = unit({0, 1});
  sandbox::CommandSpec c;
  ASSERT_EQ(u.startFirst(c), std::nullopt);
  ASSERT_TRUE(u.readsLines());
  std::vector<RunnerEvent> out;
  append("u.batch.1.log", "START a\nsaid by a\nPASS a\nSTART b\r\nsaid by b\nPASS b");
  u.lines(false, out);
  ASSERT_NE(find(out, RunnerEvent::Kind::TestStarted, 0), nullptr);
  ASSERT_NE(find(out, RunnerEvent::Kind::TestStarted, 1), nullptr) << "a CRLF line matches too";
  EXPECT_EQ(find(out, RunnerEvent::Kind::TestFinished, 0), nullptr) << "a line's outcome waits for the process's end";
  for (const RunnerEvent& e : out) EXPECT_EQ(e.unit, 7u);

  out.clear();
  u.lines(true, out);  // the last line, without its newline
  EXPECT_EQ(u.ended(exited(W_EXITCODE(0, 0)), out), std::nullopt) << "every test has its outcome: no next process";
  const RunnerEvent* a = find(out, RunnerEvent::Kind::TestFinished, 0);
  const RunnerEvent* b = find(out, RunnerEvent::Kind::TestFinished, 1);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->record.outcome, Outcome::Pass);
  EXPECT_EQ(b->record.outcome, Outcome::Pass);
  EXPECT_EQ(a->record.log, "logs/a.log");
  EXPECT_EQ(a->record.attempts, 1);
  EXPECT_EQ(read("logs/a.log"), "START a\nsaid by a\nPASS a\n");
  EXPECT_NE(read("logs/b.log").find("said by b"), std::string::npos);
  EXPECT_EQ(read("logs/b.log").find("said by a"), std::string::npos);
}

TEST_F(BatchUnitTest, ACrashSendsTheRestToANextProcessWithFilesOfItsOwn) {
  spec_.lines.started = pattern("^START (\\S+)$");
  BatchUnit u = unit({0, 1, 2});
  sandbox::CommandSpec c;
  ASSERT_EQ(u.startFirst(c), std::nullopt);
  append("u.batch.1.log", "START a\n");
  std::vector<RunnerEvent> out;
  u.lines(true, out);
  auto next = u.ended(exited(SIGSEGV), out);
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(u.process(), 2u);
  EXPECT_EQ(next->argv, (std::vector<std::string>{"/bin/runner", "b", "c"}));
  EXPECT_EQ(next->log_name, "u.batch.2.log");
  EXPECT_EQ(read("out/u/batch.2.ids"), "b\nc\n");
  const RunnerEvent* a = find(out, RunnerEvent::Kind::TestFinished, 0);
  ASSERT_NE(a, nullptr);
  EXPECT_NE(a->record.outcome, Outcome::Pass);
  EXPECT_EQ(find(out, RunnerEvent::Kind::TestFinished, 1), nullptr);
}

TEST_F(BatchUnitTest, ARetryNamesItsFilesByAttemptAndItsSlotIsFilledIn) {
  BatchUnit u = unit({1}, 2);
  u.slotKnown(3);
  sandbox::CommandSpec c;
  ASSERT_EQ(u.startFirst(c), std::nullopt);
  EXPECT_EQ(c.log_name, "u.batch.1.attempt2.log");
  EXPECT_EQ(read("out/u/batch.1.attempt2.ids"), "b\n");
  EXPECT_NE(std::find(c.env.begin(), c.env.end(), "MPEXEC_SLOT=3"), c.env.end());
  std::vector<RunnerEvent> out;
  u.abandon("the unit ended early", out);
  const RunnerEvent* b = find(out, RunnerEvent::Kind::TestFinished, 1);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->record.outcome, Outcome::Error);
  EXPECT_NE(b->record.reason.find("the unit ended early"), std::string::npos) << b->record.reason;
  EXPECT_EQ(b->record.log, "logs/b~attempt2.log");
  EXPECT_EQ(b->record.attempts, 2);
}

TEST_F(BatchUnitTest, TheDeadlineIsToldOnlyWhenItMoves) {
  BatchUnit u = unit({0, 1});
  EXPECT_EQ(u.movedDeadlineNs(), std::nullopt) << "no process yet";
  sandbox::CommandSpec c;
  ASSERT_EQ(u.startFirst(c), std::nullopt);
  u.processStarted(1000);
  auto first = u.movedDeadlineNs();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, clock_.start_ns + (1000 + 4'000'000) * int64_t(1000));
  EXPECT_EQ(u.movedDeadlineNs(), std::nullopt);
  LiveReport rep;
  rep.unit = "u";
  rep.process = 1;
  rep.started = true;
  rep.test = 0;
  rep.at_us = 5000;
  std::vector<RunnerEvent> out;
  u.report(rep, out);
  ASSERT_NE(find(out, RunnerEvent::Kind::TestStarted, 0), nullptr);
  auto moved = u.movedDeadlineNs();
  ASSERT_TRUE(moved.has_value());
  EXPECT_NE(*moved, *first);
}

}  // namespace
}  // namespace mpexec
