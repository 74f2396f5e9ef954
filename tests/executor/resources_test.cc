// Resources: names, --resources, and the pool the scheduler takes from and gives back to.

#include "executor/resources.h"

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

}  // namespace
}  // namespace mpexec
