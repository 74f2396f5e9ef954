// classify(): how a finished command maps onto an outcome, output rules included, in CTest's order.

#include "executor/outcome.h"

#include <sys/wait.h>

#include <csignal>

#include <gtest/gtest.h>

#include "executor/manifest.h"

namespace mpexec {
namespace {

int exited(int code) { return code << 8; }

std::vector<OutputPattern> patterns(std::initializer_list<const char*> texts) {
  std::vector<OutputPattern> out;
  for (const char* t : texts) out.push_back(compileOutputPattern(t).value());
  return out;
}

struct Case {
  std::vector<OutputPattern> pass = {}, fail = {}, skip = {};
  bool will_fail = false;
  std::optional<int> skip_exit_code = 77;
};

Classified judge(const Case& c, int code, const std::string& output) {
  TestSpec t;
  t.name = "t";
  t.output_rules = {c.pass, c.fail, c.skip};
  t.will_fail = c.will_fail;
  t.skip_exit_code = c.skip_exit_code;
  CommandEnd end;
  end.wait_status = exited(code);
  if (needsOutput(t)) end.output = output;
  return classify(t, end);
}

Outcome outcome(const Case& c, int code, const std::string& output) { return judge(c, code, output).outcome; }

TEST(ClassifyTest, ExitCodeAloneWithoutRules) {
  EXPECT_EQ(outcome({}, 0, ""), Outcome::Pass);
  EXPECT_EQ(outcome({}, 1, ""), Outcome::Fail);
  EXPECT_EQ(outcome({}, 77, ""), Outcome::Skip);
  EXPECT_EQ(outcome({.skip_exit_code = std::nullopt}, 77, ""), Outcome::Fail);
  EXPECT_EQ(outcome({.skip_exit_code = 0}, 0, ""), Outcome::Skip);
  EXPECT_EQ(outcome({.will_fail = true}, 1, ""), Outcome::Pass);
  EXPECT_EQ(outcome({.will_fail = true}, 0, ""), Outcome::Fail);
  EXPECT_EQ(outcome({.will_fail = true}, 77, ""), Outcome::Skip);
  EXPECT_EQ(judge({}, 1, "").reason, "");  // the exit code says it
  EXPECT_EQ(judge({.will_fail = true}, 0, "").reason, "expected to fail (will_fail), but it exited 0");
  EXPECT_EQ(judge({.will_fail = true}, 3, "").reason, "failed as expected (will_fail): exit code 3");
}

TEST(ClassifyTest, PassRegexDecidesWhateverTheExitCode) {
  Case c{.pass = patterns({"one", "two"})};
  EXPECT_EQ(outcome(c, 0, "two\n"), Outcome::Pass);
  EXPECT_EQ(outcome(c, 3, "one\n"), Outcome::Pass);
  EXPECT_EQ(outcome(c, 0, "three\n"), Outcome::Fail);
  EXPECT_EQ(judge(c, 3, "two\n").reason, "pass_regex \"two\" matched");
  EXPECT_EQ(judge(c, 0, "three\n").reason, "no pass_regex matched the output (\"one\", \"two\")");
}

TEST(ClassifyTest, FailRegexFailsEvenAPassRegexMatch) {
  Case c{.pass = patterns({"passed"}), .fail = patterns({"ERROR", "Segm"})};
  EXPECT_EQ(outcome(c, 0, "passed\n"), Outcome::Pass);
  Classified both = judge(c, 0, "passed\nSegmentation fault\n");
  EXPECT_EQ(both.outcome, Outcome::Fail);
  EXPECT_EQ(both.reason, "fail_regex \"Segm\" matched: \"Segmentation fault\"");
  EXPECT_EQ(outcome({.fail = patterns({"ERROR"})}, 1, "fine\n"), Outcome::Fail);
  EXPECT_EQ(outcome({.fail = patterns({"ERROR"})}, 0, "fine\n"), Outcome::Pass);
}

TEST(ClassifyTest, SkipBeatsEveryFailure) {
  Case c{.pass = patterns({"passed"}), .fail = patterns({"ERROR"}), .skip = patterns({"SKIPPED"})};
  Classified s = judge(c, 1, "ERROR\nSKIPPED: no GPU\n");
  EXPECT_EQ(s.outcome, Outcome::Skip);
  EXPECT_EQ(s.reason, "skip_regex \"SKIPPED\" matched: \"SKIPPED: no GPU\"");
  EXPECT_EQ(outcome({.fail = patterns({"ERROR"}), .skip_exit_code = 4}, 4, "ERROR\n"), Outcome::Skip);
  EXPECT_EQ(outcome({.skip = patterns({"SKIPPED"}), .will_fail = true}, 0, "SKIPPED\n"), Outcome::Skip);
}

TEST(ClassifyTest, WillFailInvertsWhatTheRulesDecide) {
  EXPECT_EQ(outcome({.pass = patterns({"ok"}), .will_fail = true}, 0, "ok\n"), Outcome::Fail);
  EXPECT_EQ(outcome({.pass = patterns({"ok"}), .will_fail = true}, 0, "no\n"), Outcome::Pass);
  EXPECT_EQ(outcome({.fail = patterns({"ERROR"}), .will_fail = true}, 0, "ERROR\n"), Outcome::Pass);
  EXPECT_EQ(judge({.pass = patterns({"ok"}), .will_fail = true}, 0, "ok\n").reason,
            "expected to fail (will_fail), but pass_regex \"ok\" matched");
}

TEST(ClassifyTest, RulesReadTheOutputAsCtestDoes) {
  Case dollar{.pass = patterns({"ok$"})};
  EXPECT_EQ(outcome(dollar, 0, "ok"), Outcome::Fail);  // every line ends with "\n", the last one too
  EXPECT_EQ(outcome({.pass = patterns({"(?s)ok.$"})}, 0, "ok\r\n"), Outcome::Pass);
  EXPECT_EQ(outcome({.pass = patterns({"(?m)^b$"})}, 0, std::string("a\0b", 3)), Outcome::Pass);  // NUL ends a line
}

TEST(ClassifyTest, TimeoutAndSignalWinOverEveryRule) {
  TestSpec t;
  t.output_rules.pass = patterns({"ok"});
  t.settings.timeout_s = 5;
  CommandEnd end;
  end.output = "ok\n";
  end.timed_out = true;
  end.wait_status = exited(0);
  EXPECT_EQ(classify(t, end).outcome, Outcome::Timeout);
  end.timed_out = false;
  end.wait_status = SIGSEGV;  // killed by the signal
  EXPECT_EQ(classify(t, end).outcome, Outcome::Crash);
}

TEST(ClassifyTest, OutputThatCouldNotBeReadIsAnError) {
  TestSpec t;
  t.output_rules.fail = patterns({"ERROR"});
  CommandEnd end;
  end.output_problem = "open t.log: No such file or directory";
  Classified c = classify(t, end);
  EXPECT_EQ(c.outcome, Outcome::Error);
  EXPECT_EQ(c.reason, "cannot read the output that pass_regex, fail_regex and skip_regex judge: open t.log: No such "
                      "file or directory");
}

}  // namespace
}  // namespace mpexec
