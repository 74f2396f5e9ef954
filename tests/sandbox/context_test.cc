#include "sandbox/context.h"

#include <gtest/gtest.h>

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
  EXPECT_EQ(ctx->seccompFor(off), nullptr);
  Policy nested;
  nested.nested = true;
  EXPECT_NE(ctx->seccompFor(nested), ctx->seccompFor(Policy{}));
  EXPECT_TRUE(ctx->usesUserNamespace(nested));
  EXPECT_EQ(ctx->usesUserNamespace(Policy{}), !ctx->privileged());
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
