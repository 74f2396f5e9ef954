// A {"gtest": BIN} entry is listed (`BIN --gtest_list_tests`) while the manifest loads. With the sandbox,
// that listing runs in a sandbox unit with the policy of the tests it lists: a binary that a unit of an
// earlier run replaced (through a writable path) gets no more than those tests get. With --no-sandbox it
// runs as the invoking user, as the tests do.

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "tests/integration/sandbox_modes.h"
#include "tests/support/mpexec_process.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

namespace json = boost::json;
using test::readFile;
using test::readJson;
using test::runMpexec;
using test::testEntry;

/// A directory only the invoking user may write (0700), outside every unit's /tmp: what a listing that
/// ran on the host as that user could write, and a sandboxed one cannot.
class HostOnlyDir {
 public:
  HostOnlyDir() {
    std::string tmpl = "/var/tmp/mpexec-hostonly-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) tmpl = test::TempDir().path();  // never reached on Debian
    path_ = tmpl;
    chmod(path_.c_str(), 0700);
  }
  ~HostOnlyDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string hostMountNamespace() {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/self/ns/mnt", ec).string();
}

class GtestListing : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!test::hostHasSandbox(dir_, &why)) GTEST_SKIP() << "no sandbox on this host: " << why;
  }

  /// bin/fake_gtest: a gtest binary that lists Suite.Case; its test (run 1's) replaces the binary with
  /// bin/hostile.sh, which, when listed, records who and where it ran in bin/seen (the writable path) and
  /// in the host-only directory, then lists Suite.Case again.
  std::string hostileProject(const std::string& host_only) {
    dir_.write("bin/fake_gtest",
               "#!/bin/sh\n"
               "d=$(dirname \"$0\")\n"
               "case \"$1\" in\n"
               "--gtest_list_tests) printf 'Suite.\\n  Case\\n' ;;\n"
               "--gtest_filter=*) cp \"$d/hostile.sh\" \"$d/next\" && mv -f \"$d/next\" \"$d/fake_gtest\" ;;\n"
               "esac\n",
               true);
    dir_.write("bin/hostile.sh",
               "#!/bin/sh\n"
               "d=$(dirname \"$0\")\n"
               "if [ \"$1\" = --gtest_list_tests ]; then\n"
               "  info=\"uid=$(id -u) mnt=$(readlink /proc/self/ns/mnt)\"\n"
               "  { echo \"$info\" > \"$d/seen\"; } 2>/dev/null\n"
               "  { echo \"$info\" > '" + host_only + "/pwned'; } 2>/dev/null\n"
               "  printf 'Suite.\\n  Case\\n'\n"
               "fi\n"
               "exit 0\n",
               true);
    return dir_.write("m.json", R"({"version": 1, "tests": [
      {"gtest": "bin/fake_gtest", "sandbox": {"writable": ["bin"]}}
    ]})");
  }

  test::TempDir dir_;
};

// Issue 17's last hole: run 1's test replaces the gtest binary (its directory is a writable path); run 2's
// mpexec lists it while loading the manifest. That listing must not act on the host as the invoking user
// (root in CI): it runs in a sandbox unit, where the host is read-only, and the run goes on.
TEST_F(GtestListing, ABinaryAnEarlierRunReplacedIsListedInASandbox) {
  HostOnlyDir host_only;
  std::string m = hostileProject(host_only.path());
  auto first = runMpexec({"--json", dir_.path() + "/r1.json", m});
  ASSERT_EQ(first.exit_code, 0) << first.out;
  ASSERT_EQ(readFile(dir_.path() + "/bin/fake_gtest"), readFile(dir_.path() + "/bin/hostile.sh"))
      << "run 1's test did not replace the binary";

  auto second = runMpexec({"--json", dir_.path() + "/r2.json", m});
  const std::string pwned = host_only.path() + "/pwned";
  EXPECT_FALSE(std::filesystem::exists(pwned))
      << "the replaced binary wrote on the host while mpexec listed it: " << readFile(pwned);
  // It did run (its listing is in the run), in a mount namespace that is not the host's.
  std::string seen = readFile(dir_.path() + "/bin/seen");
  EXPECT_NE(seen, "") << second.out;
  EXPECT_EQ(seen.find(hostMountNamespace()), std::string::npos) << seen;
  ASSERT_EQ(second.exit_code, 0) << second.out;
  EXPECT_EQ(std::string(testEntry(readJson(dir_.path() + "/r2.json"), "fake_gtest.Suite.Case")
                            .at("outcome").as_string()), "PASS");
}

// --list loads the manifest too, and lists the same way.
TEST_F(GtestListing, ListingForListRunsInASandboxToo) {
  HostOnlyDir host_only;
  std::string m = hostileProject(host_only.path());
  dir_.write("bin/fake_gtest", readFile(dir_.path() + "/bin/hostile.sh"), true);
  auto listed = runMpexec({"--list", m});
  EXPECT_FALSE(std::filesystem::exists(host_only.path() + "/pwned")) << readFile(host_only.path() + "/pwned");
  EXPECT_EQ(listed.exit_code, 0) << listed.out;
  EXPECT_NE(listed.out.find("fake_gtest.Suite.Case"), std::string::npos) << listed.out;
  EXPECT_EQ(readFile(dir_.path() + "/bin/seen").find(hostMountNamespace()), std::string::npos);
}

// With --no-sandbox nothing is contained, the listing included: it runs as the invoking user, as before.
TEST_F(GtestListing, WithoutTheSandboxTheListingRunsAsTheUser) {
  HostOnlyDir host_only;
  std::string m = hostileProject(host_only.path());
  dir_.write("bin/fake_gtest", readFile(dir_.path() + "/bin/hostile.sh"), true);
  auto r = runMpexec({"--no-sandbox", "--json", dir_.path() + "/r.json", m});
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(readFile(host_only.path() + "/pwned").find(hostMountNamespace()), std::string::npos);
  EXPECT_EQ(std::string(testEntry(readJson(dir_.path() + "/r.json"), "fake_gtest.Suite.Case")
                            .at("outcome").as_string()), "PASS");
}

// A listing that fails in its sandbox is one failing test whose message names the manifest entry and why.
TEST_F(GtestListing, AListingThatFailsNamesTheEntryAndWhy) {
  dir_.write("bin/crash", "#!/bin/sh\nkill -SEGV $$\n", true);
  dir_.write("bin/fails", "#!/bin/sh\necho 'no such flag' >&2\nexit 3\n", true);
  dir_.write("bin/garbage", "#!/bin/sh\nprintf 'Suite.\\n  Ca\\033]0;x\\007se\\n'\n", true);
  std::string m = dir_.write("m.json", R"({"version": 1, "tests": [
    {"name": "ok", "cmd": ["/bin/true"]},
    {"gtest": "bin/missing"},
    {"gtest": "bin/crash"},
    {"gtest": "bin/fails"},
    {"gtest": "bin/garbage"}
  ]})");
  auto r = runMpexec({"--json", dir_.path() + "/r.json", m});
  EXPECT_EQ(r.exit_code, 1) << r.out;
  auto rep = readJson(dir_.path() + "/r.json");
  EXPECT_EQ(std::string(testEntry(rep, "ok").at("outcome").as_string()), "PASS");
  auto log = [&](const char* name) {
    const json::object& t = testEntry(rep, name);
    EXPECT_EQ(std::string(t.at("outcome").as_string()), "FAIL") << name;
    return readFile(dir_.path() + "/" + std::string(t.at("log").as_string()));
  };
  std::string missing = log("missing"), crash = log("crash"), fails = log("fails"), garbage = log("garbage");
  EXPECT_NE(missing.find("/tests/1: cannot list gtest " + dir_.path() + "/bin/missing"), std::string::npos) << missing;
  EXPECT_NE(missing.find("does not exist"), std::string::npos) << missing;
  EXPECT_NE(crash.find("/tests/2: cannot list gtest"), std::string::npos) << crash;
  EXPECT_NE(crash.find("killed by signal 11"), std::string::npos) << crash;
  EXPECT_NE(fails.find("/tests/3: cannot list gtest"), std::string::npos) << fails;
  EXPECT_NE(fails.find("exited with status 3: no such flag"), std::string::npos) << fails;
  EXPECT_NE(garbage.find("/tests/4: cannot list gtest"), std::string::npos) << garbage;
  EXPECT_NE(garbage.find("control character"), std::string::npos) << garbage;
}

// Ctrl-C while a gtest entry is being listed: mpexec stops as it does in a run (exit 130, a word on what
// it was doing), the listing's processes are killed and its private directory under $TMPDIR is removed.
TEST_F(GtestListing, AnInterruptDuringTheListingLeavesNothingBehind) {
  const std::string marker = "mpexec-listing-interrupt-" + std::to_string(getpid());
  dir_.write("bin/slow", "#!/bin/bash\nexec -a " + marker + " sleep 1000\n", true);
  std::string m = dir_.write("m.json", R"({"version": 1, "tests": [{"gtest": "bin/slow"}]})");
  test::TempDir tmp;
  test::ScopedEnv tmpdir("TMPDIR", tmp.path());
  const std::string out = dir_.path() + "/out.txt";
  pid_t pid = test::startMpexec({m}, out);
  for (int i = 0; i < 1000 && test::processesWith(marker).empty(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_FALSE(test::processesWith(marker).empty()) << "the listing never started: " << readFile(out);
  kill(pid, SIGINT);
  auto r = test::waitMpexec(pid, out, 60);
  EXPECT_EQ(r.exit_code, 130) << r.out;
  EXPECT_NE(r.out.find("interrupted"), std::string::npos) << r.out;
  EXPECT_TRUE(test::processesWith(marker).empty()) << "the listing outlived mpexec";
  std::vector<std::string> left;
  for (const auto& e : std::filesystem::directory_iterator(tmp.path())) left.push_back(e.path().filename());
  EXPECT_TRUE(left.empty()) << "left in $TMPDIR: " << (left.empty() ? "" : left[0]);
}

}  // namespace
}  // namespace mpexec
