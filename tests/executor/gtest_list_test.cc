#include "executor/gtest_list.h"

#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

using Names = std::vector<std::string>;

TEST(GtestListingTest, SuitesAndCases) {
  EXPECT_EQ(parseGtestListing("A.\n  x\n  y\nB.\n  z\n").value(), (Names{"A.x", "A.y", "B.z"}));
}

TEST(GtestListingTest, StripsTypedAndParameterizedComments) {
  const char* listing =
      "Typed/0.  # TypeParam = std::vector<int>\n"
      "  Works\n"
      "Typed/1.  # TypeParam = char\n"
      "  Works\n"
      "Inst/Param.\n"
      "  Case/0  # GetParam() = (1, \"a  # b\")\n"
      "  Case/1  # GetParam() = 4-byte object <01-00 00-00>\n";
  EXPECT_EQ(parseGtestListing(listing).value(),
            (Names{"Typed/0.Works", "Typed/1.Works", "Inst/Param.Case/0", "Inst/Param.Case/1"}));
}

TEST(GtestListingTest, LeavesOutDisabledSuitesAndCases) {
  const char* listing =
      "DISABLED_Suite.\n  a\n"
      "Suite.\n  DISABLED_b\n  c\n"
      "Inst/DISABLED_P.\n  d/0  # GetParam() = 0\n"
      "P.\n  DISABLED_e/0\n  f/DISABLED_0\n  g\n";
  EXPECT_EQ(parseGtestListing(listing).value(), (Names{"Suite.c", "P.g"}));
}

TEST(GtestListingTest, IgnoresNoiseAroundTheListing) {
  const char* listing =
      "Running main() from ./googletest/src/gtest_main.cc\r\n"
      "  orphan\r\n"
      "S.\r\n"
      "  a\r\n"
      "\r\n"
      "  b\r\n"
      "note: something else\n"
      "  not_a_case\n";
  EXPECT_EQ(parseGtestListing(listing).value(), (Names{"S.a", "S.b"}));
  EXPECT_TRUE(parseGtestListing("").value().empty());
}

// A name becomes a test name that terminals show: a listing that would smuggle escapes in is refused.
TEST(GtestListingTest, RefusesControlCharactersAndInvalidUtf8InNames) {
  auto esc = parseGtestListing("S.\n  a\n  b\x1b[2J\n");
  ASSERT_FALSE(esc.ok());
  EXPECT_EQ(esc.error().message(), "line 3 of the listing names S.b\\x1b[2J, with a control character or invalid UTF-8");
  EXPECT_FALSE(parseGtestListing("S\x07uite.\n  a\n").ok());
  EXPECT_FALSE(parseGtestListing("S.\n  caf\xC3\n").ok());
  EXPECT_FALSE(parseGtestListing("S.\n  \xC0\xAF\n").ok());  // overlong '/'
  EXPECT_EQ(parseGtestListing("S.\n  caf\xC3\xA9\n").value(), (Names{"S.caf\xC3\xA9"}));
  EXPECT_EQ(parseGtestListing("S.\n  DISABLED_\x1b\n").value(), Names{});  // left out before it is shown
}

class GtestListTest : public ::testing::Test {
 protected:
  GtestListOptions quick() const {
    GtestListOptions o;
    o.timeout = std::chrono::milliseconds(200);
    return o;
  }
  test::TempDir tmp_;
};

TEST_F(GtestListTest, ListsAFakeBinary) {
  std::string bin = tmp_.write("fake", R"(#!/bin/sh
[ "$1" = --gtest_list_tests ] || exit 3
[ -z "$2" ] || exit 4
read line && exit 5   # stdin is /dev/null
printf 'Running main() from gtest_main.cc\nS.\n  A\n  DISABLED_B\nT/0.  # TypeParam = int\n  C\n'
echo "noise on stderr" >&2
)",
                               true);
  auto r = listGtestCases(bin);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, (Names{"S.A", "T/0.C"}));
}

TEST_F(GtestListTest, RunsInTheGivenDirectoryAndEnvironment) {
  std::string bin = tmp_.write("fake", "#!/bin/sh\necho \"$(basename \"$PWD\")_$ONLY.\"\necho '  x'\n", true);
  tmp_.write("here/keep", "");
  GtestListOptions o;
  o.cwd = tmp_.path() + "/here";
  o.env = std::vector<std::string>{"ONLY=this", "PATH=/usr/bin:/bin"};
  auto r = listGtestCases(bin, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, (Names{"here_this.x"}));
}

TEST_F(GtestListTest, NonZeroExitSaysWhy) {
  std::string bin = tmp_.write("fake", "#!/bin/sh\necho 'S.'\necho '\n  error while loading libx.so  ' >&2\nexit 3\n", true);
  auto r = listGtestCases(bin);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "exited with status 3: error while loading libx.so");
}

TEST_F(GtestListTest, KilledBySignal) {
  std::string bin = tmp_.write("fake", "#!/bin/sh\nkill -SEGV $$\n", true);
  auto r = listGtestCases(bin);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "killed by signal 11 (Segmentation fault)");
}

TEST_F(GtestListTest, NotExecutableOrMissing) {
  std::string bin = tmp_.write("fake", "S.\n  a\n");
  auto r = listGtestCases(bin);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "posix_spawn: Permission denied");
  auto m = listGtestCases(tmp_.path() + "/missing");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().message(), "posix_spawn: No such file or directory");
}

// Whether `pid` is gone (or a zombie waiting for a reaper that is not us).
bool gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  std::size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';
}

bool eventuallyGone(pid_t pid) {
  for (int i = 0; i < 500 && !gone(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return gone(pid);
}

pid_t readPid(const std::string& file) {
  pid_t pid = 0;
  std::ifstream(file) >> pid;
  return pid;
}

TEST_F(GtestListTest, TimeoutKillsTheBinaryAndWhatItForked) {
  std::string pids = tmp_.path() + "/pids";
  std::string bin = tmp_.write("fake", "#!/bin/sh\nsleep 60 &\necho $! > " + pids + "\necho 'S.'\nwait\n", true);
  auto r = listGtestCases(bin, quick());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "did not finish within 200 ms");
  pid_t child = readPid(pids);
  ASSERT_GT(child, 0);
  EXPECT_TRUE(eventuallyGone(child));
}

TEST_F(GtestListTest, TimeoutWhenTheBinaryClosesItsOutputButKeepsRunning) {
  std::string bin = tmp_.write("fake", "#!/bin/sh\nexec >/dev/null 2>&1\nexec sleep 60\n", true);
  auto r = listGtestCases(bin, quick());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "did not finish within 200 ms");
}

TEST_F(GtestListTest, ABackgroundProcessHoldingThePipeDoesNotHoldTheListing) {
  std::string pids = tmp_.path() + "/pids";
  std::string bin =
      tmp_.write("fake", "#!/bin/sh\nsleep 60 &\necho $! > " + pids + "\nprintf 'S.\\n  a\\n'\nexit 0\n", true);
  GtestListOptions o;
  o.timeout = std::chrono::seconds(20);  // only a bound against hangs: the listing ends when `fake` does
  auto r = listGtestCases(bin, o);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(*r, (Names{"S.a"}));
  pid_t child = readPid(pids);
  ASSERT_GT(child, 0);
  EXPECT_TRUE(eventuallyGone(child));
}

TEST(GtestSuiteOfTest, OneCaseNamesItsSuite) {
  EXPECT_EQ(gtestSuiteOf({"bin", "--gtest_filter=BinaryTest.Base64DecodeBasic"}), "BinaryTest");
  EXPECT_EQ(gtestSuiteOf({"bin", "--gtest_filter=Inst/Param.Case/0", "--gtest_also_run_disabled_tests"}), "Inst/Param");
  EXPECT_EQ(gtestSuiteOf({"bin", "--gtest_filter=Typed/0.Works"}), "Typed/0");
  EXPECT_EQ(gtestSuiteOf({"bin", "--gtest_filter=A.x", "--gtest_filter=B.y"}), "B");  // the last one counts
}

TEST(GtestSuiteOfTest, PatternsAndOtherCommandsNameNone) {
  EXPECT_EQ(gtestSuiteOf({"bin"}), "");
  EXPECT_EQ(gtestSuiteOf({"--gtest_filter=A.b"}), "");  // argv[0] is the program
  EXPECT_EQ(gtestSuiteOf({"bin", "--gtest_filter=A.*"}), "");
  EXPECT_EQ(gtestSuiteOf({"bin", "--gtest_filter=A.b:C.d"}), "");
  EXPECT_EQ(gtestSuiteOf({"bin", "--gtest_filter=A.b-A.c"}), "");
  EXPECT_EQ(gtestSuiteOf({"bin", "--gtest_filter=A?.b"}), "");
  EXPECT_EQ(gtestSuiteOf({"bin", "--gtest_filter=NoDot"}), "");
  EXPECT_EQ(gtestSuiteOf({"bin", "--gtest_filter=.b"}), "");
  EXPECT_EQ(gtestSuiteOf({"bin", "--gtest_filter=A."}), "");
  EXPECT_EQ(gtestSuiteOf({"bin", "--gtest_filter=A.b", "--gtest_filter=*"}), "");
  EXPECT_EQ(gtestSuiteOf({"sh", "-c", "echo --gtest_filter=A.b"}), "");
}

}  // namespace
}  // namespace mpexec
