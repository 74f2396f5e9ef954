// JUnit files as runners write them, matched to a batch process's ids.

#include "executor/junit_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "sandbox/unique_fd.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

// What gtest 1.12 writes (trimmed).
constexpr const char* kGtest = R"(<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="4" failures="1" disabled="0" errors="0" time="0.01" name="AllTests">
  <testsuite name="Math" tests="3" failures="1" disabled="0" skipped="1" errors="0" time="0.002">
    <testcase name="Adds" status="run" result="completed" time="0.001" classname="Math" />
    <testcase name="Fails" status="run" result="completed" time="0.25" classname="Math">
      <failure message="t.cc:9&#x0A;Expected equality of these values:&#x0A;  1&#x0A;  2" type=""><![CDATA[t.cc:9
Expected equality of these values:
  1
  2]]></failure>
    </testcase>
    <testcase name="Skips" status="run" result="skipped" time="0" classname="Math">
      <skipped message="t.cc:12&#x0A;not on this host"><![CDATA[t.cc:12
not on this host]]></skipped>
    </testcase>
  </testsuite>
  <testsuite name="Inst/Param" tests="1">
    <testcase name="Case/0" value_param="1" status="run" result="completed" time="0" classname="Inst/Param" />
  </testsuite>
</testsuites>
)";

TEST(JunitReaderTest, ReadsWhatGtestWrites) {
  JunitFile f = parseJunit(kGtest);
  EXPECT_EQ(f.problem, "");
  ASSERT_EQ(f.cases.size(), 4u);
  EXPECT_EQ(f.cases[0].classname, "Math");
  EXPECT_EQ(f.cases[0].name, "Adds");
  EXPECT_EQ(f.cases[0].result, JunitCase::Result::Pass);
  EXPECT_EQ(f.cases[0].time_s, 0.001);
  EXPECT_EQ(f.cases[1].result, JunitCase::Result::Fail);
  EXPECT_EQ(f.cases[1].message, "t.cc:9\nExpected equality of these values:\n  1\n  2");
  EXPECT_EQ(f.cases[1].output, "t.cc:9\nExpected equality of these values:\n  1\n  2");
  EXPECT_EQ(f.cases[2].result, JunitCase::Result::Skip);
  EXPECT_EQ(f.cases[2].message, "t.cc:12\nnot on this host");

  auto m = matchJunit(f, {"Math.Adds", "Math.Fails", "Math.Skips", "Inst/Param.Case/0", "Math.Missing"});
  EXPECT_EQ(m.size(), 4u);
  EXPECT_EQ(m.at("Math.Fails"), &f.cases[1]);
  EXPECT_EQ(m.at("Inst/Param.Case/0"), &f.cases[3]);
  EXPECT_FALSE(m.count("Math.Missing"));
}

TEST(JunitReaderTest, MatchesClassDotNameThenDoubleColonThenName) {
  JunitFile f = parseJunit(R"(<testsuite>
    <testcase classname="tests/test_a.py::TestX" name="test_y[1]"><system-out>out</system-out><system-err>err</system-err></testcase>
    <testcase classname="pkg.mod.Class" name="test_m"><error message="boom">Traceback</error></testcase>
    <testcase classname="bin.global" name="a test, with spaces"/>
    <testcase classname="A" name="b"/>
  </testsuite>)");
  ASSERT_EQ(f.problem, "");
  auto m = matchJunit(f, {"tests/test_a.py::TestX::test_y[1]", "pkg.mod.Class.test_m", "a test, with spaces", "A.b", "b"});
  ASSERT_EQ(m.size(), 4u) << "A.b takes the testcase, not b";
  EXPECT_EQ(m.at("tests/test_a.py::TestX::test_y[1]")->output, "out\nerr");
  EXPECT_EQ(m.at("pkg.mod.Class.test_m")->result, JunitCase::Result::Error);
  EXPECT_EQ(m.at("pkg.mod.Class.test_m")->message, "boom");
  EXPECT_EQ(m.at("pkg.mod.Class.test_m")->output, "Traceback");
  EXPECT_TRUE(m.count("a test, with spaces"));
  EXPECT_TRUE(m.count("A.b"));
  EXPECT_FALSE(m.count("b"));
}

TEST(JunitReaderTest, TheWorstOfSeveralCasesForOneIdCounts) {
  JunitFile f = parseJunit(R"(<testsuite>
    <testcase name="t"><skipped/></testcase>
    <testcase name="t"/>
    <testcase name="t"><failure message="first"/></testcase>
    <testcase name="t"><failure message="second"/></testcase>
    <testcase name="u"><skipped/></testcase>
    <testcase name="u"/>
  </testsuite>)");
  auto m = matchJunit(f, {"t", "u"});
  EXPECT_EQ(m.at("t")->message, "first");
  EXPECT_EQ(m.at("u")->result, JunitCase::Result::Pass);
}

TEST(JunitReaderTest, MessageFromTheTextWhenThereIsNoAttribute) {
  JunitFile f = parseJunit("<testsuite><testcase name=\"t\"><failure>\n  assert x == 1\nmore</failure></testcase></testsuite>");
  EXPECT_EQ(f.cases[0].message, "assert x == 1");
}

TEST(JunitReaderTest, ABrokenFileKeepsTheCasesBeforeTheBreak) {
  JunitFile f = parseJunit("<testsuite>\n<testcase name=\"a\"/>\n<testcase name=\"b\"><failure message=\"x\">");
  ASSERT_EQ(f.cases.size(), 1u);
  EXPECT_EQ(f.cases[0].name, "a");
  EXPECT_NE(f.problem.find("not well-formed JUnit XML (line 3"), std::string::npos) << f.problem;
  EXPECT_NE(parseJunit("").problem, "");
  EXPECT_NE(parseJunit("<a><b></a>").problem, "");
}

TEST(JunitReaderTest, EntityExpansionIsBounded) {
  std::string bomb = "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\">";
  char prev = 'a';
  for (char c = 'b'; c <= 'k'; ++c, ++prev)
    bomb += std::string("<!ENTITY ") + c + " \"" + std::string(10, '&').replace(0, 10, "") +
            [&] { std::string s; for (int i = 0; i < 10; ++i) s += std::string("&") + prev + ";"; return s; }() + "\">";
  bomb += "]><testsuite><testcase name=\"t\"><system-out>&k;</system-out></testcase></testsuite>";
  JunitFile f = parseJunit(bomb);
  EXPECT_NE(f.problem, "") << "ten billion bytes were not built";
  EXPECT_TRUE(f.cases.empty());
}

TEST(JunitReaderTest, OutputOfOneCaseIsBounded) {
  std::string big(kJunitMaxCaseOutput + 100, 'x');
  JunitFile f = parseJunit("<testsuite><testcase name=\"t\"><system-out>" + big + "</system-out></testcase></testsuite>");
  ASSERT_EQ(f.cases.size(), 1u);
  EXPECT_LT(f.cases[0].output.size(), kJunitMaxCaseOutput + 200);
  EXPECT_NE(f.cases[0].output.find("[mpexec: 100 bytes of this test's output left out]"), std::string::npos);
}

TEST(JunitReaderTest, FilesAreReadWithoutFollowingWhatTheUnitPlanted) {
  test::TempDir dir;
  UniqueFd fd(open(dir.path().c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  auto none = readJunitFile(fd.get(), "absent.xml");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  dir.write("j.xml", "<testsuite><testcase name=\"t\"/></testsuite>");
  auto read = readJunitFile(fd.get(), "j.xml");
  ASSERT_TRUE(read.ok()) << read.error().message();
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ((*read)->cases.size(), 1u);

  dir.write("secret", "<testsuite><testcase name=\"t\"/></testsuite>");
  ASSERT_EQ(symlink((dir.path() + "/secret").c_str(), (dir.path() + "/link.xml").c_str()), 0);
  EXPECT_FALSE(readJunitFile(fd.get(), "link.xml").ok()) << "a symlink is not followed";
  ASSERT_EQ(mkfifo((dir.path() + "/fifo.xml").c_str(), 0644), 0);
  auto fifo = readJunitFile(fd.get(), "fifo.xml");
  ASSERT_FALSE(fifo.ok()) << "a FIFO neither blocks nor is read";
  EXPECT_NE(fifo.error().message().find("not a regular file"), std::string::npos);
}

}  // namespace
}  // namespace mpexec
