// The identity suite (issue 22): two consecutive units of a slot (-j1) must not be able to tell that they
// shared a sandbox (DESIGN §4: namespaces of their own "as far as anything inside it can tell"). Unit A and
// unit B each print every identity observation they can make (tests/sandbox/identity_program.h); what tells
// two units apart when each has a new sandbox (MPEXEC_FRESH_SANDBOXES=1) must tell them apart, or be
// refused, in the run as a user runs it. Colluding units could post these values to the sync board, so the
// suite compares them directly.

#include <memory>

#include "tests/sandbox/escape_support.h"
#include "tests/sandbox/identity_compare.h"
#include "tests/sandbox/identity_program.h"

namespace mpexec::test::escape {
namespace {

class Identity : public EscapeTest {
 protected:
  void SetUp() override {
    EscapeTest::SetUp();
    if (IsSkipped()) return;
    std::string why;
    prog_ = compile("identity", kIdentityC, "-O1", &why);
    if (prog_.empty() && access("/usr/bin/cc", X_OK) != 0) GTEST_SKIP() << "no C compiler: " << why;
    ASSERT_FALSE(prog_.empty()) << "cannot build the identity program: " << why;
  }

  /// Runs [A, B] (both `identity`) at -j1, so that B takes the slot A leaves; with a new sandbox per unit
  /// when `fresh`. `env` is set in mpexec's environment for the run.
  Pair runPair(bool fresh, const std::vector<std::pair<std::string, std::string>>& env = {}) {
    ScopedEnv f("MPEXEC_FRESH_SANDBOXES", fresh ? "1" : "");
    std::vector<std::unique_ptr<ScopedEnv>> set;
    for (const auto& [k, v] : env) set.push_back(std::make_unique<ScopedEnv>(k.c_str(), v));
    json::array tests{argvTest("a", {prog_}), argvTest("b", {prog_})};
    std::filesystem::remove_all(dir_.path() + "/.mpexec");
    auto r = run(tests, {"-j", "1", "-v"}, json::object{{"sandbox", sandboxWithTools()}});
    auto rep = report();
    EXPECT_EQ(outcome(rep, "a"), "PASS") << r.out;
    EXPECT_EQ(outcome(rep, "b"), "PASS") << r.out;
    return {parse(log(rep, "a")), parse(log(rep, "b")), r.out};
  }

  std::string prog_;
};

/// What a recycled sandbox keeps that no seccomp rule can hide (docs/sandbox.md, "What a unit can tell")
/// beyond the namespaces' inode numbers ("reused.") and lo's address times ("coarse."): what the network
/// namespace drew at random when it was made, the neighbour tables' reachable time.
bool keptByRecycling(const std::string& key) { return key.rfind("neigh.", 0) == 0; }

TEST_F(Identity, ConsecutiveUnitsCannotTellThatTheySharedASandbox) {
  Pair fresh = runPair(true);
  ASSERT_FALSE(fresh.a.empty()) << fresh.out;
  Pair run = runPair(false);
  auto found = tells(fresh, run);
  EXPECT_TRUE(found.empty()) << "B can tell it ran in A's sandbox by:\n" << joined(found) << run.out;
}

TEST_F(Identity, WithoutLandlockConsecutiveUnitsCannotTellThatTheySharedASandbox) {
  Pair fresh = runPair(true, {{"MPEXEC_NO_LANDLOCK", "1"}});
  ASSERT_FALSE(fresh.a.empty()) << fresh.out;
  Pair run = runPair(false, {{"MPEXEC_NO_LANDLOCK", "1"}});
  auto found = tells(fresh, run);
  EXPECT_TRUE(found.empty()) << "B can tell it ran in A's sandbox by:\n" << joined(found) << run.out;
}

// Recycling asked for (MPEXEC_RECYCLE_SANDBOXES=1): B takes A's sandbox, and tells it only by what the kept
// namespaces cannot hide; no id, cookie, file handle or pidfd of the init names them.
TEST_F(Identity, ARecycledSandboxIsToldOnlyByTheKeptNamespacesInodesAndBirth) {
  for (const char* landlock : {"", "1"}) {
    SCOPED_TRACE(std::string("MPEXEC_NO_LANDLOCK=") + landlock);
    Pair fresh = runPair(true, {{"MPEXEC_NO_LANDLOCK", landlock}});
    ASSERT_FALSE(fresh.a.empty()) << fresh.out;
    Pair run = runPair(false, {{"MPEXEC_RECYCLE_SANDBOXES", "1"}, {"MPEXEC_NO_LANDLOCK", landlock}});
    ASSERT_NE(run.out.find("sandboxes: 1 of 2 units ran in a sandbox an earlier unit left clean"), std::string::npos)
        << "not recycled:\n" << run.out;
    std::vector<std::string> beyond;
    for (const auto& line : tells(fresh, run))
      if (!keptByRecycling(line.substr(0, line.find(':')))) beyond.push_back(line);
    EXPECT_TRUE(beyond.empty()) << "B can tell it ran in A's sandbox by:\n" << joined(beyond) << run.out;
  }
}

}  // namespace
}  // namespace mpexec::test::escape
