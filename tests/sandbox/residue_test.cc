// The residue suite (issue 22): at -j1 consecutive units share a slot, and a unit may take the sandbox the
// slot's last unit left (docs/sandbox.md, "Recycled sandboxes"). Unit A leaves every kind of state a unit
// can; unit B must see none of it and see what a unit in a new sandbox sees. Each check the init makes
// before it hands its sandbox on is then turned off in turn (MPEXEC_TEST_RECYCLE_SKIP, for this suite
// alone), and B must see the residue that check is there for.

#include <filesystem>
#include <map>
#include <sstream>

#include "tests/sandbox/escape_support.h"
#include "tests/sandbox/residue_program.h"

namespace mpexec::test::escape {
namespace {

/// "key: value" lines of a view, netns and pidns apart.
struct View {
  std::string netns, pidns;
  std::vector<std::string> lines;     ///< the view proper, in order
  std::vector<std::string> residues;  ///< its RESIDUE lines
  std::string text;
};

View parseView(const std::string& log) {
  View v;
  v.text = log;
  std::istringstream in(log);
  for (std::string l; std::getline(in, l);) {
    if (l.rfind("netns: ", 0) == 0) v.netns = l.substr(7);
    else if (l.rfind("pidns: ", 0) == 0) v.pidns = l.substr(7);
    else if (l.rfind("RESIDUE ", 0) == 0) v.residues.push_back(l.substr(8));
    else if (!l.empty()) v.lines.push_back(l);
  }
  return v;
}

class Residue : public EscapeTest {
 protected:
  void SetUp() override {
    EscapeTest::SetUp();
    if (IsSkipped()) return;
    std::string why;
    prog_ = compile("residue", kResidueC, "-O1 -lrt", &why);
    if (prog_.empty() && access("/usr/bin/cc", X_OK) != 0) GTEST_SKIP() << "no C compiler: " << why;
    ASSERT_FALSE(prog_.empty()) << "cannot build the residue program: " << why;
  }

  json::object sandbox() const { return json::object{{"sandbox", sandboxWithTools()}}; }

  /// Runs [A: residue `leave_mode`, B: residue view] at -j1 and returns A's and B's logs as views, with
  /// recycling asked for (MPEXEC_RECYCLE_SANDBOXES=1) unless `fresh` (a new sandbox per unit); `skip` turns
  /// one check off.
  std::pair<View, View> runPair(const std::string& leave_mode, bool fresh = false, const std::string& skip = {}) {
    json::array tests{argvTest("a", {prog_, leave_mode}), argvTest("b", {prog_, "view"})};
    ScopedEnv f("MPEXEC_FRESH_SANDBOXES", fresh ? "1" : "");
    ScopedEnv recycle("MPEXEC_RECYCLE_SANDBOXES", fresh ? "" : "1");
    ScopedEnv s("MPEXEC_TEST_RECYCLE_SKIP", skip);
    // No durations from an earlier run, which would put the slower B first.
    std::filesystem::remove_all(dir_.path() + "/.mpexec");
    auto r = run(tests, {"-j", "1", "-v"}, sandbox());
    last_out_ = r.out;
    auto rep = report();
    EXPECT_EQ(outcome(rep, "a"), "PASS") << log(rep, "a") << r.out;
    return {parseView(log(rep, "a")), parseView(log(rep, "b"))};
  }

  /// A unit's view in a new sandbox: B of a run without recycling, after the same A.
  const View& freshView() {
    if (fresh_.lines.empty()) fresh_ = runPair("leave", true).second;
    return fresh_;
  }

  std::string prog_;
  std::string last_out_;
  View fresh_;
};

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

/// The first line where a view differs from a new sandbox's, both shown; empty when they are the same.
std::string firstDifference(const std::vector<std::string>& view, const std::vector<std::string>& fresh) {
  for (size_t i = 0; i < std::max(view.size(), fresh.size()); ++i) {
    const std::string a = i < view.size() ? view[i] : "(none)", b = i < fresh.size() ? fresh[i] : "(none)";
    if (a != b) return "line " + std::to_string(i + 1) + ": " + a + "\n  in a new sandbox: " + b;
  }
  return "";
}

TEST_F(Residue, ANewSandboxSeesNothingOfTheLastUnit) {
  auto [a, b] = runPair("leave", true);
  EXPECT_NE(a.netns, b.netns) << "MPEXEC_FRESH_SANDBOXES=1 still recycled";
  EXPECT_TRUE(b.residues.empty()) << joined(b.residues);
}

TEST_F(Residue, ARecycledSandboxSeesNothingOfTheLastUnitAndWhatANewOneSees) {
  const View& fresh = freshView();
  ASSERT_FALSE(fresh.lines.empty());
  auto [a, b] = runPair("leave");
  // The same network and pid namespaces: B took the sandbox A left (everything else in it is new).
  EXPECT_EQ(a.netns, b.netns) << "not recycled:\n" << last_out_;
  EXPECT_EQ(a.pidns, b.pidns);
  EXPECT_TRUE(b.residues.empty()) << joined(b.residues) << "\nA:\n" << a.text;
  EXPECT_EQ(firstDifference(b.lines, fresh.lines), "") << "a recycled sandbox looks different from a new one";
  EXPECT_NE(last_out_.find("sandboxes: 1 of 2 units ran in a sandbox an earlier unit left clean"), std::string::npos)
      << last_out_;
}

TEST_F(Residue, ASocketInTimeWaitTakesANewSandbox) {
  auto [a, b] = runPair("timewait");
  ASSERT_NE(a.text.find("TIME_WAIT"), std::string::npos) << a.text;
  EXPECT_NE(a.netns, b.netns) << "B shared the network namespace of a TIME_WAIT socket";
  EXPECT_TRUE(b.residues.empty()) << joined(b.residues);
  EXPECT_NE(last_out_.find("sandboxes: 0 of 2 units"), std::string::npos) << last_out_;
}

// The tell-tales: what a unit could read of the units before it in its sandbox, though they left nothing.
// Each time B must see what a unit in a new sandbox sees.
TEST_F(Residue, AUnitThatUsedTheNetworkHandsOnNoStatistics) {
  const View& fresh = freshView();
  ASSERT_FALSE(fresh.lines.empty());
  auto [a, b] = runPair("traffic");
  ASSERT_NE(a.text.find("left: a UDP datagram"), std::string::npos) << a.text;
  EXPECT_NE(a.netns, b.netns) << "B shared the network namespace A sent a datagram in";
  EXPECT_TRUE(b.residues.empty()) << joined(b.residues);
  EXPECT_EQ(firstDifference(b.lines, fresh.lines), "") << "B read other statistics than a new namespace's";
  EXPECT_NE(last_out_.find("sandboxes: 0 of 2 units"), std::string::npos) << last_out_;
}

TEST_F(Residue, AMulticastGroupJustLeftSendsNoReportIntoTheNextUnit) {
  const View& fresh = freshView();
  ASSERT_FALSE(fresh.lines.empty());
  auto [a, b] = runPair("mcast");
  ASSERT_NE(a.text.find("left: a membership"), std::string::npos) << a.text;
  EXPECT_TRUE(b.residues.empty()) << joined(b.residues) << "\n" << last_out_;
  EXPECT_EQ(firstDifference(b.lines, fresh.lines), "") << "B read other statistics than a new namespace's";
}

TEST_F(Residue, ARouteLookupWithoutAPacketLeavesNoCachedRouteToTheNextUnit) {
  const View& fresh = freshView();
  ASSERT_FALSE(fresh.lines.empty());
  if (access("/proc/net/ipv6_route", F_OK) != 0) GTEST_SKIP() << "no IPv6 here";
  auto [a, b] = runPair("lookup6");
  ASSERT_NE(a.text.find("left: a route to ::1"), std::string::npos) << a.text;
  EXPECT_TRUE(b.residues.empty()) << joined(b.residues);
  EXPECT_EQ(firstDifference(b.lines, fresh.lines), "") << "B read other route statistics than a new namespace's";
}

TEST_F(Residue, TheInitsTimesTellNothingOfTheLastUnit) {
  const View& fresh = freshView();
  ASSERT_FALSE(fresh.lines.empty());
  auto [a, b] = runPair("cpu");
  ASSERT_NE(a.text.find("left: 0.6 s of CPU time"), std::string::npos) << a.text;
  EXPECT_EQ(a.pidns, b.pidns) << "not recycled:\n" << last_out_;
  EXPECT_TRUE(b.residues.empty()) << joined(b.residues);
  EXPECT_EQ(firstDifference(b.lines, fresh.lines), "");
}

// A recycled sandbox whose set-up for B fails: B runs in a new sandbox, and passes.
TEST_F(Residue, ARecycledSetUpThatFailsIsMadeAgainInANewSandbox) {
  ScopedEnv fail("MPEXEC_TEST_RECYCLE_FAIL", "1");
  auto [a, b] = runPair("leave");
  auto rep = report();
  EXPECT_EQ(outcome(rep, "b"), "PASS") << str(testEntry(rep, "b"), "reason") << "\n" << b.text << last_out_;
  EXPECT_NE(a.netns, b.netns);
  EXPECT_TRUE(b.residues.empty()) << joined(b.residues);
  EXPECT_NE(last_out_.find("sandboxes: 0 of 2 units"), std::string::npos) << last_out_;
}

// Each check, turned off: B takes the sandbox and finds what the check is there for.
TEST_F(Residue, WithoutTheStatisticsCheckTheNextUnitCannotBindThePort) {
  auto [a, b] = runPair("timewait", false, "counters");
  EXPECT_EQ(a.netns, b.netns);
  EXPECT_EQ(joined(b.residues),
            "bind 127.0.0.1:8080: Address already in use\nlo's packet counts are not a new namespace's\n")
      << b.text;
}

TEST_F(Residue, WithoutTheStatisticsCheckTheNextUnitReadsTheLastOnesTraffic) {
  auto [a, b] = runPair("traffic", false, "counters");
  EXPECT_EQ(a.netns, b.netns);
  EXPECT_EQ(joined(b.residues), "lo's packet counts are not a new namespace's\n") << b.text;
}

TEST_F(Residue, WithoutANewIpcNamespaceTheNextUnitSeesSysvObjectsAndQueues) {
  auto [a, b] = runPair("leave", false, "ipc");
  EXPECT_EQ(a.netns, b.netns);
  EXPECT_EQ(joined(b.residues),
            "sysv shared memory\nsysv semaphore set\nsysv message queue\nposix message queue /mpexec-residue\n")
      << b.text;
}

TEST_F(Residue, WithoutResettingPidsTheNextUnitsPidsGoOn) {
  auto [a, b] = runPair("leave", false, "pids");
  EXPECT_EQ(a.pidns, b.pidns);
  EXPECT_EQ(joined(b.residues), "the first command's pid is not 2\n") << b.text;
}

TEST_F(Residue, WithoutANewUtsNamespaceTheNextUnitHasTheLastOnesHostname) {
  auto [a, b] = runPair("leave", false, "hostname");
  EXPECT_EQ(a.netns, b.netns);
  EXPECT_EQ(joined(b.residues), "the hostname is not the unit's\n") << b.text;
}

TEST_F(Residue, WithoutNewMountsTheNextUnitSeesTheLastOnesFiles) {
  auto [a, b] = runPair("leave", false, "mounts");
  EXPECT_EQ(a.netns, b.netns);
  EXPECT_EQ(joined(b.residues), "/tmp/residue-file\n/dev/shm/residue-shm\n") << b.text;
}

}  // namespace
}  // namespace mpexec::test::escape
