// JUnit files as runners write them, read for a batch process's ids.

#include "executor/junit_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <malloc.h>
#include <unistd.h>

#include <fmt/format.h>
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
  JunitFile f = parseJunit(kGtest, {"Math.Adds", "Math.Fails", "Math.Skips", "Inst/Param.Case/0", "Math.Missing"}, "j.xml");
  EXPECT_EQ(f.problem, "");
  EXPECT_EQ(f.testcases, 4u);
  EXPECT_EQ(f.ignored, 0u);
  ASSERT_EQ(f.by_id.size(), 4u);
  EXPECT_FALSE(f.by_id.count("Math.Missing"));
  const JunitCase& adds = f.by_id.at("Math.Adds");
  EXPECT_EQ(adds.result, JunitCase::Result::Pass);
  EXPECT_EQ(adds.time_s, 0.001);
  const JunitCase& fails = f.by_id.at("Math.Fails");
  EXPECT_EQ(fails.result, JunitCase::Result::Fail);
  EXPECT_EQ(fails.message, "t.cc:9\nExpected equality of these values:\n  1\n  2");
  EXPECT_EQ(fails.output, "t.cc:9\nExpected equality of these values:\n  1\n  2");
  EXPECT_EQ(f.by_id.at("Math.Skips").result, JunitCase::Result::Skip);
  EXPECT_EQ(f.by_id.at("Math.Skips").message, "t.cc:12\nnot on this host");
  EXPECT_EQ(f.by_id.at("Inst/Param.Case/0").result, JunitCase::Result::Pass);
}

TEST(JunitReaderTest, MatchesClassDotNameThenDoubleColonThenName) {
  JunitFile f = parseJunit(R"(<testsuite>
    <testcase classname="tests/test_a.py::TestX" name="test_y[1]"><system-out>out</system-out><system-err>err</system-err></testcase>
    <testcase classname="pkg.mod.Class" name="test_m"><error message="boom">Traceback</error></testcase>
    <testcase classname="bin.global" name="a test, with spaces"/>
    <testcase classname="A" name="b"/>
  </testsuite>)",
                           {"tests/test_a.py::TestX::test_y[1]", "pkg.mod.Class.test_m", "a test, with spaces", "A.b", "b"},
                           "j.xml");
  ASSERT_EQ(f.problem, "");
  ASSERT_EQ(f.by_id.size(), 4u) << "A.b takes the testcase, not b";
  EXPECT_EQ(f.by_id.at("tests/test_a.py::TestX::test_y[1]").output, "out\nerr");
  EXPECT_EQ(f.by_id.at("pkg.mod.Class.test_m").result, JunitCase::Result::Error);
  EXPECT_EQ(f.by_id.at("pkg.mod.Class.test_m").message, "boom");
  EXPECT_EQ(f.by_id.at("pkg.mod.Class.test_m").output, "Traceback");
  EXPECT_TRUE(f.by_id.count("a test, with spaces"));
  EXPECT_TRUE(f.by_id.count("A.b"));
  EXPECT_FALSE(f.by_id.count("b"));
}

TEST(JunitReaderTest, TheWorstOfSeveralCasesForOneIdCounts) {
  JunitFile f = parseJunit(R"(<testsuite>
    <testcase name="t"><skipped/></testcase>
    <testcase name="t"/>
    <testcase name="t"><failure message="first"/></testcase>
    <testcase name="t"><failure message="second"/></testcase>
    <testcase name="u"><skipped/></testcase>
    <testcase name="u"/>
  </testsuite>)",
                           {"t", "u"}, "j.xml");
  EXPECT_EQ(f.testcases, 6u);
  EXPECT_EQ(f.by_id.at("t").message, "first");
  EXPECT_EQ(f.by_id.at("u").result, JunitCase::Result::Pass);
}

TEST(JunitReaderTest, MessageFromTheTextWhenThereIsNoAttribute) {
  JunitFile f = parseJunit("<testsuite><testcase name=\"t\"><failure>\n  assert x == 1\nmore</failure></testcase></testsuite>",
                           {"t"}, "j.xml");
  EXPECT_EQ(f.by_id.at("t").message, "assert x == 1");
}

TEST(JunitReaderTest, ABrokenFileKeepsTheCasesBeforeTheBreakAndSaysWhere) {
  JunitFile f = parseJunit("<testsuite>\n<testcase name=\"a\"/>\n<testcase name=\"b\"><failure message=\"x\">", {"a", "b"},
                           "batch.1.junit.xml");
  ASSERT_EQ(f.by_id.size(), 1u);
  EXPECT_TRUE(f.by_id.count("a"));
  EXPECT_EQ(f.problem.find("batch.1.junit.xml: not well-formed JUnit XML (line 3"), 0u) << f.problem;
  EXPECT_NE(parseJunit("", {}, "j.xml").problem, "");
  EXPECT_NE(parseJunit("<a><b></a>", {}, "j.xml").problem, "");
}

TEST(JunitReaderTest, EntityExpansionIsBounded) {
  std::string bomb = "<?xml version=\"1.0\"?><!DOCTYPE l [<!ENTITY a \"aaaaaaaaaa\">";
  char prev = 'a';
  for (char c = 'b'; c <= 'k'; ++c, ++prev)
    bomb += std::string("<!ENTITY ") + c + " \"" + std::string(10, '&').replace(0, 10, "") +
            [&] { std::string s; for (int i = 0; i < 10; ++i) s += std::string("&") + prev + ";"; return s; }() + "\">";
  bomb += "]><testsuite><testcase name=\"t\"><system-out>&k;</system-out></testcase></testsuite>";
  JunitFile f = parseJunit(bomb, {"t"}, "j.xml");
  EXPECT_NE(f.problem, "") << "ten billion bytes were not built";
  EXPECT_TRUE(f.by_id.empty());
}

TEST(JunitReaderTest, OutputOfOneCaseIsBounded) {
  std::string big(kJunitMaxCaseOutput + 100, 'x');
  JunitFile f = parseJunit("<testsuite><testcase name=\"t\"><system-out>" + big + "</system-out></testcase></testsuite>",
                           {"t"}, "j.xml");
  ASSERT_EQ(f.by_id.size(), 1u);
  EXPECT_LT(f.by_id.at("t").output.size(), kJunitMaxCaseOutput + 200);
  EXPECT_NE(f.by_id.at("t").output.find("[mpexec: 100 bytes of this test's output left out]"), std::string::npos);
}

TEST(JunitReaderTest, AMessageIsCutAtACharacter) {
  std::string e_acute = "\xc3\xa9";
  std::string long_text;
  for (size_t i = 0; i < kJunitMaxMessage; ++i) long_text += e_acute;
  JunitFile f = parseJunit("<testsuite><testcase name=\"attr\"><failure message=\"x" + long_text +
                               "\"/></testcase><testcase name=\"text\"><error>x" + long_text +
                               "</error></testcase></testsuite>",
                           {"attr", "text"}, "j.xml");
  ASSERT_EQ(f.problem, "");
  for (const char* id : {"attr", "text"}) {
    const std::string& m = f.by_id.at(id).message;
    EXPECT_EQ(m.size(), kJunitMaxMessage - 1) << id << ": 'x', then whole characters of two bytes";
    EXPECT_TRUE(m.ends_with(e_acute)) << id;
  }
  EXPECT_EQ(f.by_id.at("text").output.size(), 1 + long_text.size()) << "the text is the output, whole";
}

// A batch process's file full of testcases for other ids (or empty ones) costs what its own ids cost, not
// what the file holds: the cases for no id are counted, not kept.
TEST(JunitReaderTest, OnlyTheCasesOfTheProcessesIdsAreKept) {
  constexpr size_t kOthers = 200'000;
  std::string xml = "<testsuite>\n";
  for (size_t i = 0; i < kOthers; ++i)
    xml += fmt::format("<testcase classname=\"Other\" name=\"u{}\"><system-out>out</system-out></testcase>\n", i);
  xml += "<testcase classname=\"S\" name=\"known\"><failure message=\"m\"/></testcase></testsuite>\n";
  auto heap = [] {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
  };
  const size_t before = heap();
  JunitFile f = parseJunit(xml, {"S.known", "S.absent"}, "j.xml");
  const size_t kept = heap() - before;
  EXPECT_EQ(f.problem, "");
  EXPECT_EQ(f.testcases, kOthers + 1);
  EXPECT_EQ(f.ignored, kOthers);
  ASSERT_EQ(f.by_id.size(), 1u);
  EXPECT_EQ(f.by_id.at("S.known").result, JunitCase::Result::Fail);
#if defined(__SANITIZE_ADDRESS__)
  (void)kept;  // ASan's allocator is not glibc's: mallinfo2() does not see it
#else
  EXPECT_LT(kept, size_t(64) << 10) << "heap bytes the parsed file holds";
#endif
}

TEST(JunitReaderTest, FilesAreReadWithoutFollowingWhatTheUnitPlanted) {
  test::TempDir dir;
  UniqueFd fd(open(dir.path().c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  auto none = readJunitFile(fd.get(), "absent.xml", {"t"});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  dir.write("j.xml", "<testsuite><testcase name=\"t\"/></testsuite>");
  auto read = readJunitFile(fd.get(), "j.xml", {"t"});
  ASSERT_TRUE(read.ok()) << read.error().message();
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ((*read)->by_id.size(), 1u);

  dir.write("broken.xml", "<testsuite>\n<testcase name=\"t\"/>\n<testcase name=\"u\">\n</testsuite>\n");
  auto broken = readJunitFile(fd.get(), "broken.xml", {"t", "u"});
  ASSERT_TRUE(broken.ok()) << broken.error().message();
  EXPECT_EQ((*broken)->by_id.size(), 1u);
  EXPECT_EQ((*broken)->problem, "broken.xml: not well-formed JUnit XML (line 4: mismatched tag)");

  dir.write("secret", "<testsuite><testcase name=\"t\"/></testsuite>");
  ASSERT_EQ(symlink((dir.path() + "/secret").c_str(), (dir.path() + "/link.xml").c_str()), 0);
  EXPECT_FALSE(readJunitFile(fd.get(), "link.xml", {"t"}).ok()) << "a symlink is not followed";
  ASSERT_EQ(mkfifo((dir.path() + "/fifo.xml").c_str(), 0644), 0);
  auto fifo = readJunitFile(fd.get(), "fifo.xml", {"t"});
  ASSERT_FALSE(fifo.ok()) << "a FIFO neither blocks nor is read";
  EXPECT_NE(fifo.error().message().find("not a regular file"), std::string::npos);
}

}  // namespace
}  // namespace mpexec
