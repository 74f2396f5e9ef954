#include "executor/manifest.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>

#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

class ManifestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tmp_.write("t.sh", "#!/bin/sh\nexit 0\n", /*executable=*/true);
    tmp_.write("bin/tool", "#!/bin/sh\nexit 0\n", true);
    tmp_.write("plain.txt", "not a program\n");
    tmp_.write("sub/keep", "");
    tmp_.write("out/keep", "");
  }

  std::string dir() const { return tmp_.path(); }
  std::string path() const { return dir() + "/m.json"; }

  Result<Manifest> load(const std::string& text, const ManifestOptions& opts = {}) {
    tmp_.write("m.json", text);
    return loadManifest(path(), opts);
  }

  Manifest loadOk(const std::string& text, const ManifestOptions& opts = {}) {
    auto r = load(text, opts);
    if (!r.ok()) {
      ADD_FAILURE() << "unexpected error: " << r.error().message();
      return {};
    }
    return std::move(r.value());
  }

  // The load fails with a message that starts with the file and contains every part, in order.
  void expectError(const std::string& text, std::initializer_list<std::string> parts) {
    auto r = load(text);
    ASSERT_FALSE(r.ok()) << "accepted: " << text;
    std::string msg = r.error().message();
    EXPECT_EQ(msg.rfind(path() + ":", 0), 0u) << msg;
    std::size_t from = 0;
    for (const std::string& p : parts) {
      std::size_t at = msg.find(p, from);
      EXPECT_NE(at, std::string::npos) << "missing \"" << p << "\" in: " << msg;
      if (at != std::string::npos) from = at + p.size();
    }
  }

  // A manifest with one test whose extra keys are `extra` (a JSON fragment starting with a comma).
  static std::string oneTest(const std::string& extra) {
    return R"({"version": 1, "tests": [{"name": "a", "cmd": ["./t.sh"])" + extra + "}]}";
  }

  test::TempDir tmp_;
};

// --- reading and syntax ---

TEST_F(ManifestTest, MissingFile) {
  auto r = loadManifest(dir() + "/nope.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), dir() + "/nope.json: cannot read: No such file or directory");
}

TEST_F(ManifestTest, EmptyFile) {
  expectError("", {": empty file"});
  expectError("  \n\t\n", {": empty file"});
}

TEST_F(ManifestTest, SyntaxErrorHasLineAndColumn) {
  expectError("{\n  \"version\": 1,\n  \"tests\": [tru]\n}", {":3:13: syntax error: unexpected 'tru]'"});
  expectError("{\"version\": 1, \"tests\": [\"\\uZZZZ\"]}", {":1:29: syntax error: expected hex digit near 'ZZZZ\"]}'"});

}

TEST_F(ManifestTest, SyntaxErrorColumnCountsCodePoints) {
  expectError("{\"é\": 1,, }", {":1:9: syntax error: unexpected ', }'"});
}

TEST_F(ManifestTest, TruncatedDocument) {
  expectError("{\"version\": 1,\n \"tests\": [", {":2:12: syntax error: unexpected end of file"});
}

TEST_F(ManifestTest, DataAfterDocument) {
  expectError("{\"version\": 1, \"tests\": []}\n}", {":2:1: syntax error: unexpected '}' after the end"});
}

TEST_F(ManifestTest, TrailingCommaIsASyntaxError) {
  expectError("{\"version\": 1, \"tests\": [],}", {":1:28: syntax error"});
}

// --- top level ---

TEST_F(ManifestTest, TopLevelNotAnObject) { expectError("[1, 2]", {": /: expected an object, got [1,2]"}); }

TEST_F(ManifestTest, MissingVersion) {
  expectError(R"({"tests": []})", {": /: missing required key \"version\""});
}

TEST_F(ManifestTest, WrongVersion) {
  expectError(R"({"version": 2, "tests": []})", {": /version: expected 1", "got 2"});
  expectError(R"({"version": "1", "tests": []})", {": /version: expected 1", "got \"1\""});
  expectError(R"({"version": 1.5, "tests": []})", {": /version: expected 1", "got 1.5"});
}

TEST_F(ManifestTest, MissingTests) {
  expectError(R"({"version": 1})", {": /: missing required key \"tests\""});
}

TEST_F(ManifestTest, TestsNotAnArray) {
  expectError(R"({"version": 1, "tests": {"a": 1}})", {": /tests: expected an array of tests, got {\"a\":1}"});
}

TEST_F(ManifestTest, TestNotAnObject) {
  expectError(R"({"version": 1, "tests": ["./t.sh"]})", {": /tests/0: expected a test object, got \"./t.sh\""});
}

TEST_F(ManifestTest, GroupsNotAnObject) {
  expectError(R"({"version": 1, "groups": [], "tests": []})", {": /groups: expected an object of groups, got []"});
}

TEST_F(ManifestTest, DefaultsNotAnObject) {
  expectError(R"({"version": 1, "defaults": 3, "tests": []})", {": /defaults: expected an object, got 3"});
}

TEST_F(ManifestTest, UnknownTopLevelKey) {
  expectError(R"({"version": 1, "tests": [], "test": []})",
              {": /: unknown key \"test\"", "allowed: version, defaults, groups, tests"});
}

TEST_F(ManifestTest, UnknownTestKey) {
  expectError(oneTest(R"(, "timout": 5)"), {": /tests/0: unknown key \"timout\"", "allowed: name, cmd, group"});
}

TEST_F(ManifestTest, UnknownGroupKey) {
  expectError(R"({"version": 1, "groups": {"g": {"stratgy": "serial"}}, "tests": []})",
              {": /groups/g: unknown key \"stratgy\"", "allowed: strategy, setup, teardown"});
}

TEST_F(ManifestTest, UnknownDefaultsKey) {
  expectError(R"({"version": 1, "defaults": {"retries": 2}, "tests": []})",
              {": /defaults: unknown key \"retries\"", "allowed: timeout, env, cwd, sandbox"});
}

TEST_F(ManifestTest, UnknownSandboxKey) {
  expectError(oneTest(R"(, "sandbox": {"net": "none"})"),
              {": /tests/0/sandbox: unknown key \"net\"", "allowed: network, memory, pids"});
}

TEST_F(ManifestTest, UnknownGtestKey) {
  expectError(R"({"version": 1, "tests": [{"gtest": "./t.sh", "cmd": ["x"]}]})",
              {": /tests/0: unknown key \"cmd\"", "allowed: gtest, group"});
}

// --- tests ---

TEST_F(ManifestTest, MissingName) {
  expectError(R"({"version": 1, "tests": [{"cmd": ["./t.sh"]}]})", {": /tests/0: missing required key \"name\""});
}

TEST_F(ManifestTest, EmptyOrWrongTypeName) {
  expectError(R"({"version": 1, "tests": [{"name": "", "cmd": ["./t.sh"]}]})",
              {": /tests/0/name: expected a non-empty string, got \"\""});
  expectError(R"({"version": 1, "tests": [{"name": 7, "cmd": ["./t.sh"]}]})",
              {": /tests/0/name: expected a non-empty string, got 7"});
  expectError(R"({"version": 1, "tests": [{"name": "a\nb", "cmd": ["./t.sh"]}]})",
              {": /tests/0/name: expected a name without control characters"});
}

TEST_F(ManifestTest, MissingCmd) {
  expectError(R"({"version": 1, "tests": [{"name": "a"}]})", {": /tests/0: missing required key \"cmd\""});
}

TEST_F(ManifestTest, EmptyCmd) {
  expectError(R"({"version": 1, "tests": [{"name": "a", "cmd": []}]})",
              {": /tests/0/cmd: expected a non-empty array of strings, got []"});
}

TEST_F(ManifestTest, CmdWithNonString) {
  expectError(R"({"version": 1, "tests": [{"name": "a", "cmd": ["./t.sh", 3]}]})",
              {": /tests/0/cmd/1: expected a string, got 3"});
  expectError(R"({"version": 1, "tests": [{"name": "a", "cmd": "./t.sh"}]})",
              {": /tests/0/cmd: expected a non-empty array of strings, got \"./t.sh\""});
}

TEST_F(ManifestTest, CmdNotExecutable) {
  expectError(R"({"version": 1, "tests": [{"name": "a", "cmd": ["plain.txt"]}]})",
              {": /tests/0/cmd/0: \"plain.txt\" is not an executable found in PATH"});
  expectError(R"({"version": 1, "tests": [{"name": "a", "cmd": ["./plain.txt"]}]})",
              {": /tests/0/cmd/0: " + dir() + "/plain.txt is not executable"});
  expectError(R"({"version": 1, "tests": [{"name": "a", "cmd": ["./missing.sh"]}]})",
              {": /tests/0/cmd/0: " + dir() + "/missing.sh does not exist"});
  expectError(R"({"version": 1, "tests": [{"name": "a", "cmd": ["./sub"]}]})",
              {": /tests/0/cmd/0: " + dir() + "/sub is not a regular file"});
  expectError(R"({"version": 1, "tests": [{"name": "a", "cmd": ["no-such-program-xyz"]}]})",
              {": /tests/0/cmd/0: \"no-such-program-xyz\" is not an executable found in PATH"});
  expectError(R"({"version": 1, "tests": [{"name": "a", "cmd": [""]}]})", {": /tests/0/cmd/0: expected a program"});
}

TEST_F(ManifestTest, BareNameSearchesTheTestsOwnPath) {
  expectError(oneTest("").replace(oneTest("").find("./t.sh"), 6, "tool"),
              {": /tests/0/cmd/0: \"tool\" is not an executable found in PATH"});
  Manifest m = loadOk(R"({"version": 1, "tests": [{"name": "a", "cmd": ["tool"], "env": {"PATH": ")" + dir() +
                      R"(/bin"}}]})");
  ASSERT_EQ(m.tests.size(), 1u);
  EXPECT_EQ(m.tests[0].cmd[0], "tool");  // stays bare: the test sees the argv[0] it was given
}

TEST_F(ManifestTest, DuplicateNames) {
  expectError(R"({"version": 1, "tests": [{"name": "a", "cmd": ["./t.sh"]}, {"name": "b", "cmd": ["./t.sh"]},
                                           {"name": "a", "cmd": ["./t.sh"]}]})",
              {": /tests/2/name: duplicate test name \"a\" (already declared at /tests/0/name)"});
}

TEST_F(ManifestTest, DuplicateNameAmongManyTests) {
  std::string text = R"({"version": 1, "tests": [)";
  for (int i = 0; i < 3000; ++i) text += fmt::format(R"({{"name": "t{}", "cmd": ["./t.sh"]}},)", i);
  Manifest m = loadOk(text.substr(0, text.size() - 1) + "]}");
  EXPECT_EQ(m.tests.size(), 3000u);
  expectError(text + R"({"name": "t1234", "cmd": ["./t.sh"]}]})",
              {": /tests/3000/name: duplicate test name \"t1234\" (already declared at /tests/1234/name)"});
}

TEST_F(ManifestTest, BadTimeouts) {
  expectError(oneTest(R"(, "timeout": -1)"), {": /tests/0/timeout: expected a number of seconds > 0", "got -1"});
  expectError(oneTest(R"(, "timeout": 0)"), {": /tests/0/timeout: expected a number of seconds > 0", "got 0"});
  expectError(oneTest(R"(, "timeout": "5")"), {": /tests/0/timeout: expected a number", "got \"5\""});
  expectError(oneTest(R"(, "timeout": 1e999)"), {": /tests/0/timeout: expected a number"});
  expectError(R"({"version": 1, "defaults": {"timeout": 0}, "tests": []})", {": /defaults/timeout: expected"});
  expectError(R"({"version": 1, "groups": {"g": {"timeout": -3}}, "tests": []})", {": /groups/g/timeout: expected"});
}

TEST_F(ManifestTest, BadCwd) {
  expectError(oneTest(R"(, "cwd": "nowhere")"), {": /tests/0/cwd: directory " + dir() + "/nowhere does not exist"});
  expectError(oneTest(R"(, "cwd": "plain.txt")"), {": /tests/0/cwd: " + dir() + "/plain.txt is not a directory"});
  expectError(oneTest(R"(, "cwd": 1)"), {": /tests/0/cwd: expected a non-empty string, got 1"});
  expectError(R"({"version": 1, "defaults": {"cwd": "nowhere"}, "tests": []})", {": /defaults/cwd: directory"});
}

TEST_F(ManifestTest, BadEnv) {
  expectError(oneTest(R"(, "env": ["A=1"])"), {": /tests/0/env: expected an object of strings, got [\"A=1\"]"});
  expectError(oneTest(R"(, "env": {"A": 1})"), {": /tests/0/env/A: expected a string", "got 1"});
  expectError(oneTest(R"(, "env": {"A=B": "1"})"), {": /tests/0/env: invalid variable name \"A=B\""});
  expectError(oneTest(R"(, "env": {"a/b": 1})"), {": /tests/0/env/a~1b: expected a string"});
}

TEST_F(ManifestTest, BadTestScalars) {
  expectError(oneTest(R"(, "skip_exit_code": 256)"), {": /tests/0/skip_exit_code: expected an integer 0..255"});
  expectError(oneTest(R"(, "skip_exit_code": -1)"), {": /tests/0/skip_exit_code: expected an integer 0..255"});
  expectError(oneTest(R"(, "skip_exit_code": "77")"), {": /tests/0/skip_exit_code: expected an integer 0..255"});
  expectError(oneTest(R"(, "will_fail": "yes")"), {": /tests/0/will_fail: expected a boolean, got \"yes\""});
  expectError(oneTest(R"(, "labels": "slow")"), {": /tests/0/labels: expected an array of strings"});
  expectError(oneTest(R"(, "labels": ["a", 2])"), {": /tests/0/labels/1: expected a string, got 2"});
}

// --- groups and strategies ---

TEST_F(ManifestTest, UnknownStrategy) {
  expectError(R"({"version": 1, "groups": {"g": {"strategy": "parallel"}}, "tests": []})",
              {": /groups/g/strategy: expected one of \"free\", \"serial\"", "got \"parallel\""});
  expectError(oneTest(R"(, "group": "g", "strategy": "serail")"), {": /tests/0/strategy: expected one of"});
}

TEST_F(ManifestTest, StrategyConflictsWithGroupsSection) {
  expectError(R"({"version": 1, "groups": {"g": {"strategy": "serial"}},
                  "tests": [{"name": "a", "cmd": ["./t.sh"], "group": "g", "strategy": "free"}]})",
              {": /tests/0/strategy: strategy \"free\" for group \"g\" conflicts with \"serial\" declared at "
               "/groups/g/strategy"});
}

TEST_F(ManifestTest, StrategyConflictsBetweenTests) {
  expectError(R"({"version": 1, "tests": [
                   {"name": "a", "cmd": ["./t.sh"], "group": "g", "strategy": "isolated_serial"},
                   {"name": "b", "cmd": ["./t.sh"], "group": "g"},
                   {"name": "c", "cmd": ["./t.sh"], "group": "g", "strategy": "isolated_free"}]})",
              {": /tests/2/strategy: strategy \"isolated_free\" for group \"g\" conflicts with \"isolated_serial\" "
               "declared at /tests/0/strategy"});
}

TEST_F(ManifestTest, StrategyWithoutGroup) {
  expectError(oneTest(R"(, "strategy": "serial")"), {": /tests/0/strategy: strategy \"serial\" needs a \"group\""});
  Manifest m = loadOk(oneTest(R"(, "strategy": "free")"));
  ASSERT_EQ(m.tests.size(), 1u);
  EXPECT_EQ(m.tests[0].strategy, Strategy::Free);
}

TEST_F(ManifestTest, BadGroupNames) {
  expectError(oneTest(R"(, "group": "my group")"), {": /tests/0/group: expected a group name", "got \"my group\""});
  expectError(oneTest(R"(, "group": "")"), {": /tests/0/group: expected a group name"});
  expectError(R"({"version": 1, "groups": {"a/b": {}}, "tests": []})",
              {": /groups/a~1b: group name \"a/b\" must be 1 to 128 characters from [A-Za-z0-9._-]"});
}

TEST_F(ManifestTest, GroupNotAnObject) {
  expectError(R"({"version": 1, "groups": {"g": "serial"}, "tests": []})",
              {": /groups/g: expected an object, got \"serial\""});
}

TEST_F(ManifestTest, BadSetupAndTeardown) {
  expectError(R"({"version": 1, "groups": {"g": {"setup": []}}, "tests": []})",
              {": /groups/g/setup: expected a non-empty array of strings, got []"});
  expectError(R"({"version": 1, "groups": {"g": {"teardown": ["./plain.txt"]}}, "tests": []})",
              {": /groups/g/teardown/0: " + dir() + "/plain.txt is not executable"});
}

TEST_F(ManifestTest, SandboxOnATestOfASerialGroup) {
  expectError(R"({"version": 1, "groups": {"db": {"strategy": "isolated_serial"}},
                  "tests": [{"name": "a", "cmd": ["./t.sh"], "group": "db", "sandbox": {"pids": 5}}]})",
              {": /tests/0/sandbox: group \"db\" is isolated_serial", "set \"sandbox\" on the group (/groups/db/sandbox)"});
  // The strategy declared by a later test counts too.
  expectError(R"({"version": 1, "tests": [{"name": "a", "cmd": ["./t.sh"], "group": "h", "sandbox": {}},
                                           {"name": "b", "cmd": ["./t.sh"], "group": "h", "strategy": "serial"}]})",
              {": /tests/0/sandbox: group \"h\" is serial"});
}

// --- sandbox values ---

TEST_F(ManifestTest, BadSandboxValues) {
  const std::string p = ": /tests/0/sandbox";
  expectError(oneTest(R"(, "sandbox": "none")"), {p + ": expected an object, got \"none\""});
  expectError(oneTest(R"(, "sandbox": {"network": "bridge"})"),
              {p + "/network: expected \"none\" or \"host\", got \"bridge\""});
  expectError(oneTest(R"(, "sandbox": {"memory": "1X"})"), {p + "/memory: expected a size such as", "got \"1X\""});
  expectError(oneTest(R"(, "sandbox": {"memory": "M"})"), {p + "/memory: expected a size"});
  expectError(oneTest(R"(, "sandbox": {"memory": "0M"})"), {p + "/memory: expected a size"});
  expectError(oneTest(R"(, "sandbox": {"memory": 0})"), {p + "/memory: expected a size", "got 0"});
  expectError(oneTest(R"(, "sandbox": {"memory": -5})"), {p + "/memory: expected a size", "got -5"});
  expectError(oneTest(R"(, "sandbox": {"memory": "-5M"})"), {p + "/memory: expected a size"});
  expectError(oneTest(R"(, "sandbox": {"memory": "99999999999999999999G"})"), {p + "/memory: expected a size"});
  expectError(oneTest(R"(, "sandbox": {"pids": 0})"), {p + "/pids: expected an integer >= 1, got 0"});
  expectError(oneTest(R"(, "sandbox": {"pids": "many"})"), {p + "/pids: expected an integer >= 1"});
  expectError(oneTest(R"(, "sandbox": {"pids": 1.5})"), {p + "/pids: expected an integer >= 1, got 1.5"});
  expectError(oneTest(R"(, "sandbox": {"writable": "out"})"), {p + "/writable: expected an array of strings"});
  expectError(oneTest(R"(, "sandbox": {"writable": ["out", "gone"]})"),
              {p + "/writable/1: writable path " + dir() + "/gone does not exist"});
  expectError(oneTest(R"(, "sandbox": {"user": "root"})"), {p + "/user: expected \"self\" or \"nobody\""});
  expectError(oneTest(R"(, "sandbox": {"seccomp": "strict"})"), {p + "/seccomp: expected \"default\" or \"off\""});
  expectError(oneTest(R"(, "sandbox": {"nested": "yes"})"), {p + "/nested: expected a boolean, got \"yes\""});
}

TEST_F(ManifestTest, SandboxSizes) {
  auto memory = [&](const std::string& v) {
    Manifest m = loadOk(oneTest(R"(, "sandbox": {"memory": )" + v + "}"));
    return m.tests.empty() ? 0 : m.tests[0].settings.sandbox.memory_bytes;
  };
  EXPECT_EQ(memory("\"512M\""), 512ull << 20);
  EXPECT_EQ(memory("\"1G\""), 1ull << 30);
  EXPECT_EQ(memory("\"64k\""), 64ull << 10);
  EXPECT_EQ(memory("\"2T\""), 2ull << 40);
  EXPECT_EQ(memory("\"4096\""), 4096u);
  EXPECT_EQ(memory("1048576"), 1048576u);
}

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
       "env": {"FROM_MANIFEST": "yes"}, "labels": ["unit"]},
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
  EXPECT_EQ(err, "mpexec: cannot list gtest " + dir() + "/broken_gtest: exited with status 1: cannot load libfoo.so\n");
  auto [status2, err2] = runCapturingStderr(m.tests[1].cmd);
  EXPECT_EQ(status2, 1);
  EXPECT_NE(err2.find("cannot list gtest " + dir() + "/never_built: posix_spawn: No such file"), std::string::npos)
      << err2;
  auto [status3, err3] = runCapturingStderr(m.tests[2].cmd);
  EXPECT_EQ(status3, 1);
  EXPECT_NE(err3.find("cannot list gtest plain.txt: posix_spawn"), std::string::npos) << err3;
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
