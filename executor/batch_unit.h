#pragma once
// A batch unit as the local runner carries it out (docs/executor.md, "Batch units"): each batch process's
// files (its ids file, its JUnit file, its log), its live reports and output lines turned into the
// scheduler's TestStarted and TestFinished events, and each finished test's log. BatchRun decides what the
// channels mean; this does the IO. The runner owns the unit's process: it starts the Batch command, moves
// its deadline, runs the next process or ends the command, as told here.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "executor/batch_board.h"
#include "executor/batch_run.h"
#include "executor/clock.h"
#include "executor/manifest.h"
#include "executor/unit_runner.h"
#include "sandbox/unique_fd.h"
#include "sandbox/unit_process.h"

namespace mpexec {

struct RunPaths;

/// What the batch units of a run share with their runner. Outlives them.
struct BatchSite {
  const Manifest& m;
  const RunPaths& paths;  ///< run_dir (the units' output directories), log_prefix (how reasons name logs)
  int logs_dir_fd;        ///< <run>/logs: each process's log and each test's are made there
  const RunClock& clock;
  BatchBoard* board;  ///< where live reports arrive; null: none do
  /// The file name of test `t`'s log in logs_dir_fd for its attempt `attempt`.
  std::function<std::string(size_t t, int attempt)> log_name;
};

class BatchUnit {
 public:
  /// Plan unit `unit` (named `unit_id`) runs `tests` of a group with batch command `spec`, on attempt
  /// `attempt` (after the first, each test in a process of its own). `base` is what each process's command
  /// starts from (role, env, cwd); `out_dir` the unit's output directory, where the ids and JUnit files go.
  BatchUnit(const BatchSite& site, const BatchSpec& spec, size_t unit, std::string unit_id,
            std::vector<size_t> tests, int attempt, sandbox::CommandSpec base, UniqueFd out_dir);

  /// The first process's command in `c`; on failure, why (then no process is open on the board).
  std::optional<std::string> startFirst(sandbox::CommandSpec& c);
  /// The current process's number (1, 2, ...).
  uint32_t process() const { return run_.process(); }
  /// The slot is known now (a unit set up ahead): MPEXEC_SLOT for the processes still to come.
  void slotKnown(int slot);
  /// Whether the current process's output is read for batch.lines (lines() is worth calling).
  bool readsLines() const { return spec_.lines.any() && log_; }

  /// The init's word that the current process started (RunClock µs).
  void processStarted(int64_t at_us) { run_.processStarted(at_us); }
  /// A live report for the current process.
  void report(const LiveReport& rep, std::vector<RunnerEvent>& out);
  /// Matches the new lines of the current process's output against batch.lines (`all`: the last one too,
  /// newline or not).
  void lines(bool all, std::vector<RunnerEvent>& out);
  /// The process's deadline (CLOCK_MONOTONIC ns) when it moved since last asked; none when it did not or no
  /// process runs.
  std::optional<int64_t> movedDeadlineNs();
  /// The current process ended (Exited or SpawnFailed): its tests' outcomes, then the next process's
  /// command, or none when the Batch command is over (every test has its outcome).
  std::optional<sandbox::CommandSpec> ended(const sandbox::Event& ev, std::vector<RunnerEvent>& out);
  /// Every test without an outcome is ERROR with `why` (a failed setup, a lost unit).
  void abandon(const std::string& why, std::vector<RunnerEvent>& out);

 private:
  /// The next process as a command: its ids file, its JUnit file removed, its log made, the board told.
  std::optional<std::string> nextProcess(sandbox::CommandSpec& c);
  /// Sends the scheduler what a report changed, writing the finished tests' logs.
  void emit(BatchEvents& ev, std::vector<RunnerEvent>& out);

  const BatchSite& site_;
  const BatchSpec& spec_;
  const size_t unit_;
  const std::string unit_id_;
  const int attempt_;
  BatchRun run_;
  sandbox::CommandSpec base_;
  UniqueFd out_dir_;
  UniqueFd log_;  ///< the current process's
  std::string log_name_, junit_name_;
  std::unordered_map<std::string, size_t> ids_;  ///< the current process's: id → test
  int64_t lines_read_ = 0;  ///< how much of its log was matched against batch.lines
  std::string partial_line_;
  int64_t sent_deadline_ = -1;
};

}  // namespace mpexec
