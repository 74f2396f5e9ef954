// Which of CTest's tests share a serial group, its name, strategy and order, without a manifest around
// them (the import's own tests check what the manifest says).

#include "executor/import/ctest_groups.h"

#include <gtest/gtest.h>

namespace mpexec {
namespace {

CtestTest test(const std::string& name) {
  CtestTest t;
  t.name = t.ctest_name = name;
  return t;
}

TEST(CtestGroupsTest, LocksAndFixturesLinkTestsAloneTestsStayAlone) {
  std::vector<CtestTest> tests = {test("alone"), test("a"), test("b"), test("c"), test("setup"), test("user")};
  tests[1].locks = {"db"};
  tests[2].locks = {"other", "db"};
  tests[3].locks = {"other"};
  tests[4].fixtures_setup = {"F"};
  tests[5].fixtures_required = {"F"};
  CtestGroups g = groupCtestTests(tests);
  ASSERT_EQ(g.groups.size(), 2u);
  EXPECT_FALSE(g.of_test[0]);
  EXPECT_EQ(g.groups[0].name, "ctest.lock.db") << "named after the first lock of its first test";
  EXPECT_EQ(g.groups[0].members, (std::vector<std::size_t>{1, 2, 3})) << "linked through b's two locks";
  EXPECT_EQ(g.groups[1].name, "ctest.fixture.F");
  EXPECT_EQ(g.groups[1].members, (std::vector<std::size_t>{4, 5}));
  EXPECT_EQ(g.of_test[3], std::optional<std::size_t>(0));
  EXPECT_EQ(g.of_test[5], std::optional<std::size_t>(1));
  EXPECT_FALSE(g.groups[0].isolated);
}

TEST(CtestGroupsTest, AFixtureWithoutSetupOrCleanupLinksNothing) {
  std::vector<CtestTest> tests = {test("a"), test("b")};
  tests[0].fixtures_required = {"F"};
  tests[1].fixtures_required = {"F"};
  EXPECT_TRUE(groupCtestTests(tests).groups.empty());
}

TEST(CtestGroupsTest, RunSerialIsolatesAGroupOrMakesOneOfItsOwn) {
  std::vector<CtestTest> tests = {test("a b"), test("x"), test("y")};
  tests[0].run_serial = true;
  tests[1].locks = {"L"};
  tests[2].locks = {"L"};
  tests[2].run_serial = true;
  CtestGroups g = groupCtestTests(tests);
  ASSERT_EQ(g.groups.size(), 2u);
  EXPECT_EQ(g.groups[0].name, "ctest.serial.a_b") << "characters a group name cannot hold become _";
  EXPECT_TRUE(g.groups[0].isolated);
  EXPECT_EQ(g.groups[1].name, "ctest.lock.L");
  EXPECT_TRUE(g.groups[1].isolated);
}

TEST(CtestGroupsTest, SetupUsersCleanupThenDependsOrderAGroupAndACycleKeepsCtestsOrder) {
  std::vector<CtestTest> tests = {test("cleanup"), test("user"), test("setup"), test("later")};
  tests[0].fixtures_cleanup = {"F"};
  tests[1].fixtures_required = {"F"};
  tests[2].fixtures_setup = {"F"};
  tests[3].fixtures_required = {"F"};
  tests[1].depends = {"later"};
  CtestGroups g = groupCtestTests(tests);
  ASSERT_EQ(g.groups.size(), 1u);
  EXPECT_FALSE(g.groups[0].cycle);
  EXPECT_EQ(g.groups[0].members, (std::vector<std::size_t>{2, 3, 1, 0}));

  tests[3].depends = {"user"};
  g = groupCtestTests(tests);
  EXPECT_TRUE(g.groups[0].cycle);
  EXPECT_EQ(g.groups[0].members, (std::vector<std::size_t>{0, 1, 2, 3}));
}

TEST(CtestGroupsTest, TwoGroupsOfOneNameAreToldApart) {
  std::vector<CtestTest> tests = {test("a"), test("b"), test("c"), test("d")};
  tests[0].locks = tests[1].locks = {"L/1"};
  tests[2].locks = tests[3].locks = {"L_1"};
  CtestGroups g = groupCtestTests(tests);
  ASSERT_EQ(g.groups.size(), 2u);
  EXPECT_EQ(g.groups[0].name, "ctest.lock.L_1");
  EXPECT_EQ(g.groups[1].name, "ctest.lock.L_1-2");
}

}  // namespace
}  // namespace mpexec
