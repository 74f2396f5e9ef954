#include "sandbox/pid.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "sandbox/cgroup.h"
#include "tests/sandbox/contained.h"

namespace mpexec::sandbox {
namespace {
using namespace testing;

TEST(PidTest, InitIsPidOneAndMpexecsChild) {
  MPEXEC_NEED_NAMESPACES(ctx);
  auto c = contain(*ctx, unitSpec("pid1"), [](int fd) {
    return check(fd, getpid() == 1 && getppid() == 0, "pid " + std::to_string(getpid())) ? 0 : 1;
  });
  ASSERT_TRUE(c->child.ok()) << c->child.error().message();
  EXPECT_TRUE(c->child->pidfd.valid());
  int status = c->wait();  // waitpid works: the init is our child, not the helper process's
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << c->said();
}

TEST(PidTest, UnitDiesWithItsSpawner) {
  MPEXEC_NEED_NAMESPACES(ctx);
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  pid_t spawner = fork();
  if (spawner == 0) {
    // The spawner starts a unit that would live forever, reports its pid and cgroup, and dies abruptly.
    auto c = contain(*ctx, unitSpec("orphan"), [](int) {
      for (;;) pause();
      return 0;
    });
    if (!c->child) _exit(1);
    pid_t pid = c->child->pid;
    (void)!write(report[1], &pid, sizeof pid);
    if (c->child->cgroup) {
      for (const auto& d : static_cast<UnitCgroupDirs*>(c->child->cgroup.get())->dirs())
        (void)!write(report[1], (d + "\n").c_str(), d.size() + 1);
      c->child->cgroup.release();  // left for the test to remove, after it has seen the unit die
    }
    _exit(0);
  }
  close(report[1]);
  pid_t unit = -1;
  ASSERT_EQ(read(report[0], &unit, sizeof unit), static_cast<ssize_t>(sizeof unit));
  std::string dirs;
  char buf[1024];
  for (ssize_t n; (n = read(report[0], buf, sizeof buf)) > 0;) dirs.append(buf, n);
  close(report[0]);
  int status;
  waitpid(spawner, &status, 0);
  bool gone = false;
  for (int i = 0; i < 500 && !gone; ++i) {  // generous: only catches a unit that outlives its spawner
    // Dead is enough: whoever inherited the zombie reaps it in its own time.
    std::ifstream stat("/proc/" + std::to_string(unit) + "/stat");
    std::string pid, comm, state;
    gone = !(stat >> pid >> comm >> state) || state == "Z";
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(gone) << "unit " << unit << " outlived its spawner";
  std::istringstream in(dirs);
  for (std::string d; std::getline(in, d);)
    for (int i = 0; i < 100 && rmdir(d.c_str()) != 0 && errno == EBUSY; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

}  // namespace
}  // namespace mpexec::sandbox
