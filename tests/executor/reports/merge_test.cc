#include "executor/reports/merge.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fmt/format.h>

#include <filesystem>

#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

namespace json = boost::json;

// A shard's report: `tests` as name → outcome, the whole plan in `planned`.
ShardReport shard(int k, int n, const std::vector<std::pair<std::string, std::string>>& tests,
                  const std::vector<std::string>& planned, const std::string& digest = "d1") {
  json::array ts, p;
  for (size_t i = 0; i < tests.size(); ++i)
    ts.push_back(json::object{{"name", tests[i].first}, {"outcome", tests[i].second}, {"unit", "u" + std::to_string(i)},
                              {"group", nullptr}, {"start_us", 0}, {"end_us", 10}});
  for (const auto& name : planned) p.emplace_back(name);
  json::object run{{"manifest", "m.json"}, {"manifest_digest", digest}, {"shard", json::array{k, n}},
                   {"wall_us", 100 * k}, {"exit_code", 0}, {"warnings", json::array{}}};
  return {"shard" + std::to_string(k) + ".json",
          json::object{{"version", 1}, {"run", std::move(run)}, {"tests", std::move(ts)}, {"planned", std::move(p)},
                       {"units", json::array{json::object{{"id", "u0"}}}}}};
}

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

std::vector<std::string> names(const json::object& report) {
  std::vector<std::string> out;
  for (const auto& t : report.at("tests").as_array()) out.emplace_back(t.as_object().at("name").as_string());
  return out;
}

const std::vector<std::string> kPlan = {"a", "b", "c", "d"};

TEST(MergeTest, CompleteShardsJoinInPlannedOrder) {
  auto r = mergeReports({shard(2, 2, {{"b", "PASS"}, {"d", "SKIP"}}, kPlan), shard(1, 2, {{"a", "PASS"}, {"c", "FLAKY"}}, kPlan)});
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(r->complete());
  EXPECT_EQ(names(r->report), kPlan);
  const json::object& run = r->report.at("run").as_object();
  EXPECT_EQ(run.at("exit_code"), 0);
  EXPECT_EQ(run.at("wall_us"), 200);
  EXPECT_EQ(run.at("planned_tests"), 4);
  EXPECT_EQ(run.at("shards").as_array().size(), 2u);
  // Unit ids stay distinct: each is prefixed with its shard.
  const json::object& b = r->report.at("tests").as_array()[1].as_object();
  EXPECT_EQ(b.at("unit"), "s2.u0");
  EXPECT_EQ(b.at("shard"), 2);
  EXPECT_EQ(r->report.at("units").as_array().size(), 2u);
}

TEST(MergeTest, AMissingShardNamesItsTestsAndReportsThemNotRun) {
  auto r = mergeReports({shard(1, 3, {{"a", "PASS"}}, kPlan), shard(3, 3, {{"d", "PASS"}}, kPlan)});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->complete());
  EXPECT_EQ(r->missing, (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(r->missing_shards, (std::vector<std::string>{"2/3"}));
  EXPECT_EQ(names(r->report), kPlan);  // nothing planned disappears
  EXPECT_EQ(r->report.at("tests").as_array()[1].as_object().at("outcome"), "NOT_RUN");
  EXPECT_EQ(r->report.at("run").as_object().at("exit_code"), 1);
}

TEST(MergeTest, ATestInTwoReportsIsDuplicated) {
  auto r = mergeReports({shard(1, 2, {{"a", "PASS"}, {"b", "PASS"}}, kPlan), shard(2, 2, {{"b", "PASS"}, {"c", "PASS"}, {"d", "PASS"}}, kPlan)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->duplicated, (std::vector<std::string>{"b"}));
  EXPECT_TRUE(r->missing.empty());
  EXPECT_EQ(r->report.at("run").as_object().at("exit_code"), 1);
}

TEST(MergeTest, ATestOutsideThePlanIsReported) {
  auto r = mergeReports({shard(1, 1, {{"a", "PASS"}, {"b", "PASS"}, {"c", "PASS"}, {"d", "PASS"}, {"z", "PASS"}}, kPlan)});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->unplanned, (std::vector<std::string>{"z"}));
}

TEST(MergeTest, AFailedTestFailsTheMergedRun) {
  auto r = mergeReports({shard(1, 1, {{"a", "PASS"}, {"b", "FAIL"}, {"c", "PASS"}, {"d", "PASS"}}, kPlan)});
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->complete());
  EXPECT_EQ(r->report.at("run").as_object().at("exit_code"), 1);
}

TEST(MergeTest, RefusesReportsOfDifferentRuns) {
  auto digest = mergeReports({shard(1, 2, {{"a", "PASS"}}, kPlan), shard(2, 2, {{"b", "PASS"}}, kPlan, "d2")});
  ASSERT_FALSE(digest.ok());
  EXPECT_NE(digest.error().message().find("different manifests"), std::string::npos);
  auto count = mergeReports({shard(1, 2, {{"a", "PASS"}}, kPlan), shard(2, 3, {{"b", "PASS"}}, kPlan)});
  EXPECT_FALSE(count.ok());
  auto plans = mergeReports({shard(1, 2, {{"a", "PASS"}}, kPlan), shard(2, 2, {{"b", "PASS"}}, {"a", "b", "c", "e"})});
  ASSERT_FALSE(plans.ok());
  EXPECT_NE(plans.error().message().find("e (only in shard2.json)"), std::string::npos) << plans.error().message();
  EXPECT_FALSE(mergeReports({{"x.json", json::object{{"tests", json::array{}}}}}).ok());
}

TEST(MergeTest, UnshardedReportsAreCheckedForDuplicatesOnly) {
  ShardReport a = shard(1, 1, {{"a", "PASS"}}, {}), b = shard(1, 1, {{"a", "PASS"}}, {});
  for (ShardReport* r : {&a, &b}) {
    r->report.erase("planned");
    r->report.at("run").as_object()["shard"] = nullptr;
  }
  auto r = mergeReports({a, b});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->duplicated, (std::vector<std::string>{"a"}));
  EXPECT_TRUE(r->missing_shards.empty());
}

// Reports come from other jobs: a wrong type anywhere merge reads is an error naming the report, never an
// exception (exit 134) or a loop over whatever count the report gives.
TEST(MergeTest, MalformedReportsAreErrorsNotCrashes) {
  auto message = [](ShardReport r) {
    auto m = mergeReports({std::move(r)});
    return m.ok() ? std::string("merged") : m.error().message();
  };
  ShardReport planned_int = shard(1, 1, {{"a", "PASS"}}, kPlan);
  planned_int.report["planned"].as_array().emplace_back(3);
  EXPECT_EQ(message(planned_int), "shard1.json: \"planned\" holds 3, not a test name");
  ShardReport planned_obj = shard(1, 1, {{"a", "PASS"}}, kPlan);
  planned_obj.report["planned"] = json::object{};
  EXPECT_EQ(message(planned_obj), "shard1.json: \"planned\" is {}, not an array of test names");
  ShardReport planned_twice = shard(1, 1, {{"a", "PASS"}}, {"a", "a"});
  EXPECT_EQ(message(planned_twice), "shard1.json: \"planned\" names \"a\" twice");
  EXPECT_EQ(message(shard(3, 2, {{"a", "PASS"}}, kPlan)), "shard3.json: run.shard is [3,2], not [K, N] with 1 <= K <= N");
  EXPECT_EQ(message(shard(0, 2, {{"a", "PASS"}}, kPlan)), "shard0.json: run.shard is [0,2], not [K, N] with 1 <= K <= N");
  ShardReport shard_text = shard(1, 1, {{"a", "PASS"}}, kPlan);
  shard_text.report["run"].as_object()["shard"] = "1/2";
  EXPECT_EQ(message(shard_text), "shard1.json: run.shard is \"1/2\", not [K, N] with 1 <= K <= N");
  ShardReport nameless = shard(1, 1, {{"a", "PASS"}}, kPlan);
  nameless.report["tests"].as_array().emplace_back(json::object{{"name", 5}});
  EXPECT_EQ(message(nameless), "shard1.json: a test entry without a name");
}

// What merge writes must be JSON again: a number that is no finite double (Boost.JSON reads 1e400 as
// infinity and 0e+775808 as NaN, and would write them back as no JSON reader takes them), a key given twice
// and an integer beyond 64 bits are refused where the report is read, saying where.
TEST(MergeTest, NumbersJsonCannotWriteBackAreRefused) {
  for (const char* text : {R"({"version": 1, "run": {"wall_us": 1e400}, "tests": []})",
                           R"({"version": 1, "run": {}, "tests": [{"name": "a", "outcome": 0e+775808}]})",
                           R"({"version": 1, "run": {}, "run": {}, "tests": []})",
                           R"({"version": 1, "run": {"wall_us": 18446744073709551616}, "tests": []})"}) {
    auto r = readShardReport("r.json", text);
    ASSERT_FALSE(r.ok()) << text << " read as " << json::serialize(r->report);
    EXPECT_EQ(r.error().message().rfind("r.json: not JSON: at ", 0), 0u) << r.error().message();
  }
  EXPECT_TRUE(readShardReport("r.json", R"({"version": 1, "run": {"wall_us": 1.5e300}, "tests": []})").ok());
}

TEST(MergeTest, AHugeShardCountNamesAFewMissingShards) {
  for (int64_t n : {int64_t(4000000000), INT64_MAX}) {
    ShardReport r = shard(1, 1, {{"a", "PASS"}}, kPlan);
    r.report["run"].as_object()["shard"] = json::array{2, n};
    auto m = mergeReports({r});
    ASSERT_TRUE(m.ok()) << m.error().message();
    EXPECT_EQ(m->missing_shard_count, uint64_t(n) - 1);
    ASSERT_EQ(m->missing_shards.size(), kMissingShardsNamed);
    EXPECT_EQ(m->missing_shards[0], fmt::format("1/{}", n));
    EXPECT_EQ(m->missing_shards[1], fmt::format("3/{}", n));
    EXPECT_FALSE(m->complete());
  }
}

// merge --junit copies a log only from the run directory of the test's own report (runs/<id>/logs/...),
// never through "..", an absolute path elsewhere or a symlink out of it; each refusal is counted.
class ShardLogsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_.write("secret.txt", "SECRET\n");
    dir_.write("ci/.mpexec/runs/r1/logs/a.log", "log of a\n");
    dir_.write("ci/.mpexec/runs/r1/report.json", "{}");
    dir_.write("ci/.mpexec/runs/r2/logs/b.log", "log of b\n");
    std::filesystem::create_symlink(dir_.path() + "/secret.txt", dir_.path() + "/ci/.mpexec/runs/r1/logs/link.log");
    std::filesystem::create_symlink(dir_.path(), dir_.path() + "/ci/.mpexec/runs/r1/logs/up");
    std::filesystem::create_symlink("a.log", dir_.path() + "/ci/.mpexec/runs/r1/logs/inside.log");
  }
  std::optional<std::string> read(ShardLogs& logs, const std::string& report, const std::string& log) {
    return logs.read(dir_.path() + "/" + report, "r1", log);
  }
  test::TempDir dir_;
};

TEST_F(ShardLogsTest, ReadsOnlyBelowTheReportsRunDirectory) {
  ShardLogs logs({dir_.path() + "/ci"});
  // Found below a --log-root, below the report's own run directory, and through a symlink that stays inside.
  EXPECT_EQ(read(logs, "shard1.json", ".mpexec/runs/r1/logs/a.log"), "log of a\n");
  EXPECT_EQ(read(logs, "ci/.mpexec/runs/r1/report.json", "anything/runs/r1/logs/a.log"), "log of a\n");
  EXPECT_EQ(read(logs, "shard1.json", ".mpexec/runs/r1/logs/inside.log"), "log of a\n");
  EXPECT_EQ(read(logs, "shard1.json", dir_.path() + "/ci/.mpexec/runs/r1/logs/a.log"), "log of a\n");
  EXPECT_EQ(read(logs, "shard1.json", ".mpexec/runs/r1/logs/missing.log"), std::nullopt);  // not a refusal
  EXPECT_TRUE(logs.refusals().empty());
  for (const std::string& bad : {std::string("/etc/passwd"), std::string("../secret.txt"),
                                 std::string(".mpexec/runs/r1/logs/../../../../secret.txt"),
                                 std::string(".mpexec/runs/r2/logs/b.log"),  // another run's
                                 std::string(".mpexec/runs/r1/logs/link.log"), std::string(".mpexec/runs/r1/logs/up/secret.txt"),
                                 std::string(".mpexec/runs/r1/logs")}) {
    EXPECT_EQ(read(logs, "shard1.json", bad), std::nullopt) << bad;
  }
  ASSERT_EQ(logs.refusals().size(), 1u);
  EXPECT_EQ(logs.refusals()[0], dir_.path() + "/shard1.json: 7 log path(s) not copied into the JUnit report, e.g. "
                                              "/etc/passwd (it is not below runs/r1/logs/, the logs of its report's run)");
  ShardLogs other({dir_.path() + "/ci"});
  EXPECT_EQ(other.read(dir_.path() + "/s.json", "", ".mpexec/runs/r1/logs/a.log"), std::nullopt);  // no run id
  EXPECT_EQ(other.read(dir_.path() + "/s.json", "..", "runs/../logs/a.log"), std::nullopt);
  EXPECT_EQ(other.refusals().size(), 1u);
}

TEST_F(ShardLogsTest, MergedJunitTakesEachTestsLogFromItsOwnReport) {
  auto report = [&](const std::string& id, const std::string& name, const std::string& log) {
    json::object run{{"id", id}, {"manifest_digest", "d"}, {"shard", nullptr}};
    json::array tests{json::object{{"name", name}, {"outcome", "FAIL"}, {"log", log}}};
    return ShardReport{dir_.path() + "/" + id + ".json", json::object{{"run", run}, {"tests", tests}}};
  };
  std::vector<ShardReport> reports = {report("r1", "a", ".mpexec/runs/r1/logs/a.log"),
                                      report("r2", "b", "/etc/passwd"), report("r3", "c", ".mpexec/runs/r1/logs/a.log")};
  auto m = mergeReports(reports);
  ASSERT_TRUE(m.ok()) << m.error().message();
  ShardLogs logs({dir_.path() + "/ci"});
  std::string x = mergedJunit(*m, reports, logs);
  EXPECT_EQ(count(x, "<system-out>"), 1u) << x;
  EXPECT_NE(x.find("<system-out>log of a&#10;</system-out>"), std::string::npos) << x;
  EXPECT_EQ(x.find("root:"), std::string::npos);
  EXPECT_EQ(logs.refusals().size(), 2u);  // r2's /etc/passwd, and r3 naming r1's log
}

}  // namespace
}  // namespace mpexec
