#include "sandbox/uts.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "tests/sandbox/contained.h"

namespace mpexec::sandbox {
namespace {
using namespace testing;

TEST(UtsTest, HostnameIsSanitizedAndBounded) {
  EXPECT_EQ(unitHostname("db.migrate"), "mpexec-db-migrate");
  EXPECT_EQ(unitHostname(std::string(200, 'a')).size(), 64u);
}

TEST(UtsTest, UnitHasItsOwnHostname) {
  MPEXEC_NEED_NAMESPACES(ctx);
  char before[256] = {}, after[256] = {};
  ASSERT_EQ(gethostname(before, sizeof before), 0);
  std::string want = unitHostname("uts/unit");
  std::string said = expectContainedPasses(*ctx, unitSpec("uts/unit"), [&](int fd) {
    char name[256] = {};
    gethostname(name, sizeof name);
    return check(fd, want == name, std::string("hostname ") + name) ? 0 : 1;
  });
  ASSERT_EQ(gethostname(after, sizeof after), 0);
  EXPECT_STREQ(before, after);
}

}  // namespace
}  // namespace mpexec::sandbox
