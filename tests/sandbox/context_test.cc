#include "sandbox/context.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "sandbox/cgroup.h"
#include "tests/sandbox/contained.h"

namespace mpexec::sandbox {
namespace {
using namespace testing;

TEST(ContextTest, NoSandboxHasNoLimitsAndSaysSo) {
  auto ctx = Context::create(Isolation::None);
  ASSERT_TRUE(ctx.ok());
  EXPECT_EQ((*ctx)->isolation(), Isolation::None);
  EXPECT_TRUE((*ctx)->limits().empty());
  EXPECT_NE((*ctx)->describe().find("--no-sandbox"), std::string::npos);
}

TEST(ContextTest, NamespacesDescribeBackendAndLimits) {
  MPEXEC_NEED_NAMESPACES(ctx);
  EXPECT_EQ(ctx->isolation(), Isolation::Namespaces);
  std::string d = ctx->describe();
  EXPECT_NE(d.find("namespaces"), std::string::npos) << d;
  EXPECT_NE(d.find("seccomp"), std::string::npos) << d;
  auto limits = ctx->limits();
  ASSERT_FALSE(limits.empty());
  if (ctx->cgroupLimitsMemory()) EXPECT_EQ(limits.front(), "memory");
  else EXPECT_EQ(limits.back(), "rlimit");
  Policy off;
  off.seccomp = false;
  ASSERT_NE(ctx->seccompFor(off), nullptr) << "seccomp off keeps the guard";
  EXPECT_NE(ctx->seccompFor(off), ctx->seccompFor(Policy{}));
  Policy nested;
  nested.nested = true;
  EXPECT_NE(ctx->seccompFor(nested), ctx->seccompFor(Policy{}));
  // A unit of root with an id of its own nests in its commands' user namespaces; the init needs none.
  EXPECT_EQ(ctx->usesUserNamespace(nested), !ctx->privileged() || ctx->unitIds() == 0);
  EXPECT_EQ(ctx->usesUserNamespace(Policy{}), !ctx->privileged());
}

TEST(ContextTest, BegunEarlyItFinishesAsCreateDoesAndADroppedOneReapsItsProbe) {
  MPEXEC_NEED_NAMESPACES(ctx);
  auto children = [] {
    std::ifstream in("/proc/thread-self/children");
    std::set<pid_t> out;
    for (pid_t pid; in >> pid;) out.insert(pid);
    return out;
  };
  std::set<pid_t> before = children();
  // In a child: a second Context in this process would share (and remove) the cgroup directory of ctx.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto pending = Context::begin(Isolation::Namespaces);
    std::ifstream in("/proc/thread-self/children");
    pid_t probe = 0;
    if (!(in >> probe)) _exit(10);  // no probe runs
    auto finished = Context::finish(std::move(pending));
    if (!finished.ok()) _exit(11);
    int code = 0;
    if ((*finished)->privileged() != ctx->privileged() || (*finished)->describe() != ctx->describe()) code = 12;
    // finish() does not wait for the probe's exit (its namespaces' teardown); the Context reaps it when it goes.
    finished->reset();  // removes its cgroup directory
    if (code == 0 && kill(probe, 0) == 0) code = 13;  // the probe is left, running or unreaped
    _exit(code);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  {
    auto dropped = Context::begin(Isolation::Namespaces);  // as when the manifest turns out bad
  }
  EXPECT_EQ(children(), before) << "a dropped Pending left its probe";
}

TEST(ContextTest, SpawnErrorNamesTheStep) {
  MPEXEC_NEED_NAMESPACES(ctx);
  UnitSpec spec = unitSpec("missing-writable");
  spec.policy.writable = {"/nonexistent/mpexec-test-path"};
  auto c = contain(*ctx, spec, [](int) { return 0; });
  ASSERT_FALSE(c->child.ok());
  EXPECT_EQ(c->child.error().call, "mount /nonexistent/mpexec-test-path") << c->child.error().message();
  EXPECT_EQ(c->child.error().err, ENOENT);
}

}  // namespace
}  // namespace mpexec::sandbox
