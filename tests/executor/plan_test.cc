#include "executor/plan.h"

#include <limits>

#include <gtest/gtest.h>

#include "executor/history.h"
#include "tests/support/manifest_builder.h"

namespace mpexec {
namespace {

using test::addTest;

std::vector<std::string> poolOrder(const Manifest& m, const Plan& p) {
  std::vector<std::string> names;
  for (size_t u : p.phases.back().units) names.push_back(m.tests[p.units[u].tests[0]].name);
  return names;
}

TEST(PlanTest, UnitsPerStrategy) {
  Manifest m;
  addTest(m, "a");
  addTest(m, "s1", "s", Strategy::Serial);
  addTest(m, "b");
  addTest(m, "s2", "s", Strategy::Serial);
  addTest(m, "if1", "if", Strategy::IsolatedFree);
  addTest(m, "if2", "if", Strategy::IsolatedFree);
  addTest(m, "is1", "is", Strategy::IsolatedSerial);
  addTest(m, "is2", "is", Strategy::IsolatedSerial);
  Plan p = makePlan(m, History{}, {});
  ASSERT_EQ(p.units.size(), 6u);  // a, s, b, if1, if2, is
  EXPECT_EQ(p.units[1].name, "s");
  EXPECT_EQ(p.units[1].tests, (std::vector<size_t>{1, 3}));
  ASSERT_EQ(p.phases.size(), 3u);
  EXPECT_EQ(p.phases[0].group, "if");
  EXPECT_FALSE(p.phases[0].one_at_a_time);
  EXPECT_EQ(p.phases[0].units.size(), 2u);
  EXPECT_EQ(p.phases[1].group, "is");
  EXPECT_TRUE(p.phases[1].one_at_a_time);
  EXPECT_EQ(p.phases[1].units.size(), 1u);
  EXPECT_EQ(p.phases[2].group, "");
  EXPECT_EQ(p.phases[2].units.size(), 3u);
  EXPECT_EQ(p.tests.size(), 8u);
}

TEST(PlanTest, HistoryOrdersFailuresThenUnknownThenLongest) {
  Manifest m;
  for (auto n : {"short", "long", "unknown", "failed", "mid"}) addTest(m, n);
  History h;
  h.record("short", {100, false});
  h.record("long", {9000, false});
  h.record("failed", {50, true});
  h.record("mid", {500, false});
  Plan p = makePlan(m, h, {});
  EXPECT_EQ(poolOrder(m, p), (std::vector<std::string>{"failed", "unknown", "long", "mid", "short"}));
}

TEST(PlanTest, SerialUnitCostsTheSumOfItsTests) {
  Manifest m;
  addTest(m, "one", "", Strategy::Free);
  addTest(m, "g1", "g", Strategy::Serial);
  addTest(m, "g2", "g", Strategy::Serial);
  History h;
  h.record("one", {700, false});
  h.record("g1", {400, false});
  h.record("g2", {400, false});
  Plan p = makePlan(m, h, {});
  EXPECT_EQ(p.units[p.phases.back().units[0]].name, "g");
}

// The state file is a file in the project, which anything can have written: durations that sum past the
// largest integer make the longest unit, not one that wrapped around to negative.
TEST(PlanTest, DurationsPastTheLargestIntegerStillOrderTheLongestFirst) {
  Manifest m;
  addTest(m, "one", "", Strategy::Free);
  addTest(m, "g1", "g", Strategy::Serial);
  addTest(m, "g2", "g", Strategy::Serial);
  History h;
  h.record("one", {700, false});
  h.record("g1", {std::numeric_limits<int64_t>::max(), false});
  h.record("g2", {std::numeric_limits<int64_t>::max(), false});
  Plan p = makePlan(m, h, {});
  EXPECT_EQ(p.units[p.phases.back().units[0]].name, "g");
}

TEST(PlanTest, FilterExcludeAndRerunFailed) {
  Manifest m;
  for (auto n : {"net.get", "net.put", "disk.read", "disk.write"}) addTest(m, n);
  Selection sel;
  sel.filter.emplace("^net\\.");
  sel.exclude.emplace("put");
  Plan p = makePlan(m, History{}, sel);
  ASSERT_EQ(p.tests.size(), 1u);
  EXPECT_EQ(m.tests[p.tests[0]].name, "net.get");

  History h;
  h.record("disk.write", {1, true});
  h.record("net.get", {1, false});
  Selection failed;
  failed.only_failed = true;
  Plan q = makePlan(m, h, failed);
  ASSERT_EQ(q.tests.size(), 1u);
  EXPECT_EQ(m.tests[q.tests[0]].name, "disk.write");
}

// ctest's own cases (Tests/CTestTestLabelRegExp): test1 has "foo", test2 "bar", test3 both; test4 none.
TEST(PlanTest, LabelsSelectAsCtestDoes) {
  Manifest m;
  for (auto n : {"test1", "test2", "test3", "test4"}) addTest(m, n);
  m.tests[0].labels = {"foo"};
  m.tests[1].labels = {"bar"};
  m.tests[2].labels = {"bar", "foo"};
  auto chosen = [&](std::vector<std::string> labels, std::vector<std::string> excluded) {
    Selection sel;
    for (const auto& re : labels) sel.labels.emplace_back(re);
    for (const auto& re : excluded) sel.exclude_labels.emplace_back(re);
    std::string names;
    for (size_t t : makePlan(m, History{}, sel).tests) names += (names.empty() ? "" : " ") + m.tests[t].name;
    return names;
  };
  EXPECT_EQ(chosen({"foo"}, {}), "test1 test3");
  EXPECT_EQ(chosen({"bar"}, {}), "test2 test3");
  EXPECT_EQ(chosen({"foo|bar"}, {}), "test1 test2 test3");
  EXPECT_EQ(chosen({"baz"}, {}), "");
  EXPECT_EQ(chosen({"foo", "baz"}, {}), "");
  EXPECT_EQ(chosen({"foo", "bar"}, {}), "test3");
  EXPECT_EQ(chosen({"^fo$"}, {}), "");  // searched, not matched whole, but anchors still anchor
  EXPECT_EQ(chosen({"o"}, {}), "test1 test3");
  EXPECT_EQ(chosen({}, {"foo"}), "test2 test4");
  EXPECT_EQ(chosen({}, {"bar"}), "test1 test4");
  EXPECT_EQ(chosen({}, {"foo|bar"}), "test4");
  EXPECT_EQ(chosen({}, {"baz"}), "test1 test2 test3 test4");
  EXPECT_EQ(chosen({}, {"foo", "bar"}), "test1 test2 test4");
  EXPECT_EQ(chosen({}, {"foo", "baz"}), "test1 test2 test3 test4");
  EXPECT_EQ(chosen({"foo"}, {"bar"}), "test1");
  EXPECT_EQ(chosen({"bar"}, {"foo"}), "test2");
}

TEST(PlanTest, AUnitNeedsTheMostAnyOfItsCommandsNeeds) {
  Manifest m;
  m.resources = {{"gpu", 4}, {"db", 1}};
  addTest(m, "f1", "fx", Strategy::Free);  // a free group: setup and teardown around each test
  m.groups["fx"].resources = {{"db", 1}};
  m.tests.back().resources = {{"db", 0}, {"gpu", 1}};  // the test itself needs no db, its setup does
  addTest(m, "s1", "s", Strategy::Serial);
  m.tests.back().resources = {{"gpu", 1}};
  addTest(m, "s2", "s", Strategy::Serial);
  m.tests.back().resources = {{"gpu", 3}};
  addTest(m, "plain");
  Plan p = makePlan(m, History{}, {});
  ASSERT_EQ(p.units.size(), 3u);
  EXPECT_EQ(p.units[0].resources, (ResourceCounts{{"db", 1}, {"gpu", 1}}));
  EXPECT_EQ(p.units[1].resources, (ResourceCounts{{"gpu", 3}}));
  EXPECT_TRUE(p.units[2].resources.empty());
  EXPECT_EQ(p.resources, m.resources);
  // A selection that leaves out s2 leaves the group's unit needing what s1 needs.
  Selection sel;
  sel.exclude.emplace("s2");
  EXPECT_EQ(makePlan(m, History{}, sel).units[1].resources, (ResourceCounts{{"gpu", 1}}));
}

TEST(PlanTest, ShuffleIsReproducibleBySeed) {
  Manifest m;
  for (int i = 0; i < 50; ++i) addTest(m, "t" + std::to_string(i));
  Selection a;
  a.shuffle_seed = 42;
  auto one = poolOrder(m, makePlan(m, History{}, a));
  auto two = poolOrder(m, makePlan(m, History{}, a));
  a.shuffle_seed = 43;
  auto three = poolOrder(m, makePlan(m, History{}, a));
  EXPECT_EQ(one, two);
  EXPECT_NE(one, three);
}

TEST(PlanTest, ShardsPartitionUnitsAndNeverSplitAGroup) {
  Manifest m;
  for (int i = 0; i < 40; ++i) addTest(m, "t" + std::to_string(i));
  for (int i = 0; i < 5; ++i) addTest(m, "g" + std::to_string(i), "grp", Strategy::Serial);
  std::multiset<std::string> seen;
  int with_group = 0;
  for (int k = 1; k <= 4; ++k) {
    Selection s;
    s.shard = std::make_pair(k, 4);
    Plan p = makePlan(m, History{}, s);
    for (size_t t : p.tests) seen.insert(m.tests[t].name);
    for (const Unit& u : p.units)
      if (u.name == "grp") {
        ++with_group;
        EXPECT_EQ(u.tests.size(), 5u);
      }
  }
  EXPECT_EQ(seen.size(), m.tests.size());
  for (const auto& t : m.tests) EXPECT_EQ(seen.count(t.name), 1u) << t.name;
  EXPECT_EQ(with_group, 1);
}

}  // namespace
}  // namespace mpexec
