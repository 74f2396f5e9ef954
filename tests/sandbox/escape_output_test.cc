// A test whose output is the attack (issue 17, item 9, as a class): endless output, one line without an
// end, bytes that are not UTF-8. The run must end, mpexec's memory and what it prints and reports must stay
// bounded, and every report must stay well-formed; the test beside it keeps its result.

#include <sys/resource.h>

#include "tests/sandbox/escape_support.h"

namespace mpexec::test::escape {
namespace {

class Output : public EscapeTest {};

TEST_F(Output, EndlessOutputLeavesTheRunAndItsReportsBounded) {
  std::string junit = dir_.path() + "/junit.xml", html = dir_.path() + "/report.html";
  json::array tests{
      // As fast as the machine allows, until the timeout.
      shTest("endless", "yes \"$(printf 'endless output line, \\377\\376 not UTF-8')\" & head -c 200000000 /dev/zero; wait",
             {{"timeout", 1}}),
      shTest("oneline", "head -c 100000000 /dev/zero | tr '\\0' x; exit 1"),
      shTest("beside", "echo beside")};
  auto r = run(tests, {"-j", "3", "--output", "all", "--junit", junit, "--html", html});
  ASSERT_TRUE(contains(r.out, "beside")) << r.out.substr(0, 4000);
  auto rep = report();
  EXPECT_EQ(outcome(rep, "endless"), "TIMEOUT") << r.out.substr(0, 2000);
  EXPECT_EQ(outcome(rep, "oneline"), "FAIL");
  EXPECT_EQ(outcome(rep, "beside"), "PASS");
  EXPECT_LT(r.out.size(), 1u << 20) << "mpexec printed " << r.out.size() << " bytes";
  EXPECT_LT(readFile(junit).size(), 4u << 20);
  EXPECT_LT(readFile(html).size(), 4u << 20);
  EXPECT_LT(readFile(reportPath()).size(), 1u << 20);
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  EXPECT_LT(ru.ru_maxrss, 256 * 1024) << "an mpexec run of this binary peaked at " << ru.ru_maxrss << " KiB";
}

}  // namespace
}  // namespace mpexec::test::escape
