#include "executor/shard_env.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <limits>
#include <map>

#include "executor/plan.h"
#include "tests/support/manifest_builder.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

using Vars = std::map<std::string, std::string>;

Result<std::optional<EnvShard>> fromVars(const Vars& vars, std::optional<int> total = std::nullopt) {
  return shardFromEnvironment(
      [&](const char* name) -> const char* {
        auto it = vars.find(name);
        return it == vars.end() ? nullptr : it->second.c_str();
      },
      total);
}

std::pair<int, int> shardOf(const Vars& vars, std::optional<int> total = std::nullopt) {
  auto r = fromVars(vars, total);
  EXPECT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE(r.ok() && r.value());
  return r.ok() && r.value() ? r.value()->shard : std::make_pair(0, 0);
}

TEST(ShardEnvTest, NothingSetMeansNoShard) {
  auto r = fromVars({{"PATH", "/bin"}});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.value());
}

TEST(ShardEnvTest, ZeroBasedIndicesBecomeOneBasedShards) {
  EXPECT_EQ(shardOf({{"TEST_SHARD_INDEX", "0"}, {"TEST_TOTAL_SHARDS", "4"}}), std::make_pair(1, 4));
  EXPECT_EQ(shardOf({{"GTEST_SHARD_INDEX", "3"}, {"GTEST_TOTAL_SHARDS", "4"}}), std::make_pair(4, 4));
  EXPECT_EQ(shardOf({{"JOB_COMPLETION_INDEX", "2"}}, 3), std::make_pair(3, 3));
}

TEST(ShardEnvTest, BazelComesBeforeGtestAndCarriesTheStatusFile) {
  auto r = fromVars({{"TEST_SHARD_INDEX", "1"}, {"TEST_TOTAL_SHARDS", "2"}, {"TEST_SHARD_STATUS_FILE", "/x/status"},
                     {"GTEST_SHARD_INDEX", "0"}, {"GTEST_TOTAL_SHARDS", "5"}});
  ASSERT_TRUE(r.ok() && r.value());
  EXPECT_EQ(r.value()->shard, std::make_pair(2, 2));
  EXPECT_EQ(r.value()->status_file, "/x/status");
}

TEST(ShardEnvTest, ShardTotalTakesJobCompletionIndexFirst) {
  EXPECT_EQ(shardOf({{"JOB_COMPLETION_INDEX", "0"}, {"TEST_SHARD_INDEX", "1"}, {"TEST_TOTAL_SHARDS", "2"}}, 2),
            std::make_pair(1, 2));
  // Without --shard-total the Kubernetes index alone means nothing.
  auto r = fromVars({{"JOB_COMPLETION_INDEX", "1"}});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r.value());
}

TEST(ShardEnvTest, BadValuesAreErrorsNamingTheVariable) {
  struct Case {
    Vars vars;
    std::optional<int> total;
    const char* named;
  } cases[] = {
      {{{"TEST_SHARD_INDEX", "4"}, {"TEST_TOTAL_SHARDS", "4"}}, {}, "TEST_SHARD_INDEX"},
      {{{"TEST_SHARD_INDEX", "-1"}, {"TEST_TOTAL_SHARDS", "4"}}, {}, "TEST_SHARD_INDEX"},
      {{{"TEST_SHARD_INDEX", "0"}, {"TEST_TOTAL_SHARDS", "0"}}, {}, "TEST_TOTAL_SHARDS"},
      {{{"GTEST_SHARD_INDEX", "x"}, {"GTEST_TOTAL_SHARDS", "2"}}, {}, "GTEST_SHARD_INDEX"},
      {{{"GTEST_TOTAL_SHARDS", "2"}}, {}, "GTEST_SHARD_INDEX"},
      {{{"JOB_COMPLETION_INDEX", "3"}}, 3, "JOB_COMPLETION_INDEX"},
      {{}, 3, "JOB_COMPLETION_INDEX"},
  };
  for (const Case& c : cases) {
    auto r = fromVars(c.vars, c.total);
    ASSERT_FALSE(r.ok()) << c.named;
    EXPECT_NE(r.error().message().find(c.named), std::string::npos) << r.error().message();
  }
}

TEST(ShardEnvTest, ApplyTouchesTheStatusFileAndHidesGtestSharding) {
  test::TempDir dir;
  std::string status = dir.path() + "/status";
  setenv("TEST_SHARD_INDEX", "2", 1);
  setenv("TEST_TOTAL_SHARDS", "3", 1);
  setenv("TEST_SHARD_STATUS_FILE", status.c_str(), 1);
  setenv("GTEST_SHARD_INDEX", "2", 1);
  setenv("GTEST_TOTAL_SHARDS", "3", 1);
  Config c;
  std::string err = applyShardEnvironment(c);
  for (const char* v : {"TEST_SHARD_INDEX", "TEST_TOTAL_SHARDS", "TEST_SHARD_STATUS_FILE"}) unsetenv(v);
  EXPECT_EQ(err, "");
  ASSERT_TRUE(c.shard);
  EXPECT_EQ(*c.shard, std::make_pair(3, 3));
  EXPECT_TRUE(std::filesystem::exists(status));
  // A case run with --gtest_filter must not shard itself away.
  EXPECT_EQ(getenv("GTEST_SHARD_INDEX"), nullptr);
  EXPECT_EQ(getenv("GTEST_TOTAL_SHARDS"), nullptr);
}

TEST(ShardEnvTest, ExplicitShardWinsAndDurationsNeedAShard) {
  setenv("TEST_SHARD_INDEX", "0", 1);
  setenv("TEST_TOTAL_SHARDS", "2", 1);
  Config c;
  c.shard = std::make_pair(2, 5);
  EXPECT_EQ(applyShardEnvironment(c), "");
  unsetenv("TEST_SHARD_INDEX");
  unsetenv("TEST_TOTAL_SHARDS");
  EXPECT_EQ(*c.shard, std::make_pair(2, 5));
  Config d;
  d.shard_by_durations = "state.json";
  EXPECT_NE(applyShardEnvironment(d), "");
  Config e;
  e.shard = std::make_pair(1, 2);
  e.shard_total = 2;
  EXPECT_NE(applyShardEnvironment(e), "");
}

TEST(ShardEnvTest, DurationsComeFromAStateFileOrAReport) {
  test::TempDir dir;
  auto state = loadShardDurations(dir.write("state.json", R"({"version": 1, "tests": {"a": {"duration_us": 5, "failed": false}}})"));
  ASSERT_TRUE(state.ok()) << state.error().message();
  EXPECT_EQ(state->find("a")->duration_us, 5);
  auto report = loadShardDurations(dir.write("r.json", R"({"version": 1, "run": {}, "tests": [
      {"name": "a", "start_us": 100, "end_us": 350}, {"name": "b", "start_us": null, "end_us": null}]})"));
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(report->find("a")->duration_us, 250);
  EXPECT_EQ(report->find("b"), nullptr);
  EXPECT_FALSE(loadShardDurations(dir.write("x.json", "[1, 2]")).ok());
  EXPECT_FALSE(loadShardDurations(dir.path() + "/missing.json").ok());
}

// --shard-by-durations: greedy LPT over units; every shard computes the same assignment.
TEST(ShardEnvTest, ShardsByDurationsAreBalancedDisjointAndComplete) {
  Manifest m;
  History d;
  const int64_t durations[] = {90, 70, 50, 40, 30, 20, 10, 5};
  for (int i = 0; i < 8; ++i) {
    test::addTest(m, "t" + std::to_string(i));
    d.record("t" + std::to_string(i), {durations[i], false});
  }
  test::addTest(m, "s1", "ser", Strategy::Serial);
  test::addTest(m, "s2", "ser", Strategy::Serial);
  d.record("s1", {60, false});
  d.record("s2", {60, false});
  test::addTest(m, "new");  // never measured: costs the mean
  std::map<std::string, int> shard_of;
  int64_t loads[3] = {0, 0, 0};
  for (int k = 1; k <= 3; ++k) {
    Selection sel;
    sel.shard = std::make_pair(k, 3);
    sel.shard_durations = &d;
    Plan p = makePlan(m, History{}, sel);
    EXPECT_EQ(p.unsharded_tests.size(), m.tests.size());
    for (size_t t : p.tests) {
      EXPECT_TRUE(shard_of.emplace(m.tests[t].name, k).second) << m.tests[t].name << " in two shards";
      const TestHistory* h = d.find(m.tests[t].name);
      loads[k - 1] += h ? h->duration_us : 43;  // the mean of the 10 measured tests
    }
  }
  EXPECT_EQ(shard_of.size(), m.tests.size());
  EXPECT_EQ(shard_of["s1"], shard_of["s2"]);  // a serial group is never split
  // 478 over 3 shards: LPT gives 160, 158, 160.
  int64_t lo = std::min({loads[0], loads[1], loads[2]}), hi = std::max({loads[0], loads[1], loads[2]});
  EXPECT_LE(hi - lo, 5) << loads[0] << " " << loads[1] << " " << loads[2];
  EXPECT_EQ(loads[0] + loads[1] + loads[2], 478);
}

// Durations come from another job's report: a unit whose tests sum past the largest integer is the
// longest unit (alone on its shard), not a negative one that wrapped around.
TEST(ShardEnvTest, DurationsPastTheLargestIntegerMakeTheLongestUnit) {
  Manifest m;
  History d;
  const int64_t max = std::numeric_limits<int64_t>::max();
  test::addTest(m, "g1", "g", Strategy::Serial);
  test::addTest(m, "g2", "g", Strategy::Serial);
  test::addTest(m, "c");
  test::addTest(m, "e");
  test::addTest(m, "new");  // never measured: costs the mean, which must not wrap either
  d.record("g1", {max, false});
  d.record("g2", {max, false});
  d.record("c", {5, false});
  d.record("e", {4, false});
  std::map<std::string, int> shard_of;
  for (int k = 1; k <= 2; ++k) {
    Selection sel;
    sel.shard = std::make_pair(k, 2);
    sel.shard_durations = &d;
    Plan p = makePlan(m, History{}, sel);
    for (size_t t : p.tests) shard_of[m.tests[t].name] = k;
  }
  ASSERT_EQ(shard_of.size(), m.tests.size());
  EXPECT_EQ(shard_of["g1"], shard_of["g2"]);
  EXPECT_NE(shard_of["c"], shard_of["g1"]);
  EXPECT_NE(shard_of["e"], shard_of["g1"]);
  EXPECT_NE(shard_of["new"], shard_of["g1"]);
}

// A report's times are another machine's: a test whose end minus start does not fit is unmeasured.
TEST(ShardEnvTest, AReportDurationThatDoesNotFitIsUnknown) {
  test::TempDir dir;
  auto report = loadShardDurations(dir.write("r.json", R"({"version": 1, "run": {}, "tests": [
      {"name": "a", "start_us": -9223372036854775807, "end_us": 9223372036854775807},
      {"name": "b", "start_us": -1, "end_us": 9223372036854775807},
      {"name": "c", "start_us": 0, "end_us": 9223372036854775807}]})"));
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(report->find("a"), nullptr);
  EXPECT_EQ(report->find("b"), nullptr);
  ASSERT_NE(report->find("c"), nullptr);
  EXPECT_EQ(report->find("c")->duration_us, std::numeric_limits<int64_t>::max());
}

}  // namespace
}  // namespace mpexec
