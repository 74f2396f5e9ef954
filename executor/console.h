#pragma once
// What the terminal shows while a run goes and after it (DESIGN §6): a ninja-style status line on a TTY,
// a line per finished test otherwise, then the summary.

#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "executor/config.h"
#include "executor/manifest.h"
#include "executor/scheduler.h"

namespace mpexec {

class Console : public SchedulerObserver {
 public:
  /// `log_root` is the directory the records' log paths are relative to.
  Console(const Manifest& m, size_t planned, OutputMode output, int verbosity, std::string log_root,
          FILE* out = stdout);

  void testStarted(size_t test, const std::string& unit, int slot) override;
  void testFinished(size_t test, const TestRecord& r) override;
  void testRetried(size_t test, const TestRecord& r) override;
  void tick() override;

  /// With --output streamed: where a running test's output goes, so that its lines can be shown as they
  /// come (relative to log_root).
  void setLogPaths(std::function<std::string(size_t test)> log_of) { log_of_ = std::move(log_of); }

  /// Counts by outcome, the slowest tests, the failures, and wall time against the sum of test times.
  void summary(const Manifest& m, const std::vector<size_t>& planned, const ScheduleResult& result,
               int64_t wall_us, const std::vector<std::string>& notes);

 private:
  void clearStatus();
  void printLog(const TestRecord& r, bool bounded);
  /// Prints the complete new lines of a streamed test's log, each prefixed with its name; `all` also
  /// prints a last line without a newline.
  void drain(size_t test, bool all);

  struct Stream {
    std::string path;
    uint64_t offset = 0;
    std::string partial;
  };

  const Manifest& m_;
  size_t planned_;
  OutputMode output_;
  int verbosity_;
  std::string log_root_;
  FILE* out_;
  bool tty_;
  size_t finished_ = 0;
  size_t running_ = 0;
  bool status_shown_ = false;
  std::function<std::string(size_t)> log_of_;
  std::map<size_t, Stream> streams_;  ///< running tests, with --output streamed
};

/// "1.25s", "350ms", "2m03s".
std::string formatDuration(int64_t us);

}  // namespace mpexec
