#include "sandbox/cgroup.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "tests/sandbox/contained.h"

namespace mpexec::sandbox {
namespace {
using namespace testing;

std::string firstLine(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

bool exists(const std::string& p) { return access(p.c_str(), F_OK) == 0; }

#define MPEXEC_NEED_CGROUPS(ctx)                                         \
  MPEXEC_NEED_NAMESPACES(ctx);                                           \
  if (!ctx->cgroups()) GTEST_SKIP() << "no writable cgroup below ours here"

TEST(CgroupTest, LimitsAreWrittenAndDirectoriesRemoved) {
  MPEXEC_NEED_CGROUPS(ctx);
  const CgroupRoot& root = *ctx->cgroups();
  Policy policy;
  policy.memory_bytes = 64 << 20;
  policy.pids = 32;
  auto unit = root.createUnit("limits/unit", policy);
  ASSERT_TRUE(unit.ok()) << unit.error().message();
  std::vector<std::string> dirs = (*unit)->dirs();
  ASSERT_FALSE(dirs.empty());
  bool saw_memory = false, saw_pids = false;
  for (const auto& d : dirs) {
    EXPECT_TRUE(exists(d)) << d;
    EXPECT_NE(d.find("mpexec-" + std::to_string(getpid())), std::string::npos) << d;
    if (exists(d + "/memory.limit_in_bytes")) {
      saw_memory = true;
      EXPECT_EQ(firstLine(d + "/memory.limit_in_bytes"), std::to_string(64 << 20));
    }
    if (exists(d + "/memory.max")) {
      saw_memory = true;
      EXPECT_EQ(firstLine(d + "/memory.max"), std::to_string(64 << 20));
    }
    if (exists(d + "/pids.max")) {
      saw_pids = true;
      EXPECT_EQ(firstLine(d + "/pids.max"), "32");
    }
  }
  EXPECT_EQ(saw_memory, root.limitsMemory());
  EXPECT_EQ(saw_pids, root.limitsPids());
  unit->reset();
  for (const auto& d : dirs) EXPECT_FALSE(exists(d)) << d << " left behind";
}

TEST(CgroupTest, InitIsBornInsideAndPidsAreLimited) {
  MPEXEC_NEED_CGROUPS(ctx);
  if (!ctx->cgroupLimitsPids()) GTEST_SKIP() << "no pids controller";
  UnitSpec spec = unitSpec("pids");
  spec.policy.pids = 8;
  auto c = contain(*ctx, spec, [](int fd) {
    // Children that wait for their parent to die; the 8th process is refused.
    int made = 0;
    for (int i = 0; i < 20; ++i) {
      pid_t p = fork();
      if (p == 0) {
        pause();
        _exit(0);
      }
      if (p < 0) break;
      ++made;
    }
    say(fd, std::to_string(made));
    return made < 20 ? 0 : 1;
  });
  ASSERT_TRUE(c->child.ok()) << c->child.error().message();
  std::ifstream in("/proc/" + std::to_string(c->child->pid) + "/cgroup");
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_NE(ss.str().find("pids-"), std::string::npos) << ss.str();
  int status = c->wait();
  std::string said = c->said();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << said;
  EXPECT_LE(std::atoi(said.c_str()), 7) << said;
}

TEST(CgroupTest, MemoryLimitOomKillsAndIsCounted) {
  MPEXEC_NEED_CGROUPS(ctx);
  if (!ctx->cgroupLimitsMemory()) GTEST_SKIP() << "no memory controller";
  UnitSpec spec = unitSpec("oom");
  spec.policy.memory_bytes = 32 << 20;
  auto c = contain(*ctx, spec, [](int fd) {
    pid_t p = fork();
    if (p == 0) {
      size_t size = 256 << 20;
      char* m = static_cast<char*>(mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
      if (m == MAP_FAILED) _exit(3);
      std::memset(m, 1, size);
      _exit(0);
    }
    int st = 0;
    waitpid(p, &st, 0);
    return check(fd, WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status " + std::to_string(st)) ? 0 : 1;
  });
  ASSERT_TRUE(c->child.ok()) << c->child.error().message();
  int status = c->wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << c->said();
  EXPECT_GE(c->child->cgroup->oomKills(), 1u);
}

// On v1 with the unified kill directory, no memory or pids directory for a limit the unit does not ask for
// (a v1 memory cgroup is costly to make); on v2 the one directory holds both controllers anyway.
TEST(CgroupTest, WithoutLimitsOnlyWhatKillsIsMade) {
  MPEXEC_NEED_CGROUPS(ctx);
  const CgroupRoot& root = *ctx->cgroups();
  Policy only_pids;
  only_pids.pids = 16;
  for (const Policy& policy : {Policy{}, only_pids}) {
    auto unit = root.createUnit("nolimits", policy);
    ASSERT_TRUE(unit.ok()) << unit.error().message();
    bool memory = false, pids = false;
    for (const auto& d : (*unit)->dirs()) {
      memory |= exists(d + "/memory.limit_in_bytes") || exists(d + "/memory.max");
      pids |= exists(d + "/pids.max");
    }
    if (root.version() == CgroupVersion::V1 && root.canKill()) {
      EXPECT_FALSE(memory) << "a v1 memory cgroup without a memory limit";
      EXPECT_EQ(pids, policy.pids > 0 && root.limitsPids());
      EXPECT_FALSE((*unit)->dirs().empty()) << "nothing to kill the unit with";
    } else {
      EXPECT_EQ(memory, root.limitsMemory());
      EXPECT_EQ(pids, root.limitsPids());
    }
  }
}

TEST(CgroupTest, KillAllEndsTheWholeUnit) {
  MPEXEC_NEED_CGROUPS(ctx);
  auto c = contain(*ctx, unitSpec("killall"), [](int fd) {
    if (fork() == 0) {
      setsid();
      pause();
      _exit(0);
    }
    say(fd, "ready");
    pause();
    return 0;
  });
  ASSERT_TRUE(c->child.ok()) << c->child.error().message();
  ASSERT_EQ(c->next(), "ready");
  c->child->cgroup->killAll();
  if (!ctx->cgroups()->canKill()) kill(c->child->pid, SIGKILL);  // the sweep may race the init's fork
  int status = c->wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
}

// Dropping a unit's cgroup removes it, and what still runs in it is killed first (the destructor tries rmdir,
// which refuses a populated cgroup, before it kills).
TEST(CgroupTest, DroppingAUnitKillsWhatIsLeftAndRemovesIt) {
  MPEXEC_NEED_CGROUPS(ctx);
  Policy policy;
  policy.pids = 32;
  auto unit = ctx->cgroups()->createUnit("left/behind", policy);
  ASSERT_TRUE(unit.ok()) << unit.error().message();
  const std::vector<std::string> dirs = (*unit)->dirs();
  int joined[2];
  ASSERT_EQ(pipe(joined), 0);
  pid_t left = fork();
  if (left == 0) {
    char ok = UnitCgroupDirs::joinDirs(dirs, false).ok() ? 'y' : 'n';
    (void)!write(joined[1], &ok, 1);
    for (;;) pause();
  }
  close(joined[1]);
  char ok = 0;
  ASSERT_EQ(read(joined[0], &ok, 1), 1);
  close(joined[0]);
  if (ok != 'y') {
    kill(left, SIGKILL);
    waitpid(left, nullptr, 0);
    FAIL() << "the child could not join " << dirs.front();
  }
  unit->reset();
  int status = 0;
  ASSERT_EQ(waitpid(left, &status, 0), left);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  for (const auto& d : dirs) EXPECT_FALSE(exists(d)) << d << " left behind";
}

}  // namespace
}  // namespace mpexec::sandbox

namespace mpexec::sandbox {
namespace {

// What a SIGKILLed mpexec leaves behind is removed by the next one; a live mpexec's directory is not.
TEST(CgroupTest, StaleRunDirectoriesOfDeadRunsAreRemoved) {
  MPEXEC_NEED_CGROUPS(ctx);
  auto unit = ctx->cgroups()->createUnit("probe", Policy{});
  ASSERT_TRUE(unit.ok()) << unit.error().message();
  std::string first = (*unit)->dirs().front();
  std::string parent = first.substr(0, first.rfind('/'));
  parent = parent.substr(0, parent.rfind('/'));

  pid_t dead = fork();
  if (dead == 0) _exit(0);
  waitpid(dead, nullptr, 0);
  pid_t alive = fork();
  if (alive == 0) {
    pause();
    _exit(0);
  }
  std::string stale = parent + "/mpexec-" + std::to_string(dead);
  std::string live = parent + "/mpexec-" + std::to_string(alive);
  ASSERT_EQ(mkdir(stale.c_str(), 0755), 0) << strerror(errno);
  ASSERT_EQ(mkdir((stale + "/u1-1").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(live.c_str(), 0755), 0);

  std::string why;
  auto again = CgroupRoot::detect(&why);
  EXPECT_FALSE(exists(stale)) << stale;
  EXPECT_TRUE(exists(live)) << live;
  rmdir(live.c_str());
  kill(alive, SIGKILL);
  waitpid(alive, nullptr, 0);
}

}  // namespace
}  // namespace mpexec::sandbox
