// Good manifests: defaults, cascade, paths, strategies, and gtest entries expanded.

#include "executor/manifest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "tests/support/manifest_fixture.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

using test::ManifestTest;
// --- good paths ---

TEST_F(ManifestTest, MinimalTestGetsBuiltinDefaults) {
  std::string text = R"({"version": 1, "tests": [{"name": "a", "cmd": ["./t.sh", "x"]}, {"name": "b", "cmd": ["sh"]}]})";
  Manifest m = loadOk(text);
  EXPECT_EQ(m.path, path());
  EXPECT_EQ(m.dir, dir());
  EXPECT_EQ(m.digest.size(), 16u);
  EXPECT_TRUE(m.groups.empty());
  ASSERT_EQ(m.tests.size(), 2u);
  const TestSpec& a = m.tests[0];
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.cmd, (std::vector<std::string>{dir() + "/t.sh", "x"}));
  EXPECT_EQ(a.group, "");
  EXPECT_EQ(a.strategy, Strategy::Free);
  EXPECT_EQ(a.settings.timeout_s, 60);
  EXPECT_EQ(a.settings.cwd, dir());
  EXPECT_TRUE(a.settings.env.empty());
  EXPECT_EQ(a.settings.sandbox, sandbox::Policy{});
  EXPECT_EQ(a.skip_exit_code, 77);
  EXPECT_FALSE(a.will_fail);
  EXPECT_EQ(a.json_pointer, "/tests/0");
  EXPECT_EQ(m.tests[1].cmd, (std::vector<std::string>{"sh"}));
  EXPECT_EQ(m.tests[1].json_pointer, "/tests/1");
}

TEST_F(ManifestTest, DigestFollowsTheBytes) {
  std::string text = R"({"version": 1, "tests": []})";
  Manifest a = loadOk(text);
  Manifest b = loadOk(text + "\n");
  Manifest c = loadOk(text);
  EXPECT_NE(a.digest, b.digest);
  EXPECT_EQ(a.digest, c.digest);
}

TEST_F(ManifestTest, TestScalars) {
  Manifest m = loadOk(oneTest(R"(, "skip_exit_code": 0, "will_fail": true, "labels": ["slow", "net"])"));
  ASSERT_EQ(m.tests.size(), 1u);
  EXPECT_EQ(m.tests[0].skip_exit_code, 0);
  EXPECT_TRUE(m.tests[0].will_fail);
  EXPECT_EQ(m.tests[0].labels, (std::vector<std::string>{"slow", "net"}));
}

TEST_F(ManifestTest, OutputRulesAndNoSkipExitCode) {
  Manifest m = loadOk(R"({"version": 1, "tests": [
    {"name": "a", "cmd": ["./t.sh"], "pass_regex": "All (tests|checks) passed", "fail_regex": ["ERROR", "Segm"],
     "skip_exit_code": null},
    {"name": "b", "cmd": ["./t.sh"], "skip_regex": ["All (tests|checks) passed"]}]})");
  ASSERT_EQ(m.tests.size(), 2u);
  const OutputRules& a = m.tests[0].output_rules;
  ASSERT_EQ(a.pass.size(), 1u);
  EXPECT_EQ(a.pass[0].text, "All (tests|checks) passed");
  ASSERT_EQ(a.fail.size(), 2u);
  EXPECT_EQ(a.fail[1].text, "Segm");
  EXPECT_TRUE(a.skip.empty());
  EXPECT_FALSE(m.tests[0].skip_exit_code.has_value());
  EXPECT_EQ(m.tests[1].skip_exit_code, 77);
  // One compiled pattern for every test that names the same text.
  ASSERT_EQ(m.tests[1].output_rules.skip.size(), 1u);
  EXPECT_EQ(m.tests[1].output_rules.skip[0].re, a.pass[0].re);
  EXPECT_TRUE(m.tests[1].output_rules.pass.empty());
}

TEST_F(ManifestTest, ATestRunningOneGtestCaseKnowsItsSuite) {
  Manifest m = loadOk(R"({"version": 1, "tests": [
    {"name": "a", "cmd": ["./t.sh", "--gtest_filter=BinaryTest.Base64", "--gtest_also_run_disabled_tests"]},
    {"name": "b", "cmd": ["./t.sh", "--gtest_filter=BinaryTest.*"]}]})");
  ASSERT_EQ(m.tests.size(), 2u);
  EXPECT_EQ(m.tests[0].gtest_suite, "BinaryTest");
  EXPECT_EQ(m.tests[1].gtest_suite, "");
}

TEST_F(ManifestTest, ResourcesCascadeGroupThenTestAndTheCommandLineDeclaresToo) {
  ManifestOptions opts;
  opts.resources = {{"gpu", 3}, {"licence", 1}};
  Manifest m = loadOk(R"({"version": 1, "resources": {"gpu": 2, "db": 1},
    "groups": {"g": {"resources": {"gpu": 1, "db": 1}}},
    "tests": [{"name": "a", "cmd": ["./t.sh"], "group": "g", "resources": {"gpu": 3, "db": 0}},
              {"name": "b", "cmd": ["./t.sh"], "group": "g"},
              {"name": "c", "cmd": ["./t.sh"], "resources": {"licence": 1}}]})",
                      opts);
  ASSERT_EQ(m.tests.size(), 3u);
  EXPECT_EQ(m.resources, (ResourceCounts{{"db", 1}, {"gpu", 3}, {"licence", 1}}));
  EXPECT_EQ(m.groups.at("g").resources, (ResourceCounts{{"db", 1}, {"gpu", 1}}));
  EXPECT_EQ(m.tests[0].resources, (ResourceCounts{{"db", 0}, {"gpu", 3}}));
  EXPECT_EQ(m.tests[1].resources, (ResourceCounts{{"db", 1}, {"gpu", 1}}));
  EXPECT_EQ(m.tests[2].resources, (ResourceCounts{{"licence", 1}}));
}

TEST_F(ManifestTest, CommandLineTimeoutReplacesOnlyTheBuiltinDefault) {
  ManifestOptions opts;
  opts.default_timeout_s = 5;
  Manifest m = loadOk(R"({"version": 1, "tests": [{"name": "a", "cmd": ["./t.sh"]},
                                                   {"name": "b", "cmd": ["./t.sh"], "timeout": 30}]})",
                      opts);
  ASSERT_EQ(m.tests.size(), 2u);
  EXPECT_EQ(m.tests[0].settings.timeout_s, 5);
  EXPECT_EQ(m.tests[1].settings.timeout_s, 30);
  Manifest d = loadOk(R"({"version": 1, "defaults": {"timeout": 90}, "tests": [{"name": "a", "cmd": ["./t.sh"]}]})",
                      opts);
  ASSERT_EQ(d.tests.size(), 1u);
  EXPECT_EQ(d.tests[0].settings.timeout_s, 90);
}

TEST_F(ManifestTest, CommandLineTimeoutMustBePositive) {
  ManifestOptions opts;
  opts.default_timeout_s = 0;
  auto r = load(R"({"version": 1, "tests": []})", opts);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "--timeout: expected a number of seconds > 0 (at most one year), got 0");
}

TEST_F(ManifestTest, CascadeDefaultsGroupTest) {
  Manifest m = loadOk(R"({
    "version": 1,
    "defaults": {"timeout": 10, "env": {"LANG": "C.UTF-8", "A": "d", "DROP": "x"}, "cwd": "sub",
                 "sandbox": {"network": "none", "memory": "1G", "pids": 100, "writable": ["out"]}},
    "groups": {"g": {"timeout": 20, "env": {"A": "g", "B": "g"}, "cwd": ".",
                     "sandbox": {"pids": 50, "user": "nobody"},
                     "setup": ["./t.sh", "up"], "teardown": ["bin/tool", "down"]}},
    "tests": [
      {"name": "plain", "cmd": ["./t.sh"]},
      {"name": "grouped", "cmd": ["./t.sh"], "group": "g"},
      {"name": "own", "cmd": ["./t.sh"], "group": "g", "timeout": 1.5, "env": {"B": "t", "DROP": null, "C": "t"},
       "cwd": "out", "sandbox": {"network": "host", "writable": [], "seccomp": "off", "nested": true}}
    ]})");
  ASSERT_EQ(m.tests.size(), 3u);
  const Settings& plain = m.tests[0].settings;
  EXPECT_EQ(plain.timeout_s, 10);
  EXPECT_EQ(plain.env, (EnvMap{{"LANG", "C.UTF-8"}, {"A", "d"}, {"DROP", "x"}}));
  EXPECT_EQ(plain.cwd, dir() + "/sub");
  EXPECT_EQ(plain.sandbox.memory_bytes, 1ull << 30);
  EXPECT_EQ(plain.sandbox.pids, 100u);
  EXPECT_EQ(plain.sandbox.writable, (std::vector<std::string>{dir() + "/out"}));

  ASSERT_EQ(m.groups.count("g"), 1u);
  const GroupSpec& g = m.groups.at("g");
  EXPECT_EQ(g.strategy, Strategy::Free);
  EXPECT_EQ(g.setup, (std::vector<std::string>{dir() + "/t.sh", "up"}));
  EXPECT_EQ(g.teardown, (std::vector<std::string>{dir() + "/bin/tool", "down"}));
  EXPECT_EQ(g.settings.timeout_s, 20);
  EXPECT_EQ(g.settings.env, (EnvMap{{"LANG", "C.UTF-8"}, {"A", "g"}, {"B", "g"}, {"DROP", "x"}}));
  EXPECT_EQ(g.settings.cwd, dir());
  EXPECT_EQ(g.settings.sandbox.pids, 50u);
  EXPECT_EQ(g.settings.sandbox.memory_bytes, 1ull << 30);
  EXPECT_EQ(g.settings.sandbox.user, sandbox::Identity::Nobody);

  const Settings& grouped = m.tests[1].settings;
  EXPECT_EQ(m.tests[1].group, "g");
  EXPECT_EQ(grouped.timeout_s, 20);
  EXPECT_EQ(grouped.env, g.settings.env);
  EXPECT_EQ(grouped.sandbox, g.settings.sandbox);

  const Settings& own = m.tests[2].settings;
  EXPECT_EQ(own.timeout_s, 1.5);
  EXPECT_EQ(own.env, (EnvMap{{"LANG", "C.UTF-8"}, {"A", "g"}, {"B", "t"}, {"C", "t"}}));
  EXPECT_EQ(own.cwd, dir() + "/out");
  EXPECT_EQ(own.sandbox.network, sandbox::Network::Host);
  EXPECT_EQ(own.sandbox.memory_bytes, 1ull << 30);  // key by key: untouched keys inherit
  EXPECT_EQ(own.sandbox.pids, 50u);
  EXPECT_EQ(own.sandbox.user, sandbox::Identity::Nobody);
  EXPECT_TRUE(own.sandbox.writable.empty());  // a list replaces the inherited list
  EXPECT_FALSE(own.sandbox.seccomp);
  EXPECT_TRUE(own.sandbox.nested);
}

TEST_F(ManifestTest, PathsResolveAgainstTheManifestDirectory) {
  Manifest m = loadOk(R"({"version": 1, "tests": [
      {"name": "a", "cmd": ["sub/../bin/tool", "rel/arg"], "cwd": "sub/", "sandbox": {"writable": ["./out", "/tmp"]}},
      {"name": "b", "cmd": [")" + dir() + R"(/t.sh"], "cwd": "/"}]})");
  ASSERT_EQ(m.tests.size(), 2u);
  EXPECT_EQ(m.tests[0].cmd, (std::vector<std::string>{dir() + "/bin/tool", "rel/arg"}));  // arguments untouched
  EXPECT_EQ(m.tests[0].settings.cwd, dir() + "/sub");
  EXPECT_EQ(m.tests[0].settings.sandbox.writable, (std::vector<std::string>{dir() + "/out", "/tmp"}));
  EXPECT_EQ(m.tests[1].cmd[0], dir() + "/t.sh");
  EXPECT_EQ(m.tests[1].settings.cwd, "/");
}

TEST_F(ManifestTest, ParseFromMemoryResolvesAgainstTheGivenPath) {
  auto r = parseManifest(R"({"version": 1, "tests": [{"name": "a", "cmd": ["./t.sh"]}]})", dir() + "/virtual.json");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->dir, dir());
  EXPECT_EQ(r->tests[0].cmd[0], dir() + "/t.sh");
}

TEST_F(ManifestTest, StrategyDeclaredOnTheFirstTestThatNamesTheGroup) {
  Manifest m = loadOk(R"({"version": 1, "tests": [
      {"name": "a", "cmd": ["./t.sh"], "group": "g"},
      {"name": "b", "cmd": ["./t.sh"], "group": "g", "strategy": "serial"},
      {"name": "c", "cmd": ["./t.sh"], "group": "g", "strategy": "serial"},
      {"name": "d", "cmd": ["./t.sh"], "group": "h"},
      {"name": "e", "cmd": ["./t.sh"]}]})");
  ASSERT_EQ(m.tests.size(), 5u);
  EXPECT_EQ(m.tests[0].strategy, Strategy::Serial);  // a declaration anywhere applies to every member
  EXPECT_EQ(m.tests[1].strategy, Strategy::Serial);
  EXPECT_EQ(m.tests[2].strategy, Strategy::Serial);
  EXPECT_EQ(m.tests[3].strategy, Strategy::Free);
  EXPECT_EQ(m.tests[4].strategy, Strategy::Free);
  ASSERT_EQ(m.groups.size(), 2u);
  EXPECT_EQ(m.groups.at("g").strategy, Strategy::Serial);
  EXPECT_EQ(m.groups.at("h").strategy, Strategy::Free);
  EXPECT_EQ(m.groups.at("h").settings.cwd, dir());
}

TEST_F(ManifestTest, GroupsSectionDeclaresAndAgreeingTestsAreFine) {
  Manifest m = loadOk(R"({"version": 1,
      "groups": {"db": {"strategy": "isolated_serial", "sandbox": {"pids": 7}}, "unused": {"strategy": "isolated_free"}},
      "tests": [{"name": "a", "cmd": ["./t.sh"], "group": "db", "strategy": "isolated_serial"},
                {"name": "b", "cmd": ["./t.sh"], "group": "db"}]})");
  ASSERT_EQ(m.tests.size(), 2u);
  EXPECT_EQ(m.tests[1].strategy, Strategy::IsolatedSerial);
  EXPECT_EQ(m.tests[1].settings.sandbox.pids, 7u);
  EXPECT_EQ(m.groups.at("unused").strategy, Strategy::IsolatedFree);
}

TEST_F(ManifestTest, SandboxOnATestOfAFreeGroupIsAllowed) {
  Manifest m = loadOk(R"({"version": 1, "groups": {"g": {"strategy": "isolated_free"}},
      "tests": [{"name": "a", "cmd": ["./t.sh"], "group": "g", "sandbox": {"pids": 3}}]})");
  ASSERT_EQ(m.tests.size(), 1u);
  EXPECT_EQ(m.tests[0].settings.sandbox.pids, 3u);
}

TEST_F(ManifestTest, StrategyNamesRoundTrip) {
  for (Strategy s : {Strategy::Free, Strategy::Serial, Strategy::IsolatedFree, Strategy::IsolatedSerial}) {
    EXPECT_EQ(strategyFromName(strategyName(s)), s);
  }
  EXPECT_FALSE(strategyFromName("Serial").has_value());
  EXPECT_TRUE(isSerial(Strategy::IsolatedSerial));
  EXPECT_FALSE(isSerial(Strategy::IsolatedFree));
  EXPECT_TRUE(isIsolated(Strategy::IsolatedFree));
  EXPECT_FALSE(isIsolated(Strategy::Serial));
}

// --- gtest entries ---

// Runs `cmd` with stderr captured; returns the exit status and what it wrote.
std::pair<int, std::string> runCapturingStderr(const std::vector<std::string>& cmd) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return {-1, ""};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    std::vector<char*> argv;
    for (const std::string& a : cmd) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  std::string err;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) err.append(buf, n);
  close(fds[0]);
  int st = 0;
  waitpid(pid, &st, 0);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, err};
}

constexpr const char* kFakeGtest = R"SH(#!/bin/sh
[ "$1" = --gtest_list_tests ] || { echo "unexpected $1" >&2; exit 3; }
[ "$(basename "$PWD")" = sub ] || { echo "wrong cwd $PWD" >&2; exit 4; }
[ "$FROM_MANIFEST" = yes ] || { echo "env missing" >&2; exit 5; }
echo "Running main() from gtest_main.cc"
echo "Math."
echo "  Adds"
echo "  DISABLED_Subtracts"
echo "Typed/0.  # TypeParam = int"
echo "  Works"
echo "DISABLED_Broken."
echo "  Anything"
echo "Inst/Param."
echo "  Case/0  # GetParam() = 1"
echo "  Case/1  # GetParam() = \"two words\""
)SH";

TEST_F(ManifestTest, GtestEntryExpandsIntoOneTestPerCase) {
  tmp_.write("build/fake_gtest", kFakeGtest, true);
  Manifest m = loadOk(R"({"version": 1, "tests": [
      {"name": "first", "cmd": ["./t.sh"]},
      {"gtest": "build/fake_gtest", "group": "unit", "strategy": "serial", "cwd": "sub", "timeout": 9,
       "env": {"FROM_MANIFEST": "yes"}, "labels": ["unit"], "skip_regex": "\\[  SKIPPED \\]"},
      {"name": "last", "cmd": ["./t.sh"]}]})");
  std::vector<std::string> names;
  for (const TestSpec& t : m.tests) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"first", "fake_gtest.Math.Adds", "fake_gtest.Typed/0.Works",
                                             "fake_gtest.Inst/Param.Case/0", "fake_gtest.Inst/Param.Case/1",
                                             "last"}));
  ASSERT_EQ(m.tests.size(), 6u);
  const TestSpec& t = m.tests[4];
  EXPECT_EQ(t.cmd, (std::vector<std::string>{dir() + "/build/fake_gtest", "--gtest_filter=Inst/Param.Case/1"}));
  EXPECT_EQ(t.group, "unit");
  EXPECT_EQ(t.strategy, Strategy::Serial);
  EXPECT_EQ(t.settings.timeout_s, 9);
  EXPECT_EQ(t.settings.cwd, dir() + "/sub");
  EXPECT_EQ(t.labels, (std::vector<std::string>{"unit"}));
  EXPECT_EQ(t.gtest_suite, "Inst/Param");
  EXPECT_EQ(m.tests[0].gtest_suite, "");
  ASSERT_EQ(t.output_rules.skip.size(), 1u);
  EXPECT_EQ(t.output_rules.skip[0].text, "\\[  SKIPPED \\]");
  EXPECT_EQ(t.json_pointer, "/tests/1");
  EXPECT_EQ(m.groups.at("unit").strategy, Strategy::Serial);
}

TEST_F(ManifestTest, UnlistableGtestBinaryBecomesOneFailingTest) {
  tmp_.write("broken_gtest", "#!/bin/sh\necho 'cannot load libfoo.so' >&2\nexit 1\n", true);
  Manifest m = loadOk(R"({"version": 1, "tests": [{"gtest": "./broken_gtest"}, {"gtest": "./never_built"},
                                                   {"gtest": "plain.txt"}]})");
  ASSERT_EQ(m.tests.size(), 3u);
  EXPECT_EQ(m.tests[0].name, "broken_gtest");
  EXPECT_EQ(m.tests[1].name, "never_built");
  EXPECT_EQ(m.tests[2].name, "plain.txt");
  auto [status, err] = runCapturingStderr(m.tests[0].cmd);
  EXPECT_EQ(status, 1);
  EXPECT_EQ(err, "mpexec: /tests/0: cannot list gtest " + dir() + "/broken_gtest: exited with status 1: cannot load libfoo.so\n");
  auto [status2, err2] = runCapturingStderr(m.tests[1].cmd);
  EXPECT_EQ(status2, 1);
  EXPECT_NE(err2.find("/tests/1: cannot list gtest " + dir() + "/never_built: posix_spawn: No such file"), std::string::npos)
      << err2;
  auto [status3, err3] = runCapturingStderr(m.tests[2].cmd);
  EXPECT_EQ(status3, 1);
  EXPECT_NE(err3.find("/tests/2: cannot list gtest plain.txt: posix_spawn"), std::string::npos) << err3;
}

// Test names reach terminals and reports: a binary's file name or a listed case with a control character
// cannot become one.
TEST_F(ManifestTest, GtestNamesWithControlCharactersAreRefused) {
  tmp_.write("bin/\x1b[31mred", kFakeGtest, true);
  expectError(R"({"version": 1, "tests": [{"gtest": "bin/\u001b[31mred"}]})",
              {": /tests/0/gtest: expected a binary whose file name is not empty and has no control characters"});
  tmp_.write("bell_gtest", "#!/bin/sh\nprintf 'S.\\n  a\\007b\\n'\n", true);
  Manifest m = loadOk(R"({"version": 1, "tests": [{"gtest": "./bell_gtest"}]})");
  ASSERT_EQ(m.tests.size(), 1u);
  EXPECT_EQ(m.tests[0].name, "bell_gtest");
  auto [status, err] = runCapturingStderr(m.tests[0].cmd);
  EXPECT_EQ(status, 1);
  EXPECT_EQ(err, "mpexec: /tests/0: cannot list gtest " + dir() +
                     "/bell_gtest: line 2 of the listing names S.a\\x07b, with a control character or invalid UTF-8\n");
}

TEST_F(ManifestTest, GtestListingThatHangsBecomesOneFailingTest) {
  tmp_.write("slow_gtest", "#!/bin/sh\nexec sleep 60\n", true);
  ManifestOptions opts;
  opts.gtest_list_timeout = std::chrono::milliseconds(200);
  Manifest m = loadOk(R"({"version": 1, "tests": [{"gtest": "./slow_gtest"}]})", opts);
  ASSERT_EQ(m.tests.size(), 1u);
  EXPECT_EQ(m.tests[0].name, "slow_gtest");
  auto [status, err] = runCapturingStderr(m.tests[0].cmd);
  EXPECT_EQ(status, 1);
  EXPECT_NE(err.find("did not finish within 200 ms"), std::string::npos) << err;
}

TEST_F(ManifestTest, GtestCaseNamesCollideWithTests) {
  tmp_.write("g", "#!/bin/sh\necho 'S.'\necho '  C'\n", true);
  expectError(R"({"version": 1, "tests": [{"name": "g.S.C", "cmd": ["./t.sh"]}, {"gtest": "./g"}]})",
              {": /tests/1/gtest: duplicate test name \"g.S.C\" (already declared at /tests/0/name)"});
}

TEST_F(ManifestTest, TheSameGtestBinaryTwiceIsADuplicate) {
  tmp_.write("g", "#!/bin/sh\necho 'S.'\necho '  C'\n", true);
  expectError(R"({"version": 1, "tests": [{"gtest": "./g"}, {"gtest": "g", "env": {"PATH": ")" + dir() + R"("}}]})",
              {": /tests/1/gtest: duplicate test name \"g.S.C\" (already declared at /tests/0/gtest)"});
}

TEST_F(ManifestTest, GtestEntryInSerialGroupMayNotSetSandbox) {
  tmp_.write("g", "#!/bin/sh\necho 'S.'\necho '  C'\n", true);
  expectError(R"({"version": 1, "groups": {"u": {"strategy": "serial"}},
                  "tests": [{"gtest": "./g", "group": "u", "sandbox": {"pids": 4}}]})",
              {": /tests/0/sandbox: group \"u\" is serial"});
}

}  // namespace
}  // namespace mpexec
