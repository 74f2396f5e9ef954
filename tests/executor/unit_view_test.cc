// What of the host a sandboxed unit is shown and hidden, computed without a sandbox.

#include "executor/unit_view.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/support/manifest_builder.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

namespace fs = std::filesystem;

TEST(UnitViewTest, UnderMeansStrictlyBelow) {
  EXPECT_TRUE(under("/a/b", "/a"));
  EXPECT_TRUE(under("/a/b/c", "/a/b"));
  EXPECT_FALSE(under("/a", "/a"));
  EXPECT_FALSE(under("/ab", "/a"));
  EXPECT_FALSE(under("/a", "/a/b"));
}

TEST(UnitViewTest, ACommandNeedsItsCwdAndItsProgramsDirectoryWhenNamedByPath) {
  std::vector<std::string> dirs;
  projectDirs("/p", {"/p/bin/t", "--x"}, dirs);
  projectDirs("/q", {"t"}, dirs);
  projectDirs("/r", {}, dirs);
  EXPECT_EQ(dirs, (std::vector<std::string>{"/p", "/p/bin", "/q", "/r"}));
}

TEST(UnitViewTest, UnsafeDirsAreTheStateDirectoryAndEveryWritablePathOnce) {
  Manifest m;
  test::addTest(m, "a");
  test::addTest(m, "b", "g", Strategy::Serial);
  m.tests[0].settings.sandbox.writable = {"/w/z", "/w/a"};
  m.tests[1].settings.sandbox.writable = {"/w/a"};
  m.groups["g"].settings.sandbox.writable = {"/w/g"};
  EXPECT_EQ(unsafeDirs(m, "/state"), (std::vector<std::string>{"/state", "/w/a", "/w/g", "/w/z"}));
}

// Directories that do not exist are resolved as written (bind_paths.h): these lie under /tmp and /run
// without touching them.
class HiddenPathsTest : public ::testing::Test {
 protected:
  static constexpr const char* kRoot = "/tmp/mpexec-unit-view-test-absent";
  static std::string at(const std::string& rel) { return std::string(kRoot) + "/" + rel; }
  sandbox::CommandSpec command(const std::string& cwd, std::vector<std::string> argv = {"t"}) {
    sandbox::CommandSpec c;
    c.cwd = cwd;
    c.argv = std::move(argv);
    return c;
  }
  BindPaths paths_{std::vector<std::string>{}};
  sandbox::UnitSpec spec_;
};

TEST_F(HiddenPathsTest, DirectoriesUnderTmpAndRunAreShownOutermostOnly) {
  spec_.commands = {command(at("proj/sub"), {at("proj/bin/t")}), command("/run/x")};
  auto r = hiddenPaths(at("proj"), spec_, paths_, "");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, (std::vector<std::string>{at("proj"), "/run/x"}));
}

TEST_F(HiddenPathsTest, AnOuterDirectoryFoundLaterReplacesTheInnerOnes) {
  spec_.commands = {command(at("a/b")), command(at("a/c")), command(at("a"))};
  auto r = hiddenPaths(at("a/b/c"), spec_, paths_, "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<std::string>{at("a")}));
}

TEST_F(HiddenPathsTest, TmpAndRunThemselvesAreNeverShown) {
  // They hold every program's files: a unit in one of them runs in its own fresh one.
  spec_.commands = {command("/tmp"), command("/run", {"/run/t"})};
  auto r = hiddenPaths("/tmp", spec_, paths_, "/tmp");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST_F(HiddenPathsTest, DirectoriesElsewhereAreNotShownButTheProjectIsWhereverItLies) {
  spec_.commands = {command("/srv/absent-project/sub")};
  auto none = hiddenPaths("/srv/absent-project", spec_, paths_, "");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  auto project = hiddenPaths("/srv/absent-project", spec_, paths_, "/srv/absent-project");
  ASSERT_TRUE(project.ok());
  EXPECT_EQ(*project, (std::vector<std::string>{"/srv/absent-project"}));
}

TEST_F(HiddenPathsTest, AWritablePathAlreadyCoversWhatLiesInIt) {
  spec_.policy.writable = {at("proj")};
  spec_.commands = {command(at("proj/sub")), command(at("other"))};
  auto r = hiddenPaths(at("proj"), spec_, paths_, "");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<std::string>{at("other")}));
}

TEST_F(HiddenPathsTest, ADirectoryThatCannotBeBoundIsAnError) {
  test::TempDir dir;
  const std::string root = fs::canonical(dir.path()).string();
  fs::create_directories(root + "/w");
  fs::create_directory_symlink(root, root + "/w/link");
  BindPaths unsafe({root + "/w"});
  spec_.commands = {command(root + "/w/link/x")};
  auto r = hiddenPaths(at("proj"), spec_, unsafe, "");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find(root + "/w/link"), std::string::npos) << r.error().message();
}

TEST(UnitViewTest, ADirectoryHoldingOtherProgramsFilesIsSharedWithOthers) {
  EXPECT_TRUE(sharedWithOthers("/", ""));
  EXPECT_TRUE(sharedWithOthers("/home", "/home/u"));
  EXPECT_TRUE(sharedWithOthers("/home/u", "/home/u"));
  EXPECT_FALSE(sharedWithOthers("/home/u/proj", "/home/u"));
  EXPECT_TRUE(sharedWithOthers("/tmp", ""));      // everybody may write it
  EXPECT_TRUE(sharedWithOthers("/var/tmp", ""));  // likewise
  EXPECT_TRUE(sharedWithOthers("/var", ""));      // holds /var/tmp
  EXPECT_TRUE(sharedWithOthers("/dev", ""));      // holds /dev/shm
  test::TempDir dir;
  EXPECT_FALSE(sharedWithOthers(fs::canonical(dir.path()).string(), ""));
  fs::permissions(dir.path(), fs::perms::others_write, fs::perm_options::add);
  EXPECT_TRUE(sharedWithOthers(fs::canonical(dir.path()).string(), ""));
}

class UnitViewFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::canonical(dir_.path()).string();
    for (const char* d : {"home/.ssh", "home/proj", "state", "out"}) fs::create_directories(at(d));
    test::addTest(m_, "a");
    m_.tests[0].settings.cwd = at("home/proj");
    m_.dir = at("home/proj");
  }
  std::string at(const std::string& rel) const { return root_ + "/" + rel; }
  test::TempDir dir_;
  std::string root_;
  Manifest m_;
};

TEST_F(UnitViewFixture, AnUnprivilegedRunHidesTheStateDirectoryAndTheUsersKeys) {
  UnitView view(m_, at("state"), "", at("home"), false);
  // ~/.gnupg does not exist: nothing to cover.
  EXPECT_EQ(view.hidden(), (std::vector<std::string>{at("state"), at("home/.ssh")}));
  UnitView root(m_, at("state"), "", at("home"), true);
  EXPECT_EQ(root.hidden(), (std::vector<std::string>{at("state")}));
}

TEST_F(UnitViewFixture, TheProjectIsItsOwnUnlessItHoldsOtherProgramsFiles) {
  EXPECT_EQ(UnitView(m_, at("state"), "", at("home"), true).projectDir(), at("home/proj"));
  EXPECT_EQ(UnitView(m_, at("state"), "", "", true).projectDir(), at("home/proj"));
  m_.dir = at("home");
  EXPECT_EQ(UnitView(m_, at("state"), "", at("home"), true).projectDir(), "");
  m_.dir = root_;
  EXPECT_EQ(UnitView(m_, at("state"), "", at("home"), true).projectDir(), "");
  m_.dir = "/";
  EXPECT_EQ(UnitView(m_, at("state"), "", at("home"), true).projectDir(), "");
  m_.dir = "/tmp";
  EXPECT_EQ(UnitView(m_, at("state"), "", at("home"), true).projectDir(), "");
}

TEST_F(UnitViewFixture, AStateDirectoryThatIsTheProjectHidesOnlyItsRuns) {
  UnitView view(m_, at("home/proj"), "", "", true);
  EXPECT_EQ(view.hidden(), (std::vector<std::string>{at("home/proj") + "/runs"}));
}

TEST_F(UnitViewFixture, TheSyncDirectoryIsResolved) {
  fs::create_directory_symlink(at("out"), at("sync-link"));
  EXPECT_EQ(UnitView(m_, at("state"), at("sync-link"), "", true).syncDir(), at("out"));
  EXPECT_EQ(UnitView(m_, at("state"), "", "", true).syncDir(), "");
}

TEST_F(UnitViewFixture, WritablePathsAreResolvedAndNeverInTheStateDirectory) {
  fs::create_directory_symlink(at("out"), at("out-link"));
  m_.tests[0].settings.sandbox.writable = {at("out-link/w"), at("state/runs")};
  UnitView view(m_, at("state"), "", "", true);
  sandbox::Policy ok;
  ok.writable = {at("out-link/w")};
  EXPECT_EQ(view.resolveWritable(ok, true), std::nullopt);
  EXPECT_EQ(ok.writable, (std::vector<std::string>{at("out/w")}));
  sandbox::Policy refused;
  refused.writable = {at("state/runs")};
  auto why = view.resolveWritable(refused, true);
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(
      why->rfind("sandbox: the writable path " + at("state/runs") + " is in mpexec's state directory", 0), 0u)
      << *why;
  sandbox::Policy whole;
  whole.writable = {at("state")};
  EXPECT_TRUE(view.resolveWritable(whole, true).has_value());
}

TEST_F(UnitViewFixture, AWritablePathSharedWithEveryProgramIsRefusedOnlyForUnitsWithIdsOfTheirOwn) {
  m_.tests[0].settings.sandbox.writable = {"/tmp", "/var/tmp"};
  UnitView view(m_, at("state"), "", "", true);
  for (const char* shared : {"/tmp", "/var/tmp"}) {
    sandbox::Policy p;
    p.writable = {shared};
    auto why = view.resolveWritable(p, true);
    ASSERT_TRUE(why.has_value()) << shared;
    EXPECT_NE(why->find("holds every program's files"), std::string::npos) << *why;
    sandbox::Policy as_user;
    as_user.writable = {shared};
    EXPECT_EQ(view.resolveWritable(as_user, false), std::nullopt) << shared;
  }
}

TEST_F(UnitViewFixture, VisibleAddsTheProjectOnlyForUnitsWithIdsOfTheirOwn) {
  UnitView view(m_, at("state"), "", "", true);
  sandbox::UnitSpec spec;
  sandbox::CommandSpec c;
  c.cwd = at("home/proj");
  c.argv = {"t"};
  spec.commands = {c};
  auto shared = view.visible(spec, false);
  ASSERT_TRUE(shared.ok());
  // The temporary directory may itself lie under /tmp, which a unit's fresh /tmp hides.
  const bool in_tmp = under(root_, "/tmp");
  EXPECT_EQ(*shared, in_tmp ? std::vector<std::string>{at("home/proj")} : std::vector<std::string>{});
  auto own = view.visible(spec, true);
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(*own, (std::vector<std::string>{at("home/proj")}));
}

}  // namespace
}  // namespace mpexec
