#include "executor/closest.h"

#include <gtest/gtest.h>

namespace mpexec {
namespace {

TEST(EditDistance, CountsASwapOfNeighboursAsOneEdit) {
  EXPECT_EQ(editDistance("--fliter", "--filter"), 1u);
  EXPECT_EQ(editDistance("abc", "abc"), 0u);
  EXPECT_EQ(editDistance("", "abc"), 3u);
  EXPECT_EQ(editDistance("kitten", "sitting"), 3u);
}

TEST(ClosestMatch, SuggestsTheNearestOptionOnlyWhenItIsNear) {
  std::vector<std::string> options = {"--filter", "--exclude", "--retries", "--repeat", "--shuffle", "--shard"};
  EXPECT_EQ(closestMatch("--fliter", options), "--filter");
  EXPECT_EQ(closestMatch("--retires", options), "--retries");
  EXPECT_EQ(closestMatch("--excldue", options), "--exclude");
  EXPECT_EQ(closestMatch("--shuf", options), "--shuffle");  // the only one it abbreviates
  EXPECT_EQ(closestMatch("--sh", options), std::nullopt);   // two start so
  EXPECT_EQ(closestMatch("--frobnicate", options), std::nullopt);
  EXPECT_EQ(closestMatch("pytest", {"gtest", "ctest"}), std::nullopt);
  EXPECT_EQ(closestMatch("gtets", {"gtest", "ctest"}), "gtest");
}

}  // namespace
}  // namespace mpexec
