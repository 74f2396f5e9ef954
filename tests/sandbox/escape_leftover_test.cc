// What a unit might leave on the host for later (issue 17, items 3 and the escape suite's case 5, as
// classes): a device node or a hard link to a host file in a path it may write, a process in a pid
// namespace of its own. Each TEST is the attack, and asserts from the host that nothing of it is left.

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <regex>

#include "tests/sandbox/escape_support.h"

namespace mpexec::test::escape {
namespace {

namespace fs = std::filesystem;

class Leftover : public EscapeTest {};

// In a writable path and its output directory, a test makes device nodes (the host's disk, /dev/mem, a
// tty) and hard links to host files (/etc/shadow, a setuid binary, a file of the state directory's
// parent). On the host, no node of a device but the kernel's 0:0 whiteout, and no file there shares an
// inode with the host's.
TEST_F(Leftover, NoDeviceNodeOrHardLinkToAHostFile) {
  std::string dir = tools() + "/left";
  fs::create_directories(dir);
  std::vector<std::string> targets{"/etc/shadow", "/etc/passwd", "/usr/bin/su", "/usr/bin/passwd"};
  std::string script = "for d in " + dir + " \"$MPEXEC_OUTPUT_DIR\"; do "
                       "mknod \"$d/disk\" b 8 0; mknod \"$d/mem\" c 1 1; mknod \"$d/tty\" c 4 1; "
                       "mknod \"$d/whiteout\" c 0 0; mknod \"$d/fifo\" p; ";
  for (size_t i = 0; i < targets.size(); ++i)
    script += "ln " + targets[i] + " \"$d/link" + std::to_string(i) + "\"; ";
  script += "ls -la \"$d\"; done 2>&1; exit 0";
  json::array tests{shTest("self", script, {{"sandbox", sandboxWithTools()}}),
                    shTest("nested", script, {{"sandbox", sandboxWithTools({{"nested", true}, {"user", "nobody"}})}})};
  auto r = run(tests, {"-j", "1"});
  auto rep = report();
  std::vector<std::pair<dev_t, ino_t>> host;
  for (const auto& t : targets) {
    struct stat st;
    if (stat(t.c_str(), &st) == 0) host.emplace_back(st.st_dev, st.st_ino);
  }
  int seen = 0;
  for (const std::string& root : {dir, dir_.path() + "/.mpexec"}) {
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      struct stat st;
      if (lstat(e.path().c_str(), &st) != 0) continue;
      ++seen;
      if (S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode)) {
        EXPECT_EQ(st.st_rdev, makedev(0, 0)) << e.path() << " is a device node " << major(st.st_rdev) << ":"
                                             << minor(st.st_rdev) << " on the host";
      }
      for (const auto& [dev, ino] : host)
        EXPECT_FALSE(st.st_dev == dev && st.st_ino == ino) << e.path() << " is a hard link to a host file";
    }
  }
  EXPECT_GT(seen, 0) << r.out;
  for (const char* t : {"self", "nested"}) EXPECT_EQ(outcome(rep, t), "PASS") << t << ":\n" << log(rep, t);
}

// A test with nested namespaces starts daemons in pid namespaces of its own (the namespace's init a
// daemon itself, and a process below it), in a new session: none may outlive the unit.
TEST_F(Leftover, NoProcessOutlivesItsUnitFromAPidNamespaceOfItsOwn) {
  if (access("/usr/bin/unshare", X_OK) != 0) GTEST_SKIP() << "no /usr/bin/unshare";
  std::string mark = marker("nested-pidns");
  std::string script =
      "setsid unshare -r -p -f --mount-proc bash -c 'bash -c \"exec -a " + mark + "-below sleep 1000\" & "
      "exec -a " + mark + "-init sleep 1000' >/dev/null 2>&1 < /dev/null & "
      "for i in $(seq 300); do n=$(grep -ls '" + mark + "' /proc/[0-9]*/cmdline | wc -l); "
      "[ $n -ge 2 ] && break; sleep 0.01; done; echo \"$n nested daemons running\"; [ $n -ge 2 ]";
  json::array tests{shTest("nested", script, {{"sandbox", {{"nested", true}, {"user", "nobody"}}}}, true)};
  auto r = run(tests);
  auto rep = report();
  EXPECT_EQ(outcome(rep, "nested"), "PASS") << log(rep, "nested") << r.out;
  auto left = processesWith(mark);
  EXPECT_TRUE(left.empty()) << left.size() << " processes of a pid namespace of the unit's survived it";
}

}  // namespace
}  // namespace mpexec::test::escape
