// The sandbox for an unprivileged user (issue 3): the real binary run as uid 65534 (setpriv) contains its
// units through user namespaces, and the report says which limits it could enforce; where user namespaces
// are not available, mpexec says so in one line that points at --no-sandbox, and exits 3.

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include <filesystem>
#include <algorithm>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "tests/sandbox/identity_compare.h"
#include "tests/sandbox/identity_program.h"
#include "tests/sandbox/init_setid_run.h"
#include "tests/support/mpexec_process.h"
#include "tests/support/temp_dir.h"

namespace mpexec::test {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr uid_t kNobody = 65534;

/// A temp dir owned by 65534 holding a copy of mpexec (the build directory may not be reachable for that
/// uid) and a manifest.
class NonRoot : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to switch to uid 65534 with setpriv";
    if (access("/usr/bin/setpriv", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/setpriv";
    std::error_code ec;
    fs::copy_file(mpexecBinary(), bin(), ec);
    ASSERT_FALSE(ec) << "copy " << mpexecBinary() << ": " << ec.message();
    chmod(bin().c_str(), 0755);
    // mpexec-spawner and the sync service's HTTP front beside it, as the build and the package have them.
    for (const char* name : {"mpexec-spawner", "libmpexec-http.so"}) {
      fs::path companion = fs::path(mpexecBinary()).parent_path() / name;
      if (!fs::exists(companion)) continue;
      fs::copy_file(companion, dir_.path() + "/" + name, ec);
      ASSERT_FALSE(ec) << "copy " << companion << ": " << ec.message();
      chmod((dir_.path() + "/" + name).c_str(), 0755);
    }
  }
  std::string bin() const { return dir_.path() + "/mpexec"; }
  /// Gives the whole directory to 65534, after every file is written.
  void handOver() {
    for (const auto& e : fs::recursive_directory_iterator(dir_.path()))
      ASSERT_EQ(lchown(e.path().c_str(), kNobody, kNobody), 0) << e.path();
    ASSERT_EQ(chown(dir_.path().c_str(), kNobody, kNobody), 0);
  }
  Finished asNobody(const std::vector<std::string>& args) {
    std::vector<std::string> all = {"--reuid=65534", "--regid=65534", "--clear-groups", bin()};
    all.insert(all.end(), args.begin(), args.end());
    return runSetpriv(all);
  }
  /// runMpexec runs MPEXEC_BIN; setpriv is started the same way through a tiny wrapper script.
  Finished runSetpriv(const std::vector<std::string>& args) {
    std::string wrapper = dir_.write("setpriv.sh", "#!/bin/sh\nexec /usr/bin/setpriv \"$@\"\n", true);
    ScopedEnv bin("MPEXEC_BIN", wrapper);
    return runMpexec(args, 60);
  }
  TempDir dir_;
};

TEST_F(NonRoot, SandboxedRunAsNobodyPassesAndReportsItsLimits) {
  char host_name[256] = {};
  gethostname(host_name, sizeof host_name - 1);
  std::string m = dir_.write("m.json", R"({"version": 1,
    "defaults": {"sandbox": {"memory": "1G", "pids": 512}},
    "tests": [
      {"name": "uid", "cmd": ["/bin/sh", "-c", "id -u; test $(id -u) = 65534"]},
      {"name": "hostname", "cmd": ["/bin/sh", "-c", "h=$(hostname); echo $h; test \"$h\" != \")" +
                                         std::string(host_name) + R"(\""]},
      {"name": "root-ro", "cmd": ["/bin/sh", "-c", "touch /mpexec-nonroot 2>&1 && exit 1; touch /usr/mpexec-nonroot 2>&1 && exit 1; exit 0"]},
      {"name": "caps", "cmd": ["/bin/sh", "-c", "grep -E '^(CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status; grep -q '^CapEff:[[:space:]]*0000000000000000$' /proc/self/status && grep -q '^CapBnd:[[:space:]]*0000000000000000$' /proc/self/status && grep -q '^CapAmb:[[:space:]]*0000000000000000$' /proc/self/status"]},
      {"name": "tmp", "cmd": ["/bin/sh", "-c", "echo mine > /tmp/f && cat /tmp/f"]},
      {"name": "rlimits", "cmd": ["/bin/sh", "-c", "echo \"as $(ulimit -v)\""]},
      {"name": "policy", "cmd": ["/bin/sh", "-c", "grep ^policy /proc/self/sched; grep -q '^policy *: *0$' /proc/self/sched"]}
    ]})");
  handOver();
  std::string rep_path = dir_.path() + "/report.json";
  auto r = asNobody({"--json", rep_path, "-j", "2", m});
  if (r.exit_code == 3 && r.out.find("namespaces") != std::string::npos)
    GTEST_SKIP() << "no unprivileged user namespaces here: " << r.out;
  ASSERT_EQ(r.exit_code, 0) << r.out;
  auto rep = readJson(rep_path);
  auto logOf = [&](const char* t) {
    return readFile(dir_.path() + "/" + std::string(testEntry(rep, t).at("log").as_string()));
  };
  // "policy": units set up ahead run their commands at SCHED_OTHER, even where they could not wait idle.
  for (const char* t : {"uid", "hostname", "root-ro", "caps", "tmp", "rlimits", "policy"})
    EXPECT_EQ(testEntry(rep, t).at("outcome").as_string(), "PASS") << t << ":\n" << logOf(t);
  EXPECT_NE(logOf("root-ro").find("Read-only file system"), std::string::npos) << logOf("root-ro");
  EXPECT_NE(logOf("hostname").find("mpexec-"), std::string::npos) << logOf("hostname");
  EXPECT_FALSE(fs::exists("/mpexec-nonroot"));

  const auto& run = rep.at("run").as_object();
  EXPECT_EQ(run.at("sandbox").as_string(), "namespaces");
  std::string detail(run.at("sandbox_detail").as_string());
  EXPECT_NE(detail.find("user namespace"), std::string::npos) << detail;
  // Which limits were enforced: a cgroup's, or the rlimit fallback; never nothing, since the manifest
  // asks for both.
  std::vector<std::string> limits;
  for (const auto& l : run.at("limits").as_array()) limits.emplace_back(l.as_string());
  auto has = [&](const char* l) { return std::find(limits.begin(), limits.end(), l) != limits.end(); };
  EXPECT_TRUE(has("rlimit") || (has("memory") && has("pids"))) << detail;
  if (has("rlimit") && !has("memory")) {
    // 1G as RLIMIT_AS, in KiB.
    EXPECT_NE(logOf("rlimits").find("as 1048576"), std::string::npos) << logOf("rlimits");
  }
}

// Without user namespaces (max_user_namespaces = 0 in a user namespace of the test's own, where mpexec
// runs as a non-root uid), mpexec refuses in one line that names --no-sandbox, and --no-sandbox works.
TEST_F(NonRoot, WithoutUserNamespacesMpexecSaysSoAndExits3) {
  if (access("/usr/bin/python3", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/python3";
  std::string m = dir_.write("m.json", R"({"version": 1, "tests": [{"name": "t", "cmd": ["/bin/true"]}]})");
  // As root: a new user namespace in which our uid 0 is 65534, its user-namespace limit set to 0, then
  // exec mpexec there (no capabilities left after the exec).
  std::string no_userns = dir_.write("no_userns.py", R"PY(
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.unshare(0x10000000) != 0:
    print("SKIP: unshare(CLONE_NEWUSER): " + os.strerror(ctypes.get_errno()))
    sys.exit(99)
for f, v in (("setgroups", "deny"), ("uid_map", "65534 0 1"), ("gid_map", "65534 0 1")):
    with open("/proc/self/" + f, "w") as fh:
        fh.write(v)
try:
    with open("/proc/sys/user/max_user_namespaces", "w") as fh:
        fh.write("0")
except OSError as e:
    print("SKIP: max_user_namespaces: " + e.strerror)
    sys.exit(99)
os.execv(sys.argv[1], sys.argv[1:])
)PY");
  std::string wrapper = dir_.write("no_userns.sh", "#!/bin/sh\nexec /usr/bin/python3 " + no_userns + " " + bin() +
                                                     " \"$@\"\n", true);
  Finished r, plain;
  {
    ScopedEnv through("MPEXEC_BIN", wrapper);
    r = runMpexec({"--state-dir", dir_.path() + "/state", m}, 60);
    plain = runMpexec({"--no-sandbox", "--state-dir", dir_.path() + "/state2", m}, 60);
  }
  if (r.exit_code == 99) GTEST_SKIP() << r.out;
  EXPECT_EQ(r.exit_code, 3) << r.out;
  std::string out = r.out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  EXPECT_EQ(out.find('\n'), std::string::npos) << "more than one line:\n" << r.out;
  EXPECT_NE(out.find("--no-sandbox"), std::string::npos) << r.out;
  EXPECT_NE(out.find("namespaces"), std::string::npos) << r.out;
  EXPECT_EQ(plain.exit_code, 0) << plain.out;
}

// Issue 17 as a user, not root: the unit is the invoking user, but still cannot lower its init's limits,
// stop it with a signal, trace it, leave a setuid or setgid file behind, or see the state directory.
TEST_F(NonRoot, AUnitOfAUserCannotReachItsInitOrLeaveASetidFile) {
  std::string m = writeInitAndSetidManifest(dir_);
  ASSERT_FALSE(m.empty()) << "cc failed on the attack programs";
  handOver();
  std::string rep_path = dir_.path() + "/report.json";
  auto r = asNobody({"--json", rep_path, "-j", "1", m});
  if (r.exit_code == 3 && r.out.find("namespaces") != std::string::npos)
    GTEST_SKIP() << "no unprivileged user namespaces here: " << r.out;
  EXPECT_EQ(r.exit_code, 0) << r.out;
  expectInitAndSetidContained(readJson(rep_path), dir_);
}

// Between two processes of a batch unit its init waits for the executor's next one, and took any SIGTERM
// or SIGHUP as the executor's: a process the first batch process left, the same user, stopped the unit, and
// the tests left for the second process were lost ("the unit ended early").
TEST_F(NonRoot, AProcessABatchProcessLeftCannotStopTheUnitBetweenTwo) {
  fs::create_directories(dir_.path() + "/w");
  // The first process leaves the signaller; each process runs one test and crashes on the next, so that
  // the init waits for the executor between every two.
  dir_.write("batch.sh", R"SH(#!/bin/sh
if [ ! -e "$W/first" ]; then
  touch "$W/first"
  (while :; do kill -TERM 1; kill -HUP 1; done) >/dev/null 2>&1 &
fi
n=0
while read -r id; do
  n=$((n + 1))
  echo "start $id"
  [ $n = 2 ] && kill -SEGV $$
  echo "ok $id"
done < "$MPEXEC_BATCH_IDS_FILE"
)SH", true);
  json::array tests;
  for (int i = 0; i < 24; ++i) tests.push_back(json::object{{"name", "t" + std::to_string(i)}, {"group", "b"}});
  json::object group{{"strategy", "serial"},
                     {"env", json::object{{"W", dir_.path() + "/w"}}},
                     {"sandbox", json::object{{"writable", json::array{dir_.path() + "/w"}}}},
                     {"batch", json::object{{"cmd", json::array{dir_.path() + "/batch.sh"}},
                                            {"lines", json::object{{"started", "^start (.+)$"}, {"pass", "^ok (.+)$"}}}}}};
  std::string m = dir_.write("m.json", json::serialize(json::object{
                                           {"version", 1}, {"groups", json::object{{"b", group}}}, {"tests", tests}}));
  handOver();
  std::string rep_path = dir_.path() + "/report.json";
  auto r = asNobody({"--json", rep_path, "-j", "1", m});
  if (r.exit_code == 3 && r.out.find("namespaces") != std::string::npos)
    GTEST_SKIP() << "no unprivileged user namespaces here: " << r.out;
  auto rep = readJson(rep_path);
  for (int i = 0; i < 24; ++i)
    EXPECT_NE(testEntry(rep, "t" + std::to_string(i)).at("outcome").as_string(), "ERROR") << "t" << i << ":\n" << r.out;
}

// The identity suite (identity_test.cc) as a user: two consecutive units at -j1 cannot tell that they
// shared a sandbox, with and without asking for recycling (a user's units never take one) and without
// Landlock.
TEST_F(NonRoot, ConsecutiveUnitsOfAUserCannotTellThatTheySharedASandbox) {
  std::string prog = dir_.path() + "/identity";
  std::string src = dir_.write("identity.c", escape::kIdentityC);
  ASSERT_EQ(system(("cc -O1 -o '" + prog + "' '" + src + "'").c_str()), 0) << "cc failed on the identity program";
  std::string m = dir_.write("m.json", R"({"version": 1, "tests": [
    {"name": "a", "cmd": [")" + prog + R"("]}, {"name": "b", "cmd": [")" + prog + R"("]}]})");
  handOver();
  std::string rep_path = dir_.path() + "/report.json";
  auto pair = [&](bool fresh, bool recycle, const char* no_landlock) {
    ScopedEnv f("MPEXEC_FRESH_SANDBOXES", fresh ? "1" : "");
    ScopedEnv r("MPEXEC_RECYCLE_SANDBOXES", recycle ? "1" : "");
    ScopedEnv l("MPEXEC_NO_LANDLOCK", no_landlock);
    std::error_code ec;
    fs::remove_all(dir_.path() + "/.mpexec", ec);
    auto run = asNobody({"--json", rep_path, "-j", "1", "-v", m});
    escape::Pair p;
    p.out = run.out;
    if (run.exit_code != 0) return p;
    auto rep = readJson(rep_path);
    auto logOf = [&](const char* t) {
      return readFile(dir_.path() + "/" + std::string(testEntry(rep, t).at("log").as_string()));
    };
    p.a = escape::parse(logOf("a"));
    p.b = escape::parse(logOf("b"));
    return p;
  };
  for (const char* no_landlock : {"", "1"}) {
    SCOPED_TRACE(std::string("MPEXEC_NO_LANDLOCK=") + no_landlock);
    escape::Pair fresh = pair(true, false, no_landlock);
    if (fresh.a.empty() && fresh.out.find("namespaces") != std::string::npos)
      GTEST_SKIP() << "no unprivileged user namespaces here: " << fresh.out;
    ASSERT_FALSE(fresh.a.empty()) << fresh.out;
    for (bool recycle : {false, true}) {
      escape::Pair run = pair(false, recycle, no_landlock);
      ASSERT_FALSE(run.a.empty()) << run.out;
      EXPECT_NE(run.out.find("sandboxes: 0 of 2 units"), std::string::npos) << run.out;
      auto found = escape::tells(fresh, run);
      EXPECT_TRUE(found.empty()) << "B can tell it ran in A's sandbox by:\n" << escape::joined(found) << run.out;
    }
  }
}

// A user's run lists its gtest entries in sandbox units too (user namespaces): the binary, listed, cannot
// write the user's own files outside its writable paths, and runs in a mount namespace of its own.
TEST_F(NonRoot, AGtestEntryOfAUserIsListedInASandbox) {
  std::error_code ec;
  std::string host_dir = "/var/tmp/mpexec-nonroot-list-" + std::to_string(getpid());
  fs::create_directory(host_dir, ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_EQ(chown(host_dir.c_str(), kNobody, kNobody), 0);
  const std::string mine = host_dir + "/mine";
  std::ofstream(mine) << "kept\n";
  ASSERT_EQ(chown(mine.c_str(), kNobody, kNobody), 0);
  dir_.write("bin/lister",
             "#!/bin/sh\n"
             "if [ \"$1\" = --gtest_list_tests ]; then\n"
             "  readlink /proc/self/ns/mnt > \"$(dirname \"$0\")/seen\"\n"
             "  { echo changed > '" + mine + "'; } 2>/dev/null\n"
             "  printf 'Suite.\\n  Case\\n'\n"
             "fi\n",
             true);
  std::string m = dir_.write("m.json", R"({"version": 1, "tests": [
    {"gtest": "bin/lister", "sandbox": {"writable": ["bin"]}}]})");
  handOver();
  std::string rep_path = dir_.path() + "/report.json";
  auto r = asNobody({"--json", rep_path, m});
  if (r.exit_code == 3 && r.out.find("namespaces") != std::string::npos) {
    fs::remove_all(host_dir, ec);
    GTEST_SKIP() << "no unprivileged user namespaces here: " << r.out;
  }
  EXPECT_EQ(readFile(mine), "kept\n") << "the listing wrote the user's file outside the sandbox";
  fs::remove_all(host_dir, ec);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_EQ(testEntry(readJson(rep_path), "lister.Suite.Case").at("outcome").as_string(), "PASS") << r.out;
  std::string seen = readFile(dir_.path() + "/bin/seen");
  EXPECT_NE(seen, "");
  EXPECT_NE(seen, fs::read_symlink("/proc/self/ns/mnt", ec).string() + "\n") << seen;
}

}  // namespace
}  // namespace mpexec::test
