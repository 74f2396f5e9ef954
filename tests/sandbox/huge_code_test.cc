// The spawner's code on a huge page (sandbox/huge_code.h): what moves, what stays, and what an init gains.

#include "sandbox/huge_code.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sandbox/spawner.h"
#include "tests/sandbox/contained.h"
#include "tests/support/temp_dir.h"

namespace mpexec::sandbox {
namespace {
using testing::namespaceContext;

/// One mapping of /proc/PID/smaps.
struct Mapping {
  unsigned long begin = 0, end = 0;
  std::string perms, path;
  long rss_kb = 0, anon_huge_kb = 0;
};

std::vector<Mapping> mappingsOf(pid_t pid) {
  std::vector<Mapping> out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/smaps");
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string range, perms, offset, dev, inode, path;
    if (line.find('-') != std::string::npos && line.find('-') < line.find(' ') &&
        (f >> range >> perms >> offset >> dev >> inode)) {
      f >> path;
      Mapping m;
      m.begin = std::stoul(range.substr(0, range.find('-')), nullptr, 16);
      m.end = std::stoul(range.substr(range.find('-') + 1), nullptr, 16);
      m.perms = perms;
      m.path = path;
      out.push_back(m);
    } else if (!out.empty() && line.rfind("Rss:", 0) == 0) {
      out.back().rss_kb = std::atol(line.c_str() + 4);
    } else if (!out.empty() && line.rfind("AnonHugePages:", 0) == 0) {
      out.back().anon_huge_kb = std::atol(line.c_str() + 14);
    }
  }
  return out;
}

/// The 2 MiB mappings, executable, on one anonymous huge page each: what moveCodeToHugePages() leaves.
int hugeCodeWindows(pid_t pid) {
  int n = 0;
  for (const Mapping& m : mappingsOf(pid))
    if (m.perms == "r-xp" && m.path.empty() && m.end - m.begin == (2ul << 20) && m.begin % (2ul << 20) == 0 &&
        m.anon_huge_kb == 2048)
      ++n;
  return n;
}

/// Whether the kernel hands out transparent huge pages to a region that asks (THP "always" or "madvise").
bool hugePagesOnRequest() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return s.find("[always]") != std::string::npos || s.find("[madvise]") != std::string::npos;
}

/// Whether a region that asks for a huge page gets one now (memory may be too fragmented for one).
bool aHugePageToBeHad() {
  const size_t huge = 2ul << 20;
  void* raw = mmap(nullptr, 2 * huge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return false;
  char* at = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(raw) + huge - 1) & ~(huge - 1));
  bool got = madvise(at, huge, MADV_HUGEPAGE) == 0;
  if (got) {
    std::memset(at, 1, huge);
    got = false;
    for (const Mapping& m : mappingsOf(getpid()))
      if (m.begin <= reinterpret_cast<uintptr_t>(at) && reinterpret_cast<uintptr_t>(at) < m.end)
        got = m.anon_huge_kb >= 2048;
  }
  munmap(raw, 2 * huge);
  return got;
}

/// The aligned 2 MiB windows wholly inside runs of this process's read-only mappings of its own executable,
/// counted from /proc/self/smaps (huge_code.cc works from the program headers instead).
int wholeReadOnlyWindows() {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return -1;
  exe[n] = '\0';
  const unsigned long huge = 2ul << 20;
  int windows = 0;
  unsigned long run_begin = 0, run_end = 0;
  auto close_run = [&] {
    for (unsigned long w = (run_begin + huge - 1) & ~(huge - 1); w + huge <= run_end; w += huge) ++windows;
  };
  for (const Mapping& m : mappingsOf(getpid())) {
    bool read_only_exe = m.path == exe && m.perms.find('w') == std::string::npos;
    if (read_only_exe && m.begin == run_end) {
      run_end = m.end;
    } else {
      close_run();
      run_begin = run_end = read_only_exe ? m.begin : 0;
      if (read_only_exe) run_end = m.end;
    }
  }
  close_run();
  return windows;
}

long minorFaults(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream f(stat.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 10 && (f >> field); ++i) {
  }
  return std::atol(field.c_str());  // field 10: minflt
}

int written_before = 42;  // in the writable segment: must not move, and keeps its value

// In a fork of this test: what moves is whole windows of read-only segments, on huge pages, executable; the
// program runs on from them and its writable data is as it was.
TEST(HugeCode, MovesWholeReadOnlyWindowsOnlyAndTheProgramRunsOn) {
  if (!hugePagesOnRequest()) GTEST_SKIP() << "transparent huge pages are off here (THP \"never\")";
  written_before = 43;
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const int whole = wholeReadOnlyWindows();
    auto moved = moveCodeToHugePages();
    if (!moved) _exit(10);
    if (int(*moved) != hugeCodeWindows(getpid())) _exit(11);
    if (int(*moved) != whole) _exit(aHugePageToBeHad() ? 13 : 14);
    // The code still runs (gtest's own code lives in the moved windows too) and the data stayed.
    std::string again = std::to_string(written_before) + "!";
    _exit(again == "43!" ? 0 : 12);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "the program did not run on from its moved code: " << status;
  if (WEXITSTATUS(status) == 14) GTEST_SKIP() << "no huge page to be had now (memory too fragmented)";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "10: an error, 11: other windows than it said, 12: data changed, 13: "
                                       "not every whole read-only window moved";
}

class HugeCodeSpawner : public ::testing::Test {
 protected:
  void SetUp() override {
    program_ = Spawner::findProgram(1);
    if (program_.empty()) GTEST_SKIP() << "mpexec-spawner is not built beside the tests' directory";
  }
  void TearDown() override { unsetenv("MPEXEC_SPAWNER_SMALL_PAGES"); }

  /// The init of a unit running `sleep 30`, from a spawner program started now, and the spawner itself.
  /// Reads `look` of both while the command runs.
  template <class Look>
  void whileAUnitSleeps(const Context& ctx, Look look) {
    auto spawner = Spawner::start(ctx, 0, program_);
    ASSERT_TRUE(spawner.ok()) << spawner.error().message();
    UniqueFd logs(open(dir_.path().c_str(), O_DIRECTORY | O_CLOEXEC));
    CommandSpec c;
    c.argv = {"/bin/sleep", "30"};
    c.env = {"PATH=/usr/bin:/bin"};
    c.cwd = "/";
    c.log_name = "sleep.log";
    UnitSpec u;
    u.name = "u";
    u.isolation = Isolation::Namespaces;
    u.commands.push_back(c);
    u.log_dir_fd = logs.get();
    auto p = (*spawner)->spawn(u);
    ASSERT_TRUE(p.ok()) << p.error().message();
    ASSERT_FALSE(testing::firstEvents(*p).empty()) << "no Started from the unit";
    look((*spawner)->pid(), p->pid());
    p->kill();
  }

  test::TempDir dir_;
  std::string program_;
};

// The spawner program moves its code; every init, a clone of it, has that huge page mapped from the start
// and faults far fewer pages in than an init of a spawner whose code stayed on the file's pages.
TEST_F(HugeCodeSpawner, EveryInitInheritsTheCodeOnAHugePageAndFaultsLess) {
  MPEXEC_NEED_NAMESPACES(ctx);
  if (!hugePagesOnRequest()) GTEST_SKIP() << "transparent huge pages are off here (THP \"never\")";
  long huge_faults = -1, small_faults = -1;
  bool none_to_be_had = false;
  whileAUnitSleeps(*ctx, [&](pid_t spawner, pid_t init) {
    none_to_be_had = hugeCodeWindows(spawner) == 0 && !aHugePageToBeHad();
    if (none_to_be_had) return;
    EXPECT_GE(hugeCodeWindows(spawner), 1) << "the spawner's code is not on a huge page";
    EXPECT_EQ(hugeCodeWindows(init), hugeCodeWindows(spawner)) << "the init did not inherit the huge page";
    huge_faults = minorFaults(init);
  });
  if (none_to_be_had) GTEST_SKIP() << "no huge page to be had now (memory too fragmented)";
  setenv("MPEXEC_SPAWNER_SMALL_PAGES", "1", 1);
  whileAUnitSleeps(*ctx, [&](pid_t spawner, pid_t init) {
    EXPECT_EQ(hugeCodeWindows(spawner), 0) << "MPEXEC_SPAWNER_SMALL_PAGES=1 did not keep the file's pages";
    small_faults = minorFaults(init);
  });
  ASSERT_GT(huge_faults, 0);
  ASSERT_GT(small_faults, 0);
  // ~15 faults on code (each mapping 16 pages) go away; the copies of written pages stay.
  EXPECT_LT(huge_faults + 8, small_faults) << "huge: " << huge_faults << ", small: " << small_faults;
}

}  // namespace
}  // namespace mpexec::sandbox
