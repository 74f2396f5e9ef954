// bench/ns_floor.cc, the floor row of `make bench-compare`: it must run each test in namespaces of its own
// (a floor that skipped them would make every sandboxed runner look slow), keep -j, and report failures.

#include <unistd.h>

#include <chrono>
#include <iterator>
#include <cstdlib>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/mpexec_process.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

using test::shell;

/// The ns-floor binary (make test passes NS_FLOOR_BIN), or empty with why.
std::string floorBinary(std::string* why) {
  const char* bin = getenv("NS_FLOOR_BIN");
  if (!bin || !*bin) {
    *why = "NS_FLOOR_BIN is not set (make test sets it)";
    return {};
  }
  if (access(bin, X_OK) != 0) {
    *why = std::string("no executable at NS_FLOOR_BIN=") + bin;
    return {};
  }
  return bin;
}

/// Lines of `text`, without empty ones.
std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.push_back(l);
  return out;
}

class NsFloor : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    bin_ = floorBinary(&why);
    if (bin_.empty()) GTEST_SKIP() << why;
    // Where namespaces cannot be made (no unprivileged user namespaces), the floor cannot run either.
    if (shell("echo /proc/self/ns/net | " + bin_ + " -j 1 /usr/bin/readlink") != 0)
      GTEST_SKIP() << "ns-floor cannot create namespaces here";
  }
  std::string bin_;
};

TEST_F(NsFloor, EachTestGetsNamespacesOfItsOwn) {
  // Three tests alive at once (-j 3, each holding on for a moment), so that none can reuse the number of
  // a namespace another one has left: each prints its namespaces in one write.
  const char* kinds[] = {"net", "mnt", "pid", "ipc", "uts", "cgroup"};
  std::string print = "echo";
  for (const char* ns : kinds) print += std::string(" $(readlink /proc/self/ns/") + ns + ")";
  test::TempDir dir;
  std::string script = dir.write("ns.sh", print + "\nsleep 0.3\n");
  std::string host, out;
  ASSERT_EQ(shell("sh " + script, &host), 0) << host;
  ASSERT_EQ(shell("printf '%s\\n' " + script + " " + script + " " + script + " | " + bin_ + " -j 3 /bin/sh", &out), 0)
      << out;
  auto got = lines(out);
  ASSERT_EQ(got.size(), 3u) << out;
  std::vector<std::set<std::string>> seen(std::size(kinds));
  for (const std::string& line : got) {
    std::istringstream fields(line);
    for (auto& ids : seen) {
      std::string id;
      fields >> id;
      ids.insert(id);
    }
  }
  std::istringstream host_fields(lines(host).at(0));
  for (size_t k = 0; k < std::size(kinds); ++k) {
    std::string host_id;
    host_fields >> host_id;
    EXPECT_EQ(seen[k].size(), 3u) << kinds[k] << ": tests shared a namespace:\n" << out;
    EXPECT_EQ(seen[k].count(host_id), 0u) << kinds[k] << ": a test ran in the host's namespace:\n" << out;
  }
}

TEST_F(NsFloor, LoopbackIsUp) {
  // A fresh network namespace's routing tables are empty until lo comes up with 127.0.0.1.
  std::string out;
  ASSERT_EQ(shell("echo /proc/self/net/fib_trie | " + bin_ + " -j 1 /bin/cat", &out), 0) << out;
  EXPECT_NE(out.find("127.0.0.1"), std::string::npos) << "lo is not up:\n" << out;
}

TEST_F(NsFloor, ReportsFailuresAndBadArguments) {
  std::string out;
  EXPECT_EQ(shell("printf '1\\n2\\n' | " + bin_ + " -j 2 /bin/false", &out), 1) << out;
  EXPECT_EQ(shell("echo 1 | " + bin_ + " -j 1 /nonexistent/program", &out), 1) << out;
  EXPECT_EQ(shell(bin_ + " -j 0 /bin/true </dev/null", &out), 2) << out;
  EXPECT_NE(out.find("usage: ns-floor"), std::string::npos) << out;
  EXPECT_EQ(shell(bin_ + " /bin/true </dev/null", &out), 2) << out;
  EXPECT_EQ(shell(": | " + bin_ + " -j 4 /bin/false", &out), 0) << "no tests, no failure: " << out;
}

TEST_F(NsFloor, KeepsAtMostJTestsRunning) {
  // Four sleeps of 0.3 s at -j 2 need two rounds: a run shorter than 0.6 s ran more than two at once. Only
  // this lower bound is checked, which no slowness of the host can break.
  std::string out;
  auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(shell("printf '0.3\\n0.3\\n0.3\\n0.3\\n' | " + bin_ + " -j 2 /bin/sleep", &out), 0) << out;
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took.count(), 0.6) << "more than 2 tests ran at once";
}

}  // namespace
}  // namespace mpexec
