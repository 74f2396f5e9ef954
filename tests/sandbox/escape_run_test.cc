// What every unit of a run finds in /run: mpexec itself and the sync service's socket. For units with a uid
// of their own these are bound once per run in the shared root's /run, which every such unit sees (docs/
// sandbox.md, "Filesystem"): nothing there may be changed by a unit, for itself or for the units after it,
// and the socket and the binary must still serve. Each TEST runs mpexec as a user does and asserts from the
// units' logs and the host.

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/sandbox/escape_hostile_attacks.h"
#include "tests/sandbox/escape_support.h"

namespace mpexec::test::escape {
namespace {

namespace fs = std::filesystem;

class SharedRun : public EscapeTest {};

// Each unit tries to write /run, to remove, rename or truncate the socket and the binary, and to plant a
// file beside them; then uses both. A later unit (-j2, 6 units: later ones take the slots of earlier ones)
// must find them as the first did.
constexpr const char* kChangeRun = R"sh(
fail=0
touch /run/planted 2>/dev/null && { echo "created /run/planted"; fail=1; }
mkdir /run/mpexec/planted 2>/dev/null && { echo "created /run/mpexec/planted"; fail=1; }
rm -f /run/mpexec/sync.sock 2>/dev/null
mv /run/mpexec-bin/mpexec /run/mpexec-bin/moved 2>/dev/null && { echo "moved mpexec"; fail=1; }
(: >/run/mpexec-bin/mpexec) 2>/dev/null && { echo "truncated mpexec"; fail=1; }
for p in /run/planted /run/mpexec/planted /run/mpexec-bin/moved; do [ -e $p ] && { echo "found $p"; fail=1; }; done
[ -S /run/mpexec/sync.sock ] || { echo "no socket at /run/mpexec/sync.sock"; fail=1; }
[ "$(ls /run | tr '\n' ' ')" = "mpexec mpexec-bin " ] || { echo "/run holds: $(ls /run | tr '\n' ' ')"; fail=1; }
"$MPEXEC_EXE" --version >/dev/null || { echo "mpexec does not run"; fail=1; }
"$MPEXEC_EXE" sync lock run L -- true || { echo "the sync service does not answer"; fail=1; }
grep ' /run ' /proc/self/mountinfo
exit $fail
)sh";

TEST_F(SharedRun, NoUnitChangesWhatTheUnitsAfterItFindInRun) {
  json::array tests;
  for (int i = 0; i < 6; ++i) tests.push_back(shTest("u" + std::to_string(i), kChangeRun));
  auto r = run(tests, {"-j", "2", "-v"});
  auto rep = report();
  for (int i = 0; i < 6; ++i) {
    std::string name = "u" + std::to_string(i);
    EXPECT_EQ(outcome(rep, name), "PASS") << name << ":\n" << log(rep, name) << r.out;
  }
  // Where units have a uid of their own, their /run is the shared root's, read-only as a mount; elsewhere
  // each unit's own tmpfs, which only the unit's uid 0 may write.
  if (!contains(r.out, "each unit a uid of its own")) GTEST_SKIP() << "no unit ids here: " << r.out;
  for (int i = 0; i < 6; ++i) {
    std::string l = log(rep, "u" + std::to_string(i));
    EXPECT_TRUE(contains(l, " /run ro,")) << "/run is not a read-only mount:\n" << l;
  }
}

// A project under the host's /run is bound at its path: there the unit mounts a /run of its own (the
// shared one is read-only, no mount point can be made in it), with mpexec and the socket bound as before.
TEST_F(SharedRun, AProjectUnderRunIsBoundInARunOfTheUnitsOwn) {
  if (geteuid() != 0) GTEST_SKIP() << "only root may make a directory in /run; this test runs as uid " << geteuid();
  std::string project = "/run/mpexec-escape-run-" + std::to_string(getpid());
  fs::create_directories(project);
  struct Remove {
    std::string p;
    ~Remove() { fs::remove_all(p); }
  } remove{project};
  std::string script = project + "/look.sh";
  std::ofstream(script) << "#!/bin/sh\necho project script ran\n";
  chmod(project.c_str(), 0755);
  chmod(script.c_str(), 0755);
  json::array tests{shTest("look", script + " && [ -S /run/mpexec/sync.sock ] && \"$MPEXEC_EXE\" sync lock run L -- true")};
  json::object m{{"version", 1}, {"tests", tests}};
  std::string path = project + "/m.json";
  std::ofstream(path) << json::serialize(m);
  auto r = runMpexec({"--json", reportPath(), "--state-dir", dir_.path() + "/state", path});
  auto rep = report();
  std::string l = log(rep, "look", project);
  EXPECT_EQ(outcome(rep, "look"), "PASS") << l << r.out;
  EXPECT_TRUE(contains(l, "project script ran")) << l << r.out;
}

// With `nested: true` a command holds every capability over a mount namespace of its own, made from its
// unit's: there it remounts, unmounts, copies and reconfigures the shared /run, mpexec's socket and binary
// in it, /proc's read-only copies, /dev and /sys/fs/cgroup (kUndoReadOnly), and mounts a /run of its own.
// The kernel locks what a less privileged namespace copied, and the superblocks are the host's: nothing
// comes off, and each unit (-j2, later ones after earlier ones) still finds /run as the first did.
TEST_F(SharedRun, ANestedUnitCannotUndoTheReadOnlyRunOrProc) {
  std::string why;
  std::string bin = compile("undo_read_only", kUndoReadOnly, "-O1 -Werror=implicit-function-declaration", &why);
  if (bin.empty()) GTEST_SKIP() << why;
  const std::string check = R"sh(
fail=0
[ "$(ls /run | tr '\n' ' ')" = "mpexec mpexec-bin " ] || { echo "/run holds: $(ls /run | tr '\n' ' ')"; fail=1; }
[ "$(ls -A /run/mpexec | tr '\n' ' ')" = "sync.sock " ] || { echo "/run/mpexec holds: $(ls -A /run/mpexec)"; fail=1; }
[ -S /run/mpexec/sync.sock ] || { echo "no socket at /run/mpexec/sync.sock"; fail=1; }
"$MPEXEC_EXE" sync lock run L -- true || { echo "the sync service does not answer"; fail=1; }
exit $((rc | fail))
)sh";
  json::array tests;
  for (int i = 0; i < 4; ++i)
    tests.push_back(shTest("n" + std::to_string(i), bin + "; rc=$?" + check,
                           {{"sandbox", sandboxWithTools({{"nested", true}, {"user", i % 2 ? "nobody" : "self"}})}}));
  auto r = run(tests, {"-j", "2"});
  auto rep = report();
  for (int i = 0; i < 4; ++i) {
    std::string name = "n" + std::to_string(i);
    std::string l = log(rep, name);
    EXPECT_TRUE(contains(l, "contained: unmount /run:")) << "the attack did not run:\n" << l << r.out;
    EXPECT_FALSE(contains(l, "HOLE:")) << name << ":\n" << l;
    EXPECT_EQ(outcome(rep, name), "PASS") << name << ":\n" << l << r.out;
  }
}

}  // namespace
}  // namespace mpexec::test::escape
