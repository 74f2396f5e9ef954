#pragma once
// The dispatch loop (DESIGN §3): phases in order, each behind a barrier, at most N units at once, and never
// more of a resource taken than exist (executor/resources.h).

#include <deque>
#include <functional>
#include <vector>

#include "executor/plan.h"
#include "executor/test_record.h"
#include "executor/unit_runner.h"

namespace mpexec {

struct SchedulerOptions {
  int slots = 1;
  int max_fail = 0;  ///< stop starting units after this many failed tests; 0: never
  int retries = 0;   ///< rerun a failing test up to this many times; a later pass is FLAKY
  /// No run of the plan follows this one (--repeat): once the last phase has nothing left to start, the
  /// runner is told so (UnitRunner::discardPrepared) while its last units run. Otherwise only at the end.
  bool last_run = true;
  /// Polled after every wake-up: true once the run must stop (SIGINT/SIGTERM).
  std::function<bool()> interrupted = [] { return false; };
};

/// Hears what happens, for the terminal and the trace. All calls come from the scheduler's thread.
class SchedulerObserver {
 public:
  virtual ~SchedulerObserver() = default;
  virtual void testStarted(size_t /*test*/, const std::string& /*unit*/, int /*slot*/) {}
  /// The final result of a test (after its last attempt).
  virtual void testFinished(size_t /*test*/, const TestRecord&) {}
  /// An attempt failed and the test will run again (--retries).
  virtual void testRetried(size_t /*test*/, const TestRecord&) {}
  virtual void unitFinished(size_t /*unit*/, const std::string& /*problem*/) {}
  /// The unit left `processes` running after its last command; they were killed.
  virtual void unitLeaked(const Unit& /*unit*/, uint32_t /*processes*/) {}
  virtual void barrier(int64_t /*at_us*/) {}
  /// After every wake-up of the dispatch loop (at least every LocalRunnerOptions::tick_ms when set).
  virtual void tick() {}
};

struct Barrier {
  int64_t start_us;  ///< when the window (or pool) before it stopped starting units
  int64_t end_us;    ///< when its last unit ended
};

/// One run of a unit on a slot, for the timelines: from when the scheduler started it (sandbox set-up
/// included) to when the runner said it had ended (teardown included).
struct UnitRun {
  size_t unit = 0;  ///< index into Plan::units
  int slot = 0;
  int attempt = 1;
  int64_t start_us = 0;
  int64_t end_us = -1;  ///< -1: it never ended (the run was interrupted)
  ResourceInstances resources = {};  ///< the resource instances it held
};

/// A unit that a free slot could have started but whose resources were taken: from the first time the
/// scheduler passed it over to the moment it started (or the run stopped starting units).
struct ResourceWait {
  size_t unit = 0;  ///< index into Plan::units
  int attempt = 1;
  int64_t start_us = 0;
  int64_t end_us = 0;
  std::vector<std::string> resources = {};  ///< those it was short of when the wait began
  bool started = true;                 ///< false: it never started (interrupted, --max-fail)
};

struct ScheduleResult {
  std::vector<TestRecord> records;  ///< indexed like Manifest::tests; NOT_RUN for what never ran
  std::vector<std::string> unit_problems;  ///< indexed like Plan::units
  std::vector<uint32_t> unit_leaks;  ///< indexed like Plan::units: processes left running, over all its runs
  std::vector<Barrier> barriers;
  std::vector<UnitRun> unit_runs;  ///< in start order
  std::vector<ResourceWait> resource_waits;  ///< in the order they ended
  bool interrupted = false;
  bool stopped_early = false;  ///< --max-fail reached
  int failures = 0;
};

class Scheduler {
 public:
  Scheduler(const Plan& plan, size_t test_count, UnitRunner& runner, SchedulerOptions opts,
            SchedulerObserver* observer = nullptr);
  /// Runs the whole plan. Tests that never finish are NOT_RUN with a reason.
  ScheduleResult run(std::function<int64_t()> now_us);

 private:
  /// Applies one event; a finished unit's failing tests may come back as a retry job.
  void handle(const RunnerEvent& ev, std::vector<int>& free_slots, size_t& running, std::deque<UnitJob>& queue);
  /// A free slot passed `job` over because its resources are taken: its wait begins, unless it has.
  void waitForResources(const UnitJob& job, int64_t now);
  /// Ends the wait of `unit` (if it has one) at `at`.
  void endWait(size_t unit, int64_t at, bool started);

  const Plan& plan_;
  UnitRunner& runner_;
  SchedulerOptions opts_;
  SchedulerObserver* observer_;
  ScheduleResult result_;
  std::vector<int> unit_slot_;
  std::vector<UnitJob> job_of_unit_;  ///< the job each running unit is on
  std::vector<size_t> run_of_unit_;   ///< index into result_.unit_runs of each running unit
  std::vector<int64_t> started_us_;   ///< by test: when its running attempt started; -1 when none runs
  ResourcePool resources_;
  std::vector<ResourceWait> waits_;  ///< per unit: its open resource wait (start_us -1: none)
};

}  // namespace mpexec
