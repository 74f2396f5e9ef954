#pragma once
// The seam between deciding and running (ninja's CommandRunner): the scheduler starts units on slots and
// hears back; how a unit runs (sandbox, plain processes, a fake in tests) is the runner's business.

#include <cstddef>
#include <string>
#include <vector>

#include "executor/resources.h"
#include "executor/test_record.h"

namespace mpexec {

struct RunnerEvent {
  enum class Kind { TestStarted, TestFinished, UnitFinished };
  Kind kind = Kind::TestFinished;
  size_t unit = 0;  ///< index into Plan::units
  size_t test = 0;  ///< index into Manifest::tests (TestStarted, TestFinished)
  int64_t at_us = 0;     ///< when (TestStarted, UnitFinished)
  TestRecord record;     ///< TestFinished: outcome, codes, times, log; unit and slot are the scheduler's
  std::string problem;   ///< UnitFinished: what went wrong with the unit itself (teardown, sandbox), if anything
  uint32_t leaked = 0;   ///< UnitFinished: its processes still running after its last command, killed
};

/// One run of a unit: all its tests on the first attempt, the failed ones again on a retry.
struct UnitJob {
  size_t unit = 0;            ///< index into Plan::units
  int slot = 0;
  std::vector<size_t> tests;  ///< indices into Manifest::tests, a subsequence of the unit's
  int attempt = 1;
  /// The resource instances the scheduler gave the unit for this run (Unit::resources' worth); each
  /// command is told its share (shareOf) in MPEXEC_RESOURCE_<NAME>.
  ResourceInstances resources = {};
};

class UnitRunner {
 public:
  virtual ~UnitRunner() = default;
  /// Starts the job. A unit that cannot start still ends with events: its tests finish as ERROR, then
  /// UnitFinished.
  virtual void start(const UnitJob& job) = 0;
  /// Blocks until there are events, or until the interrupt fd given at construction is readable (then it
  /// may return none). Appends to `out`.
  virtual void wait(std::vector<RunnerEvent>& out) = 0;
  /// Kills every running unit and reaps it before returning. No events follow for those units.
  virtual void killAll() = 0;
  /// A hint: `job` (its slot not yet known) is near the front of the queue. A runner may set its unit up
  /// now so that start() only has to let it go. Repeated hints for the same job are cheap.
  virtual void prepare(const UnitJob& job) { (void)job; }
  /// Drops whatever prepare() set up and start() did not take, and whatever it keeps for units to come: the
  /// run stopped starting units, or has none left to start (a start() may still follow, for a retry).
  virtual void discardPrepared() {}
};

}  // namespace mpexec
