// Run control with the real binary: retries, shuffle, repeat and until-fail.

#include <algorithm>
#include <filesystem>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "tests/support/mpexec_process.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

namespace json = boost::json;
using test::readJson;
using test::runMpexec;
using test::testEntry;

class RunControlTest : public ::testing::Test {
 protected:
  test::Finished run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--json", report()});
    return runMpexec(args);
  }
  std::string report() const { return dir_.path() + "/report.json"; }
  test::TempDir dir_;
};

std::string str(const json::object& o, const char* key) {
  const json::value& v = o.at(key);
  return v.is_string() ? std::string(v.as_string()) : "";
}

/// A test that fails on its first attempt and passes on its second: a counter in a writable directory.
std::string flakyManifest(const std::string& dir) {
  return R"({"version": 1, "defaults": {"sandbox": {"writable": [")" + dir + R"("]}}, "tests": [
    {"name": "flaky", "cmd": ["/bin/sh", "-c", "n=$(cat \"$0\" 2>/dev/null || echo 0); echo $((n+1)) > \"$0\"; echo attempt $MPEXEC_ATTEMPT; test $n -ge 1", ")" +
         dir + R"(/counter"]},
    {"name": "steady", "cmd": ["/bin/true"]}]})";
}

TEST_F(RunControlTest, RetriedPassIsFlaky) {
  auto m = dir_.write("m.json", flakyManifest(dir_.path()));
  auto r = run({"--retries", "1", m});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  auto rep = readJson(report());
  const auto& flaky = testEntry(rep, "flaky");
  EXPECT_EQ(str(flaky, "outcome"), "FLAKY");
  EXPECT_EQ(flaky.at("attempts").to_number<int>(), 2);
  // The second attempt saw MPEXEC_ATTEMPT=2 and has its own log.
  EXPECT_EQ(test::readFile(dir_.path() + "/" + str(flaky, "log")), "attempt 2\n");
  EXPECT_EQ(str(testEntry(rep, "steady"), "outcome"), "PASS");
  // The last attempt has its own times, so the summary has durations and a sum (issue 21, item 7).
  ASSERT_TRUE(flaky.at("start_us").is_number()) << json::serialize(flaky);
  EXPECT_GE(flaky.at("end_us").to_number<int64_t>(), flaky.at("start_us").to_number<int64_t>());
  EXPECT_NE(r.out.find("Slowest:"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("sum of test times 0ms"), std::string::npos) << r.out;
}

// Test names that collide with the names of other logs once made file names: a retry's log, a group's
// setup log. Every command keeps a log of its own.
TEST_F(RunControlTest, EveryCommandHasALogOfItsOwnWhateverTheNames) {
  std::string tests = R"({"name": "flaky.attempt2", "cmd": ["/bin/true"]}, {"name": "g1", "cmd": ["/bin/true"], "group": "g"})";
  for (int u = 0; u < 20; ++u) tests += R"(, {"name": "u)" + std::to_string(u) + R"(.setup", "cmd": ["/bin/true"]})";
  std::string m = flakyManifest(dir_.path());
  m.replace(m.rfind("]}"), 2, ", " + tests + R"(], "groups": {"g": {"setup": ["/bin/echo", "SETUP"]}}})");
  auto r = run({"--no-sandbox", "--retries", "1", dir_.write("m.json", m)});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  auto rep = readJson(report());
  std::filesystem::path logs = std::filesystem::path(dir_.path()) / str(testEntry(rep, "steady"), "log");
  std::size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(logs.parent_path())) ++files;
  // 24 tests, the second attempt of "flaky", and g's setup.
  EXPECT_EQ(files, 26u);
  EXPECT_EQ(test::readFile(dir_.path() + "/" + str(testEntry(rep, "flaky"), "log")), "attempt 2\n");
  EXPECT_EQ(test::readFile(dir_.path() + "/" + str(testEntry(rep, "flaky.attempt2"), "log")), "");
}

TEST_F(RunControlTest, WithoutRetriesTheSameTestFails) {
  auto m = dir_.write("m.json", flakyManifest(dir_.path()));
  auto r = run({m});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(str(testEntry(readJson(report()), "flaky"), "outcome"), "FAIL");
}

std::vector<std::string> startOrder(const json::object& rep) {
  std::vector<std::pair<int64_t, std::string>> v;
  for (const auto& t : rep.at("tests").as_array())
    v.emplace_back(t.as_object().at("start_us").to_number<int64_t>(), str(t.as_object(), "name"));
  std::sort(v.begin(), v.end());
  std::vector<std::string> names;
  for (auto& [_, n] : v) names.push_back(n);
  return names;
}

TEST_F(RunControlTest, SameSeedSameOrderOtherSeedOtherOrder) {
  auto m = dir_.write("m.json", test::numberedTestsManifest("t", 50, R"(["/bin/true"])"));
  auto a = run({"--no-sandbox", "-j", "1", "--shuffle", "--seed", "7", m});
  ASSERT_EQ(a.exit_code, 0) << a.out;
  EXPECT_NE(a.out.find("shuffle seed: 7"), std::string::npos);
  auto rep_a = readJson(report());
  EXPECT_EQ(rep_a.at("run").as_object().at("seed").to_number<int>(), 7);
  auto order_a = startOrder(rep_a);
  ASSERT_EQ(run({"--no-sandbox", "-j", "1", "--shuffle", "--seed", "7", m}).exit_code, 0);
  auto order_b = startOrder(readJson(report()));
  ASSERT_EQ(run({"--no-sandbox", "-j", "1", "--shuffle", "--seed", "8", m}).exit_code, 0);
  auto order_c = startOrder(readJson(report()));
  EXPECT_EQ(order_a, order_b);
  EXPECT_NE(order_a, order_c);
  std::vector<std::string> manifest_order;
  for (int i = 0; i < 50; ++i) manifest_order.push_back("t" + std::to_string(i));
  EXPECT_NE(order_a, manifest_order);
}

TEST_F(RunControlTest, RepeatRunsTheSelectionNTimes) {
  auto m = dir_.write("m.json", R"({"version": 1, "tests": [{"name": "a", "cmd": ["/bin/true"]},
                                                             {"name": "b", "cmd": ["/bin/true"]}]})");
  auto r = run({"--no-sandbox", "--repeat", "3", m});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  auto rep = readJson(report());
  EXPECT_EQ(rep.at("tests").as_array().size(), 6u);
  EXPECT_EQ(str(testEntry(rep, "b#3"), "outcome"), "PASS");
  // Iterations run one after another.
  EXPECT_LE(testEntry(rep, "a#1").at("end_us").to_number<int64_t>(), testEntry(rep, "a#2").at("start_us").to_number<int64_t>());
}

// --repeat N plans N iterations: when --max-fail (or an interrupt) stops the run, the iterations that never
// started are in the report as NOT_RUN, as the unstarted tests of a started one are; nothing planned
// disappears (DESIGN §6).
TEST_F(RunControlTest, RepeatStoppedEarlyReportsTheIterationsThatDidNotStartAsNotRun) {
  auto m = dir_.write("m.json", R"({"version": 1, "tests": [{"name": "a", "cmd": ["/bin/false"]},
                                                             {"name": "b", "cmd": ["/bin/true"]}]})");
  auto r = run({"--no-sandbox", "-j", "1", "--repeat", "3", "--max-fail", "1", m});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto rep = readJson(report());
  ASSERT_EQ(rep.at("tests").as_array().size(), 6u) << r.out;
  for (const char* name : {"a#2", "b#2", "a#3", "b#3"}) {
    EXPECT_EQ(str(testEntry(rep, name), "outcome"), "NOT_RUN") << name;
    EXPECT_EQ(str(testEntry(rep, name), "reason"), "not started: --max-fail reached") << name;
  }
  EXPECT_EQ(str(testEntry(rep, "a#1"), "outcome"), "FAIL");
  EXPECT_NE(r.out.find("6 tests: "), std::string::npos) << r.out;
}

TEST_F(RunControlTest, UntilFailStopsAfterTheFailingIteration) {
  auto m = dir_.write("m.json", R"({"version": 1, "tests": [
    {"name": "third", "cmd": ["/bin/sh", "-c", "n=$(cat \"$0\" 2>/dev/null || echo 0); echo $((n+1)) > \"$0\"; test $n -lt 2", ")" +
                                    dir_.path() + R"(/n"]}]})");
  auto r = run({"--no-sandbox", "--until-fail", "10", m});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto rep = readJson(report());
  EXPECT_EQ(rep.at("tests").as_array().size(), 3u);
  EXPECT_EQ(str(testEntry(rep, "third#3"), "outcome"), "FAIL");
}

// --output streamed shows each line as it comes, prefixed with the test's name: before the test's own
// result line, which only comes when it has ended.
TEST_F(RunControlTest, StreamedOutputComesLivePrefixedByName) {
  auto m = dir_.write("m.json", R"({"version": 1, "tests": [
    {"name": "a", "cmd": ["/bin/sh", "-c", "echo first; sleep 0.5; printf 'last without newline'"]},
    {"name": "b", "cmd": ["/bin/sh", "-c", "echo from b"]}]})");
  auto r = run({"--no-sandbox", "-v", "-j", "2", "--output", "streamed", m});
  EXPECT_EQ(r.exit_code, 0) << r.out;
  size_t first = r.out.find("a: first\n");
  size_t done = r.out.find("PASS    a");
  ASSERT_NE(first, std::string::npos) << r.out;
  ASSERT_NE(done, std::string::npos) << r.out;
  EXPECT_LT(first, done) << r.out;
  EXPECT_NE(r.out.find("a: last without newline\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("b: from b\n"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace mpexec
