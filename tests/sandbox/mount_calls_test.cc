// The mount operations' parts that need no privilege: targets opened without following symlinks, and the
// host's mount table.

#include "sandbox/mount_calls.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/support/temp_dir.h"

namespace mpexec::sandbox {
namespace {

TEST(MountCallsTest, WithinIsByWholeComponents) {
  EXPECT_TRUE(within("/a/b", "/a"));
  EXPECT_TRUE(within("/a", "/a"));
  EXPECT_FALSE(within("/ab", "/a"));
  EXPECT_TRUE(within("/x/y", "/"));
}

TEST(MountCallsTest, TheHostsMountTableHasItsRoot) {
  std::vector<HostMount> mounts = readMountinfo();
  EXPECT_TRUE(std::any_of(mounts.begin(), mounts.end(), [](const HostMount& m) { return m.point == "/"; }));
  EXPECT_TRUE(std::any_of(mounts.begin(), mounts.end(), [](const HostMount& m) { return m.type == "proc"; }));
}

TEST(MountCallsTest, TargetsAreCreatedAndNoSymlinkOnTheWayIsFollowed) {
  test::TempDir dir;
  UniqueFd root(open(dir.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(root.valid());
  auto made = openTarget(root.get(), "a/b/c", Kind::Dir, Create::Yes, "/a/b/c");
  ASSERT_TRUE(made.ok()) << made.error().message();
  struct stat st;
  EXPECT_EQ(stat((dir.path() + "/a/b/c").c_str(), &st), 0);
  auto file = openTarget(root.get(), "a/f", Kind::File, Create::Yes, "/a/f");
  ASSERT_TRUE(file.ok()) << file.error().message();

  ASSERT_EQ(symlink("/etc", (dir.path() + "/link").c_str()), 0);
  auto through = openTarget(root.get(), "link/ssl", Kind::Dir, Create::Yes, "/link/ssl");
  ASSERT_FALSE(through.ok()) << "a symlink on the way is not followed";
  EXPECT_EQ(through.error().call, "mount /link/ssl");
  EXPECT_FALSE(openTarget(root.get(), "a/../..", Kind::Dir, Create::No, "/x").ok()) << "'..' is refused";
  EXPECT_FALSE(openNoSymlinks(dir.path() + "/link", "/link").ok());
}

}  // namespace
}  // namespace mpexec::sandbox
