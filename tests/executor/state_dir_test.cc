#include "executor/state_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "sandbox/unique_fd.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

namespace fs = std::filesystem;

UniqueFd openDir(const std::string& path) { return UniqueFd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)); }

TEST(StateDirectory, IsMarkedForGitAndBackupsWithoutOverwritingTheUsersFiles) {
  test::TempDir dir;
  dir.write(".gitignore", "mine\n");
  UniqueFd fd = openDir(dir.path());
  markStateDirectory(fd.get());
  std::string tag;
  {
    FILE* f = fopen((dir.path() + "/CACHEDIR.TAG").c_str(), "r");
    ASSERT_NE(f, nullptr);
    char buf[64] = {};
    ASSERT_NE(fgets(buf, sizeof buf, f), nullptr);
    fclose(f);
    tag = buf;
  }
  EXPECT_EQ(tag, "Signature: 8a477f597d28d172789f06886806bc55\n");  // what the cachedir spec looks for
  FILE* g = fopen((dir.path() + "/.gitignore").c_str(), "r");
  char line[16] = {};
  ASSERT_NE(fgets(line, sizeof line, g), nullptr);
  fclose(g);
  EXPECT_STREQ(line, "mine\n");
}

// What a unit could plant in a run directory: symlinks to a directory and a file outside, a directory it
// made unreadable. The removal takes the run directory and nothing outside it.
TEST(RemoveTree, RemovesEverythingBelowAndFollowsNoSymlink) {
  test::TempDir outside, dir;
  std::string keep = outside.write("precious/file", "keep me");
  dir.write("run/logs/a.log", "x");
  dir.write("run/out/u0/deep/er/f", "y");
  fs::create_symlink(outside.path() + "/precious", dir.path() + "/run/out/u0/link-to-dir");
  fs::create_symlink(keep, dir.path() + "/run/logs/link-to-file.log");
  fs::create_directories(dir.path() + "/run/out/u0/locked/inner");
  dir.write("run/out/u0/locked/inner/g", "z");
  chmod((dir.path() + "/run/out/u0/locked/inner").c_str(), 0);
  chmod((dir.path() + "/run/out/u0/locked").c_str(), 0);
  UniqueFd fd = openDir(dir.path());
  auto removed = removeTree(fd.get(), "run");
  EXPECT_TRUE(removed.ok()) << removed.error().message();
  EXPECT_FALSE(fs::exists(dir.path() + "/run"));
  EXPECT_TRUE(fs::exists(keep));
  EXPECT_TRUE(fs::is_directory(outside.path() + "/precious"));
}

TEST(RemoveTree, ASymlinkInPlaceOfTheDirectoryIsRemovedNotFollowed) {
  test::TempDir outside, dir;
  std::string keep = outside.write("d/file", "keep me");
  fs::create_symlink(outside.path() + "/d", dir.path() + "/run");
  UniqueFd fd = openDir(dir.path());
  EXPECT_TRUE(removeTree(fd.get(), "run").ok());
  EXPECT_FALSE(fs::is_symlink(dir.path() + "/run"));
  EXPECT_TRUE(fs::exists(keep));
}

TEST(PruneRuns, KeepsTheNewestRunsAndLeavesEverythingElseAlone) {
  test::TempDir outside, dir;
  std::string keep = outside.write("d/file", "keep me");
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) {
    ids.push_back("20260101-0000" + std::to_string(10 + i) + "-" + std::to_string(100 + i));
    dir.write(ids.back() + "/logs/t.log", "x");
  }
  dir.write("notes.txt", "not a run");
  fs::create_directories(dir.path() + "/not-a-run");
  fs::create_symlink(outside.path() + "/d", dir.path() + "/20250101-000000-1");  // named like a run, oldest
  UniqueFd fd = openDir(dir.path());
  // The newest run is held by a running mpexec; the oldest too.
  UniqueFd held = openDir(dir.path() + "/" + ids[0]);
  holdRunDirectory(held.get());
  PrunedRuns pruned = pruneRuns(fd.get(), 10, ids.back());
  EXPECT_EQ(pruned.removed, (std::vector<std::string>{ids[1]}));
  EXPECT_EQ(pruned.in_use, 1u);
  EXPECT_TRUE(pruned.problems.empty());
  for (size_t i = 2; i < ids.size(); ++i) EXPECT_TRUE(fs::is_directory(dir.path() + "/" + ids[i])) << ids[i];
  EXPECT_TRUE(fs::is_directory(dir.path() + "/" + ids[0])) << "removed while in use";
  EXPECT_TRUE(fs::exists(dir.path() + "/notes.txt"));
  EXPECT_TRUE(fs::is_directory(dir.path() + "/not-a-run"));
  EXPECT_TRUE(fs::is_symlink(dir.path() + "/20250101-000000-1"));
  EXPECT_TRUE(fs::exists(keep));
  held.reset();
  EXPECT_EQ(pruneRuns(fd.get(), 10, ids.back()).removed, (std::vector<std::string>{ids[0]}));
  EXPECT_TRUE(pruneRuns(fd.get(), 0, ids.back()).removed.empty());  // 0 keeps every run
  std::atomic<bool> stop{true};  // an interrupted run leaves the rest for the next one
  EXPECT_TRUE(pruneRuns(fd.get(), 5, ids.back(), &stop).removed.empty());
  EXPECT_TRUE(fs::is_directory(dir.path() + "/" + ids[2]));
}

TEST(PruneRuns, RunIdsWithARandomSuffixAreRuns) {
  test::TempDir dir;
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(fmt::format("20270101-00000{}-{:08x}", i, 0xa0b1c2d3u + unsigned(i)));
    dir.write(ids.back() + "/logs/t.log", "x");
  }
  UniqueFd fd = openDir(dir.path());
  EXPECT_EQ(pruneRuns(fd.get(), 2, ids.back()).removed, (std::vector<std::string>{ids[0]}));
}

// The running mpexec's directory is the newest even when its name sorts first (an id of before the
// microseconds, or a clock set back): the oldest others go, as many as --keep-runs says.
TEST(PruneRuns, TheCurrentRunCountsAsTheNewestWhateverItsName) {
  test::TempDir dir;
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    ids.push_back(fmt::format("20270101-000000-{:08x}", 0xa0u + unsigned(i)));
    dir.write(ids.back() + "/logs/t.log", "x");
  }
  UniqueFd fd = openDir(dir.path());
  EXPECT_EQ(pruneRuns(fd.get(), 2, ids[0]).removed, (std::vector<std::string>{ids[1], ids[2]}));
  EXPECT_TRUE(fs::exists(dir.path() + "/" + ids[0]));
  EXPECT_TRUE(fs::exists(dir.path() + "/" + ids[3]));
}

}  // namespace
}  // namespace mpexec
