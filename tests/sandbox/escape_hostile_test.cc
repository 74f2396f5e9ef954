// The hostile-test suite (issue 17): a test running with the default sandbox of the invoking user (as root,
// the usual CI case) attacks the host, its neighbours and the run's own records. Each TEST is one item of
// the issue, written as the attack, and asserts from the host that the attack got nothing.

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/sandbox/escape_support.h"

namespace mpexec::test::escape {
namespace {

namespace fs = std::filesystem;

/// A directory outside /tmp standing for the host's own files (a unit's /tmp is its own, so the host's /tmp
/// would prove nothing), removed afterwards.
class HostDir {
 public:
  HostDir() {
    char tmpl[] = "/var/tmp/mpexec-hostile-XXXXXX";
    if (mkdtemp(tmpl)) path_ = tmpl;
    chmod(path_.c_str(), 0755);
  }
  ~HostDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const std::string& content) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p) << content;
    return p;
  }

 private:
  std::string path_;
};

class Hostile : public EscapeTest {
 protected:
  /// The manifest's directory, writable by every unit (`"writable": ["."]`, common in real manifests): its
  /// state directory .mpexec/ then lies inside what the units may write.
  json::object writableProject(json::object more = {}) const {
    json::array w{dir_.path()};
    more["writable"] = std::move(w);
    return json::object{{"sandbox", std::move(more)}};
  }
  std::string state() const { return dir_.path() + "/.mpexec"; }
};

// 1. A test replaces a later test's log (and its group's teardown log) with a symlink to a host file. The
//    init opens logs on the host, as root: the later output must go to its log, never through the link.
TEST_F(Hostile, Item01_LogSymlinkWritesNoHostFile) {
  HostDir host;
  ASSERT_FALSE(host.path().empty());
  std::string target = host.write("target", "precious\n");
  // Relative links: the init opens a log through a descriptor of the host's logs directory, so "../" leads
  // up the host's tree (an absolute link would be resolved in the unit's read-only root).
  std::string plant = "for d in " + state() + "/runs/*/logs; do "
                      "up=$(echo \"$d\" | sed 's|[^/][^/]*|..|g; s|^/||'); "
                      "for l in later.log u0.teardown.log; do "
                      "ln -sfn \"$up" + target + "\" \"$d/$l\" && echo \"planted $d/$l -> $up" + target + "\"; "
                      "done; done; exit 0";
  json::object group = writableProject();
  json::array tests{
      shTest("plant", plant, {{"group", "g"}, {"strategy", "serial"}}),
      shTest("later", "echo later-output", {{"group", "g"}}),
  };
  json::object m{{"version", 1},
                 {"groups", {{"g", {{"sandbox", group["sandbox"]}, {"teardown", json::array{"/bin/echo", "bye"}}}}}},
                 {"tests", tests}};
  std::string path = dir_.write("m.json", json::serialize(m));
  auto r = runMpexec({"--json", reportPath(), "-j", "1", path});
  auto rep = report();
  EXPECT_EQ(readFile(target), "precious\n") << "the host file was written through the planted link:\n"
                                             << log(rep, "plant");
  EXPECT_TRUE(fs::is_regular_file(fs::symlink_status(target)));
  EXPECT_EQ(outcome(rep, "later"), "PASS") << r.out;
  EXPECT_TRUE(contains(log(rep, "later"), "later-output")) << log(rep, "later");
}

// 1, a report: the same with the directory a report goes to (--junit inside the writable project), which
//    mpexec writes as root at the end of the run.
TEST_F(Hostile, Item01_ReportDirSymlinkWritesNoHostFile) {
  HostDir host;
  ASSERT_FALSE(host.path().empty());
  std::string reports = dir_.path() + "/reports";
  fs::create_directories(reports);
  std::string plant = "rm -rf " + reports + " && ln -s " + host.path() + " " + reports + " && echo planted";
  auto r = run(json::array{shTest("plant", plant, writableProject())},
               {"-j", "1", "--junit", reports + "/junit.xml", "--report-dir", reports});
  for (const auto& e : fs::directory_iterator(host.path()))
    ADD_FAILURE() << "mpexec wrote a report through the planted link: " << e.path() << "\n" << r.out;
  if (fs::is_symlink(reports)) {
    EXPECT_NE(r.exit_code, 0) << "a report that could not be written must not pass silently:\n" << r.out;
    EXPECT_TRUE(contains(r.out, "cannot write a report")) << r.out;
  }
}

// 2. A test replaces a later unit's output directory with a symlink to a host directory: the later unit
//    must get its own output directory, never the host's directory read-write.
TEST_F(Hostile, Item02_OutputDirSymlinkBindsNoHostDir) {
  HostDir host;
  ASSERT_FALSE(host.path().empty());
  fs::create_directories(host.path() + "/dir");
  std::string plant = "for r in " + state() + "/runs/*; do for u in u1 u2 u3 u4 u5 u6 u7; do "
                      "rm -rf \"$r/out/$u\"; ln -sfn " + host.path() + "/dir \"$r/out/$u\" && echo \"planted $r/out/$u\"; "
                      "done; done; exit 0";
  std::string use = "echo mine > \"$MPEXEC_OUTPUT_DIR/written-by-$MPEXEC_TEST_NAME\" && ls -la \"$MPEXEC_OUTPUT_DIR\"";
  json::array tests{shTest("plant", plant, writableProject())};
  for (const char* t : {"b", "c", "d", "e", "f"}) tests.push_back(shTest(t, use, writableProject()));
  auto r = run(tests, {"-j", "1"});
  auto rep = report();
  for (const auto& e : fs::directory_iterator(host.path() + "/dir"))
    ADD_FAILURE() << "a unit wrote into the host directory: " << e.path() << "\n" << log(rep, "plant");
  for (const char* t : {"b", "c", "d", "e", "f"}) {
    EXPECT_EQ(outcome(rep, t), "PASS") << t << ":\n" << log(rep, t);
    bool found = false;
    for (const auto& run_dir : fs::directory_iterator(state() + "/runs"))
      for (const auto& out : fs::directory_iterator(run_dir.path() / "out"))
        found |= fs::exists(out.path() / (std::string("written-by-") + t));
    EXPECT_TRUE(found) << t << " left nothing in its own output directory";
  }
}

// 2, a writable path: a unit that may write the project replaces a directory that a later unit declares
//    writable with a symlink to a host directory, during the run and for the next run. The later unit must
//    not get the host directory read-write: its set-up fails and says why.
TEST_F(Hostile, Item02_WritablePathSymlinkBindsNoHostDir) {
  HostDir host;
  ASSERT_FALSE(host.path().empty());
  fs::create_directories(host.path() + "/dir");
  std::string sub = dir_.path() + "/sub";
  fs::create_directories(sub);
  std::string plant = "rm -rf " + sub + " && ln -s " + host.path() + "/dir " + sub + " && echo planted";
  std::string use = "echo mine > " + sub + "/written-by-$MPEXEC_TEST_NAME; ls -la " + sub + "/";
  json::object later{{"writable", json::array{sub}}};
  // -j 1: "later" is set up while "between" runs, after "plant" has run.
  json::array tests{shTest("plant", plant, writableProject()), shTest("between", "sleep 0.1"),
                    shTest("later", use, {{"sandbox", later}})};
  for (int pass = 1; pass <= 2; ++pass) {
    // The second run of the same manifest starts with the link already there.
    auto r = run(tests, {"-j", "1"});
    auto rep = report();
    for (const auto& e : fs::directory_iterator(host.path() + "/dir"))
      ADD_FAILURE() << "run " << pass << ": a unit wrote into the host directory: " << e.path() << "\n"
                    << log(rep, "later");
    EXPECT_EQ(outcome(rep, "later"), "ERROR") << "run " << pass << ":\n" << log(rep, "later");
    EXPECT_TRUE(contains(str(testEntry(rep, "later"), "reason"), "symlink")) << str(testEntry(rep, "later"), "reason");
  }
}

// 6. A unit reads what other units left: their output directories and logs, of this run and of an earlier
//    one, through the view of the state directory.
TEST_F(Hostile, Item06_NoUnitSeesAnotherUnitsOutputsOrLogs) {
  std::string flag = tools() + "/written";
  // An earlier run leaves a secret in its output directory and its log.
  json::array first{shTest("earlier", "echo \"$SECRET\" > \"$MPEXEC_OUTPUT_DIR/secret\"; echo \"$SECRET\"",
                           {{"env", {{"SECRET", "earlier-run-secret-1f3a"}}}})};
  auto r1 = run(first, {"-j", "1"});
  ASSERT_EQ(r1.exit_code, 0) << r1.out;
  std::string look =
      "i=0; while [ ! -e " + flag + " ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done; "
      "for f in " + state() + "/runs/*/logs/* " + state() + "/runs/*/out/* " + state() + "/runs/*/out/*/*; do "
      "case \"$f\" in \"$MPEXEC_OUTPUT_DIR\"|\"$MPEXEC_OUTPUT_DIR\"/*) continue;; esac; "
      "[ -e \"$f\" ] && echo \"visible: $f\"; done; "
      "cat " + state() + "/runs/*/out/*/secret " + state() + "/runs/*/logs/*.log 2>&1; "
      "cat " + state() + "/state.json >/dev/null 2>&1 && echo 'visible: state.json'; exit 0";
  json::array second{
      shTest("writer", "echo \"$SECRET\" > \"$MPEXEC_OUTPUT_DIR/secret\"; echo \"$SECRET\"; touch " + flag,
             {{"env", {{"SECRET", "this-run-secret-9c2e"}}}, {"sandbox", sandboxWithTools()}}),
      shTest("reader", look, {{"sandbox", sandboxWithTools()}}),
  };
  auto r2 = run(second, {"-j", "2"});
  auto rep = report();
  std::string l = log(rep, "reader");
  EXPECT_EQ(outcome(rep, "reader"), "PASS") << l;
  EXPECT_FALSE(contains(l, "visible:")) << l;
  EXPECT_FALSE(contains(l, "earlier-run-secret-1f3a")) << l;
  EXPECT_FALSE(contains(l, "this-run-secret-9c2e")) << l;
  EXPECT_TRUE(contains(log(rep, "writer"), "this-run-secret-9c2e")) << log(rep, "writer");
}

}  // namespace
}  // namespace mpexec::test::escape
