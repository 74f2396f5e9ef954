#include "executor/input_file.h"

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

TEST(InputFileTest, ReadsAFileWholeUpToTheBound) {
  test::TempDir dir;
  std::string f = dir.write("a.json", std::string(100, 'x'));
  auto all = readInputFile(f, 100);
  ASSERT_TRUE(all.ok()) << all.error().message();
  EXPECT_EQ(all->size(), 100u);
  auto over = readInputFile(f, 99);
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().message(), f + ": is larger than 0 MiB, more than any manifest or report");
}

TEST(InputFileTest, RefusesDirectoriesAndDevices) {
  test::TempDir dir;
  EXPECT_EQ(readInputFile(dir.path()).error().message(), dir.path() + ": is a directory, expected a file");
  EXPECT_EQ(readInputFile("/dev/zero").error().message(), "/dev/zero: is a device or a socket, expected a file");
  EXPECT_EQ(readInputFile(dir.path() + "/missing").error().message(),
            dir.path() + "/missing: cannot read: No such file or directory");
}

}  // namespace
}  // namespace mpexec
