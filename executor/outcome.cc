#include "executor/outcome.h"

#include <sys/wait.h>

#include <cstring>

#include <fmt/format.h>

#include "executor/manifest.h"

namespace mpexec {

namespace {
constexpr const char* kNames[] = {"PASS", "SKIP", "FLAKY", "FAIL", "TIMEOUT", "CRASH", "ERROR", "NOT_RUN"};
}

const char* outcomeName(Outcome o) { return kNames[int(o)]; }

std::optional<Outcome> outcomeFromName(const std::string& name) {
  for (int i = 0; i <= int(Outcome::NotRun); ++i)
    if (name == kNames[i]) return Outcome(i);
  return std::nullopt;
}

bool isFailure(Outcome o) { return o != Outcome::Pass && o != Outcome::Skip && o != Outcome::Flaky; }

Classified classify(const TestSpec& test, const CommandEnd& end) {
  switch (end.how) {
    case CommandEnd::How::NotStarted:
      return {Outcome::NotRun, {}, {}, end.detail};
    case CommandEnd::How::SetupFailed:
      return {Outcome::Error, {}, {}, end.detail.empty() ? "group setup failed" : end.detail};
    case CommandEnd::How::SpawnFailed:
      return {Outcome::Error, {}, {}, "cannot start: " + end.detail};
    case CommandEnd::How::Exited:
      break;
  }
  int st = end.wait_status;
  if (end.timed_out) {
    Classified c{Outcome::Timeout, {}, {}, fmt::format("timeout after {:g}s", test.settings.timeout_s)};
    if (WIFEXITED(st)) c.exit_code = WEXITSTATUS(st);
    if (WIFSIGNALED(st)) c.signal = WTERMSIG(st);
    return c;
  }
  if (WIFSIGNALED(st)) {
    int sig = WTERMSIG(st);
    std::string reason = end.oom_killed ? "oom: killed at the memory limit" : fmt::format("signal {} ({})", sig, sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
    if (!end.detail.empty()) reason += "; " + end.detail;
    return {Outcome::Crash, {}, sig, reason};
  }
  int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  Classified c{Outcome::Pass, code, {}, end.detail};
  if (code == test.skip_exit_code) {
    c.outcome = Outcome::Skip;
  } else if ((code == 0) == test.will_fail) {
    c.outcome = Outcome::Fail;
    if (test.will_fail) c.reason = "expected to fail (will_fail), but passed";
  }
  return c;
}

}  // namespace mpexec
