#include "executor/reports/report_junit.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

namespace json = boost::json;

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

TEST(XmlEscapeTest, MarkupQuotesAndWhitespace) {
  EXPECT_EQ(xmlEscape(R"J(<a href="x">&'</a>)J"), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;");
  EXPECT_EQ(xmlEscape("a\tb\nc\rd"), "a&#9;b&#10;c&#13;d");
}

TEST(XmlEscapeTest, ForbiddenControlCharactersBecomeVisibleText) {
  EXPECT_EQ(xmlEscape(std::string("a\0b\x1b[31m", 8)), "a\\x00b\\x1B[31m");
  // C1 controls are XML characters, but a terminal showing the file may act on them (issue 17).
  EXPECT_EQ(xmlEscape("\xC2\x9B" "2J\xC2\x85"), "\\u009B2J\\u0085");
}

TEST(XmlEscapeTest, InvalidUtf8BecomesReplacementCharacters) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(xmlEscape("caf\xC3\xA9 \xE2\x9C\x93"), "caf\xC3\xA9 \xE2\x9C\x93");  // valid text is kept
  EXPECT_EQ(xmlEscape("\xFF"), fffd);
  EXPECT_EQ(xmlEscape("\xC3"), fffd);                    // truncated sequence
  EXPECT_EQ(xmlEscape("\xC0\xAF"), fffd + fffd);         // overlong '/'
  EXPECT_EQ(xmlEscape("\xED\xA0\x80"), fffd + fffd + fffd);  // a surrogate
  EXPECT_EQ(xmlEscape("\xEF\xBF\xBE"), fffd + fffd + fffd);  // U+FFFE is not an XML character
}

json::object report(const std::string& tests) {
  return json::parse(R"J({"version": 1, "run": {"wall_us": 2500000}, "tests": )J" + tests + "}").as_object();
}

TEST(JunitReportTest, ASuitePerGroupWithEveryOutcome) {
  auto r = report(R"J([
    {"name": "a", "group": null, "strategy": "free", "outcome": "PASS", "start_us": 0, "end_us": 1500000, "attempts": 1, "log": null},
    {"name": "db.1", "group": "db", "strategy": "serial", "outcome": "FAIL", "exit_code": 1, "reason": "", "start_us": 0, "end_us": 10, "attempts": 1, "log": null},
    {"name": "b", "group": null, "strategy": "free", "outcome": "SKIP", "exit_code": 77, "reason": "", "attempts": 1, "log": null},
    {"name": "db.2", "group": "db", "strategy": "serial", "outcome": "TIMEOUT", "reason": "timeout after 5s", "attempts": 1, "log": null},
    {"name": "c", "group": null, "strategy": "free", "outcome": "ERROR", "reason": "group setup failed", "attempts": 1, "log": null},
    {"name": "d", "group": null, "strategy": "free", "outcome": "NOT_RUN", "reason": "", "attempts": 0, "log": null},
    {"name": "e", "group": null, "strategy": "free", "outcome": "FLAKY", "reason": "", "attempts": 3, "log": null},
    {"name": "f", "group": null, "strategy": "free", "outcome": "CRASH", "signal": 11, "reason": "signal 11 (SEGV)", "attempts": 2, "log": null}
  ])J");
  std::string x = junitReport(r, [](std::size_t, const std::string&) { return std::nullopt; });
  EXPECT_EQ(x.rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", 0), 0u);
  EXPECT_NE(x.find(R"J(<testsuites name="mpexec" tests="8" failures="3" errors="2" skipped="1" time="2.500">)J"), std::string::npos) << x;
  EXPECT_NE(x.find(R"J(<testsuite name="(free)" tests="6" failures="1" errors="2" skipped="1")J"), std::string::npos) << x;
  EXPECT_NE(x.find(R"J(<testsuite name="db" tests="2" failures="2" errors="0" skipped="0")J"), std::string::npos) << x;
  EXPECT_LT(x.find("name=\"(free)\""), x.find("name=\"db\""));  // order of first appearance
  EXPECT_NE(x.find(R"J(<testcase name="a" classname="a" time="1.500">)J"), std::string::npos) << x;
  EXPECT_NE(x.find(R"J(<failure message="exit code 1" type="FAIL">)J"), std::string::npos);
  EXPECT_NE(x.find(R"J(<failure message="timeout after 5s" type="TIMEOUT">)J"), std::string::npos);
  EXPECT_NE(x.find(R"J(<skipped message="exit code 77"/>)J"), std::string::npos);
  EXPECT_NE(x.find(R"J(<error message="group setup failed" type="ERROR">)J"), std::string::npos);
  EXPECT_NE(x.find(R"J(type="NOT_RUN")J"), std::string::npos);
  EXPECT_EQ(count(x, "<flakyFailure"), 2u);  // attempts 1 and 2 failed, 3 passed
  EXPECT_EQ(count(x, "<rerunFailure"), 1u);  // the crash was retried once
  EXPECT_EQ(count(x, "<testcase "), 8u);
  EXPECT_EQ(count(x, "</testcase>"), 8u);
}

// A dashboard groups by classname: a gtest case by its suite (as gtest's own XML), another test by its
// group, an ungrouped one by its own name (as CTest's JUnit).
TEST(JunitReportTest, ClassnameIsTheGtestSuiteElseTheGroupElseTheName) {
  auto r = report(R"J([
    {"name": "yaml.BinaryTest.Base64", "gtest_suite": "BinaryTest", "group": null, "outcome": "PASS", "attempts": 1},
    {"name": "unit.Inst/Param.Case/0", "gtest_suite": "Inst/Param", "group": "unit", "outcome": "PASS", "attempts": 1},
    {"name": "db.migrate", "gtest_suite": null, "group": "db", "outcome": "PASS", "attempts": 1},
    {"name": "lint", "gtest_suite": null, "group": null, "outcome": "PASS", "attempts": 1},
    {"name": "old", "group": null, "outcome": "PASS", "attempts": 1}
  ])J");
  std::string x = junitReport(r, [](std::size_t, const std::string&) { return std::nullopt; });
  EXPECT_NE(x.find(R"J(<testcase name="yaml.BinaryTest.Base64" classname="BinaryTest")J"), std::string::npos) << x;
  EXPECT_NE(x.find(R"J(<testcase name="unit.Inst/Param.Case/0" classname="Inst/Param")J"), std::string::npos) << x;
  EXPECT_NE(x.find(R"J(<testcase name="db.migrate" classname="db")J"), std::string::npos) << x;
  EXPECT_NE(x.find(R"J(<testcase name="lint" classname="lint")J"), std::string::npos) << x;
  EXPECT_NE(x.find(R"J(<testcase name="old" classname="old")J"), std::string::npos) << x;  // a report from before
  EXPECT_NE(x.find(R"J(<testsuite name="unit")J"), std::string::npos) << x;  // suites stay one per group
}

TEST(JunitReportTest, LogsGoToSystemOutTruncatedWithANote) {
  test::TempDir dir;
  dir.write("logs/short.log", "hello <world>\n");
  std::string big(10000, 'x');
  big.replace(0, 5, "HEAD:");
  big.replace(big.size() - 5, 5, ":TAIL");
  dir.write("logs/big.log", big);
  auto r = report(R"J([
    {"name": "s", "group": null, "outcome": "PASS", "attempts": 1, "log": "logs/short.log"},
    {"name": "b", "group": null, "outcome": "FAIL", "attempts": 1, "log": "logs/big.log"},
    {"name": "gone", "group": null, "outcome": "PASS", "attempts": 1, "log": "logs/gone.log"}
  ])J");
  std::string x = junitReport(r, logsUnder({"/nonexistent", dir.path()}, 1000));
  EXPECT_NE(x.find("<system-out>hello &lt;world&gt;&#10;</system-out>"), std::string::npos) << x;
  size_t out = x.find("<system-out>HEAD:");
  ASSERT_NE(out, std::string::npos);
  size_t end = x.find("</system-out>", out);
  std::string body = x.substr(out, end - out);
  EXPECT_NE(body.find("[mpexec: 9000 bytes cut here; the whole log is " + dir.path() + "/logs/big.log]"), std::string::npos);
  EXPECT_NE(body.find(":TAIL"), std::string::npos);
  EXPECT_LT(body.size(), 1200u);
  EXPECT_EQ(count(x, "<system-out>"), 2u);  // no element for a log that is not there
}

// Attempts and times come from reports other jobs wrote: a huge count writes a bounded number of elements,
// and huge or negative times neither overflow nor print "-0.000".
TEST(JunitReportTest, HugeAttemptsAndTimesStayBounded) {
  auto r = report(R"J([
    {"name": "f", "group": null, "outcome": "FLAKY", "attempts": 9223372036854775807, "start_us": -9223372036854775807, "end_us": 9223372036854775807},
    {"name": "x", "group": null, "outcome": "FAIL", "attempts": 4000000000, "start_us": 0, "end_us": 9223372036854775807},
    {"name": "y", "group": null, "outcome": "FAIL", "attempts": -5, "start_us": 9223372036854775807, "end_us": 9223372036854775807}
  ])J");
  r["run"].as_object()["wall_us"] = -1;
  std::string x = junitReport(r, [](std::size_t, const std::string&) { return std::nullopt; });
  EXPECT_EQ(count(x, "<flakyFailure"), size_t(kJunitMaxReruns));
  EXPECT_EQ(count(x, "<rerunFailure"), size_t(kJunitMaxReruns));
  EXPECT_NE(x.find(R"J(<testcase name="x" classname="x" time="9223372036854.775">)J"), std::string::npos) << x.substr(0, 400);
  EXPECT_EQ(x.find("-0.000"), std::string::npos);
  EXPECT_NE(x.find(R"J(<testsuites name="mpexec" tests="3" failures="2" errors="0" skipped="0" time="0.000">)J"), std::string::npos);
}

// A FIFO where a log should be is not opened for reading (that would wait for a writer forever).
TEST(JunitReportTest, AFifoInPlaceOfALogIsLeftOut) {
  test::TempDir dir;
  ASSERT_EQ(mkfifo((dir.path() + "/fifo.log").c_str(), 0600), 0);
  auto r = report(R"J([{"name": "s", "group": null, "outcome": "PASS", "attempts": 1, "log": "fifo.log"}])J");
  std::string x = junitReport(r, logsUnder({dir.path()}));
  EXPECT_EQ(count(x, "<system-out>"), 0u);
}

}  // namespace
}  // namespace mpexec
