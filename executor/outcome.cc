#include "executor/outcome.h"

#include <sys/wait.h>

#include <cstring>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <fmt/format.h>

#include "executor/manifest.h"
#include "executor/output_rules.h"

namespace mpexec {

namespace {
constexpr const char* kNames[] = {"PASS", "SKIP", "FLAKY", "FAIL", "TIMEOUT", "CRASH", "ERROR", "NOT_RUN"};

// A pattern or a line of output in a reason, as a JSON string: quotes and control characters escaped.
std::string quoted(std::string_view s) { return boost::json::serialize(boost::json::string_view(s.data(), s.size())); }
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
  // CTest's order (cmCTestRunTest::EndTest): each rule that decides replaces the reason, so the last one
  // that matched is the one named.
  const OutputRules& rules = test.output_rules;
  bool force_fail = false, force_skip = false;
  std::string why;
  if (!rules.empty()) {
    if (!end.output) {
      return {Outcome::Error, code, {}, "cannot read the output that pass_regex, fail_regex and skip_regex judge: " +
                                            end.output_problem};
    }
    const std::string output = outputForRules(*end.output);
    if (!rules.pass.empty()) {
      if (auto m = firstMatch(rules.pass, output)) {
        why = fmt::format("pass_regex {} matched", quoted(m->pattern->text));
      } else {
        force_fail = true;
        std::string tried;
        for (const OutputPattern& p : rules.pass) tried += (tried.empty() ? "" : ", ") + quoted(p.text);
        why = fmt::format("no pass_regex matched the output ({})", tried);
      }
    }
    if (auto m = firstMatch(rules.fail, output)) {
      force_fail = true;
      why = fmt::format("fail_regex {} matched: {}", quoted(m->pattern->text), quoted(m->line));
    }
    if (auto m = firstMatch(rules.skip, output)) {
      force_skip = true;
      why = fmt::format("skip_regex {} matched: {}", quoted(m->pattern->text), quoted(m->line));
    }
  }
  auto withDetail = [&](std::string reason) { return end.detail.empty() ? reason : reason + "; " + end.detail; };
  const bool success = !force_fail && (code == 0 || !rules.pass.empty());
  if (force_skip || (test.skip_exit_code && code == *test.skip_exit_code)) {
    c.outcome = Outcome::Skip;
    if (force_skip) c.reason = withDetail(why);
  } else if (success != test.will_fail) {
    if (test.will_fail) {
      c.reason = withDetail("failed as expected (will_fail): " + (why.empty() ? fmt::format("exit code {}", code) : why));
    } else if (!why.empty()) {
      c.reason = withDetail(why);
    }
  } else {
    c.outcome = Outcome::Fail;
    if (test.will_fail) {
      c.reason = withDetail("expected to fail (will_fail), but " + (why.empty() ? std::string("it exited 0") : why));
    } else if (!why.empty()) {
      c.reason = withDetail(why);
    }
  }
  return c;
}

bool needsOutput(const TestSpec& test) { return !test.output_rules.empty(); }

}  // namespace mpexec
