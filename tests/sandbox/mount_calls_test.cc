// The mount operations' parts that need no privilege: targets opened without following symlinks, and the
// host's mount table.

#include "sandbox/mount_calls.h"

#include <fcntl.h>
#include <seccomp.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

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

// What exists is opened in one openat2 call; it must refuse what the walk refuses: a symlink anywhere on the
// way, the last component included, a directory where a file is wanted, a way out of the root.
void expectExistingTargetsOpenedWithoutFollowing(const std::string& dir) {
  UniqueFd root(open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(root.valid());
  ASSERT_TRUE(openTarget(root.get(), "a/b/c", Kind::Dir, Create::No, "/a/b/c").ok());
  ASSERT_TRUE(openTarget(root.get(), "a/f", Kind::File, Create::No, "/a/f").ok());
  auto via_link = openTarget(root.get(), "link/ssl", Kind::Dir, Create::No, "/link/ssl");
  EXPECT_FALSE(via_link.ok()) << "a symlink on the way is not followed";
  EXPECT_FALSE(openTarget(root.get(), "a/flink", Kind::File, Create::No, "/a/flink").ok())
      << "a symlink as the last component is not followed";
  EXPECT_FALSE(openTarget(root.get(), "a/dlink", Kind::Dir, Create::No, "/a/dlink").ok());
  // Relative links that stay inside the root are not followed either.
  EXPECT_FALSE(openTarget(root.get(), "a/rlink/c", Kind::Dir, Create::No, "/a/rlink/c").ok());
  EXPECT_FALSE(openTarget(root.get(), "a/rlink", Kind::Dir, Create::No, "/a/rlink").ok());
  EXPECT_FALSE(openTarget(root.get(), "a/rflink", Kind::File, Create::No, "/a/rflink").ok());
  EXPECT_FALSE(openTarget(root.get(), "a/b", Kind::File, Create::No, "/a/b").ok()) << "a directory is no file";
  EXPECT_FALSE(openTarget(root.get(), "a/f", Kind::Dir, Create::No, "/a/f").ok()) << "a file is no directory";
  EXPECT_FALSE(openTarget(root.get(), "a/b/../../..", Kind::Dir, Create::No, "/x").ok()) << "'..' is refused";
  // An absolute target is below the root all the same: never the host's /etc.
  auto absolute = openTarget(root.get(), "/etc", Kind::Dir, Create::No, "/etc");
  EXPECT_FALSE(absolute.ok()) << "the root has no etc";
}

void makeTree(const std::string& dir) {
  ASSERT_EQ(mkdir((dir + "/a").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((dir + "/a/b").c_str(), 0755), 0);
  ASSERT_EQ(mkdir((dir + "/a/b/c").c_str(), 0755), 0);
  UniqueFd f(open((dir + "/a/f").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
  ASSERT_TRUE(f.valid());
  ASSERT_EQ(symlink("/etc", (dir + "/link").c_str()), 0);
  ASSERT_EQ(symlink("/etc/hostname", (dir + "/a/flink").c_str()), 0);
  ASSERT_EQ(symlink("/etc", (dir + "/a/dlink").c_str()), 0);
  ASSERT_EQ(symlink("b", (dir + "/a/rlink").c_str()), 0);
  ASSERT_EQ(symlink("f", (dir + "/a/rflink").c_str()), 0);
}

TEST(MountCallsTest, ExistingTargetsAreOpenedWithoutFollowingASymlink) {
  test::TempDir dir;
  makeTree(dir.path());
  expectExistingTargetsOpenedWithoutFollowing(dir.path());
}

// Where openat2 is refused (a kernel before 5.6, or the seccomp filter of a unit that runs mpexec itself),
// the walk of O_NOFOLLOW opens does the same.
TEST(MountCallsTest, WithoutOpenat2TheWalkRefusesTheSame) {
  test::TempDir dir;
  makeTree(dir.path());
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
    if (!f || seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(openat2), 0) != 0 || seccomp_load(f) != 0)
      _exit(2);
    expectExistingTargetsOpenedWithoutFollowing(dir.path());
    _exit(::testing::Test::HasFailure() ? 1 : 0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "see the failures above, from the child without openat2";
}

// The way to a bind target for a unit's uid (a Searcher): a directory on it that the uid cannot search is
// covered, whether the target is there already (opened in one call, each directory looked at) or made;
// one it can search is left as it is, and so is the target itself, whatever its mode. As root, in a mount
// namespace of a child's own (the covers are tmpfs mounts).
TEST(MountCallsTest, AWayTheUnitCannotSearchIsCoveredAndNoOther) {
  if (geteuid() != 0) GTEST_SKIP() << "covering mounts a tmpfs: root only; this test runs as uid " << geteuid();
  test::TempDir dir;
  for (const char* d : {"/open", "/open/closed", "/open/closed/project", "/open/closed/project/deep", "/o2",
                        "/o2/target"})
    ASSERT_EQ(mkdir((dir.path() + d).c_str(), 0755), 0) << d;
  ASSERT_EQ(chmod((dir.path() + "/open/closed").c_str(), 0700), 0);
  ASSERT_EQ(chmod((dir.path() + "/o2/target").c_str(), 0700), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) _exit(2);
    UniqueFd root(open(dir.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    std::vector<std::string> covered;
    Searcher as{54321, 54321, &covered};
    // Searchable all the way (the target itself is 0700): nothing covered.
    auto plain = openTarget(root.get(), "o2/target", Kind::Dir, Create::No, "/o2/target", &as);
    if (!plain || !covered.empty()) _exit(3);
    // Existing below a 0700 directory: that one covered, the target then made in the cover.
    for (Create create : {Create::No, Create::Yes}) {
      covered.clear();
      auto made = openTarget(root.get(), "open/closed/project/deep", Kind::Dir, create, "/deep", &as);
      bool want = create == Create::Yes;  // in a fresh cover, the way on is made, or missing
      if (bool(made) != want || covered != std::vector<std::string>{"open/closed"}) _exit(create == Create::No ? 4 : 5);
      if (umount2((dir.path() + "/open/closed").c_str(), MNT_DETACH) != 0) _exit(6);
    }
    _exit(0);
  }
  int status = -1;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "status " << status << " (2: no namespace, 3: a searchable way covered, 4 and 5: the closed "
         "directory not covered, without and with creation, 6: no cover to undo)";
}

}  // namespace
}  // namespace mpexec::sandbox
