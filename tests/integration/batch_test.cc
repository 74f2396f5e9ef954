// Batch units end to end (docs/executor.md, "Batch units"): a batch command that reports live, a gtest
// binary through `import gtest --batch`, a runner that writes JUnit only; every test gets the outcome it
// earned, whatever the process does, and selection, sharding, merging, retries and reports see each test.

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/integration/sandbox_modes.h"
#include "tests/support/mpexec_process.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

namespace json = boost::json;
using test::readJson;
using test::runMpexec;
using test::testEntry;

/// A program of tests/fixtures, built beside this test binary.
std::string fixture(const std::string& name) {
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "fixtures" / name).string();
}

std::string str(const json::object& o, const char* key) {
  const json::value& v = o.at(key);
  return v.is_string() ? std::string(v.as_string()) : "";
}

/// How often each line occurs in a file.
std::map<std::string, int> lineCounts(const std::string& path) {
  std::map<std::string, int> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) ++out[line];
  return out;
}

size_t occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The issue's batch of twenty: a pass, a fail, a skip, a test past its timeout, a segfault, an _exit in
// the middle, and passes between and after them.
const char* const kTwenty[] = {"pass_01", "pass_02", "fail_03",  "skip_04",  "pass_05", "sleep_06", "pass_07",
                               "pass_08", "segv_09", "pass_10", "pass_11",  "exit_12",  "pass_13", "xfail_14",
                               "finishonly_15", "pass_16", "pass_17", "pass_18", "pass_19", "pass_20"};

class BatchTest : public test::SandboxModesTest {
 protected:
  void SetUp() override {
    if (access(fixture("batch-live").c_str(), X_OK) != 0) GTEST_FAIL() << "not built: " << fixture("batch-live");
    SandboxModesTest::SetUp();
  }

  test::Finished run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--kill-grace", "0.5"});
    return runMpexec(inMode(std::move(args)));
  }

  /// A manifest with batch groups of the live runner: group name → ids (each test named "<group>.<id>").
  std::string liveManifest(const std::vector<std::pair<std::string, std::vector<std::string>>>& groups,
                           const std::string& strategy = "serial") {
    json::object gs;
    json::array tests;
    for (const auto& [g, ids] : groups) {
      gs[g] = json::object{{"strategy", strategy},
                           {"env", json::object{{"BATCH_RUNNER_APPEND", dir_.path() + "/ran"}}},
                           {"sandbox", json::object{{"writable", json::array{dir_.path()}}}},
                           {"batch", json::object{{"cmd", json::array{fixture("batch-live")}}}}};
      for (const std::string& id : ids) {
        json::object t{{"name", g + "." + id}, {"group", g}, {"id", id}};
        if (id.rfind("sleep", 0) == 0) t["timeout"] = 1;
        tests.push_back(std::move(t));
      }
    }
    return dir_.write("m.json", json::serialize(json::object{{"version", 1}, {"groups", gs}, {"tests", tests}}));
  }
};

INSTANTIATE_TEST_SUITE_P(Both, BatchTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Sandbox" : "NoSandbox"; });

TEST_P(BatchTest, TwentyLiveTestsEachGetTheOutcomeTheyEarned) {
  auto m = liveManifest({{"live", std::vector<std::string>(std::begin(kTwenty), std::end(kTwenty))}});
  std::string json_path = dir_.path() + "/r.json", junit_path = dir_.path() + "/j.xml", html_path = dir_.path() + "/r.html";
  std::string trace_path = dir_.path() + "/t.json";
  auto r = run({"--json", json_path, "--junit", junit_path, "--html", html_path, "--trace", trace_path, m});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto rep = readJson(json_path);
  std::map<std::string, std::string> want = {{"fail_03", "FAIL"}, {"skip_04", "SKIP"}, {"sleep_06", "TIMEOUT"},
                                             {"segv_09", "CRASH"}, {"exit_12", "FAIL"}};
  std::map<std::string, int> counts;
  for (const char* id : kTwenty) {
    const auto& t = testEntry(rep, std::string("live.") + id);
    std::string expected = want.count(id) ? want[id] : "PASS";
    EXPECT_EQ(str(t, "outcome"), expected) << id << ": " << str(t, "reason");
    ++counts[str(t, "outcome")];
    EXPECT_EQ(str(t, "unit"), "u0") << id;
    EXPECT_GE(t.at("start_us").to_number<int64_t>(), 0) << id;
    EXPECT_GE(t.at("end_us").to_number<int64_t>(), t.at("start_us").to_number<int64_t>()) << id;
  }
  EXPECT_EQ(testEntry(rep, "live.segv_09").at("signal").to_number<int>(), 11);
  EXPECT_NE(str(testEntry(rep, "live.sleep_06"), "reason").find("timeout after 1s"), std::string::npos);
  EXPECT_NE(str(testEntry(rep, "live.exit_12"), "reason").find("exited (status 0) while it ran"), std::string::npos);
  EXPECT_EQ(str(testEntry(rep, "live.fail_03"), "reason"), "expected 1, got 2");
  EXPECT_EQ(str(testEntry(rep, "live.skip_04"), "reason"), "not on this host");
  EXPECT_EQ(str(testEntry(rep, "live.xfail_14"), "note"), "xfail");
  // Each ran once: the tests after the timeout, the crash and the exit went on in new processes.
  for (const auto& [id, n] : lineCounts(dir_.path() + "/ran")) EXPECT_EQ(n, 1) << id;
  EXPECT_EQ(lineCounts(dir_.path() + "/ran").size(), 20u);

  // Each test's own log.
  auto logOf = [&](const char* id) {
    return test::readFile(dir_.path() + "/" + str(testEntry(rep, std::string("live.") + id), "log"));
  };
  EXPECT_EQ(logOf("fail_03"), "running fail_03\n");
  EXPECT_EQ(logOf("xfail_14"), "its own output\n");
  EXPECT_NE(logOf("sleep_06").find("running sleep_06\n[mpexec: timeout after 1s"), std::string::npos) << logOf("sleep_06");
  EXPECT_EQ(logOf("pass_20"), "running pass_20\n");

  // The counts agree everywhere: the summary, JUnit, HTML.
  EXPECT_NE(r.out.find("20 tests: 15 PASS, 1 SKIP, 2 FAIL, 1 TIMEOUT, 1 CRASH"), std::string::npos) << r.out;
  std::string junit = test::readFile(junit_path);
  EXPECT_EQ(occurrences(junit, "<testcase "), 20u);
  EXPECT_NE(junit.find(R"(<testsuites name="mpexec" tests="20" failures="4" errors="0" skipped="1")"), std::string::npos)
      << junit.substr(0, 300);
  EXPECT_NE(junit.find(R"(<property name="note" value="xfail"/>)"), std::string::npos);
  std::string html = test::readFile(html_path);
  for (auto [o, n] : counts)
    EXPECT_NE(html.find(fmt::format("data-outcome=\"{}\" data-count=\"{}\"", o, n)), std::string::npos) << o;
  // The trace has each test as a span of its own, with its outcome.
  std::map<std::string, std::string> spans;
  json::object trace = readJson(trace_path);
  for (const auto& e : trace.at("traceEvents").as_array()) {
    const json::object* o = e.if_object();
    const json::object* args = o && o->contains("args") ? o->at("args").if_object() : nullptr;
    if (!args || o->at("ph") != "X" || !args->contains("outcome")) continue;
    spans[std::string(o->at("name").as_string())] = std::string(args->at("outcome").as_string());
  }
  for (const char* id : kTwenty) {
    std::string expected = want.count(id) ? want[id] : "PASS";
    EXPECT_EQ(spans[std::string("live.") + id], expected) << id;
  }
}

TEST_P(BatchTest, GtestBinaryImportedWithBatch) {
  std::string bin = fixture("batch-gtest");
  auto imported = runMpexec({"import", "gtest", "--batch", bin});
  ASSERT_EQ(imported.exit_code, 0) << imported.out;
  json::object m = json::parse(imported.out).as_object();
  ASSERT_EQ(m.at("groups").as_object().size(), 1u);
  json::object& g = m.at("groups").as_object().at("batch-gtest.Mix").as_object();
  g["env"] = json::object{{"BATCH_GTEST_APPEND", dir_.path() + "/ran"}};
  g["sandbox"] = json::object{{"writable", json::array{dir_.path()}}};
  for (json::value& t : m.at("tests").as_array())
    if (t.at("id") == "Mix.Sleep") t.as_object()["timeout"] = 1;
  std::string path = dir_.write("m.json", json::serialize(m));
  std::string json_path = dir_.path() + "/r.json";
  auto r = run({"--json", json_path, path});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto rep = readJson(json_path);
  std::map<std::string, std::string> want = {{"Fail", "FAIL"}, {"Skip", "SKIP"}, {"Sleep", "TIMEOUT"},
                                             {"Segv", "CRASH"}, {"Exit", "FAIL"}};
  const auto& tests = rep.at("tests").as_array();
  ASSERT_EQ(tests.size(), 20u);
  for (const json::value& v : tests) {
    const json::object& t = v.as_object();
    std::string c = str(t, "name").substr(std::string("batch-gtest.Mix.").size());
    EXPECT_EQ(str(t, "outcome"), want.count(c) ? want[c] : "PASS") << c << ": " << str(t, "reason");
  }
  for (const auto& [c, n] : lineCounts(dir_.path() + "/ran")) EXPECT_EQ(n, 1) << c;
  EXPECT_EQ(lineCounts(dir_.path() + "/ran").size(), 20u);
  EXPECT_NE(r.out.find("reproduce: " + bin + " --gtest_filter=Mix.Fail"), std::string::npos) << r.out;
  std::string fail_log = test::readFile(dir_.path() + "/" + str(testEntry(rep, "batch-gtest.Mix.Fail"), "log"));
  EXPECT_NE(fail_log.find("on purpose"), std::string::npos) << fail_log;
}

TEST_P(BatchTest, ASelectionRunsExactlyTheSelectedTestsEachOnce) {
  std::vector<std::pair<std::string, std::vector<std::string>>> groups;
  std::set<std::string> all;
  for (int g = 0; g < 4; ++g) {
    std::vector<std::string> ids;
    for (int k = 0; k < 5; ++k) ids.push_back(fmt::format("{}_g{}t{}", k == 2 && g % 2 ? "fail" : "pass", g, k));
    for (const auto& id : ids) all.insert(fmt::format("b{}.{}", g, id));
    groups.push_back({fmt::format("b{}", g), ids});
  }
  auto m = liveManifest(groups);
  auto ran = [&] {
    std::set<std::string> out;
    for (const auto& [id, n] : lineCounts(dir_.path() + "/ran")) {
      EXPECT_EQ(n, 1) << id;
      out.insert(id);
    }
    std::filesystem::remove(dir_.path() + "/ran");
    return out;
  };

  auto r = run({"--filter", "t[13]$", m});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(ran(), (std::set<std::string>{"pass_g0t1", "pass_g0t3", "pass_g1t1", "pass_g1t3", "pass_g2t1",
                                          "pass_g2t3", "pass_g3t1", "pass_g3t3"}));

  std::string s1 = dir_.path() + "/s1.json", s2 = dir_.path() + "/s2.json";
  run({"--shard", "1/2", "--json", s1, m});
  auto first = ran();
  run({"--shard", "2/2", "--json", s2, m});
  auto second = ran();
  EXPECT_EQ(first.size() + second.size(), 20u);
  for (const auto& id : first) EXPECT_FALSE(second.count(id)) << id << " ran in both shards";
  auto merged = runMpexec({"merge", s1, s2, "--json", dir_.path() + "/all.json"});
  EXPECT_EQ(merged.exit_code, 1) << "two tests fail: " << merged.out;
  auto all_rep = readJson(dir_.path() + "/all.json");
  EXPECT_EQ(all_rep.at("tests").as_array().size(), 20u);
  EXPECT_EQ(str(testEntry(all_rep, "b1.fail_g1t2"), "outcome"), "FAIL");

  r = run({"--rerun-failed", m});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(ran(), (std::set<std::string>{"fail_g1t2", "fail_g3t2"}));
}

TEST_P(BatchTest, RetriesRunAFailedTestAlone) {
  auto m = liveManifest({{"r", {"pass_a", "flaky_b", "pass_c"}}});
  std::string json_path = dir_.path() + "/r.json";
  auto r = run({"--retries", "1", "--json", json_path, m});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  auto rep = readJson(json_path);
  const auto& b = testEntry(rep, "r.flaky_b");
  EXPECT_EQ(str(b, "outcome"), "FLAKY");
  EXPECT_EQ(b.at("attempts").to_number<int>(), 2);
  EXPECT_EQ(lineCounts(dir_.path() + "/ran"), (std::map<std::string, int>{{"pass_a", 1}, {"flaky_b", 2}, {"pass_c", 1}}));
  std::string logs = std::filesystem::path(dir_.path() + "/" + str(b, "log")).parent_path().string();
  EXPECT_EQ(test::readFile(logs + "/u0.batch.1.attempt2.log"), "process 1: 1 ids\nrunning flaky_b\n");
}

TEST_P(BatchTest, WhatIsNeverReportedIsNotRunOrAnError) {
  auto m = liveManifest({{"q", {"pass_a", "quiet_b", "pass_c"}}});
  std::string json_path = dir_.path() + "/r.json";
  auto r = run({"--json", json_path, m});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto rep = readJson(json_path);
  EXPECT_EQ(str(testEntry(rep, "q.pass_c"), "outcome"), "PASS");
  const auto& quiet = testEntry(rep, "q.quiet_b");
  EXPECT_EQ(str(quiet, "outcome"), "NOT_RUN");
  EXPECT_NE(str(quiet, "reason").find("not reported by batch process 1, which exited (status 0)"), std::string::npos)
      << str(quiet, "reason");

  // A command that reports nothing and fails: every test is an ERROR that says so.
  dir_.write("m2.json", R"({"version": 1, "groups": {"g": {"strategy": "serial", "batch": {"cmd": ["/bin/sh", "-c", "echo cannot collect; exit 4"]}}},
      "tests": [{"name": "a", "group": "g"}, {"name": "b", "group": "g"}]})");
  r = run({"--json", json_path, dir_.path() + "/m2.json"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  rep = readJson(json_path);
  for (const char* t : {"a", "b"}) {
    EXPECT_EQ(str(testEntry(rep, t), "outcome"), "ERROR");
    EXPECT_NE(str(testEntry(rep, t), "reason").find("exited (status 4) without reporting any test"), std::string::npos);
  }
}

// A free group with a batch command: each test is its own unit (its own sandbox), and its process is
// given its one id, so a runner reports exact outcomes (an xfail, a skip's reason, a setup ERROR) where
// an exit code could only say pass or fail.
TEST_P(BatchTest, AFreeGroupRunsEachTestAloneInItsOwnUnit) {
  const std::vector<std::string> ids = {"pass_a", "fail_b", "skip_c", "xfail_d", "error_e", "sleep_f",
                                        "segv_g", "exit_h", "quiet_i", "flaky_j"};
  for (const char* strategy : {"free", "isolated_free"}) {
    SCOPED_TRACE(strategy);
    std::filesystem::remove(dir_.path() + "/ran");
    for (const auto& e : std::filesystem::directory_iterator(dir_.path()))
      if (e.path().filename().string().find(".flaky.") != std::string::npos) std::filesystem::remove(e.path());
    auto m = liveManifest({{"f", ids}}, strategy);
    std::string json_path = dir_.path() + "/r.json";
    auto r = run({"-j", "2", "--retries", "1", "--json", json_path, m});
    EXPECT_EQ(r.exit_code, 1) << r.out;
    auto rep = readJson(json_path);
    std::map<std::string, std::string> want = {
        {"pass_a", "PASS"},  {"fail_b", "FAIL"},  {"skip_c", "SKIP"},  {"xfail_d", "PASS"},    {"error_e", "ERROR"},
        {"sleep_f", "TIMEOUT"}, {"segv_g", "CRASH"}, {"exit_h", "FAIL"}, {"quiet_i", "NOT_RUN"}, {"flaky_j", "FLAKY"}};
    std::set<std::string> units;
    for (const auto& id : ids) {
      const auto& t = testEntry(rep, "f." + id);
      EXPECT_EQ(str(t, "outcome"), want[id]) << id << ": " << str(t, "reason");
      units.insert(str(t, "unit"));
      // Its process was given its one id, and nothing else.
      std::string logs = std::filesystem::path(dir_.path() + "/" + str(t, "log")).parent_path().string();
      EXPECT_EQ(test::readFile(logs + "/" + str(t, "unit") + ".batch.1.log").rfind("process 1: 1 ids\n", 0), 0u) << id;
    }
    EXPECT_EQ(units.size(), ids.size()) << "each test is a unit of its own";
    EXPECT_EQ(str(testEntry(rep, "f.skip_c"), "reason"), "not on this host");
    EXPECT_EQ(str(testEntry(rep, "f.xfail_d"), "note"), "xfail");
    EXPECT_EQ(str(testEntry(rep, "f.error_e"), "reason"), "fixture broke");
    EXPECT_EQ(testEntry(rep, "f.segv_g").at("signal").to_number<int>(), 11);
    EXPECT_NE(str(testEntry(rep, "f.sleep_f"), "reason").find("timeout after 1s"), std::string::npos);
    EXPECT_NE(str(testEntry(rep, "f.quiet_i"), "reason").find("not reported by batch process 1"), std::string::npos);
    EXPECT_EQ(testEntry(rep, "f.flaky_j").at("attempts").to_number<int>(), 2);
    // Each ran once, but the failures (not NOT_RUN), retried alone: a retry is a unit of its own too.
    auto ran = lineCounts(dir_.path() + "/ran");
    EXPECT_EQ(ran.size(), ids.size());
    for (const auto& [id, n] : ran) {
      bool retried = want[id] != "PASS" && want[id] != "SKIP" && want[id] != "NOT_RUN";
      EXPECT_EQ(n, retried ? 2 : 1) << id;
    }
  }
}

// A runner that only writes JUnit, and crashes: the process told nothing live, so the tests it left run
// one by one and the crash lands on the one that crashed.
TEST_P(BatchTest, AJunitOnlyRunnerThatCrashesHasItsTestsRunAlone) {
  dir_.write("junit.sh", R"SH(#!/bin/sh
out="<testsuite>"
while read -r id; do
  echo "$id" >> "$RAN"
  [ "$id" = crash ] && kill -SEGV $$
  name="${id#sh.}"  # sh.fail is classname sh, name fail
  case "$id" in *fail) out="$out<testcase classname=\"sh\" name=\"$name\"><failure message=\"no\"/></testcase>" ;;
                *) out="$out<testcase classname=\"sh\" name=\"$name\"/>" ;; esac
done < "$MPEXEC_BATCH_IDS_FILE"
echo "$out</testsuite>" > "$1"
)SH", true);
  dir_.write("m.json", R"({"version": 1, "groups": {"j": {"strategy": "serial", "env": {"RAN": ")" + dir_.path() +
                           R"(/ran"}, "sandbox": {"writable": [")" + dir_.path() + R"("]},
                           "batch": {"cmd": ["./junit.sh", "{junit}"]}}},
      "tests": [{"name": "a", "group": "j"}, {"name": "crash", "group": "j"}, {"name": "fail", "group": "j", "id": "sh.fail"},
                {"name": "d", "group": "j", "id": "sh.d"}]})");
  std::string json_path = dir_.path() + "/r.json";
  auto r = run({"--json", json_path, dir_.path() + "/m.json"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto rep = readJson(json_path);
  EXPECT_EQ(str(testEntry(rep, "a"), "outcome"), "PASS");
  EXPECT_EQ(str(testEntry(rep, "crash"), "outcome"), "CRASH");
  EXPECT_EQ(str(testEntry(rep, "fail"), "outcome"), "FAIL");
  EXPECT_EQ(str(testEntry(rep, "fail"), "reason"), "no");
  EXPECT_EQ(str(testEntry(rep, "d"), "outcome"), "PASS");
  // The first process reached the crash; then each test ran alone.
  EXPECT_EQ(lineCounts(dir_.path() + "/ran"), (std::map<std::string, int>{{"a", 2}, {"crash", 2}, {"sh.fail", 1}, {"sh.d", 1}}));
}

// examples/batch-doctest, as its README runs it: the manifest as it is, beside its built program.
TEST_P(BatchTest, TheDoctestExampleRunsFromItsManifest) {
  std::filesystem::path src = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  while (!src.empty() && src != src.root_path() && !std::filesystem::exists(src / "examples/batch-doctest/manifest.json"))
    src = src.parent_path();
  ASSERT_TRUE(std::filesystem::exists(src / "examples/batch-doctest/manifest.json")) << "no source tree above the tests";
  std::filesystem::copy_file(src / "examples/batch-doctest/manifest.json", dir_.path() + "/manifest.json");
  // A copy, not a link: a unit sees the project's directory, and a link out of it (to a build tree under the
  // host's /tmp, which is the unit's own) may lead nowhere inside the sandbox.
  std::filesystem::copy_file(fixture("batch-doctest"), dir_.path() + "/tests");
  std::string json_path = dir_.path() + "/r.json";
  auto r = run({"--json", json_path, dir_.path() + "/manifest.json"});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto rep = readJson(json_path);
  for (const char* t : {"doctest.adds", "doctest.fixture-once", "doctest.concatenates"})
    EXPECT_EQ(str(testEntry(rep, t), "outcome"), "PASS") << t << ": " << str(testEntry(rep, t), "reason");
  EXPECT_EQ(str(testEntry(rep, "doctest.fails"), "outcome"), "FAIL");
  EXPECT_NE(test::readFile(dir_.path() + "/" + str(testEntry(rep, "doctest.fails"), "log")).find("is NOT correct"),
            std::string::npos);
  r = run({"--json", json_path, "--filter", "adds", dir_.path() + "/manifest.json"});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(readJson(json_path).at("tests").as_array().size(), 1u);
}

// A test's output is the test's to choose: a line of 60,000 characters that the patterns read must not
// take mpexec down (a backtracking matcher recursed once per character and overflowed the stack).
TEST_P(BatchTest, ALongOutputLineIsMatchedWithoutHarm) {
  const char* script = "printf 'ok '; head -c 60000 /dev/zero | tr '\\000' x; echo; echo 'ok a'";
  json::object g{{"strategy", "serial"},
                 {"batch", json::object{{"cmd", json::array{"/bin/sh", "-c", script}},
                                        {"lines", json::object{{"pass", "^ok (.+)$"}}}}}};
  std::string m = dir_.write(
      "m.json", json::serialize(json::object{{"version", 1},
                                             {"groups", json::object{{"long", g}}},
                                             {"tests", json::array{json::object{{"name", "a"}, {"group", "long"}}}}}));
  std::string json_path = dir_.path() + "/r.json";
  auto r = run({"--json", json_path, m});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(str(testEntry(readJson(json_path), "a"), "outcome"), "PASS");
}

}  // namespace
}  // namespace mpexec
