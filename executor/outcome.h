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
};

struct TestSpec;

/// What the outcome of `test` is, given how its command ended. A timeout is TIMEOUT whatever the status.
struct Classified {
  Outcome outcome;
  std::optional<int> exit_code;
  std::optional<int> signal;
  std::string reason;  ///< e.g. "timeout after 5s", "oom", "group setup failed"
};
Classified classify(const TestSpec& test, const CommandEnd& end);

}  // namespace mpexec
