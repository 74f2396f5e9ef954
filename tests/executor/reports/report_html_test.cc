// The HTML report: one bar per test, everything from the run escaped, logs bounded, a page that needs no
// network, and a reasonable size at 10,000 tests.

#include "executor/reports/report_html.h"

#include <chrono>
#include <iostream>
#include <map>
#include <regex>
#include <set>

#include <gtest/gtest.h>

#include "executor/history.h"
#include "tests/support/manifest_builder.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

using test::addTest;

/// A finished run built by hand; every test ran unless `never_started` names it.
struct BuiltRun {
  Manifest m;
  Plan plan;
  ScheduleResult result;
  RunInfo info;
  HtmlOptions opts;

  /// Lays the tests out on `np` slots, one after another, `step_us` each.
  void finish(int np, int64_t step_us = 1000, const std::set<std::string>& never_started = {}) {
    plan = makePlan(m, History{}, {});
    result.records.resize(m.tests.size());
    result.unit_problems.resize(plan.units.size());
    std::vector<int64_t> slot_time(size_t(np), 0);
    size_t k = 0;
    for (const Unit& u : plan.units) {
      int slot = int(k++ % size_t(np));
      for (size_t t : u.tests) {
        TestRecord& r = result.records[t];
        r.unit = u.id;
        if (never_started.count(m.tests[t].name)) {
          r.reason = "not started: --max-fail reached";
          continue;
        }
        r.slot = slot;
        r.start_us = slot_time[size_t(slot)];
        r.end_us = r.start_us + step_us + int64_t(t % 7) * 100;
        slot_time[size_t(slot)] = r.end_us;
        r.outcome = Outcome::Pass;
        r.exit_code = 0;
        r.attempts = 1;
      }
    }
    info.run_id = "20250101-000000-1";
    info.np = np;
    info.sandbox = "namespaces";
    info.limits = {"memory", "pids"};
    for (int64_t end : slot_time) info.wall_us = std::max(info.wall_us, end + 50);
  }
  void fail(const std::string& name, Outcome o, const std::string& log = "") {
    for (size_t t = 0; t < m.tests.size(); ++t) {
      if (m.tests[t].name != name) continue;
      result.records[t].outcome = o;
      result.records[t].exit_code = 3;
      result.records[t].reason = "exit 3";
      result.records[t].log = log;
      info.exit_code = 1;
    }
  }
  std::string html() const { return htmlReport(m, plan, result, info, opts); }
};

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

std::vector<std::string> dataTests(const std::string& html) {
  std::vector<std::string> names;
  static const std::regex bar(R"re(<rect class="bar [^"]*"[^>]* data-test="([^"]*)")re");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), bar); it != std::sregex_iterator(); ++it)
    names.push_back((*it)[1]);
  return names;
}

TEST(ReportHtmlTest, OneBarPerTestThatStarted) {
  BuiltRun run;
  for (int i = 0; i < 30; ++i) addTest(run.m, "t" + std::to_string(i));
  for (int i = 0; i < 4; ++i) addTest(run.m, "s" + std::to_string(i), "serial", Strategy::Serial);
  for (int i = 0; i < 3; ++i) addTest(run.m, "iso" + std::to_string(i), "db", Strategy::IsolatedFree);
  run.finish(4, 1000, {"t29", "t28"});
  run.fail("t3", Outcome::Fail);
  run.fail("t28", Outcome::NotRun);
  run.fail("t29", Outcome::NotRun);
  std::string html = run.html();

  auto names = dataTests(html);
  EXPECT_EQ(names.size(), 35u);
  EXPECT_EQ(count(html, "class=\"bar "), 35u);
  std::set<std::string> unique(names.begin(), names.end());
  EXPECT_EQ(unique.size(), names.size());
  EXPECT_TRUE(unique.count("iso2") && unique.count("s3") && unique.count("t0"));
  EXPECT_FALSE(unique.count("t29"));
  EXPECT_NE(html.find("2 of 37 tests never started"), std::string::npos);
  // The failed bar is coloured as a failure and links to its entry.
  EXPECT_NE(html.find("<a href=\"#f3\"><rect class=\"bar o-FAIL\""), std::string::npos);
  EXPECT_NE(html.find("id=\"f3\""), std::string::npos);
  EXPECT_NE(html.find("data-outcome=\"PASS\" data-count=\"34\""), std::string::npos);
  EXPECT_NE(html.find("data-outcome=\"FAIL\" data-count=\"1\""), std::string::npos);
  EXPECT_NE(html.find("data-outcome=\"NOT_RUN\" data-count=\"2\""), std::string::npos);
  // The isolated window is shaded.
  EXPECT_EQ(count(html, "<rect class=\"win\""), 1u);
  EXPECT_NE(html.find("data-group=\"db\""), std::string::npos);
}

TEST(ReportHtmlTest, RetriesAndBrokenUnitsKeepOneBarPerTest) {
  BuiltRun run;
  addTest(run.m, "flaky");
  addTest(run.m, "broken", "bad", Strategy::Serial);
  addTest(run.m, "ok");
  run.finish(2, 1000, {"broken"});
  // "broken" got a slot, but its group setup failed: no times, one bar at its unit's end.
  run.result.records[1].slot = 1;
  run.fail("broken", Outcome::Error);
  run.result.unit_runs = {{0, 0, 1, 0, 1100}, {1, 1, 1, 0, 300}, {2, 0, 1, 1100, 2500}};
  TestRecord first = run.result.records[0];
  first.outcome = Outcome::Fail;
  run.result.records[0].earlier.push_back(first);
  run.result.records[0].attempts = 2;
  run.result.records[0].outcome = Outcome::Flaky;
  std::string html = run.html();
  auto names = dataTests(html);
  EXPECT_EQ(std::multiset<std::string>(names.begin(), names.end()),
            (std::multiset<std::string>{"flaky", "broken", "ok"}));
  EXPECT_EQ(count(html, "<rect class=\"try o-FAIL\""), 1u);  // the failed first attempt, not a bar
  EXPECT_NE(html.find("attempt 1: FAIL"), std::string::npos);
  EXPECT_NE(html.find("never started · slot 1"), std::string::npos);
  EXPECT_EQ(html.find("not-on-timeline"), std::string::npos);
  EXPECT_GE(count(html, "<rect class=\"fix\""), 1u);  // the broken unit's set-up is wide enough to show
}

TEST(ReportHtmlTest, HeaderFacts) {
  BuiltRun run;
  for (int i = 0; i < 8; ++i) addTest(run.m, "t" + std::to_string(i));
  run.finish(2);
  run.info.seed = 42;
  std::string html = run.html();
  EXPECT_NE(html.find("<span id=\"np\">2</span>"), std::string::npos);
  EXPECT_NE(html.find("--shuffle --seed 42"), std::string::npos);
  EXPECT_NE(html.find("<span id=\"sandbox\">namespaces</span>"), std::string::npos);
  EXPECT_NE(html.find("limits: memory, pids"), std::string::npos);
  EXPECT_NE(html.find("id=\"wall\""), std::string::npos);
  EXPECT_NE(html.find("id=\"test-time\""), std::string::npos);
  EXPECT_NE(html.find("id=\"slowest\""), std::string::npos);
}

TEST(ReportHtmlTest, EscapesNamesReasonsAndLogs) {
  test::TempDir dir;
  BuiltRun run;
  const std::string evil = "a<b>&\"c'd</title><script>alert(1)</script>";
  addTest(run.m, evil);
  addTest(run.m, "plain");
  run.finish(1);
  dir.write("evil.log", "<img src=x onerror=alert(2)> & \"quoted\" 'single'\x01\xff\n");
  run.fail(evil, Outcome::Crash, "evil.log");
  run.result.records[0].reason = "<reason>";
  run.opts.log_root = dir.path();
  std::string html = run.html();

  EXPECT_EQ(html.find("<script>alert"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("<reason>"), std::string::npos);
  EXPECT_EQ(html.find("</title><script>"), std::string::npos);
  EXPECT_NE(html.find("data-test=\"a&lt;b&gt;&amp;&quot;c&#39;d&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;\""),
            std::string::npos);
  EXPECT_NE(html.find("&lt;img src=x onerror=alert(2)&gt; &amp; &quot;quoted&quot; &#39;single&#39;"), std::string::npos);
  EXPECT_NE(html.find("&lt;reason&gt;"), std::string::npos);
  // The page's own markup is intact: two scripts, each closed.
  EXPECT_EQ(count(html, "<script>"), 2u);
  EXPECT_EQ(count(html, "</script>"), 2u);
}

TEST(ReportHtmlTest, EscapeFunction) {
  EXPECT_EQ(htmlEscape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
  EXPECT_EQ(htmlEscape("line\n\ttab"), "line\n\ttab");
  EXPECT_EQ(htmlEscape("caf\xC3\xA9 \xE2\x9C\x93"), "caf\xC3\xA9 \xE2\x9C\x93");  // valid UTF-8 stays
  EXPECT_EQ(htmlEscape("a\xff" "b"), "a\xEF\xBF\xBD" "b");                          // invalid byte
  EXPECT_EQ(htmlEscape("\x1b[31mred"), "\xEF\xBF\xBD[31mred");                      // control character
  EXPECT_EQ(htmlEscape("\xC2\x9B" "2J"), "\xEF\xBF\xBD" "2J");                          // C1 control
  EXPECT_EQ(htmlEscape("\xC3"), "\xEF\xBF\xBD");                                    // truncated sequence
  EXPECT_EQ(htmlEscape("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");    // a surrogate
}

TEST(ReportHtmlTest, Utf8TailStartsOnACharacter) {
  std::string s = "ab\xE2\x9C\x93" "cd";  // a, b, ✓ (3 bytes), c, d
  EXPECT_EQ(utf8Tail(s, 100), s);
  EXPECT_EQ(utf8Tail(s, 4), "cd");  // would start inside ✓
  EXPECT_EQ(utf8Tail(s, 5), "\xE2\x9C\x93" "cd");
}

TEST(ReportHtmlTest, LogsAreBoundedAndSayWhereTheyWereCut) {
  test::TempDir dir;
  BuiltRun run;
  addTest(run.m, "big");
  addTest(run.m, "small");
  addTest(run.m, "missing");
  run.finish(1);
  std::string big = "FIRST-LINE-MARKER\n";
  while (big.size() < 100 * 1024) big += "0123456789 filler line of the big log\n";
  big += "LAST-LINE-MARKER\n";
  dir.write("big.log", big);
  dir.write("small.log", "small failure output\n");
  run.fail("big", Outcome::Fail, "big.log");
  run.fail("small", Outcome::Timeout, "small.log");
  run.fail("missing", Outcome::Fail, "gone.log");
  run.opts.log_root = dir.path();
  std::string html = run.html();

  EXPECT_NE(html.find("LAST-LINE-MARKER"), std::string::npos);
  EXPECT_EQ(html.find("FIRST-LINE-MARKER"), std::string::npos);
  EXPECT_NE(html.find(std::to_string(big.size() - 16 * 1024) + " of " + std::to_string(big.size()) + " bytes are cut"),
            std::string::npos);
  EXPECT_NE(html.find("small failure output"), std::string::npos);
  EXPECT_NE(html.find("No log at <code>gone.log</code>"), std::string::npos);
  // The big log's <pre> holds no more than the tail.
  size_t pre = html.find("<pre>", html.find("id=\"f0\""));
  ASSERT_NE(pre, std::string::npos);
  EXPECT_LE(html.find("</pre>", pre) - pre, 16 * 1024 + 16);
}

TEST(ReportHtmlTest, LogBudgetCapsThePage) {
  test::TempDir dir;
  BuiltRun run;
  for (int i = 0; i < 40; ++i) addTest(run.m, "f" + std::to_string(i));
  run.finish(2);
  std::string log(64 * 1024, 'x');
  for (int i = 0; i < 40; ++i) {
    dir.write("f" + std::to_string(i) + ".log", log);
    run.fail("f" + std::to_string(i), Outcome::Fail, "f" + std::to_string(i) + ".log");
  }
  run.opts.log_root = dir.path();
  run.opts.log_budget_bytes = 100 * 1024;
  std::string html = run.html();
  EXPECT_LT(html.size(), 200u * 1024);
  EXPECT_GE(count(html, "log budget is spent"), 1u);
}

TEST(ReportHtmlTest, NeedsNoNetwork) {
  BuiltRun run;
  for (int i = 0; i < 5; ++i) addTest(run.m, "t" + std::to_string(i));
  run.finish(2);
  std::string html = run.html();
  // The only URL is the SVG namespace, which is a name, not a fetch.
  std::string without_ns = std::regex_replace(html, std::regex("xmlns=\"http://www.w3.org/2000/svg\""), "");
  for (const char* fetch : {"http://", "https://", "src=", "@import", "<link", "url(http", "//cdn"})
    EXPECT_EQ(without_ns.find(fetch), std::string::npos) << fetch;
}

TEST(ReportHtmlTest, TenThousandTestsStayReasonable) {
  test::TempDir dir;
  BuiltRun run;
  for (int i = 0; i < 10'000; ++i) {
    std::string name = "suite" + std::to_string(i % 40) + ".SomeFairlyLongTestCaseName_" + std::to_string(i);
    if (i % 10 == 0) addTest(run.m, name, "group" + std::to_string(i % 7), Strategy::Serial);
    else addTest(run.m, name);
  }
  run.finish(8, 20'000);
  // A tenth fail, each with a 20 KiB log: the page inlines only its budget's worth.
  std::string log(20 * 1024, 'e');
  for (size_t t = 0; t < run.m.tests.size(); t += 10) {
    std::string name = "f" + std::to_string(t) + ".log";
    if (t < 2000) dir.write(name, log);
    run.fail(run.m.tests[t].name, Outcome::Fail, name);
  }
  run.opts.log_root = dir.path();
  auto t0 = std::chrono::steady_clock::now();
  std::string html = run.html();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "[ info ] 10,000 tests: " << html.size() / 1024 << " KiB in " << seconds << " s\n";
  EXPECT_EQ(count(html, "class=\"bar "), 10'000u);
  EXPECT_LT(html.size(), 5u * 1024 * 1024);
  EXPECT_LT(seconds, 60) << "a hang guard, not a performance bound";
}

}  // namespace
}  // namespace mpexec
