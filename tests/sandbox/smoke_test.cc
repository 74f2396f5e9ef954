#include <gtest/gtest.h>

#include "sandbox/result.h"

namespace mpexec {
namespace {

TEST(ResultTest, MessageNamesCallAndErrno) {
  Error e{"openat", ENOENT, "/nope"};
  EXPECT_EQ(e.message(), "openat: No such file or directory: /nope");
}

}  // namespace
}  // namespace mpexec
