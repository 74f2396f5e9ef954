#pragma once
// The logs that shard reports name, read for `mpexec merge --junit` without leaving each report's run
// directory: shard reports come from other jobs, and a "log" of "/etc/passwd", "../../x" or a symlink out
// of the run must not copy that file into the JUnit report (docs/ci.md, "Merge").

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "executor/reports/report_junit.h"

namespace mpexec {

/// Where a log path puts a log: below the run directory `run_dir` (as the path gives it, relative or
/// absolute), at `below` ("logs/...").
struct LogPlace {
  std::string run_dir;
  std::string below;
};

/// The place of `log` in the run `run_id`, or why it has none: a log path names a file below
/// ".../runs/<run_id>/logs/" and holds no ".." and no NUL. `run_id` must be a plain file name.
struct LogPlaceOrWhy {
  std::optional<LogPlace> place;
  std::string why;  ///< when there is no place
};
LogPlaceOrWhy logPlace(std::string_view run_id, std::string_view log);

/// Reads the logs of the tests of shard reports. A log is looked for in its report's run directory, which
/// is, in turn: the report's own directory when it is named like the run (the report is the run's
/// report.json); else the run directory the log path names, as it is when absolute, else below each of
/// `roots` and the report's directory. Below the run directory the path is resolved without following a
/// symlink out of it (openat2 RESOLVE_BENEATH; where that is missing, without following any symlink), and
/// only a regular file is read, with readCappedLog().
class ShardLogs {
 public:
  explicit ShardLogs(std::vector<std::string> roots, std::size_t max_bytes = kJunitMaxLogBytes)
      : roots_(std::move(roots)), max_bytes_(max_bytes) {}

  /// The log `log` of a test of the report at `report_path`, whose run id is `run_id`. None when it is not
  /// found, or refused; a refusal is counted for refusals().
  std::optional<std::string> read(const std::string& report_path, const std::string& run_id, const std::string& log);

  /// One line per report some of whose log paths were refused: how many, and the first with why.
  std::vector<std::string> refusals() const;

 private:
  struct Refused {
    std::size_t count = 0;
    std::string first;  ///< "PATH (why)"
  };
  void refuse(const std::string& report_path, const std::string& log, const std::string& why);

  std::vector<std::string> roots_;
  std::size_t max_bytes_;
  std::map<std::string, Refused> refused_;  ///< by report path
};

}  // namespace mpexec
