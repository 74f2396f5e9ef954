#include "executor/bind_paths.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

namespace fs = std::filesystem;

class BindPathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::canonical(dir_.path()).string();
    fs::create_directories(root_ + "/project/build");
    fs::create_directories(root_ + "/elsewhere/data");
    fs::create_directories(root_ + "/secret");
  }
  std::string at(const std::string& rel) const { return root_ + "/" + rel; }
  test::TempDir dir_;
  std::string root_;
};

TEST_F(BindPathsTest, ASymlinkOutsideWhatUnitsMayWriteIsFollowed) {
  fs::create_directory_symlink(at("elsewhere"), at("link"));
  BindPaths paths({at("project")});
  auto r = paths.get(at("link/data"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, at("elsewhere/data"));
  // Relative links, and ".." after one, resolve from where the link lies.
  fs::create_directory_symlink("../../elsewhere", at("project/build/up"));
  BindPaths other({});
  auto rel = other.get(at("project/build/up/data/../data"));
  ASSERT_TRUE(rel.ok()) << rel.error().message();
  EXPECT_EQ(*rel, at("elsewhere/data"));
}

TEST_F(BindPathsTest, ASymlinkInsideAWritablePathIsRefusedAndNamed) {
  fs::create_directory_symlink(at("secret"), at("project/build/out"));
  BindPaths paths({at("project")});
  auto r = paths.get(at("project/build/out"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().err, ELOOP);
  EXPECT_NE(r.error().detail.find(at("project/build/out")), std::string::npos) << r.error().detail;
  EXPECT_NE(r.error().detail.find("which units may write"), std::string::npos) << r.error().detail;
  // A path that does not pass through it is fine.
  EXPECT_TRUE(paths.get(at("project/build")).ok());
}

TEST_F(BindPathsTest, ResolvedOnceAtAddNotWhenAsked) {
  BindPaths paths({at("project")});
  paths.add(at("project/build"));
  // Replaced by a symlink after the run started: get() still answers what add() found; the sandbox then
  // opens that path without following symlinks.
  fs::remove(at("project/build"));
  fs::create_directory_symlink(at("secret"), at("project/build"));
  auto r = paths.get(at("project/build"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, at("project/build"));
}

TEST_F(BindPathsTest, MissingComponentsAreKeptAsWritten) {
  BindPaths paths({});
  auto r = paths.get(at("project/not/yet"));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, at("project/not/yet"));
  EXPECT_FALSE(paths.get("relative/path").ok());
}

}  // namespace
}  // namespace mpexec
