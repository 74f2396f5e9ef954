// Resources: names, --resources, and the pool the scheduler takes from and gives back to.

#include "executor/resources.h"

#include <algorithm>

#include <gtest/gtest.h>

namespace mpexec {
namespace {

TEST(ResourcesTest, NamesMapOntoOneVariableEach) {
  EXPECT_TRUE(validResourceName("gpu"));
  EXPECT_TRUE(validResourceName("_db_2"));
  EXPECT_FALSE(validResourceName(""));
  EXPECT_FALSE(validResourceName("GPU"));  // "gpu" and "GPU" would share MPEXEC_RESOURCE_GPU
  EXPECT_FALSE(validResourceName("2gpu"));
  EXPECT_FALSE(validResourceName("gpu-a"));
  EXPECT_FALSE(validResourceName(std::string(65, 'a')));
  EXPECT_EQ(resourceVariable("gpu_mem"), "MPEXEC_RESOURCE_GPU_MEM");
  EXPECT_EQ(instanceList({0, 3}), "0,3");
}

TEST(ResourcesTest, CommandLineCounts) {
  auto r = parseResourceCounts("gpu=2,db=1,none=0");
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(r.value(), (ResourceCounts{{"db", 1}, {"gpu", 2}, {"none", 0}}));
  auto error = [](const char* text) { return parseResourceCounts(text).error().detail; };
  EXPECT_EQ(error("gpu"), "expected NAME=COUNT (NAME from [a-z0-9_], not starting with a digit), got 'gpu'");
  EXPECT_EQ(error("gpu=2,"), "expected NAME=COUNT (NAME from [a-z0-9_], not starting with a digit), got ''");
  EXPECT_EQ(error("GPU=2"), "expected NAME=COUNT (NAME from [a-z0-9_], not starting with a digit), got 'GPU=2'");
  EXPECT_EQ(error("gpu=-1"), "expected a count from 0 to 1024 for gpu, got '-1'");
  EXPECT_EQ(error("gpu=2x"), "expected a count from 0 to 1024 for gpu, got '2x'");
  EXPECT_EQ(error("gpu=1025"), "expected a count from 0 to 1024 for gpu, got '1025'");
  EXPECT_EQ(error("gpu="), "expected a count from 0 to 1024 for gpu, got ''");
  EXPECT_EQ(error("gpu=1,gpu=2"), "gpu is given twice");
}

TEST(ResourcesTest, PoolGivesTheLowestFreeInstancesAndTakesThemBack) {
  ResourcePool pool({{"gpu", 3}, {"db", 1}});
  EXPECT_FALSE(pool.fits({{"gpu", 4}}));
  EXPECT_FALSE(pool.fits({{"tpu", 1}}));  // none exist
  EXPECT_TRUE(pool.fits({{"tpu", 0}}));
  ResourceInstances a = pool.take({{"gpu", 2}, {"db", 1}});
  EXPECT_EQ(a, (ResourceInstances{{"db", {0}}, {"gpu", {0, 1}}}));
  EXPECT_FALSE(pool.fits({{"gpu", 2}}));
  EXPECT_EQ(pool.shortOf({{"gpu", 2}, {"db", 1}}), (std::vector<std::string>{"db", "gpu"}));
  ResourceInstances b = pool.take({{"gpu", 1}});
  EXPECT_EQ(b, (ResourceInstances{{"gpu", {2}}}));
  pool.give(a);
  EXPECT_EQ(pool.take({{"gpu", 2}}), (ResourceInstances{{"gpu", {0, 1}}}));
}

TEST(ResourcesTest, ACommandGetsItsShareOfWhatItsUnitHolds) {
  ResourceInstances held{{"gpu", {1, 2}}, {"db", {0}}};
  EXPECT_EQ(shareOf(held, {{"gpu", 1}}), (ResourceInstances{{"gpu", {1}}}));
  EXPECT_EQ(shareOf(held, {{"gpu", 2}, {"db", 0}}), (ResourceInstances{{"gpu", {1, 2}}}));
  EXPECT_EQ(shareOf(held, {}), ResourceInstances{});
  ResourceCounts unit{{"gpu", 1}};
  raiseTo(unit, {{"gpu", 2}, {"db", 1}, {"tpu", 0}});
  EXPECT_EQ(unit, (ResourceCounts{{"db", 1}, {"gpu", 2}}));
}

TEST(ResourcesTest, CtestsVariablesNameEachGroupsInstancesAsCtestDoes) {
  // RESOURCE_GROUPS "2,gpus:1;crypto:2,gpus:1": what ctest printed for it, with ids 0, 1, 2 and c0 → 0.
  ResourceGroups groups{{{"gpus", 1}}, {{"gpus", 1}}, {{"crypto", 2}, {"gpus", 1}}};
  std::vector<std::string> vars = ctestGroupVariables(groups, {{"gpus", {0, 1, 2}}, {"crypto", {0}}});
  std::sort(vars.begin(), vars.end());
  EXPECT_EQ(vars, (std::vector<std::string>{"CTEST_RESOURCE_GROUP_0=gpus", "CTEST_RESOURCE_GROUP_0_GPUS=id:0,slots:1",
                                            "CTEST_RESOURCE_GROUP_1=gpus", "CTEST_RESOURCE_GROUP_1_GPUS=id:1,slots:1",
                                            "CTEST_RESOURCE_GROUP_2=crypto,gpus",
                                            "CTEST_RESOURCE_GROUP_2_CRYPTO=id:0,slots:2",
                                            "CTEST_RESOURCE_GROUP_2_GPUS=id:2,slots:1", "CTEST_RESOURCE_GROUP_COUNT=3"}));
  // Instances handed out in group order, whichever the unit holds.
  vars = ctestGroupVariables({{{"gpu", 1}}, {{"gpu", 3}}}, {{"gpu", {3, 1}}});
  EXPECT_EQ(vars, (std::vector<std::string>{"CTEST_RESOURCE_GROUP_COUNT=2", "CTEST_RESOURCE_GROUP_0_GPU=id:3,slots:1",
                                            "CTEST_RESOURCE_GROUP_0=gpu", "CTEST_RESOURCE_GROUP_1_GPU=id:1,slots:3",
                                            "CTEST_RESOURCE_GROUP_1=gpu"}));
  EXPECT_TRUE(ctestGroupVariables({}, {{"gpu", {0}}}).empty());
}

TEST(ResourcesTest, CtestsResourceSpecFileCountsTheInstancesOfEachResource) {
  auto r = parseResourceSpec(R"({"version": {"major": 1, "minor": 0}, "local": [{
      "gpus": [{"id": "0", "slots": 2}, {"id": "1", "slots": 1}, {"id": "2", "slots": 0}],
      "crypto_chips": [{"id": "card0", "slots": 4}], "none": []}]})");
  ASSERT_TRUE(r.ok()) << r.error().detail;
  EXPECT_EQ(r.value(), (ResourceCounts{{"crypto_chips", 1}, {"gpus", 2}, {"none", 0}}));
  auto error = [](const std::string& text) { return parseResourceSpec(text).error().detail; };
  EXPECT_NE(error("{").find("not JSON"), std::string::npos);
  EXPECT_NE(error(R"({"version": {"major": 2, "minor": 0}, "local": [{}]})").find("version 1.0"), std::string::npos);
  EXPECT_EQ(error(R"({"version": {"major": 1, "minor": 0}, "local": [{}, {}]})"),
            "/local: expected an array of one object (resource name → its instances)");
  EXPECT_EQ(error(R"({"version": {"major": 1, "minor": 0}, "local": [{"GPUs": []}]})"),
            "/local/0/GPUs: a resource name is 1 to 64 characters from [a-z0-9_], not starting with a digit");
  EXPECT_EQ(error(R"({"version": {"major": 1, "minor": 0}, "local": [{"gpus": [{"id": "0"}]}]})"),
            "/local/0/gpus/0: expected {\"id\": STRING, \"slots\": N >= 0}");
}

}  // namespace
}  // namespace mpexec
