#include "executor/import/import_ctest.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "executor/manifest.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

namespace json = boost::json;

// CTest's json-v1 with the given tests (each a JSON object text).
std::string ctestJson(const std::vector<std::string>& tests) {
  std::string s = R"({"kind": "ctestInfo", "version": {"major": 1, "minor": 0}, "backtraceGraph": {}, "tests": [)";
  for (size_t i = 0; i < tests.size(); ++i) s += (i ? "," : "") + tests[i];
  return s + "]}";
}

std::string test(const std::string& name, const std::string& props = "", const std::string& cmd = R"(["/bin/sh", "-c", "exit 0"])") {
  return R"({"name": ")" + name + R"(", "command": )" + cmd + R"(, "properties": [)" + props + "]}";
}

struct Imported {
  CtestImport import;
  json::object manifest;
  const json::object& entry(const std::string& name) const {
    for (const auto& t : manifest.at("tests").as_array())
      if (t.as_object().at("name") == name.c_str()) return t.as_object();
    throw std::runtime_error("no test " + name);
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& t : manifest.at("tests").as_array()) out.emplace_back(t.as_object().at("name").as_string());
    return out;
  }
  std::string group(const std::string& name) const {
    const json::value* g = entry(name).if_contains("group");
    return g ? std::string(g->as_string()) : "";
  }
  std::string strategy(const std::string& group) const {
    return std::string(manifest.at("groups").as_object().at(group).as_object().at("strategy").as_string());
  }
};

Imported import(const std::vector<std::string>& tests, const std::string& build_dir = "/tmp") {
  auto r = importCtestJson(ctestJson(tests), {.build_dir = build_dir});
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  if (!r.ok()) return {};
  Imported out{r.value(), json::parse(r->manifest).as_object()};
  return out;
}

TEST(ImportCtestTest, MapsCommandAndProperties) {
  test::TempDir dir;
  auto r = import({test("t", R"({"name": "WORKING_DIRECTORY", "value": ")" + dir.path() + R"("},
                                 {"name": "ENVIRONMENT", "value": ["A=1", "B=x=y"]},
                                 {"name": "TIMEOUT", "value": 12.5},
                                 {"name": "LABELS", "value": ["fast", "unit"]},
                                 {"name": "WILL_FAIL", "value": true},
                                 {"name": "SKIP_RETURN_CODE", "value": 4})")},
                  dir.path());
  const auto& t = r.entry("t");
  EXPECT_EQ(t.at("cmd"), json::parse(R"(["/bin/sh", "-c", "exit 0"])"));
  EXPECT_EQ(t.at("cwd"), dir.path().c_str());
  EXPECT_EQ(t.at("env"), json::parse(R"({"A": "1", "B": "x=y"})"));
  EXPECT_EQ(t.at("timeout").to_number<double>(), 12.5);
  EXPECT_EQ(t.at("labels"), json::parse(R"(["fast", "unit"])"));
  EXPECT_EQ(t.at("will_fail"), true);
  EXPECT_EQ(t.at("skip_exit_code"), 4);
  EXPECT_FALSE(t.contains("group"));
  // The build tree stays writable in the sandbox, and tests without TIMEOUT get CTest's default.
  EXPECT_EQ(r.manifest.at("defaults").at_pointer("/sandbox/writable/0"), dir.path().c_str());
  EXPECT_EQ(r.manifest.at("defaults").at("timeout").to_number<double>(), 1500);
  EXPECT_TRUE(r.import.warnings.empty());

  // What it writes is a manifest mpexec accepts, with the same meaning.
  auto m = parseManifest(r.import.manifest, dir.path() + "/m.json");
  ASSERT_TRUE(m.ok()) << m.error().message();
  ASSERT_EQ(m->tests.size(), 1u);
  EXPECT_TRUE(m->tests[0].will_fail);
  EXPECT_EQ(m->tests[0].skip_exit_code, 4);
  EXPECT_EQ(m->tests[0].settings.env.at("B"), "x=y");
  EXPECT_EQ(m->tests[0].settings.timeout_s, 12.5);
}

TEST(ImportCtestTest, DisabledTestsAreLeftOutAndListed) {
  auto r = import({test("on"), test("off", R"({"name": "DISABLED", "value": true})")});
  EXPECT_EQ(r.names(), (std::vector<std::string>{"on"}));
  EXPECT_EQ(r.import.disabled, (std::vector<std::string>{"off"}));
}

TEST(ImportCtestTest, RunSerialGetsAnIsolatedSerialGroupOfItsOwn) {
  auto r = import({test("a", R"({"name": "RUN_SERIAL", "value": true})"), test("b"),
                   test("c", R"({"name": "RUN_SERIAL", "value": true})")});
  EXPECT_EQ(r.group("b"), "");
  ASSERT_NE(r.group("a"), "");
  EXPECT_NE(r.group("a"), r.group("c"));
  EXPECT_EQ(r.strategy(r.group("a")), "isolated_serial");
  EXPECT_EQ(r.strategy(r.group("c")), "isolated_serial");
}

TEST(ImportCtestTest, TestsSharingAnyLockJoinOneSerialGroup) {
  // a-b share x, b-c share y: one component; d has a lock of its own; e none.
  auto r = import({test("a", R"({"name": "RESOURCE_LOCK", "value": ["x"]})"),
                   test("d", R"({"name": "RESOURCE_LOCK", "value": ["z"]})"),
                   test("c", R"({"name": "RESOURCE_LOCK", "value": ["y"]})"), test("e"),
                   test("b", R"({"name": "RESOURCE_LOCK", "value": ["x", "y"]})")});
  EXPECT_EQ(r.group("a"), r.group("b"));
  EXPECT_EQ(r.group("b"), r.group("c"));
  EXPECT_NE(r.group("d"), r.group("a"));
  EXPECT_NE(r.group("d"), "");
  EXPECT_EQ(r.group("e"), "");
  EXPECT_EQ(r.strategy(r.group("a")), "serial");
  // A group's tests are written together, at the place of its first test.
  EXPECT_EQ(r.names(), (std::vector<std::string>{"a", "c", "b", "d", "e"}));
}

TEST(ImportCtestTest, RunSerialInALockGroupIsolatesTheGroup) {
  auto r = import({test("a", R"({"name": "RESOURCE_LOCK", "value": ["x"]})"),
                   test("b", R"({"name": "RESOURCE_LOCK", "value": ["x"]}, {"name": "RUN_SERIAL", "value": true})")});
  EXPECT_EQ(r.group("a"), r.group("b"));
  EXPECT_EQ(r.strategy(r.group("a")), "isolated_serial");
}

TEST(ImportCtestTest, FixturesRunSetupThenUsersThenCleanupInOneGroup) {
  // CTest's order puts the cleanup first and the setup last: the group reorders them.
  auto r = import({test("clean", R"({"name": "FIXTURES_CLEANUP", "value": ["db"]})"),
                   test("use1", R"({"name": "FIXTURES_REQUIRED", "value": ["db"]})"), test("other"),
                   test("use2", R"({"name": "FIXTURES_REQUIRED", "value": ["db"]})"),
                   test("setup", R"({"name": "FIXTURES_SETUP", "value": ["db"]})"),
                   test("lonely", R"({"name": "FIXTURES_REQUIRED", "value": ["nobody_sets_this_up"]})")});
  EXPECT_EQ(r.names(), (std::vector<std::string>{"setup", "use1", "use2", "clean", "other", "lonely"}));
  EXPECT_EQ(r.group("setup"), r.group("clean"));
  EXPECT_EQ(r.group("setup"), r.group("use2"));
  EXPECT_EQ(r.strategy(r.group("setup")), "serial");
  EXPECT_EQ(r.group("lonely"), "");  // a fixture without setup or cleanup needs nothing
  EXPECT_EQ(r.group("other"), "");
}

TEST(ImportCtestTest, WarnsAboutEveryPropertyItCannotHonourNamingTheTests) {
  auto r = import({test("a", R"({"name": "TIMEOUT_AFTER_MATCH", "value": ["1", "ok"]})"),
                   test("b", R"({"name": "TIMEOUT_AFTER_MATCH", "value": ["1", "ok"]}, {"name": "SOMETHING_NEW", "value": 1})"),
                   test("c", R"({"name": "DEPENDS", "value": ["a"]}, {"name": "COST", "value": 3.0})")});
  std::string all;
  for (const auto& w : r.import.warnings) all += w + "\n";
  EXPECT_NE(all.find("TIMEOUT_AFTER_MATCH"), std::string::npos) << all;
  EXPECT_NE(all.find(": a, b"), std::string::npos) << all;
  EXPECT_NE(all.find("SOMETHING_NEW"), std::string::npos) << all;
  EXPECT_NE(all.find("DEPENDS"), std::string::npos) << all;
  EXPECT_NE(all.find("c (on a)"), std::string::npos) << all;
  EXPECT_EQ(all.find("COST"), std::string::npos) << all;
  EXPECT_EQ(r.import.warnings.size(), 3u) << all;
}

TEST(ImportCtestTest, ResourceGroupsCarryOverAndTheCountsAreLeftToTheRun) {
  // json-v1 as ctest lists RESOURCE_GROUPS "2,gpus:1;gpus:1,crypto:2".
  auto r = import({test("gpu", R"({"name": "RESOURCE_GROUPS", "value": [
                       {"requirements": [{".type": "gpus", "slots": 1}]}, {"requirements": [{".type": "gpus", "slots": 1}]},
                       {"requirements": [{".type": "gpus", "slots": 1}, {".type": "crypto", "slots": 2}]}]})"),
                   test("bad", R"({"name": "RESOURCE_GROUPS", "value": [{"requirements": [{".type": "GPU", "slots": 1}]}]})"),
                   test("cpu")});
  EXPECT_EQ(json::serialize(r.entry("gpu").at("resource_groups")), R"([{"gpus":1},{"gpus":1},{"crypto":2,"gpus":1}])");
  EXPECT_FALSE(r.entry("bad").contains("resource_groups"));
  EXPECT_FALSE(r.entry("cpu").contains("resource_groups"));
  EXPECT_FALSE(r.manifest.contains("resources"));
  std::string all;
  for (const auto& w : r.import.warnings) all += w + "\n";
  EXPECT_EQ(all.find("RESOURCE_GROUPS is not honoured"), std::string::npos) << all;
  EXPECT_NE(all.find("bad: RESOURCE_GROUPS [{\"requirements\":[{\".type\":\"GPU\",\"slots\":1}]}] names a resource mpexec "
                     "cannot (GPU); left out"), std::string::npos) << all;
  EXPECT_NE(all.find("RESOURCE_GROUPS need crypto, gpus: say how many exist when you run it, mpexec "
                     "--resource-spec-file FILE (ctest's) or --resources crypto=N,gpus=N"), std::string::npos) << all;
}

TEST(ImportCtestTest, RegularExpressionsAreRewrittenAndHonoured) {
  auto r = import({test("re", R"({"name": "PASS_REGULAR_EXPRESSION", "value": ["All tests passed", "x{2}"]},
                                 {"name": "FAIL_REGULAR_EXPRESSION", "value": ["Segm.*fault"]},
                                 {"name": "SKIP_REGULAR_EXPRESSION", "value": "\\[  SKIPPED \\]"})"),
                   test("plain")});
  const auto& t = r.entry("re");
  EXPECT_EQ(t.at("pass_regex"), json::parse(R"(["All tests passed", "x\\{2\\}"])"));
  EXPECT_EQ(t.at("fail_regex"), json::parse(R"(["(?s)Segm.*fault"])"));
  EXPECT_EQ(t.at("skip_regex"), json::parse(R"(["\\[  SKIPPED \\]"])"));
  EXPECT_FALSE(r.entry("plain").contains("pass_regex"));
  EXPECT_TRUE(r.import.warnings.empty()) << r.import.warnings[0];
  auto m = parseManifest(r.import.manifest, "/tmp/m.json");
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->tests[0].output_rules.pass.size(), 2u);
  EXPECT_EQ(m->tests[0].output_rules.fail.size(), 1u);
  EXPECT_EQ(m->tests[0].output_rules.skip.size(), 1u);
}

TEST(ImportCtestTest, WithoutSkipReturnCodeNoExitCodeIsASkip) {
  auto r = import({test("plain"), test("four", R"({"name": "SKIP_RETURN_CODE", "value": 4})")});
  EXPECT_TRUE(r.entry("plain").at("skip_exit_code").is_null());
  EXPECT_EQ(r.entry("four").at("skip_exit_code"), 4);
  auto m = parseManifest(r.import.manifest, "/tmp/m.json");
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_FALSE(m->tests[0].skip_exit_code.has_value());
}

TEST(ImportCtestTest, ExpressionsCtestCannotCompileNeverMatch) {
  auto r = import({test("all_broken", R"({"name": "PASS_REGULAR_EXPRESSION", "value": ["o**"]})"),
                   test("one_broken", R"({"name": "PASS_REGULAR_EXPRESSION", "value": ["(ok", "ok"]},
                                         {"name": "FAIL_REGULAR_EXPRESSION", "value": ["[x"]})")});
  // No PASS_REGULAR_EXPRESSION can match: the test fails, as in CTest.
  EXPECT_EQ(r.entry("all_broken").at("pass_regex"), json::parse(std::string("[\"") + "[^\\\\x00-\\\\x{ff}]" + "\"]"));
  EXPECT_EQ(r.entry("one_broken").at("pass_regex"), json::parse(R"(["ok"])"));
  EXPECT_FALSE(r.entry("one_broken").contains("fail_regex"));
  ASSERT_EQ(r.import.warnings.size(), 3u);
  EXPECT_EQ(r.import.warnings[0], "warning: all_broken: PASS_REGULAR_EXPRESSION \"o**\" is not a regular expression "
                                  "ctest can compile (Nested *?+.), so it never matches");
}

TEST(ImportCtestTest, ReadsTheJsonAfterCtestsOwnCompileMessages) {
  // ctest prints on stdout, before the JSON, why it cannot compile a test's regular expression.
  std::string text = "RegularExpression::compile(): Nested *?+.\nRegularExpression::compile(): Error in compile.\n" +
                     ctestJson({test("t")});
  auto r = importCtestJson(text, {});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_NE(r->manifest.find("\"name\":\"t\""), std::string::npos);
  EXPECT_FALSE(importCtestJson("RegularExpression::compile(): x\n", {}).ok());
}

TEST(ImportCtestTest, ATestWithoutACommandFailsSayingWhy) {
  auto r = import({R"({"name": "nocmd", "properties": []})", test("gone", "", R"(["/nonexistent/bin/t"])")});
  for (const char* name : {"nocmd", "gone"}) {
    const auto& cmd = r.entry(name).at("cmd").as_array();
    ASSERT_EQ(cmd.size(), 5u) << name;
    EXPECT_EQ(cmd[0], "/bin/sh");
  }
  EXPECT_NE(std::string(r.entry("gone").at("cmd").as_array()[4].as_string()).find("/nonexistent/bin/t"), std::string::npos);
  EXPECT_EQ(r.import.warnings.size(), 2u);
}

// CTest allows one name in two directories, control characters (CMP0110), and json-v1 an empty name:
// each test still comes out, under a name the manifest accepts, and a warning says so.
TEST(ImportCtestTest, NamesTheManifestRejectsAreRenamedWithAWarning) {
  test::TempDir dir;
  auto r = import({test("dup"), test("dup"), test("dup#2"), test("x\\u0000y"), test("x"), test("red\\u001b[31m"), test("")},
                  dir.path());
  EXPECT_EQ(r.names(), (std::vector<std::string>{"dup", "dup#3", "dup#2", "x\\x00y", "x", "red\\x1b[31m", "ctest.unnamed"}));
  std::string all;
  for (const auto& w : r.import.warnings) all += w + "\n";
  EXPECT_EQ(all,
            "warning: test \"dup\" is renamed \"dup#3\": CTest lists another test of that name (in another directory?)\n"
            "warning: test \"x\\u0000y\" is renamed \"x\\\\x00y\": it holds control characters\n"
            "warning: test \"red\\u001b[31m\" is renamed \"red\\\\x1b[31m\": it holds control characters\n"
            "warning: test \"\" is renamed \"ctest.unnamed\": it is empty\n");
  auto m = parseManifest(r.import.manifest, dir.path() + "/m.json");
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->tests.size(), 7u);
}

// What the manifest would refuse in a command or a working directory makes the test one that fails saying
// why, as CTest would fail it, instead of a manifest mpexec rejects.
TEST(ImportCtestTest, CommandsAndDirectoriesTheManifestRejectsFailSayingWhy) {
  test::TempDir dir;
  dir.write("bin/t", "#!/bin/sh\nexit 0\n", true);
  dir.write("sub/keep", "");
  auto r = import({test("empty", "", R"(["", "x"])"), test("dir", "", R"(["/tmp"])"),
                   test("nowhere", "", R"(["mpexec-no-such-program"])"),
                   test("path", R"({"name": "ENVIRONMENT", "value": ["PATH=/nonexistent"]})", R"(["sh", "-c", "true"])"),
                   test("nul", "", R"(["sh", "-c", "exit 3\u0000"])"),
                   test("cwd", R"({"name": "WORKING_DIRECTORY", "value": "/nonexistent/mpexec"})"),
                   test("relative", R"({"name": "WORKING_DIRECTORY", "value": "sub"})", R"(["../bin/t"])"),
                   test("bare", "", R"(["sh", "-c", "true"])")},
                  dir.path());
  auto why = [&](const std::string& name) {
    const auto& cmd = r.entry(name).at("cmd").as_array();
    return cmd.size() == 5 && cmd[0] == "/bin/sh" ? std::string(cmd[4].as_string()) : std::string("runs");
  };
  EXPECT_EQ(why("empty"), "mpexec import ctest: its command's program is an empty string");
  EXPECT_EQ(why("dir"), "mpexec import ctest: /tmp is not a regular file (not built yet?)");
  EXPECT_EQ(why("nowhere").rfind("mpexec import ctest: mpexec-no-such-program is not an executable found in PATH (", 0), 0u);
  EXPECT_EQ(why("path"), "mpexec import ctest: sh is not an executable found in PATH (/nonexistent)");
  EXPECT_EQ(why("nul"), "mpexec import ctest: argument 2 of its command holds a NUL character");
  EXPECT_EQ(why("cwd"), "mpexec import ctest: WORKING_DIRECTORY: directory /nonexistent/mpexec does not exist");
  EXPECT_FALSE(r.entry("cwd").contains("cwd"));
  EXPECT_EQ(why("relative"), "runs");
  EXPECT_EQ(r.entry("relative").at("cwd"), (dir.path() + "/sub").c_str());
  EXPECT_EQ(r.entry("relative").at("cmd").as_array()[0], (dir.path() + "/bin/t").c_str());
  EXPECT_EQ(why("bare"), "runs");
  EXPECT_EQ(r.import.warnings.size(), 6u);
  auto m = parseManifest(r.import.manifest, dir.path() + "/m.json");
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->tests.size(), 8u);
}

// A name may hold what is no control character but still rearranges a terminal's line (U+202B, right to
// left): the manifest keeps it, and every warning shows it escaped, as the console shows names.
TEST(ImportCtestTest, WarningsShowNamesPrintable) {
  auto r = import({test("red\u202b1", "", R"(["/nonexistent/t"])"),
                   test("red\u202b2", "", R"(["sh"])") + R"(, {"name": "x", "command": ["/bin/true"], "properties": [{"name": "PASS_REGULAR_EXPRESSION", "value": ["(\u202b"]}]})"});
  ASSERT_GE(r.import.warnings.size(), 2u);
  for (const std::string& w : r.import.warnings) EXPECT_EQ(w.find("\xe2\x80\xab"), std::string::npos) << w;
  EXPECT_EQ(r.names(), (std::vector<std::string>{"red\u202b1", "red\u202b2", "x"}));
}

TEST(ImportCtestTest, EnvironmentEntriesAndLabelsWithNulAreLeftOut) {
  auto r = import({test("t", R"({"name": "ENVIRONMENT", "value": ["A=1\u0000", "B=2"]},
                                 {"name": "LABELS", "value": ["x\u0000", "y"]})")});
  EXPECT_EQ(r.entry("t").at("env"), json::parse(R"({"B": "2"})"));
  EXPECT_EQ(r.entry("t").at("labels"), json::parse(R"(["y"])"));
  ASSERT_EQ(r.import.warnings.size(), 2u);
  EXPECT_EQ(r.import.warnings[0], "warning: t: ENVIRONMENT entry 'A=1\\x00' is not NAME=VALUE without NUL; left out");
  EXPECT_EQ(r.import.warnings[1], "warning: t: label 'x\\x00' holds a NUL character; left out");
}

TEST(ImportCtestTest, RejectsTextThatIsNotCtestJson) {
  EXPECT_FALSE(importCtestJson("{}", {}).ok());
  EXPECT_FALSE(importCtestJson("not json", {}).ok());
  EXPECT_FALSE(importCtestJson(R"({"kind": "ctestInfo", "tests": [{"command": []}]})", {}).ok());
}

}  // namespace
}  // namespace mpexec
