#pragma once
// What the terminal shows while a run goes and after it (DESIGN §6, docs/executor.md "Terminal"): on a
// terminal a ninja-style status line (elapsed time, counts per outcome so far, the running tests), a
// line per finished test otherwise; a block with the output of each failed test, its exit code or signal
// and the command that reruns it; SLOW and LEAK lines; then the summary.

#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "executor/config.h"
#include "executor/manifest.h"
#include "executor/scheduler.h"

namespace mpexec {

struct ConsoleOptions {
  OutputMode output = OutputMode::Errors;
  int verbosity = 1;            ///< 0 -q, 1 default, 2 -v
  bool color = false;           ///< SGR colours (colorWanted())
  bool status_line = false;     ///< one status line redrawn in place (statusLineWanted())
  int64_t slow_us = 60'000'000;  ///< a SLOW line each time a running test passes another multiple; 0: none
  std::string log_root;         ///< the records' log paths are relative to this directory
  /// How to run one test again: `rerun_command` + " --filter '^NAME$' " + `rerun_manifest`.
  std::string rerun_command = "mpexec";
  std::string rerun_manifest;
  std::function<int64_t()> now_us = [] { return int64_t(0); };  ///< the run's clock
  int columns = 0;              ///< the terminal's width; 0: ask the terminal (TIOCGWINSZ), else 80
};

/// What the summary leads with, from the run rather than the records.
struct SummaryHeadline {
  int interrupt_signal = 0;  ///< the signal that stopped the run; 0: not interrupted
  int max_fail = 0;          ///< stopped starting units after this many failures (--max-fail); 0: did not stop
};

class Console : public SchedulerObserver {
 public:
  Console(const Manifest& m, size_t planned, ConsoleOptions opts, FILE* out = stdout);

  void testStarted(size_t test, const std::string& unit, int slot) override;
  void testFinished(size_t test, const TestRecord& r) override;
  void testRetried(size_t test, const TestRecord& r) override;
  void tick() override;
  void unitLeaked(const Unit& unit, uint32_t processes) override;

  /// A line of mpexec's own ("iteration 2/3"), above the status line.
  void line(const std::string& text);

  /// With --output streamed: where a running test's output goes, so that its lines can be shown as they
  /// come (relative to log_root).
  void setLogPaths(std::function<std::string(size_t test)> log_of) { log_of_ = std::move(log_of); }

  /// The headline (interrupted, stopped early), the failures, the skipped tests with their reasons, the
  /// slowest tests, `notes`, the counts by outcome and wall time against the sum of test times.
  void summary(const Manifest& m, const std::vector<size_t>& planned, const ScheduleResult& result,
               int64_t wall_us, const SummaryHeadline& headline, const std::vector<std::string>& notes);

 private:
  struct Running {
    int64_t start_us = 0;
    int64_t slow_lines = 0;  ///< SLOW lines printed for it so far
  };
  struct Stream {
    std::string path;
    uint64_t offset = 0;
    std::string partial;
  };

  std::string paint(std::string_view text, const char* sgr) const;
  std::string outcomeWord(Outcome o) const;
  /// "[finished/planned] WORD    " with the word padded to the width of the longest outcome.
  std::string linePrefix(const std::string& word_painted, size_t word_width) const;
  /// Clears the status line (so a line can be printed) and, after it, draws it again.
  void clearStatus();
  void drawStatus();
  std::string statusText() const;
  /// The test's captured output: its last lines under a header that says how much was left out.
  void printOutput(size_t test, const TestRecord& r);
  /// Prints the complete new lines of a streamed test's log, each prefixed with its name; `all` also
  /// prints a last line without a newline.
  void drain(size_t test, bool all);
  void warnSlow();
  int columns() const;

  const Manifest& m_;
  size_t planned_;
  ConsoleOptions opts_;
  FILE* out_;
  size_t finished_ = 0;
  std::map<Outcome, size_t> counts_;
  std::map<size_t, Running> running_;  ///< by test
  bool status_shown_ = false;
  std::string last_status_;
  std::function<std::string(size_t)> log_of_;
  std::map<size_t, Stream> streams_;  ///< running tests, with --output streamed
};

/// Colour on `out`: always, never, or (auto) when it is a terminal, NO_COLOR is unset or empty and TERM is
/// not "dumb".
bool colorWanted(ColorMode mode, FILE* out);
/// A status line redrawn in place: `out` is a terminal that is not "dumb", and neither -q nor -v.
bool statusLineWanted(int verbosity, FILE* out);

/// "1.25s", "350ms", "2m03s".
std::string formatDuration(int64_t us);
/// `text` as one shell word: unquoted when it is safe, else in single quotes.
std::string shellQuote(std::string_view text);
/// `text` with ECMAScript's special characters escaped, to match itself literally.
std::string regexEscape(std::string_view text);
/// Why a test was skipped, in a few words: its reason, else its exit code and the last line it printed.
std::string skipReason(const TestRecord& r, const std::string& log_root);

}  // namespace mpexec
