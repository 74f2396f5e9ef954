// The real binary on real manifests: strategies and barriers, outcomes, timeouts, signals, state, CLI.
// Each case runs both with the sandbox and with --no-sandbox.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <thread>

#include <boost/json.hpp>
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

class ExecutorTest : public test::SandboxModesTest {
 protected:
  /// mpexec [--no-sandbox] args... with the JSON report in the temp dir.
  test::Finished run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--json", report()});
    return runMpexec(inMode(std::move(args)));
  }
  std::string report() const { return dir_.path() + "/report.json"; }
  std::string manifest(const std::string& text) { return dir_.write("m.json", text); }
};

int64_t i64(const json::object& o, const char* key) { return o.at(key).to_number<int64_t>(); }
std::string str(const json::object& o, const char* key) {
  const json::value& v = o.at(key);
  return v.is_string() ? std::string(v.as_string()) : "";
}

bool overlap(const json::object& a, const json::object& b) {
  return i64(a, "start_us") < i64(b, "end_us") && i64(b, "start_us") < i64(a, "end_us");
}

// pytest-mp's README example, translated: test_one, test_two and test_three may overlap; test_four and
// test_five run in one unit, one after the other, with nothing else running at the time.
TEST_P(ExecutorTest, PytestMpReadmeExample) {
  auto m = manifest(R"({"version": 1, "tests": [
    {"name": "TestSomething.test_one", "cmd": ["sleep", "0.3"], "group": "SomeGroupName", "strategy": "free"},
    {"name": "TestSomething.test_two", "cmd": ["sleep", "0.3"], "group": "SomeGroupName"},
    {"name": "test_three", "cmd": ["sleep", "0.3"], "group": "SomeAdditionalGroupName"},
    {"name": "test_four", "cmd": ["sleep", "0.2"], "group": "SomeOtherGroupName", "strategy": "isolated_serial"},
    {"name": "test_five", "cmd": ["sleep", "0.2"], "group": "SomeOtherGroupName"}
  ]})");
  auto r = run({"-j", "3", m});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto rep = readJson(report());
  const auto& four = testEntry(rep, "test_four");
  const auto& five = testEntry(rep, "test_five");
  EXPECT_EQ(str(four, "unit"), str(five, "unit"));
  EXPECT_EQ(str(four, "strategy"), "isolated_serial");
  EXPECT_EQ(str(five, "strategy"), "isolated_serial");
  EXPECT_LE(i64(four, "end_us"), i64(five, "start_us"));
  for (const char* other : {"TestSomething.test_one", "TestSomething.test_two", "test_three"}) {
    EXPECT_FALSE(overlap(four, testEntry(rep, other))) << other;
    EXPECT_FALSE(overlap(five, testEntry(rep, other))) << other;
  }
  // The three free tests ran in three units on three slots at the same time.
  const auto& one = testEntry(rep, "TestSomething.test_one");
  const auto& two = testEntry(rep, "TestSomething.test_two");
  const auto& three = testEntry(rep, "test_three");
  EXPECT_NE(str(one, "unit"), str(two, "unit"));
  EXPECT_TRUE(overlap(one, two) && overlap(two, three) && overlap(one, three));
}

TEST_P(ExecutorTest, OutcomesAndExitCode) {
  auto m = manifest(R"({"version": 1, "tests": [
    {"name": "pass", "cmd": ["/bin/true"]},
    {"name": "fail", "cmd": ["/bin/sh", "-c", "echo boom; exit 3"]},
    {"name": "skip", "cmd": ["/bin/sh", "-c", "exit 77"]},
    {"name": "skip42", "cmd": ["/bin/sh", "-c", "exit 42"], "skip_exit_code": 42},
    {"name": "crash", "cmd": ["/bin/sh", "-c", "kill -ABRT $$"]},
    {"name": "inverted", "cmd": ["/bin/false"], "will_fail": true}
  ]})");
  auto r = run({"-j", "2", m});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto rep = readJson(report());
  EXPECT_EQ(str(testEntry(rep, "pass"), "outcome"), "PASS");
  EXPECT_EQ(str(testEntry(rep, "fail"), "outcome"), "FAIL");
  EXPECT_EQ(i64(testEntry(rep, "fail"), "exit_code"), 3);
  EXPECT_EQ(str(testEntry(rep, "skip"), "outcome"), "SKIP");
  EXPECT_EQ(str(testEntry(rep, "skip42"), "outcome"), "SKIP");
  EXPECT_EQ(str(testEntry(rep, "crash"), "outcome"), "CRASH");
  EXPECT_EQ(i64(testEntry(rep, "crash"), "signal"), SIGABRT);
  EXPECT_EQ(str(testEntry(rep, "inverted"), "outcome"), "PASS");
  // The failing test's output is shown, and its log is kept.
  EXPECT_NE(r.out.find("boom"), std::string::npos) << r.out;
  std::string log = dir_.path() + "/" + str(testEntry(rep, "fail"), "log");
  EXPECT_EQ(test::readFile(log), "boom\n");
  EXPECT_EQ(i64(rep.at("run").as_object(), "exit_code"), 1);
}

TEST_P(ExecutorTest, AllPassingExitsZero) {
  auto m = manifest(R"({"version": 1, "tests": [{"name": "a", "cmd": ["/bin/true"]},
                                                {"name": "s", "cmd": ["/bin/sh", "-c", "exit 77"]}]})");
  auto r = run({m});
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

TEST_P(ExecutorTest, TimeoutKillsTheTestAndItsGrandchild) {
  std::string marker = "mpexec-grandchild-" + std::to_string(getpid()) + (sandboxed() ? "s" : "n");
  auto m = manifest(R"({"version": 1, "tests": [
    {"name": "hangs", "cmd": ["/bin/sh", "-c", "bash -c 'exec -a )" + marker + R"( sleep 1000' & sleep 1000"], "timeout": 0.5},
    {"name": "ok", "cmd": ["/bin/true"]}
  ]})");
  auto r = run({"--kill-grace", "0.5", m});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto rep = readJson(report());
  EXPECT_EQ(str(testEntry(rep, "hangs"), "outcome"), "TIMEOUT");
  EXPECT_EQ(str(testEntry(rep, "ok"), "outcome"), "PASS");
  EXPECT_TRUE(test::processesWith(marker).empty()) << marker << " survived";
}

TEST_P(ExecutorTest, SetupFailureMarksTheGroupErrorAndTeardownStillRuns) {
  auto m = manifest(R"({"version": 1,
    "groups": {"g": {"strategy": "serial", "setup": ["/bin/sh", "-c", "echo setting up; exit 1"],
                     "teardown": ["/bin/sh", "-c", "touch \"$0\"", ")" + dir_.path() + R"(/torn-down"]}},
    "tests": [{"name": "g.a", "cmd": ["/bin/true"], "group": "g"},
              {"name": "g.b", "cmd": ["/bin/true"], "group": "g"},
              {"name": "free", "cmd": ["/bin/true"]}]})");
  // The teardown writes outside the sandbox's writable paths only with --no-sandbox; give it the dir.
  if (sandboxed()) {
    std::string text = test::readFile(m);
    text.replace(text.find("\"groups\""), 0, R"("defaults": {"sandbox": {"writable": [")" + dir_.path() + R"("]}}, )");
    dir_.write("m.json", text);
  }
  auto r = run({m});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto rep = readJson(report());
  EXPECT_EQ(str(testEntry(rep, "g.a"), "outcome"), "ERROR");
  EXPECT_EQ(str(testEntry(rep, "g.b"), "outcome"), "ERROR");
  EXPECT_NE(str(testEntry(rep, "g.a"), "reason").find("setup failed"), std::string::npos);
  EXPECT_EQ(str(testEntry(rep, "free"), "outcome"), "PASS");
  EXPECT_TRUE(std::filesystem::exists(dir_.path() + "/torn-down")) << r.out;
}

TEST_P(ExecutorTest, SerialGroupSharesItsUnitWithTheSetupServer) {
  auto m = manifest(R"J({"version": 1,
    "groups": {"g": {"strategy": "serial", "setup": ["/bin/sh", "-c", "sleep 100 & echo $! > $TMPDIR/server"],
                     "teardown": ["/bin/sh", "-c", "kill $(cat $TMPDIR/server)"]}},
    "tests": [{"name": "uses", "cmd": ["/bin/sh", "-c", "kill -0 $(cat $TMPDIR/server)"], "group": "g"},
              {"name": "env", "cmd": ["/bin/sh", "-c", "test \"$MPEXEC_TEST_NAME\" = env && test \"$MPEXEC_GROUP\" = g && test \"$MPEXEC_STRATEGY\" = serial && test -n \"$MPEXEC_UNIT\" && test \"$MPEXEC_WORKER_COUNT\" = 1 && test -d \"$MPEXEC_OUTPUT_DIR\" && test \"$TMPDIR\" = \"$MPEXEC_TMPDIR\" && test \"$MPEXEC_ATTEMPT\" = 1 && test -n \"$MPEXEC_RUN_ID\""], "group": "g"}]})J");
  auto r = run({m});
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

TEST_P(ExecutorTest, FailFastLeavesTheRestNotRun) {
  // b is set up ahead while a runs (its sandbox prepared): it must still never run.
  std::string touch = R"(["/bin/sh", "-c", "touch )" + dir_.path() + R"(/ran-$MPEXEC_TEST_NAME"])";
  auto m = manifest(R"({"version": 1, "tests": [
    {"name": "a", "cmd": ["/bin/sh", "-c", "sleep 0.3; exit 1"]}, {"name": "b", "cmd": )" + touch + R"(},
    {"name": "c", "cmd": )" + touch + R"(}, {"name": "d", "cmd": )" + touch + R"(}],
    "defaults": {"sandbox": {"writable": [")" + dir_.path() + R"("]}}})");
  auto r = run({"-j", "1", "-x", m});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto rep = readJson(report());
  EXPECT_EQ(str(testEntry(rep, "a"), "outcome"), "FAIL");
  for (const char* t : {"b", "c", "d"}) {
    EXPECT_EQ(str(testEntry(rep, t), "outcome"), "NOT_RUN") << t;
    EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/ran-" + t)) << t << " ran after the stop";
  }
}

TEST_P(ExecutorTest, EachTestSeesTheSlotTheReportGivesIt) {
  // Many more units than slots, so most of them were set up ahead, before their slot was known.
  auto m = manifest(test::numberedTestsManifest("s", 15, R"(["/bin/sh", "-c", "echo slot=$MPEXEC_SLOT; sleep 0.05"])"));
  auto r = run({"-j", "3", m});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto rep = readJson(report());
  for (int i = 0; i < 15; ++i) {
    const auto& t = testEntry(rep, "s" + std::to_string(i));
    std::ifstream in(dir_.path() + "/" + str(t, "log"));
    std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(log, "slot=" + std::to_string(i64(t, "slot")) + "\n") << "s" << i;
  }
}

TEST_P(ExecutorTest, EachUnitStartsWithAFreshTmpdirAndNoneIsLeftAfterTheRun) {
  // One slot, so every unit follows another on it; with --no-sandbox they share the slot's TMPDIR.
  auto m = manifest(test::numberedTestsManifest(
      "t", 6,
      R"(["/bin/sh", "-c", "test -d \"$TMPDIR\" && ! test -e \"$TMPDIR/d\" && ! test -e \"$TMPDIR/.hidden\" && mkdir \"$TMPDIR/d\" && touch \"$TMPDIR/d/f\" \"$TMPDIR/.hidden\""])"));
  auto r = run({"-j", "1", m});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto rep = readJson(report());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(str(testEntry(rep, "t" + std::to_string(i)), "outcome"), "PASS") << i;
  std::string run_dir = dir_.path() + "/.mpexec/runs/" + str(rep.at("run").as_object(), "id");
  ASSERT_TRUE(std::filesystem::is_directory(run_dir)) << run_dir;
  EXPECT_FALSE(std::filesystem::exists(run_dir + "/tmp")) << "scratch directories left in " << run_dir;
}

// Processes a unit leaves running after its last command are killed, and counted: a LEAK line, a warning
// and the unit's leaked_processes in the JSON report. A test that waits for its children leaks nothing.
TEST_P(ExecutorTest, ProcessesLeftAfterTheLastCommandAreKilledAndReportedAsALeak) {
  std::string marker = "mpexec-leak-" + std::to_string(getpid()) + (sandboxed() ? "s" : "n");
  auto m = manifest(R"({"version": 1, "tests": [
    {"name": "leaky", "cmd": ["/bin/bash", "-c", "(exec -a )" + marker + R"( sleep 1000) & (exec -a )" + marker + R"( sleep 1000) & echo left two"]},
    {"name": "tidy", "cmd": ["/bin/sh", "-c", "sleep 0.05 & wait"]},
    {"name": "g.one", "cmd": ["/bin/true"], "group": "srv", "strategy": "serial"},
    {"name": "g.two", "cmd": ["/bin/true"], "group": "srv"}],
    "groups": {"srv": {"setup": ["/bin/bash", "-c", "(exec -a )" + marker + R"( sleep 1000) &"]}}})");
  auto r = run({"-j", "2", m});
  EXPECT_EQ(r.exit_code, 0) << r.out;  // a note, not a failure
  EXPECT_NE(r.out.find("LEAK    leaky: 2 processes still running after its last command, killed"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("LEAK    group srv (unit "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("warning: unit u0 (leaky) left 2 processes running after its last command; killed"),
            std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("LEAK    tidy"), std::string::npos) << r.out;
  EXPECT_TRUE(test::processesWith(marker).empty()) << "a leaked process outlived its unit";
  auto rep = readJson(report());
  std::map<std::string, int64_t> leaked;
  for (const auto& u : rep.at("units").as_array()) leaked[str(u.as_object(), "name")] = i64(u.as_object(), "leaked_processes");
  EXPECT_EQ(leaked["leaky"], 2);
  EXPECT_EQ(leaked["tidy"], 0);
  EXPECT_EQ(leaked["srv"], 1);
}

// Once no unit is left to start, a slot whose unit ended keeps nothing for the next: its init (idle, or
// waiting in a sandbox found clean) is gone while the other units still run, not at the end of the run.
TEST_P(ExecutorTest, ASlotWithNoUnitLeftToRunKeepsNoInitWhileTheOthersRun) {
  const std::string flag = dir_.path() + "/go-on";
  auto m = manifest(R"({"version": 1, "tests": [
    {"name": "quick", "cmd": ["/bin/true"]},
    {"name": "waits", "cmd": ["/bin/sh", "-c",
      "touch \"$MPEXEC_OUTPUT_DIR/started\"; i=0; while [ ! -e \"$0\" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done",
      ")" + flag + R"("]}]})");
  std::string out = dir_.path() + "/out.txt";
  pid_t pid = test::startMpexec(inMode({"--json", report(), "-j", "2", m}), out);
  auto started = [&] {
    std::error_code ec;
    for (std::filesystem::recursive_directory_iterator it(dir_.path() + "/.mpexec/runs", ec), end; !ec && it != end;
         it.increment(ec))
      if (it->path().filename() == "started") return true;
    return false;
  };
  for (int i = 0; i < 1000 && !started(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(started()) << test::readFile(out);
  // What is left: the spawner and the init of "waits" ("quick" ended long ago: /bin/true).
  std::vector<std::pair<pid_t, std::string>> children;
  for (int i = 0; i < 500; ++i) {
    children = test::childrenOf(pid);
    if (children.size() <= 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_LE(children.size(), 2u) << "an init of a unit that ended is still there while the last unit runs";
  std::ofstream(flag).put('\n');
  auto r = test::waitMpexec(pid, out, 60);
  EXPECT_EQ(r.exit_code, 0) << r.out;
}

TEST_P(ExecutorTest, InterruptKillsEverythingWritesTheReportAndExits130) {
  std::string marker = "mpexec-interrupt-" + std::to_string(getpid()) + (sandboxed() ? "s" : "n");
  std::string tests;
  for (int i = 0; i < 6; ++i) {
    if (i) tests += ",";
    tests += R"({"name": "t)" + std::to_string(i) + R"(", "cmd": ["/bin/bash", "-c", "setsid bash -c 'exec -a )" +
             marker + R"( sleep 1000' & exec -a )" + marker + R"( sleep 1000"]})";
  }
  auto m = manifest(R"({"version": 1, "tests": [)" + tests + "]}");
  std::vector<std::string> args = {"--json", report(), "-j", "2", m};
  if (!sandboxed()) args.insert(args.begin(), "--no-sandbox");
  std::string out = dir_.path() + "/out.txt";
  pid_t pid = test::startMpexec(args, out);
  for (int i = 0; i < 500 && test::processesWith(marker).size() < 4; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_GE(test::processesWith(marker).size(), 2u) << test::readFile(out);
  kill(pid, SIGINT);
  auto r = test::waitMpexec(pid, out, 60);
  EXPECT_EQ(r.exit_code, 130) << r.out;
  EXPECT_TRUE(test::processesWith(marker).empty()) << "processes survived the interrupt";
  auto rep = readJson(report());
  int not_run = 0;
  for (const auto& t : rep.at("tests").as_array()) not_run += str(t.as_object(), "outcome") == "NOT_RUN";
  EXPECT_EQ(not_run, 6);
}

TEST_P(ExecutorTest, StateOrdersLastFailuresFirstAndRerunsThem) {
  auto m = manifest(R"({"version": 1, "tests": [
    {"name": "a", "cmd": ["/bin/true"]}, {"name": "b", "cmd": ["/bin/true"]},
    {"name": "c", "cmd": ["/bin/sh", "-c", "test -e \"$0\"", ")" + dir_.path() + R"(/fixed"]}]})");
  auto first = run({"-j", "1", m});
  EXPECT_EQ(first.exit_code, 1) << first.out;
  EXPECT_TRUE(std::filesystem::exists(dir_.path() + "/.mpexec/state.json"));
  auto rerun = run({"-j", "1", "--rerun-failed", m});
  EXPECT_EQ(rerun.exit_code, 1);
  auto rep = readJson(report());
  ASSERT_EQ(rep.at("tests").as_array().size(), 1u);
  EXPECT_EQ(str(testEntry(rep, "c"), "name"), "c");
  // With the history, the failed test starts first.
  auto ordered = run({"-j", "1", m});
  rep = readJson(report());
  EXPECT_LT(i64(testEntry(rep, "c"), "start_us"), i64(testEntry(rep, "a"), "start_us"));
}

TEST_P(ExecutorTest, ListPrintsThePlanAndRunsNothing) {
  auto m = manifest(R"({"version": 1, "groups": {"iso": {"strategy": "isolated_serial"}}, "tests": [
    {"name": "x", "cmd": ["/bin/sh", "-c", "touch \"$0\"", ")" + dir_.path() + R"(/ran"]},
    {"name": "y", "cmd": ["/bin/true"], "group": "iso"}]})");
  auto r = run({"--list", m});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("window 1: group iso (isolated_serial)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("pool (1 units)"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/ran"));
}

TEST_P(ExecutorTest, BadManifestExitsTwoBeforeRunningAnything) {
  auto m = manifest(R"({"version": 1, "tests": [
    {"name": "x", "cmd": ["/bin/sh", "-c", "touch \"$0\"", ")" + dir_.path() + R"(/ran"]},
    {"name": "x", "cmd": ["/bin/true"]}]})");
  auto r = run({m});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("m.json"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("/tests/1"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/ran"));
  EXPECT_EQ(runMpexec({"--np", "-3", m}).exit_code, 2);
  EXPECT_EQ(runMpexec({"--shard", "5/4", m}).exit_code, 2);
  EXPECT_EQ(runMpexec({"--filter", "(", m}).exit_code, 2);
  EXPECT_EQ(runMpexec({dir_.path() + "/missing.json"}).exit_code, 2);
}

// The project (here under /tmp, which the sandbox replaces with a fresh tmpfs) stays visible, read-only.
TEST_P(ExecutorTest, ProjectFilesAreVisibleToTheirTests) {
  dir_.write("data/input.txt", "hello\n");
  dir_.write("check.sh", "#!/bin/sh\ngrep -q hello data/input.txt\n", true);
  std::string tests = R"({"name": "reads", "cmd": ["./check.sh"]})";
  if (sandboxed()) tests += R"(, {"name": "cannot_write", "cmd": ["/bin/sh", "-c", "! touch data/new"]})";
  auto r = run({manifest(R"({"version": 1, "tests": [)" + tests + "]}")});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/data/new"));
}

INSTANTIATE_TEST_SUITE_P(Modes, ExecutorTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "sandbox" : "no_sandbox"; });

}  // namespace
}  // namespace mpexec
