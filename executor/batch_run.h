#pragma once
// One job of a batch unit (docs/executor.md, "Batch units"): which tests each of its batch processes gets,
// what the channels (live reports, output lines, the JUnit file) say about them, when the process must
// end, and each test's outcome once its process has ended. No IO: the runner starts the processes, reads
// their files and writes the tests' logs.

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "executor/junit_reader.h"
#include "executor/manifest.h"
#include "executor/test_record.h"
#include "sync-service/results.h"

namespace mpexec {

/// How a batch process ended.
struct BatchProcessEnd {
  enum class How { Exited, SpawnFailed };
  How how = How::Exited;
  int wait_status = 0;
  bool timed_out = false;  ///< killed at the deadline
  std::string detail;      ///< SpawnFailed: the step and error
};

/// One test's end: the runner writes its log and reports it.
struct BatchResult {
  size_t test = 0;
  TestRecord record;        ///< outcome, exit_code, signal, reason, start_us, end_us, note
  bool announce = false;    ///< no TestStarted was sent for it: send one (at record.start_us) first
  std::string text;         ///< its log: this text, after the slice below when there is one
  int64_t slice_from = -1;  ///< a range of its process's output that goes first in its log (-1: none)
  int64_t slice_to = -1;    ///< -1: to the end of the output
};

/// What a report changed, for the scheduler.
struct BatchEvents {
  std::vector<std::pair<size_t, int64_t>> started;  ///< test, at_us
  std::vector<BatchResult> finished;
};

class BatchRun {
 public:
  /// `tests` of the job, in manifest order, from `m`'s batch group; `alone`: each test in a process of its
  /// own (a retry).
  BatchRun(const Manifest& m, std::vector<size_t> tests, bool alone);

  /// Makes the next process: its tests, in order; empty once every test has its outcome.
  const std::vector<size_t>& startNext(int64_t at_us);
  /// The current process's number (1, 2, ...) and tests.
  uint32_t process() const { return process_; }
  const std::vector<size_t>& current() const { return current_; }
  /// The current process's ids, in order (what its JUnit file is read for).
  std::vector<std::string> currentIds() const;
  /// Whether every test has its outcome (no process runs or is to come).
  bool done() const { return current_.empty() && pending_.empty() && alone_.empty(); }

  /// The init's word that the process started.
  void processStarted(int64_t at_us);
  /// A test started (live, or a `started` line: that also ends the clock of a test an earlier line started).
  void started(size_t test, int64_t at_us, int64_t offset, bool from_line, BatchEvents& out);
  /// A live finish: the test's outcome, reported at once.
  void finished(size_t test, const sync::FinishedResult& r, int64_t at_us, int64_t offset, BatchEvents& out);
  /// A pass/fail/skip/error line: ends the test's clock; its outcome counts if no other channel reports it.
  void lineFinished(size_t test, Outcome o, int64_t at_us, int64_t end_offset);
  /// When the process must end (RunClock µs).
  int64_t deadlineUs() const;

  /// The process ended (at `at_us`): its tests get their outcomes, or a place in a later process.
  /// `junit` is its file if there was one (`junit_problem` says why it could not be read, if so); `log` is
  /// how reasons name its output.
  void ended(const BatchProcessEnd& end, int64_t at_us, const JunitFile* junit, const std::string& junit_problem,
             const std::string& log, BatchEvents& out);
  /// Every test without an outcome, current or to come, is ERROR with `why` (a failed setup, a lost unit).
  void abandon(const std::string& why, BatchEvents& out);

 private:
  struct Slot {  ///< a test of the current process
    size_t test = 0;
    int64_t start_us = -1, end_us = -1;
    int64_t start_off = -1, end_off = -1;
    bool by_line = false;   ///< started by a line
    bool reported = false;  ///< by the live channel: already in BatchEvents
    std::optional<Outcome> line_outcome;
  };
  Slot* slot(size_t test);
  int64_t timeoutUs(size_t test) const;
  /// Marks the report as the latest of the process (a test without a start began there).
  void reportAt(int64_t at_us, int64_t offset);

  const Manifest& m_;
  std::vector<size_t> current_;
  std::vector<Slot> slots_;
  std::unordered_map<size_t, size_t> slot_of_;
  std::deque<size_t> pending_;  ///< for the next process, together
  std::deque<size_t> alone_;    ///< each for a process of its own
  uint32_t process_ = 0;
  int64_t start_us_ = 0;
  int64_t last_us_ = 0, last_off_ = 0;  ///< the latest report of the process (or its start)
};

}  // namespace mpexec
