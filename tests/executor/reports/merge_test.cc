#include "executor/reports/merge.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

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

}  // namespace
}  // namespace mpexec
