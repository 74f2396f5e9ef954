#pragma once
// The closed set of test outcomes (DESIGN §6) and how a finished command maps onto it.

#include <cstdint>
#include <optional>
#include <string>

namespace mpexec {

enum class Outcome { Pass, Skip, Flaky, Fail, Timeout, Crash, Error, NotRun };

/// "PASS", "SKIP", ...
const char* outcomeName(Outcome o);
std::optional<Outcome> outcomeFromName(const std::string& name);
/// PASS, SKIP and FLAKY are not failures; everything else is.
bool isFailure(Outcome o);

/// How one test command ended, as the runner saw it.
struct CommandEnd {
  enum class How { Exited, SpawnFailed, SetupFailed, NotStarted };
  How how = How::Exited;
  int wait_status = 0;
  bool timed_out = false;
  bool oom_killed = false;
  std::string detail;  ///< spawn failure step and error, seccomp denial, ...
  /// What the command printed (stdout and stderr as captured), for a test with output rules
  /// (TestSpec::output_rules): the runner reads it back once the command has exited. Unset without rules,
  /// or when it could not be read; then `output_problem` says why.
  std::optional<std::string> output;
  std::string output_problem;
};

struct TestSpec;

/// What the outcome of `test` is, given how its command ended. A timeout is TIMEOUT whatever the status,
/// a signal CRASH. A command that exited is judged as CTest judges it (cmCTestRunTest::EndTest): the
/// output rules first (no pass_regex matching fails the test, and so does a fail_regex matching; a
/// pass_regex that matches makes the exit code not matter), then SKIP when the exit code is the
/// skip_exit_code or a skip_regex matched, otherwise PASS when it succeeded and will_fail is not set, or
/// failed and will_fail is set. The reason names the rule that decided.
struct Classified {
  Outcome outcome;
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::string reason;  ///< e.g. "timeout after 5s", "oom", "group setup failed"
};
Classified classify(const TestSpec& test, const CommandEnd& end);

/// Whether classify() needs CommandEnd::output to judge `test`.
bool needsOutput(const TestSpec& test);

}  // namespace mpexec
