#include "executor/scheduler.h"

#include <gtest/gtest.h>

#include "executor/history.h"
#include "tests/support/fake_runner.h"
#include "tests/support/manifest_builder.h"

namespace mpexec {
namespace {

using test::addTest;
using test::FakeRunner;

struct FakeRun {
  Manifest m;
  Plan plan;
  std::map<size_t, FakeRunner::Script> scripts;
  std::unique_ptr<FakeRunner> runner;
  ScheduleResult result;

  void go(int slots, int max_fail = 0, int64_t interrupt_at = -1, int retries = 0, bool last_run = true) {
    plan = makePlan(m, History{}, {});
    runner = std::make_unique<FakeRunner>(plan, scripts);
    runner->interrupt_at_us = interrupt_at;
    SchedulerOptions o;
    o.slots = slots;
    o.max_fail = max_fail;
    o.retries = retries;
    o.last_run = last_run;
    FakeRunner* r = runner.get();
    o.interrupted = [r] { return r->interrupted; };
    Scheduler s(plan, m.tests.size(), *runner, o);
    result = s.run([r] { return r->now(); });
  }
};

TEST(SchedulerTest, NeverMoreThanNUnitsAndEveryTestRuns) {
  FakeRun r;
  for (int i = 0; i < 20; ++i) {
    addTest(r.m, "t" + std::to_string(i));
    r.scripts[size_t(i)] = {1000 + i * 37, Outcome::Pass};
  }
  r.go(3);
  EXPECT_EQ(r.runner->maxConcurrent(), 3u);
  for (size_t t = 0; t < 20; ++t) EXPECT_EQ(r.result.records[t].outcome, Outcome::Pass);
  // Slots are 0..2 and one slot never holds two units at once.
  for (const auto& a : r.runner->spans()) {
    for (const auto& b : r.runner->spans()) {
      if (&a != &b && a.slot == b.slot) {
        EXPECT_TRUE(a.end_us <= b.start_us || b.end_us <= a.start_us);
      }
    }
  }
}

TEST(SchedulerTest, TheNextUnitsInLineArePreparedBeforeTheyStart) {
  FakeRun r;
  for (int i = 0; i < 9; ++i) {
    addTest(r.m, "t" + std::to_string(i));
    r.scripts[size_t(i)] = {1000 + i * 10, Outcome::Pass};
  }
  r.go(2);
  const auto& jobs = r.runner->jobs;
  ASSERT_EQ(jobs.size(), 9u);
  // Every unit after the first two (which start at once) was hinted while fewer jobs had started.
  for (size_t k = 2; k < jobs.size(); ++k) {
    bool hinted = false;
    for (auto [unit, started] : r.runner->hints) hinted |= unit == jobs[k].unit && started <= k;
    EXPECT_TRUE(hinted) << "job " << k << " (unit " << jobs[k].unit << ") was not prepared ahead";
  }
  // Never more than one hint per slot ahead of the queue: no unit beyond the next two is hinted.
  for (auto [unit, started] : r.runner->hints) {
    size_t position = 0;
    while (position < jobs.size() && jobs[position].unit != unit) ++position;
    EXPECT_LT(position, started + 2) << "unit " << unit << " hinted too early";
  }
  // Once when the last unit started (none is left to start), once at the end.
  EXPECT_EQ(r.runner->discards, 2);
}

// What a runner keeps for units to come (set up ahead, idle sandboxes) is let go as soon as the last unit has
// started, while the last units run; with another run of the plan to follow (--repeat), only at the end.
TEST(SchedulerTest, TheRunnerHearsThatNoUnitIsLeftWhenTheLastOneStarts) {
  for (bool last_run : {true, false}) {
    FakeRun r;
    for (int i = 0; i < 5; ++i) {
      addTest(r.m, "t" + std::to_string(i));
      r.scripts[size_t(i)] = {1000 + i * 10, Outcome::Pass};
    }
    r.go(2, 0, -1, 0, last_run);
    int64_t last_start = 0, end = 0;
    for (const auto& s : r.runner->spans()) {
      last_start = std::max(last_start, s.start_us);
      end = std::max(end, s.end_us);
    }
    ASSERT_FALSE(r.runner->discard_times.empty());
    if (last_run) {
      EXPECT_EQ(r.runner->discard_times.front(), last_start);
      EXPECT_LT(r.runner->discard_times.front(), end);
    } else {
      EXPECT_EQ(r.runner->discards, 1);
      EXPECT_EQ(r.runner->discard_times.front(), end);
    }
  }
}

// A retry started after that is a unit again: the runner is told once more when it has started.
TEST(SchedulerTest, ARetryAfterTheLastStartIsFollowedByAnotherNoneLeft) {
  FakeRun r;
  addTest(r.m, "a");
  addTest(r.m, "b");
  r.scripts[0] = {1000, Outcome::Pass};
  r.scripts[1] = {500, Outcome::Pass, 1};
  r.go(2, 0, -1, 1);
  ASSERT_EQ(r.runner->jobs.size(), 3u);
  EXPECT_EQ(r.runner->discards, 3);  // the two units started, the retry started, the end
  EXPECT_EQ(r.result.records[1].outcome, Outcome::Flaky);
}

TEST(SchedulerTest, MaxFailHintsNothingMoreAndDiscardsWhatWasPrepared) {
  FakeRun r;
  for (int i = 0; i < 10; ++i) addTest(r.m, "t" + std::to_string(i));
  r.scripts[0] = {100, Outcome::Fail};
  for (size_t t = 1; t < 10; ++t) r.scripts[t] = {1000, Outcome::Pass};
  r.go(2, 1);
  for (auto [unit, started] : r.runner->hints) EXPECT_LE(started, 2u) << "hint for unit " << unit << " after the stop";
  EXPECT_EQ(r.runner->discards, 1);
}

TEST(SchedulerTest, IsolatedUnitsNeverOverlapOtherGroups) {
  FakeRun r;
  for (int i = 0; i < 6; ++i) addTest(r.m, "free" + std::to_string(i));
  for (int i = 0; i < 4; ++i) addTest(r.m, "if" + std::to_string(i), "if", Strategy::IsolatedFree);
  for (int i = 0; i < 3; ++i) addTest(r.m, "is" + std::to_string(i), "is", Strategy::IsolatedSerial);
  addTest(r.m, "s0", "s", Strategy::Serial);
  for (size_t t = 0; t < r.m.tests.size(); ++t) r.scripts[t] = {int64_t(500 + 100 * t), Outcome::Pass};
  r.go(4);
  const auto& spans = r.runner->spans();
  auto groupOf = [&](size_t unit) { return r.plan.units[unit].group; };
  for (const auto& a : spans) {
    if (!isIsolated(r.plan.units[a.unit].strategy)) continue;
    for (const auto& b : spans) {
      if (&a == &b || groupOf(a.unit) == groupOf(b.unit)) continue;
      EXPECT_TRUE(a.end_us <= b.start_us || b.end_us <= a.start_us)
          << groupOf(a.unit) << " overlaps " << groupOf(b.unit);
    }
  }
  // The isolated_free window ran its four units at once; the serial window one unit.
  EXPECT_EQ(r.runner->maxConcurrent(), 4u);
  EXPECT_EQ(r.result.barriers.size(), 2u);
}

TEST(SchedulerTest, MaxFailStopsStartingAndMarksTheRestNotRun) {
  FakeRun r;
  for (int i = 0; i < 10; ++i) addTest(r.m, "t" + std::to_string(i));
  r.scripts[0] = {100, Outcome::Fail};
  for (size_t t = 1; t < 10; ++t) r.scripts[t] = {1000, Outcome::Pass};
  r.go(2, 1);
  EXPECT_TRUE(r.result.stopped_early);
  EXPECT_EQ(r.result.records[0].outcome, Outcome::Fail);
  EXPECT_EQ(r.result.records[1].outcome, Outcome::Pass);  // was running: it finishes
  size_t not_run = 0;
  for (size_t t = 2; t < 10; ++t) not_run += r.result.records[t].outcome == Outcome::NotRun;
  EXPECT_EQ(not_run, 8u);
}

TEST(SchedulerTest, InterruptKillsAndReportsEveryTest) {
  FakeRun r;
  for (int i = 0; i < 6; ++i) addTest(r.m, "t" + std::to_string(i));
  for (size_t t = 0; t < 6; ++t) r.scripts[t] = {1000, Outcome::Pass};
  r.go(2, 0, 1500);
  EXPECT_TRUE(r.result.interrupted);
  EXPECT_EQ(r.result.records[0].outcome, Outcome::Pass);
  for (size_t t = 2; t < 6; ++t) {
    EXPECT_EQ(r.result.records[t].outcome, Outcome::NotRun);
    EXPECT_EQ(r.result.records[t].reason, "interrupted");
  }
}

TEST(SchedulerTest, SerialGroupRunsInOneUnitInOrder) {
  FakeRun r;
  addTest(r.m, "a", "g", Strategy::Serial);
  addTest(r.m, "b", "g", Strategy::Serial);
  addTest(r.m, "c", "g", Strategy::Serial);
  r.go(4);
  EXPECT_EQ(r.runner->spans().size(), 1u);
  EXPECT_LE(r.result.records[0].end_us, r.result.records[1].start_us);
  EXPECT_LE(r.result.records[1].end_us, r.result.records[2].start_us);
  EXPECT_EQ(r.result.records[0].unit, r.result.records[2].unit);
}

TEST(SchedulerTest, RetriesTurnALaterPassIntoFlakyAndKeepTheFailedAttempt) {
  FakeRun r;
  addTest(r.m, "flaky");
  addTest(r.m, "broken");
  addTest(r.m, "fine");
  r.scripts[0] = {100, Outcome::Pass, 1};
  r.scripts[1] = {100, Outcome::Fail, 0};
  r.go(2, 0, -1, 2);
  EXPECT_EQ(r.result.records[0].outcome, Outcome::Flaky);
  EXPECT_EQ(r.result.records[0].attempts, 2);
  ASSERT_EQ(r.result.records[0].earlier.size(), 1u);
  EXPECT_EQ(r.result.records[0].earlier[0].outcome, Outcome::Fail);
  EXPECT_EQ(r.result.records[1].outcome, Outcome::Fail);
  EXPECT_EQ(r.result.records[1].attempts, 3);
  EXPECT_EQ(r.result.records[1].earlier.size(), 2u);
  EXPECT_EQ(r.result.records[2].outcome, Outcome::Pass);
  EXPECT_EQ(r.result.records[2].attempts, 1);
  EXPECT_EQ(r.result.failures, 1);
  // Retries rerun only the failed tests, with the attempt number.
  int retry_jobs = 0;
  for (const auto& job : r.runner->jobs)
    if (job.attempt > 1) {
      ++retry_jobs;
      EXPECT_EQ(job.tests.size(), 1u);
    }
  EXPECT_EQ(retry_jobs, 3);
}

// Each attempt keeps its own start and end: the final record is the last attempt's, the earlier ones are
// the failed attempts', so every duration in the reports and the summary is right (issue 21, item 7).
TEST(SchedulerTest, EveryAttemptKeepsItsOwnTimes) {
  FakeRun r;
  addTest(r.m, "flaky");
  r.scripts[0] = {300, Outcome::Pass, 2};
  r.go(1, 0, -1, 3);
  const TestRecord& final = r.result.records[0];
  EXPECT_EQ(final.outcome, Outcome::Flaky);
  ASSERT_EQ(final.earlier.size(), 2u);
  int64_t previous_end = 0;
  for (const TestRecord* a : {&final.earlier[0], &final.earlier[1], &final}) {
    EXPECT_GE(a->start_us, previous_end);
    EXPECT_EQ(a->end_us - a->start_us, 300);
    previous_end = a->end_us;
  }
}

TEST(SchedulerTest, WithoutRetriesAFlakyTestFails) {
  FakeRun r;
  addTest(r.m, "flaky");
  r.scripts[0] = {100, Outcome::Pass, 1};
  r.go(1);
  EXPECT_EQ(r.result.records[0].outcome, Outcome::Fail);
  EXPECT_EQ(r.result.failures, 1);
}

// --- resources ---

/// The most of `resource` held at once by the units the fake ran, and whether two units that overlapped
/// in time ever held the same instance.
struct Holding {
  int most = 0;
  bool shared = false;
};

Holding holding(const FakeRunner& runner, const std::string& resource) {
  const auto& spans = runner.spans();
  Holding h;
  auto held = [&](size_t i) {
    auto it = runner.jobs[i].resources.find(resource);
    return it == runner.jobs[i].resources.end() ? std::vector<int>{} : it->second;
  };
  for (size_t i = 0; i < spans.size(); ++i) {
    int at_start = 0;
    for (size_t j = 0; j < spans.size(); ++j) {
      bool overlap = spans[j].start_us <= spans[i].start_us && spans[i].start_us < spans[j].end_us;
      if (!overlap) continue;
      at_start += int(held(j).size());
      if (i == j) continue;
      for (int a : held(i))
        for (int b : held(j)) h.shared |= a == b;
    }
    h.most = std::max(h.most, at_start);
  }
  return h;
}

TEST(SchedulerTest, ThreeGpuTestsOnTwoGpusNeverOverlapBeyondTwo) {
  FakeRun r;
  r.m.resources = {{"gpu", 2}};
  for (int i = 0; i < 3; ++i) {
    addTest(r.m, "gpu" + std::to_string(i));
    r.m.tests.back().resources = {{"gpu", 1}};
    r.scripts[r.m.tests.size() - 1] = {10000, Outcome::Pass};
  }
  for (int i = 0; i < 6; ++i) {
    addTest(r.m, "cpu" + std::to_string(i));
    r.scripts[r.m.tests.size() - 1] = {3000, Outcome::Pass};
  }
  r.go(4);
  for (size_t t = 0; t < r.m.tests.size(); ++t) EXPECT_EQ(r.result.records[t].outcome, Outcome::Pass);
  Holding h = holding(*r.runner, "gpu");
  EXPECT_EQ(h.most, 2);
  EXPECT_FALSE(h.shared);
  // The slots did not idle meanwhile: the tests behind the waiting one went first.
  EXPECT_EQ(r.runner->maxConcurrent(), 4u);
  // The third GPU test waited from the start until the first GPU test ended, and is on record so.
  ASSERT_EQ(r.result.resource_waits.size(), 1u);
  const ResourceWait& w = r.result.resource_waits[0];
  EXPECT_EQ(r.plan.units[w.unit].name, "gpu2");
  EXPECT_EQ(w.start_us, 0);
  EXPECT_EQ(w.end_us, 10000);
  EXPECT_EQ(w.resources, (std::vector<std::string>{"gpu"}));
  EXPECT_TRUE(w.started);
  EXPECT_EQ(r.result.records[2].start_us, 10000);
  EXPECT_EQ(r.result.records[2].resources.at("gpu").size(), 1u);
}

TEST(SchedulerTest, ASerialUnitHoldsTheMostAnyOfItsCommandsNeedsForItsWholeLife) {
  FakeRun r;
  r.m.resources = {{"gpu", 3}, {"db", 1}};
  addTest(r.m, "s1", "s", Strategy::Serial);
  r.m.tests.back().resources = {{"gpu", 1}};
  addTest(r.m, "s2", "s", Strategy::Serial);
  r.m.tests.back().resources = {{"gpu", 2}};
  r.m.groups["s"].resources = {{"db", 1}};  // what its setup and teardown need
  addTest(r.m, "two", "", Strategy::Free);
  r.m.tests.back().resources = {{"gpu", 2}};
  for (size_t t = 0; t < 3; ++t) r.scripts[t] = {1000, Outcome::Pass};
  r.go(2);
  EXPECT_EQ(r.plan.units[0].resources, (ResourceCounts{{"db", 1}, {"gpu", 2}}));
  // 2 + 2 GPUs do not fit in 3: the free test waited for the whole serial unit, not just for s2.
  ASSERT_EQ(r.runner->jobs.size(), 2u);
  EXPECT_EQ(r.runner->jobs[0].resources, (ResourceInstances{{"db", {0}}, {"gpu", {0, 1}}}));
  EXPECT_EQ(r.runner->jobs[1].resources, (ResourceInstances{{"gpu", {0, 1}}}));
  EXPECT_EQ(r.result.records[2].start_us, 2000);
  EXPECT_EQ(holding(*r.runner, "gpu").most, 2);
}

TEST(SchedulerTest, UnitsThatNeedResourcesAreNotPreparedAhead) {
  FakeRun r;
  r.m.resources = {{"gpu", 1}};
  for (int i = 0; i < 4; ++i) {
    addTest(r.m, "t" + std::to_string(i));
    if (i % 2 == 0) r.m.tests.back().resources = {{"gpu", 1}};
  }
  r.go(1);
  for (const auto& [unit, started] : r.runner->hints) EXPECT_TRUE(r.plan.units[unit].resources.empty()) << unit;
  EXPECT_FALSE(r.runner->hints.empty());
}

TEST(SchedulerTest, ARetryTakesItsResourcesAgain) {
  FakeRun r;
  r.m.resources = {{"gpu", 1}};
  addTest(r.m, "flaky");
  r.m.tests.back().resources = {{"gpu", 1}};
  r.scripts[0] = {1000, Outcome::Pass, 1};
  addTest(r.m, "other");
  r.m.tests.back().resources = {{"gpu", 1}};
  r.scripts[1] = {1000, Outcome::Pass};
  r.go(2, 0, -1, /*retries=*/1);
  EXPECT_EQ(r.result.records[0].outcome, Outcome::Flaky);
  EXPECT_EQ(r.runner->jobs.size(), 3u);
  for (const UnitJob& j : r.runner->jobs) EXPECT_EQ(j.resources, (ResourceInstances{{"gpu", {0}}}));
  EXPECT_EQ(holding(*r.runner, "gpu").most, 1);
}

TEST(SchedulerTest, AWaitThatNeverStartedEndsWithTheRun) {
  FakeRun r;
  r.m.resources = {{"db", 1}};
  for (int i = 0; i < 3; ++i) {
    addTest(r.m, "db" + std::to_string(i));
    r.m.tests.back().resources = {{"db", 1}};
    r.scripts[size_t(i)] = {1000, Outcome::Fail};
  }
  r.go(3, /*max_fail=*/1);
  EXPECT_TRUE(r.result.stopped_early);
  ASSERT_EQ(r.result.resource_waits.size(), 2u);
  for (const ResourceWait& w : r.result.resource_waits) {
    EXPECT_FALSE(w.started);
    EXPECT_EQ(w.start_us, 0);
  }
  EXPECT_EQ(r.result.records[1].outcome, Outcome::NotRun);
}

}  // namespace
}  // namespace mpexec
