// Without Landlock. MPEXEC_NO_LANDLOCK=1 in mpexec's environment makes the Context report no Landlock, as a
// kernel without it (or before 6.12, without its scopes) would, so that the fallback can be run on a kernel
// that has it (this host's has ABI 7). The report's sandbox line must say so, Landlock must really be gone
// from the units (the control), and every guarantee that does not rest on it must still hold: the escape
// and hostile suites are run again without it.

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "tests/sandbox/escape_hostile_attacks.h"
#include "tests/sandbox/escape_support.h"

namespace mpexec::test::escape {
namespace {

class NoLandlock : public EscapeTest {
 protected:
  std::string sandboxDetail() const { return str(report().at("run").as_object(), "sandbox_detail"); }
  /// A test connecting to the Unix socket `name` ("@..." abstract), with network `network`.
  json::object connectTest(const std::string& test, const std::string& name, const char* network) {
    std::string probe = tools_.write("unix_probe.py", kUnixConnectPy);
    return argvTest(test, {"/usr/bin/python3", probe, name}, {{"sandbox", sandboxWithTools({{"network", network}})}});
  }
};

// Landlock's scope is what keeps a unit with network "host" from the host's abstract sockets (with "none",
// its network namespace does). Turned off, the report says so and that connection goes through; the rest
// holds: with network "none" the abstract socket stays out of reach, and no host process can be signalled.
TEST_F(NoLandlock, TheReportSaysSoAndOnlyTheScopeIsLost) {
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  HostProcess victim(marker("no-landlock-victim"));
  ASSERT_TRUE(victim.alive());
  const std::string kill_it = "kill -KILL " + std::to_string(victim.pid()) + " && echo killed; exit 0";
  auto attempt = [&](const std::string& tag, bool* host_reached, bool* none_reached) {
    std::string base = "@mpexec-no-landlock-" + tag + "-" + std::to_string(getpid());
    HostSocket via_host(base + "-host", 0), via_none(base + "-none", 0);
    ASSERT_TRUE(via_host.ok() && via_none.ok());
    json::array tests{connectTest("host", base + "-host", "host"), connectTest("none", base + "-none", "none"),
                      shTest("kill-host", kill_it, {{"sandbox", json::object{{"network", "host"}}}}),
                      shTest("kill-none", kill_it)};
    auto r = run(tests, {"-j", "4"});
    *host_reached = via_host.accepted();
    *none_reached = via_none.accepted();
    auto rep = report();
    for (const char* t : {"kill-host", "kill-none"}) {
      EXPECT_EQ(outcome(rep, t), "PASS") << tag << " " << t << ":\n" << log(rep, t);
      EXPECT_FALSE(contains(log(rep, t), "killed")) << tag << " " << t << ":\n" << log(rep, t);
    }
    EXPECT_TRUE(victim.alive()) << tag << ": a unit killed a host process";
    EXPECT_EQ(outcome(rep, "none"), "PASS") << tag << ":\n" << log(rep, "none") << r.out;
  };

  bool host_reached = false, none_reached = false;
  {
    ScopedEnv unset("MPEXEC_NO_LANDLOCK", "0");
    attempt("on", &host_reached, &none_reached);
    std::string detail = sandboxDetail();
    if (contains(detail, "landlock (ABI")) {
      EXPECT_FALSE(host_reached) << "with Landlock, a unit with network \"host\" reached the host's abstract socket";
    } else {
      std::cout << "this kernel has no Landlock scopes: " << detail << "\n";
    }
    EXPECT_FALSE(none_reached);
  }
  {
    ScopedEnv off("MPEXEC_NO_LANDLOCK", "1");
    attempt("off", &host_reached, &none_reached);
    std::string detail = sandboxDetail();
    EXPECT_TRUE(contains(detail, "no landlock scoping (MPEXEC_NO_LANDLOCK=1)")) << detail;
    EXPECT_FALSE(contains(detail, "landlock (ABI")) << detail;
    // The control: Landlock is really gone from the units, so the checks around it prove something.
    EXPECT_TRUE(host_reached) << "MPEXEC_NO_LANDLOCK=1 left the units scoped";
    EXPECT_FALSE(none_reached) << "without Landlock, a unit with network \"none\" reached the host's abstract socket";
  }
}

// Everything the escape and hostile suites assert, again without Landlock: this test binary runs them
// (and no test of its own) with MPEXEC_NO_LANDLOCK=1.
TEST_F(NoLandlock, TheEscapeAndHostileSuitesHoldWithoutIt) {
  const char* already = getenv("MPEXEC_NO_LANDLOCK");
  if (already && std::string(already) == "1") GTEST_SKIP() << "this run is already without Landlock";
  std::error_code ec;
  std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
  ASSERT_FALSE(ec) << ec.message();
  ScopedEnv off("MPEXEC_NO_LANDLOCK", "1");
  std::string out;
  int rc = shell("'" + self + "' --gtest_brief=1 --gtest_color=no "
                 "--gtest_filter='Escape.*:EscapeTerminal.*:Hostile.*:Leftover.*:Output.*:Paths.*:Shared.*'", &out);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_TRUE(contains(out, "[  PASSED  ]")) << out;
  EXPECT_FALSE(contains(out, "[  FAILED  ]")) << out;
}

}  // namespace
}  // namespace mpexec::test::escape
