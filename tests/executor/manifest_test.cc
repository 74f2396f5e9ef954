// Every kind of bad manifest input, rejected with the file, the place and what was expected.

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
// --- reading and syntax ---

TEST_F(ManifestTest, MissingFile) {
  auto r = loadManifest(dir() + "/nope.json");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), dir() + "/nope.json: cannot read: No such file or directory");
}

// A manifest is read from a file or a pipe (mpexec <(generate)); a directory or a device is an error, not
// a read that never ends (/dev/zero) or acts on the device.
TEST_F(ManifestTest, DirectoriesAndDevicesAreNotRead) {
  auto dir = loadManifest(tmp_.path());
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.error().message(), tmp_.path() + ": is a directory, expected a file");
  auto zero = loadManifest("/dev/zero");
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().message(), "/dev/zero: is a device or a socket, expected a file");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::string text = R"({"version": 1, "tests": [{"name": "a", "cmd": ["/bin/true"]}]})";
  ASSERT_EQ(write(fds[1], text.data(), text.size()), ssize_t(text.size()));
  close(fds[1]);
  auto piped = loadManifest("/proc/self/fd/" + std::to_string(fds[0]));
  close(fds[0]);
  ASSERT_TRUE(piped.ok()) << piped.error().message();
  EXPECT_EQ(piped->tests.size(), 1u);
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
              {": /: unknown key \"test\"", "allowed: version, resources, defaults, groups, tests"});
}

TEST_F(ManifestTest, UnknownTestKey) {
  expectError(oneTest(R"(, "timout": 5)"), {": /tests/0: unknown key \"timout\"", "allowed: name, id, cmd, group"});
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

// A NUL would cut a string where the kernel reads it, so that "tr\u0000ue" ran `tr`: refused in every
// string the manifest holds, naming the place.
TEST_F(ManifestTest, NulInAnyStringIsAnError) {
  const std::string nul = "\\u0000";
  expectError(oneTest(R"(, "labels": ["fa)" + nul + R"(st"])"),
              {": /tests/0/labels/0: expected a string without NUL characters, got \"fa\\u0000st\""});
  expectError(R"({"version": 1, "tests": [{"name": "a", "cmd": ["tr)" + nul + R"(ue"]}]})",
              {": /tests/0/cmd/0: expected a string without NUL characters"});
  expectError(R"({"version": 1, "tests": [{"name": "a", "cmd": ["sh", "-c", "exit 3)" + nul + R"("]}]})",
              {": /tests/0/cmd/2: expected a string without NUL characters"});
  expectError(oneTest(R"(, "cwd": "sub)" + nul + R"(junk")"), {": /tests/0/cwd: expected a string without NUL"});
  expectError(oneTest(R"(, "sandbox": {"writable": ["out)" + nul + R"("]})"),
              {": /tests/0/sandbox/writable/0: expected a string without NUL"});
  expectError(R"({"version": 1, "groups": {"g": {"setup": ["./t.sh", ")" + nul + R"("]}}, "tests": []})",
              {": /groups/g/setup/1: expected a string without NUL"});
  expectError(R"({"version": 1, "groups": {"g": {"teardown": ["./t.sh)" + nul + R"("]}}, "tests": []})",
              {": /groups/g/teardown/0: expected a string without NUL"});
  expectError(R"({"version": 1, "tests": [{"gtest": "bin/tool)" + nul + R"("}]})", {": /tests/0/gtest: expected a string without NUL"});
  expectError(oneTest(R"(, "env": {"A": "1)" + nul + R"("})"), {": /tests/0/env/A: expected a string without NUL"});
}

TEST_F(ManifestTest, RepeatedKeyNamesBothPlaces) {
  expectError("{\"version\": 1,\n \"tests\": [],\n \"version\": 1}",
              {":3:2: duplicate key \"version\" in one object (first at line 1, column 2)"});
  expectError(oneTest(R"(, "name": "b")"), {":1:59: duplicate key \"name\" in one object (first at line 1, column 27)"});
}

TEST_F(ManifestTest, ByteOrderMarkAndCrlfAreRead) {
  Manifest m = loadOk("\xef\xbb\xbf{\"version\": 1,\r\n \"tests\": [{\"name\": \"a\", \"cmd\": [\"./t.sh\"]}]}\r\n");
  ASSERT_EQ(m.tests.size(), 1u);
  EXPECT_EQ(m.tests[0].name, "a");
}

// Paths in messages are shown with their control characters escaped, never raw on the terminal.
TEST_F(ManifestTest, PathsInMessagesShowControlCharacters) {
  expectError(R"({"version": 1, "tests": [{"name": "a", "cmd": ["./t\u001b[2J"]}]})",
              {": /tests/0/cmd/0: ", "/t\\x1b[2J does not exist"});
  expectError(oneTest(R"(, "cwd": "d\u0007")"), {": /tests/0/cwd: directory ", "/d\\x07 does not exist"});
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
  expectError(oneTest(R"(, "skip_exit_code": true)"),
              {": /tests/0/skip_exit_code: expected an integer 0..255 (or null: no exit code means skip), got true"});
}

TEST_F(ManifestTest, BadResources) {
  auto with = [](const std::string& top, const std::string& test) {
    return R"({"version": 1, )" + top + R"("tests": [{"name": "a", "cmd": ["./t.sh"])" + test + "}]}";
  };
  expectError(with(R"("resources": [1], )", ""), {": /resources: expected an object of resource names and counts, got [1]"});
  expectError(with(R"("resources": {"GPU": 1}, )", ""),
              {": /resources/GPU: resource name \"GPU\" must be 1 to 64 characters from [a-z0-9_], not starting with a digit"});
  expectError(with(R"("resources": {"gpu": -1}, )", ""), {": /resources/gpu: expected how many exist, an integer 0..1024, got -1"});
  expectError(with(R"("resources": {"gpu": 1.5}, )", ""), {": /resources/gpu: expected how many exist, an integer 0..1024"});
  expectError(with(R"("resources": {"gpu": 5000}, )", ""), {": /resources/gpu: expected how many exist, an integer 0..1024"});
  expectError(with("", R"(, "resources": {"gpu": 1})"),
              {": /tests/0/resources/gpu: resource \"gpu\" is not declared: say how many exist in /resources, or with "
               "--resources gpu=N"});
  expectError(with(R"("resources": {"gpu": 2}, )", R"(, "resources": {"gpu": 3})"),
              {": /tests/0/resources/gpu: needs 3 gpu, but 2 exist (/resources/gpu), so it could never run"});
  expectError(with(R"("resources": {"gpu": 2}, )", R"(, "resources": {"gpu": "1"})"),
              {": /tests/0/resources/gpu: expected how many it needs, an integer >= 0, got \"1\""});
  expectError(with(R"("resources": {"gpu": 2}, )", R"(, "resources": ["gpu"])"),
              {": /tests/0/resources: expected an object of resource names and counts, got [\"gpu\"]"});
  expectError(R"({"version": 1, "resources": {"db": 1}, "groups": {"g": {"resources": {"db": 2}}}, "tests": []})",
              {": /groups/g/resources/db: needs 2 db, but 1 exist (/resources/db)"});
  // --resources counts replace the manifest's, and an error says where the count came from.
  ManifestOptions opts;
  opts.resources = {{"gpu", 1}};
  tmp_.write("m.json", with(R"("resources": {"gpu": 4}, )", R"(, "resources": {"gpu": 2})"));
  auto r = loadManifest(path(), opts);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("/tests/0/resources/gpu: needs 2 gpu, but 1 exist (--resources)"), std::string::npos)
      << r.error().message();
}

TEST_F(ManifestTest, CtestsResourceGroupsNeedAnInstancePerGroup) {
  tmp_.write("m.json", R"({"version": 1, "resources": {"gpus": 3, "crypto": 1},
    "groups": {"g": {"strategy": "serial", "resources": {"gpus": 1, "crypto": 1}}},
    "tests": [{"name": "a", "cmd": ["./t.sh"], "resource_groups": [{"gpus": 1}, {"gpus": 2, "crypto": 4}]},
              {"name": "b", "cmd": ["./t.sh"], "group": "g", "resource_groups": [{"gpus": 1}, {"gpus": 1}]}]})");
  auto r = loadManifest(path());
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->tests[0].resources, (ResourceCounts{{"crypto", 1}, {"gpus", 2}}));
  EXPECT_EQ(r->tests[0].resource_groups, (ResourceGroups{{{"gpus", 1}}, {{"crypto", 4}, {"gpus", 2}}}));
  // Over its group's needs, name by name.
  EXPECT_EQ(r->tests[1].resources, (ResourceCounts{{"crypto", 1}, {"gpus", 2}}));

  auto with = [](const std::string& test) {
    return R"({"version": 1, "resources": {"gpus": 2}, "tests": [{"name": "a", "cmd": ["./t.sh"])" + test + "}]}";
  };
  expectError(with(R"(, "resource_groups": [{"gpus": 1}, {"gpus": 1}, {"gpus": 1}])"),
              {": /tests/0/resource_groups/2/gpus: needs 3 gpus, but 2 exist (/resources/gpus), so it could never run"});
  expectError(with(R"(, "resource_groups": [{"tpu": 1}])"),
              {": /tests/0/resource_groups/0/tpu: resource \"tpu\" is not declared"});
  expectError(with(R"(, "resource_groups": [{"gpus": 0}])"),
              {": /tests/0/resource_groups/0/gpus: expected the slots it asks of one gpus, an integer 1..1024, got 0"});
  expectError(with(R"(, "resource_groups": [])"), {": /tests/0/resource_groups: expected an array of 1 to 1024 groups"});
  expectError(with(R"(, "resource_groups": [{}])"), {": /tests/0/resource_groups/0: expected a group"});
  expectError(with(R"(, "resources": {"gpus": 1}, "resource_groups": [{"gpus": 1}])"),
              {": /tests/0/resource_groups: give \"resources\" or \"resource_groups\", not both"});
  expectError(R"({"version": 1, "resources": {"gpus": 2}, "groups": {"g": {"resource_groups": [{"gpus": 1}]}}, "tests": []})",
              {": /groups/g: unknown key \"resource_groups\""});
}

TEST_F(ManifestTest, BadOutputRules) {
  expectError(oneTest(R"(, "pass_regex": 1)"), {": /tests/0/pass_regex: expected a regular expression or an array of them, got 1"});
  expectError(oneTest(R"(, "fail_regex": {"a": 1})"), {": /tests/0/fail_regex: expected a regular expression or an array"});
  expectError(oneTest(R"(, "skip_regex": ["ok", 2])"), {": /tests/0/skip_regex/1: expected a string, got 2"});
  expectError(oneTest(R"(, "pass_regex": "")"), {": /tests/0/pass_regex: expected a non-empty regular expression, got \"\""});
  expectError(oneTest(R"(, "pass_regex": ["ok", ""])"), {": /tests/0/pass_regex/1: expected a non-empty regular expression"});
  expectError(oneTest(R"j(, "fail_regex": "(unclosed")j"),
              {": /tests/0/fail_regex: \"(unclosed\" is not a valid regular expression (RE2 syntax): missing ): (unclosed"});
  expectError(oneTest(R"(, "skip_regex": ["a", "x**"])"),
              {": /tests/0/skip_regex/1: \"x**\" is not a valid regular expression (RE2 syntax): bad repetition operator: **"});
  expectError(oneTest(R"j(, "pass_regex": "(?<name>x)")j"), {": /tests/0/pass_regex: ", "invalid perl operator: (?<"});
  expectError(oneTest(R"(, "pass_regex": "\\1")"), {": /tests/0/pass_regex: ", "invalid escape sequence"});
  expectError(oneTest(R"(, "pass_regexp": "ok")"), {": /tests/0: unknown key \"pass_regexp\"", "pass_regex, fail_regex, skip_regex"});
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
  // The place is printable too: a key's control characters are escaped in it as in the value.
  expectError(R"({"version": 1, "groups": {"a\u001b[2Jb": {}}, "tests": []})",
              {": /groups/a\\x1b[2Jb: group name \"a\\u001b[2Jb\" must be"});
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
  expectError(oneTest(R"(, "sandbox": {"pids": 0})"), {p + "/pids: expected an integer from 1 to 4194304, got 0"});
  expectError(oneTest(R"(, "sandbox": {"pids": "many"})"), {p + "/pids: expected an integer from 1 to 4194304"});
  expectError(oneTest(R"(, "sandbox": {"pids": 1.5})"), {p + "/pids: expected an integer from 1 to 4194304, got 1.5"});
  expectError(oneTest(R"(, "sandbox": {"pids": 4194305})"), {p + "/pids: expected an integer from 1 to 4194304"});
  expectError(oneTest(R"(, "sandbox": {"pids": 18446744073709551615})"), {p + "/pids: expected an integer from 1 to"});
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

}  // namespace
}  // namespace mpexec
