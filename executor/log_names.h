#pragma once
// The file names of a run's test logs in <run>/logs (docs/executor.md): one per test and attempt, chosen once
// from the manifest so that no two tests, retries or fixtures share one, whatever the tests are called.

#include <string>
#include <vector>

#include "executor/manifest.h"

namespace mpexec {

class LogNames {
 public:
  /// Each test's name with anything but [A-Za-z0-9._-] replaced by '_', cut to 200 bytes, never starting
  /// with '.', then ".log"; "~2", "~3", ... before ".log" where that name is taken by an earlier test.
  /// Only these suffixes hold '~', so a test's log never takes the name of another's retry ("~attemptN")
  /// or of a group's setup or teardown log ("<unit>~setup.log").
  explicit LogNames(const Manifest& m);

  /// The log file name of test `t`'s attempt: "<name>.log", then "<name>~attempt2.log", ...
  std::string name(size_t t, int attempt = 1) const;

 private:
  std::vector<std::string> first_;  ///< per test, first attempt
};

}  // namespace mpexec
