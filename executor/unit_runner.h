#pragma once
// The seam between deciding and running (ninja's CommandRunner): the scheduler starts units on slots and
// hears back; how a unit runs (sandbox, plain processes, a fake in tests) is the runner's business.

#include <cstddef>
#include <string>
#include <vector>

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
};

class UnitRunner {
 public:
  virtual ~UnitRunner() = default;
  /// Starts plan unit `unit` on `slot`. A unit that cannot start still ends with events: its tests
  /// finish as ERROR, then UnitFinished.
  virtual void start(size_t unit, int slot) = 0;
  /// Blocks until there are events, or until the interrupt fd given at construction is readable (then it
  /// may return none). Appends to `out`.
  virtual void wait(std::vector<RunnerEvent>& out) = 0;
  /// Kills every running unit and reaps it before returning. No events follow for those units.
  virtual void killAll() = 0;
};

}  // namespace mpexec
