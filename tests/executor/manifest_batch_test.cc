// Batch groups in the manifest: the schema, the placeholders, and every way to get them wrong.

#include <gtest/gtest.h>

#include "executor/batch_command.h"
#include "executor/manifest.h"
#include "tests/support/manifest_fixture.h"

namespace mpexec {
namespace {

using test::ManifestTest;

/// A manifest with one batch group "g" (`group` holds its extra keys) and the given tests.
std::string batchManifest(const std::string& tests, const std::string& group = R"("strategy": "serial")",
                          const std::string& batch = R"({"cmd": ["./t.sh", "--only={ids:,}", "--xml={junit}"]})") {
  return R"({"version": 1, "groups": {"g": {)" + group + R"(, "batch": )" + batch + R"(}}, "tests": [)" + tests +
         "]}";
}

TEST_F(ManifestTest, BatchGroupAndItsTests) {
  Manifest m = loadOk(batchManifest(R"({"name": "a", "group": "g"},
      {"name": "b", "group": "g", "id": "B.b", "timeout": 5, "labels": ["x"]},
      {"name": "c", "cmd": ["./t.sh"]})",
                                    R"("strategy": "serial", "timeout": 7, "env": {"E": "1"})",
                                    R"J({"cmd": ["./t.sh", "{ids}"], "lines": {"started": "^RUN (.+)$", "pass": "^OK (\\S+)"}})J"));
  const GroupSpec& g = m.groups.at("g");
  ASSERT_TRUE(g.batch);
  EXPECT_EQ(g.batch->cmd, (std::vector<std::string>{dir() + "/t.sh", "{ids}"}));
  ASSERT_TRUE(g.batch->lines.started);
  EXPECT_EQ(g.batch->lines.started->text, "^RUN (.+)$");
  EXPECT_TRUE(g.batch->lines.pass);
  EXPECT_FALSE(g.batch->lines.fail);
  ASSERT_EQ(m.tests.size(), 3u);
  EXPECT_EQ(m.tests[0].id, "a") << "the id defaults to the name";
  EXPECT_TRUE(m.tests[0].cmd.empty());
  EXPECT_EQ(m.tests[0].settings.timeout_s, 7);
  EXPECT_EQ(m.tests[0].settings.env.at("E"), "1");
  EXPECT_EQ(m.tests[1].id, "B.b");
  EXPECT_EQ(m.tests[1].settings.timeout_s, 5);
  EXPECT_EQ(m.tests[2].id, "") << "a test outside a batch group has no id";
  EXPECT_FALSE(m.tests[2].cmd.empty());
}

TEST_F(ManifestTest, BatchStrategyMayBeDeclaredOnATest) {
  Manifest m = loadOk(R"({"version": 1, "groups": {"g": {"batch": {"cmd": ["./t.sh"]}}},
      "tests": [{"name": "a", "group": "g", "strategy": "isolated_serial"}]})");
  EXPECT_EQ(m.tests[0].strategy, Strategy::IsolatedSerial);
  EXPECT_EQ(m.tests[0].id, "a");
}

TEST_F(ManifestTest, BatchInAFreeGroupKeepsEachTestItsOwnUnitAndSandbox) {
  Manifest m = loadOk(batchManifest(R"({"name": "a", "group": "g", "sandbox": {"network": "host"}, "timeout": 4},
      {"name": "b", "group": "g", "id": "B.b"})", R"("strategy": "free")"));
  ASSERT_EQ(m.tests.size(), 2u);
  EXPECT_EQ(m.tests[0].strategy, Strategy::Free);
  EXPECT_EQ(m.tests[0].id, "a");
  EXPECT_TRUE(m.tests[0].cmd.empty());
  EXPECT_EQ(m.tests[0].settings.sandbox.network, sandbox::Network::Host) << "a free test has its own sandbox";
  EXPECT_EQ(m.tests[0].settings.timeout_s, 4);
  EXPECT_EQ(m.tests[1].id, "B.b");
  // However the strategy is declared; the group's env is still the batch command's.
  m = loadOk(R"({"version": 1, "groups": {"g": {"batch": {"cmd": ["./t.sh"]}}},
      "tests": [{"name": "a", "group": "g", "strategy": "isolated_free"}]})");
  EXPECT_EQ(m.tests[0].strategy, Strategy::IsolatedFree);
  expectError(batchManifest(R"({"name": "a", "group": "g", "env": {"A": "1"}})", R"("strategy": "free")"),
              {": /tests/0/env: a test of batch group \"g\" runs in the group's batch command"});
}

TEST_F(ManifestTest, BatchObjectIsChecked) {
  expectError(batchManifest("", R"("strategy": "serial")", "[]"), {": /groups/g/batch: expected an object"});
  expectError(batchManifest("", R"("strategy": "serial")", "{}"), {": /groups/g/batch: missing required key \"cmd\""});
  expectError(batchManifest("", R"("strategy": "serial")", R"({"cmd": ["./t.sh"], "cwd": "."})"),
              {": /groups/g/batch: unknown key \"cwd\" (allowed: cmd, lines, preload)"});
  expectError(batchManifest("", R"("strategy": "serial")", R"({"cmd": []})"),
              {": /groups/g/batch/cmd: expected a non-empty array of strings"});
  expectError(batchManifest("", R"("strategy": "serial")", R"({"cmd": ["./plain.txt"]})"),
              {": /groups/g/batch/cmd/0: ", "plain.txt is not executable"});
}

TEST_F(ManifestTest, BatchPreloadIsPytestsAndNeedsItsCommand) {
  Manifest m = loadOk(batchManifest("", R"("strategy": "serial")",
                                    R"({"cmd": ["/usr/bin/python3", "-m", "pytest", "-q"], "preload": "pytest"})"));
  EXPECT_EQ(m.groups.at("g").batch->preload, "pytest");
  EXPECT_EQ(loadOk(batchManifest("", R"("strategy": "serial")")).groups.at("g").batch->preload, "");
  expectError(batchManifest("", R"("strategy": "serial")", R"({"cmd": ["/usr/bin/python3", "-m", "pytest"], "preload": "nose"})"),
              {": /groups/g/batch/preload: the one interpreter mpexec preloads is \"pytest\", got \"nose\""});
  expectError(batchManifest("", R"("strategy": "serial")", R"({"cmd": ["/usr/bin/python3", "-m", "pytest"], "preload": 1})"),
              {": /groups/g/batch/preload: expected a non-empty string, got 1"});
  expectError(batchManifest("", R"("strategy": "serial")", R"({"cmd": ["./t.sh", "{ids}"], "preload": "pytest"})"),
              {": /groups/g/batch/preload: \"preload\": \"pytest\" needs a cmd of the form [PYTHON, \"-m\", \"pytest\", ...]"});
}

TEST_F(ManifestTest, BatchPlaceholdersAreChecked) {
  auto cmd = [](const std::string& arg) { return R"({"cmd": ["./t.sh", )" + arg + "]}"; };
  expectError(batchManifest("", R"("strategy": "serial")", cmd(R"("--filter={ids}")")),
              {": /groups/g/batch/cmd/1: {ids} must be a whole argument; inside one use {ids:SEP}",
               R"(got "--filter={ids}")"});
  expectError(batchManifest("", R"("strategy": "serial")", cmd(R"("{ids:}")")),
              {": /groups/g/batch/cmd/1: {ids:SEP} needs a separator"});
  expectError(batchManifest("", R"("strategy": "serial")", cmd(R"("{ids:,")")),
              {": /groups/g/batch/cmd/1: {ids:SEP} needs its closing '}'"});
  expectError(batchManifest("", R"("strategy": "serial")", cmd(R"("{idz}", "{junit:x}")")),
              {": /groups/g/batch/cmd/2: unknown placeholder"});
  expectError(batchManifest("", R"("strategy": "serial")", cmd(R"("{ids_file}")")),
              {": /groups/g/batch/cmd/1: unknown placeholder"});
  // Other braces are left alone.
  loadOk(batchManifest("", R"("strategy": "serial")", cmd(R"("{\"a\": 1}", "{id}", "x{junit}y", "{ids: and }")")));
}

TEST_F(ManifestTest, BatchLinesAreChecked) {
  auto lines = [](const std::string& l) { return R"({"cmd": ["./t.sh"], "lines": )" + l + "}"; };
  expectError(batchManifest("", R"("strategy": "serial")", lines("{}")),
              {": /groups/g/batch/lines: expected an object with at least one of started, pass, fail, skip, error"});
  expectError(batchManifest("", R"("strategy": "serial")", lines(R"J({"ok": "(x)"})J")),
              {": /groups/g/batch/lines: unknown key \"ok\" (allowed: started, pass, fail, skip, error)"});
  expectError(batchManifest("", R"("strategy": "serial")", lines(R"J({"pass": "(unclosed"})J")),
              {": /groups/g/batch/lines/pass: not a valid regular expression"});
  expectError(batchManifest("", R"("strategy": "serial")", lines(R"({"fail": "^FAIL .+$"})")),
              {": /groups/g/batch/lines/fail: needs a capture group for the id"});
  expectError(batchManifest("", R"("strategy": "serial")", lines(R"({"skip": 3})")),
              {": /groups/g/batch/lines/skip: expected a non-empty string, got 3"});
}

TEST_F(ManifestTest, BatchTestsShareTheGroupsProcess) {
  expectError(batchManifest(R"({"name": "a", "group": "g", "cmd": ["./t.sh"]})"),
              {": /tests/0/cmd: a test of batch group \"g\" has no \"cmd\""});
  expectError(batchManifest(R"({"name": "a", "group": "g", "env": {"A": "1"}})"),
              {": /tests/0/env: a test of batch group \"g\" runs in the group's batch command: set \"env\" on /groups/g"});
  expectError(batchManifest(R"({"name": "a", "group": "g", "cwd": "sub"})"), {": /tests/0/cwd: "});
  expectError(batchManifest(R"({"name": "a", "group": "g", "resource_groups": [{"gpu": 1}]})"),
              {": /tests/0/resource_groups: a test of batch group \"g\" shares the group's process, which cannot be "
               "told each test's groups"});
  expectError(batchManifest(R"({"name": "a", "group": "g", "skip_exit_code": 3})"),
              {": /tests/0/skip_exit_code: a test of batch group \"g\" has the outcome its batch command reports"});
  expectError(batchManifest(R"({"name": "a", "group": "g", "will_fail": true})"), {": /tests/0/will_fail: "});
  expectError(batchManifest(R"({"name": "a", "group": "g", "pass_regex": ["ok"]})"),
              {": /tests/0/pass_regex: a test of batch group \"g\" has the outcome its batch command reports"});
  expectError(batchManifest(R"({"name": "a", "group": "g", "sandbox": {"network": "host"}})"),
              {": /tests/0/sandbox: group \"g\" is serial"});
}

TEST_F(ManifestTest, BatchIds) {
  expectError(batchManifest(R"({"name": "a", "group": "g", "id": "x"}, {"name": "b", "group": "g", "id": "x"})"),
              {": /tests/1/id: duplicate id \"x\" in batch group \"g\" (already at /tests/0/id)"});
  expectError(batchManifest(R"({"name": "x", "group": "g"}, {"name": "b", "group": "g", "id": "x"})"),
              {": /tests/1/id: duplicate id \"x\"", "(already at /tests/0/name)"});
  expectError(batchManifest(R"({"name": "a", "group": "g", "id": "two\nlines"})"),
              {": /tests/0/id: expected an id without control characters"});
  expectError(batchManifest(R"({"name": "a", "group": "g", "id": ""})"), {": /tests/0/id: expected a non-empty string"});
  expectError(oneTest(R"(, "id": "x")"), {": /tests/0/id: \"id\" is only for a test of a batch group"});
  // The same id in two groups is fine: each group's command has its own.
  loadOk(R"({"version": 1, "groups": {"g": {"strategy": "serial", "batch": {"cmd": ["./t.sh"]}},
                                      "h": {"strategy": "serial", "batch": {"cmd": ["./t.sh"]}}},
      "tests": [{"name": "a", "group": "g", "id": "x"}, {"name": "b", "group": "h", "id": "x"}]})");
}

TEST_F(ManifestTest, GtestEntryInABatchGroup) {
  tmp_.write("build/fake_gtest", "#!/bin/sh\necho Math.\necho '  Adds'\necho '  Subs'\n", true);
  Manifest m = loadOk(R"({"version": 1,
      "groups": {"unit": {"strategy": "serial", "batch": {"cmd": ["build/fake_gtest", "--gtest_filter={ids::}"]}}},
      "tests": [{"gtest": "build/fake_gtest", "group": "unit", "timeout": 3}]})");
  ASSERT_EQ(m.tests.size(), 2u);
  EXPECT_EQ(m.tests[0].name, "fake_gtest.Math.Adds");
  EXPECT_EQ(m.tests[0].id, "Math.Adds");
  EXPECT_TRUE(m.tests[0].cmd.empty());
  EXPECT_EQ(m.tests[1].settings.timeout_s, 3);
  expectError(R"({"version": 1,
      "groups": {"unit": {"strategy": "serial", "batch": {"cmd": ["build/fake_gtest"]}}},
      "tests": [{"gtest": "build/fake_gtest", "group": "unit", "env": {"A": "b"}}]})",
              {": /tests/0/env: a test of batch group \"unit\" runs in the group's batch command"});
}

TEST(BatchCommandTest, Expands) {
  std::vector<std::string> cmd = {"bin", "{ids}", "--f={ids::}", "--x={junit}", "{ids:, }!", "{\"k\": 1}", "{id}"};
  EXPECT_EQ(expandBatchCommand(cmd, {"A.a", "B.b"}, "/o/j.xml"),
            (std::vector<std::string>{"bin", "A.a", "B.b", "--f=A.a:B.b", "--x=/o/j.xml", "A.a, B.b!", "{\"k\": 1}",
                                      "{id}"}));
  EXPECT_EQ(expandBatchCommand({"bin", "{ids}", "-f={ids:,}"}, {"only"}, "j"),
            (std::vector<std::string>{"bin", "only", "-f=only"}));
  EXPECT_EQ(batchPlaceholderProblem("{ids}{ids}"), "{ids} must be a whole argument; inside one use {ids:SEP}");
  EXPECT_EQ(batchPlaceholderProblem("{junit}{junit}{ids:-}"), "");
}

}  // namespace
}  // namespace mpexec
