// The way to the run's records (issue 17, items 1 and 2, as a class): mpexec reads and writes the state
// directory by its path on the host, as root, while units run and after. A unit that may write a directory
// on that path must not be able to put a tree of its own there. Each TEST is the attack, and asserts from
// the host what came of it.

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/sandbox/escape_support.h"

namespace mpexec::test::escape {
namespace {

namespace fs = std::filesystem;

class Paths : public EscapeTest {};

// A unit renames a directory between its writable path and the state directory (the state directory's
// cover moves along with it), and plants at the state directory's old path a run directory of its own
// whose logs are links to a root-only host file. mpexec prints a failed test's last lines and puts each
// log in the JUnit report, by the log's path: it must not show that file. Two layouts: the manifest in a
// subdirectory of the writable path (`"writable": [".."]`, the default .mpexec), and `--state-dir sub/state`
// in a writable project.
TEST_F(Paths, ARenamedWayToTheStateDirectoryLeadsToNoHostFile) {
  HostDir host;
  ASSERT_FALSE(host.path().empty());
  std::string secret = "root-only-" + std::to_string(getpid());
  std::string file = host.write("secret", secret + "\n");
  chmod(file.c_str(), 0600);
  struct Layout {
    const char* name;
    std::string manifest_dir, writable, moved, state_arg, state;
  };
  std::string root = host.path();
  const Layout layouts[] = {
      {"manifest below the writable path", root + "/a/tests", root + "/a", root + "/a/tests", "", root + "/a/tests/.mpexec"},
      {"--state-dir below the project", root + "/b", root + "/b", root + "/b/sub", root + "/b/sub/state",
       root + "/b/sub/state"},
  };
  for (const Layout& l : layouts) {
    fs::create_directories(l.manifest_dir);
    fs::create_directories(l.moved);
    // The run directory is the one the unit's output directory lies in; its logs are links to the file.
    std::string plant = "run=$(basename \"$(dirname \"$(dirname \"$MPEXEC_OUTPUT_DIR\")\")\"); "
                        "mv " + l.moved + " " + l.moved + ".moved && echo moved; "
                        "mkdir -p " + l.state + "/runs/$run/logs && "
                        "for t in plant victim; do ln -s " + file + " " + l.state + "/runs/$run/logs/$t.log; done; "
                        "ls -la " + l.state + "/runs/$run/logs; exit 1";
    json::object m{{"version", 1},
                   {"tests", json::array{shTest("plant", plant, {{"sandbox", {{"writable", json::array{l.writable}}}}}),
                                         shTest("victim", "echo victim-output; exit 1")}}};
    std::string path = l.manifest_dir + "/m.json";
    std::ofstream(path) << json::serialize(m);
    std::string junit = dir_.path() + "/junit.xml";
    std::vector<std::string> args{"--json", reportPath(), "--junit", junit, "-j", "1", "--output", "all"};
    if (!l.state_arg.empty()) args.insert(args.end(), {"--state-dir", l.state_arg});
    args.push_back(path);
    auto r = runMpexec(args);
    EXPECT_FALSE(contains(r.out, secret)) << l.name << ": mpexec showed a root-only host file:\n" << r.out;
    EXPECT_FALSE(contains(readFile(junit), secret)) << l.name << ": the JUnit report holds a root-only host file";
    EXPECT_TRUE(contains(r.out, "victim-output")) << l.name << ": the victim's own output is lost:\n" << r.out;
    EXPECT_TRUE(fs::is_directory(l.moved)) << l.name << ": the unit moved " << l.moved;
  }
}

// A writable path that is the state directory, or lies in it (`--state-dir out` with `"writable": ["out"]`,
// a CI job that keeps mpexec's records with its artifacts): the unit's bind went on top of the cover, and
// every unit read the other units' logs and output directories. Such a unit is an ERROR that names the
// state directory, and reads nothing of it.
TEST_F(Paths, AWritablePathInTheStateDirectoryIsRefused) {
  HostDir host;
  ASSERT_FALSE(host.path().empty());
  std::string state = host.path() + "/out";
  fs::create_directories(state + "/runs");
  for (const std::string& writable : {state, state + "/runs"}) {
    std::string look = "sleep 0.3; cat " + state + "/runs/*/logs/victim.log " + state + "/runs/*/out/*/f 2>&1; exit 0";
    json::array tests{shTest("victim", "echo log-secret-3b1d; echo out-secret-8e2f > \"$MPEXEC_OUTPUT_DIR/f\""),
                      shTest("look", look, {{"sandbox", {{"writable", json::array{writable}}}}})};
    auto r = run(tests, {"-j", "1", "--state-dir", state});
    auto rep = report();
    std::string l = log(rep, "look");
    EXPECT_FALSE(contains(l, "log-secret-3b1d") || contains(l, "out-secret-8e2f"))
        << writable << ": a unit read another unit's records:\n" << l;
    EXPECT_EQ(outcome(rep, "look"), "ERROR") << writable << ":\n" << l << r.out;
    EXPECT_TRUE(contains(str(testEntry(rep, "look"), "reason"), "state directory"))
        << writable << ": " << str(testEntry(rep, "look"), "reason");
    EXPECT_EQ(outcome(rep, "victim"), "PASS") << writable;
  }
}

// The state directory may be the project itself (`--state-dir .`): the project's bind then went on top of
// the state directory's cover, and every unit read the other units' logs and output directories. The
// units must still see the project (they run its scripts), and none of the run's records.
TEST_F(Paths, AStateDirectoryThatIsTheProjectShowsNoUnitTheOthersRecords) {
  HostDir host;
  ASSERT_FALSE(host.path().empty());
  std::string project = host.path() + "/project";
  fs::create_directories(project);
  std::string script = host.write("project/look.sh", "#!/bin/sh\necho project script ran\n");
  chmod(script.c_str(), 0755);
  json::array tests{shTest("victim", "echo log-secret-5c7a; echo out-secret-1d9e > \"$MPEXEC_OUTPUT_DIR/f\""),
                    shTest("look", "sleep 0.3; " + script + "; cat " + project + "/runs/*/logs/victim.log " + project +
                                       "/runs/*/out/*/f 2>/dev/null; ls " + project + "/runs/*/logs 2>/dev/null; exit 0")};
  json::object m{{"version", 1}, {"tests", tests}};
  std::string path = project + "/m.json";
  std::ofstream(path) << json::serialize(m);
  auto r = runMpexec({"--json", reportPath(), "-j", "1", "--state-dir", project, path});
  auto rep = report();
  std::string l = log(rep, "look", project);
  EXPECT_EQ(outcome(rep, "look"), "PASS") << l << r.out;
  EXPECT_TRUE(contains(l, "project script ran")) << l;
  EXPECT_FALSE(contains(l, "log-secret-5c7a") || contains(l, "out-secret-1d9e"))
      << "a unit read another unit's records:\n" << l;
  EXPECT_FALSE(contains(l, "victim.log")) << "a unit listed the run's logs:\n" << l;
}

}  // namespace
}  // namespace mpexec::test::escape
