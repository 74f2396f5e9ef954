// The output the rules read, and the patterns over it.

#include "executor/output_rules.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "sandbox/unique_fd.h"
#include "tests/support/temp_dir.h"

namespace mpexec {
namespace {

TEST(OutputRulesTest, OutputIsReadAsCtestReadsIt) {
  EXPECT_EQ(outputForRules(""), "");
  EXPECT_EQ(outputForRules("a\nb\n"), "a\nb\n");
  EXPECT_EQ(outputForRules("a\nb"), "a\nb\n");          // the last line ends too
  EXPECT_EQ(outputForRules("a\r\nb\r\r\n"), "a\nb\n");  // carriage returns at a line's end go
  EXPECT_EQ(outputForRules("a\rb\n"), "a\rb\n");        // not inside one
  EXPECT_EQ(outputForRules(std::string("a\0b\0", 4)), "a\nb\n");
  EXPECT_EQ(outputForRules("\n\n"), "\n\n");
  EXPECT_EQ(outputForRules("x <CTestLabel>gpu</CTestLabel> y\nkept <CTestMeasurement name=\"m\">1</CTestMeasurement>\n"
                           "<CTestDetails>why</CTestDetails>\n</CTestLabel> <CTestLabel>\n"),
            "kept <CTestMeasurement name=\"m\">1</CTestMeasurement>\n</CTestLabel> <CTestLabel>\n");
}

TEST(OutputRulesTest, PatternsAreBytesWithDotNotMatchingANewline) {
  auto re = [](const char* text) { return compileOutputPattern(text).value(); };
  std::vector<OutputPattern> p = {re("a.b"), re("^caf..$")};
  EXPECT_FALSE(firstMatch(p, "a\nb\n"));
  EXPECT_TRUE(firstMatch(p, "a-b\n"));
  EXPECT_FALSE(firstMatch({re("^café$")}, "café\n"));  // $ is the end of the whole output
  EXPECT_TRUE(firstMatch({re("(?m)^café$")}, "café\n"));
  EXPECT_TRUE(firstMatch({re("^caf..\\n")}, "café\n"));  // é is two bytes
  EXPECT_TRUE(firstMatch({re("\\xff")}, "\xff\n"));
  EXPECT_FALSE(compileOutputPattern("(").ok());
  EXPECT_EQ(compileOutputPattern("a{2,1}").error().detail, "invalid repetition size: {2,1}");
}

TEST(OutputRulesTest, AMatchNamesItsPatternAndLine) {
  std::vector<OutputPattern> p = {compileOutputPattern("nothing").value(), compileOutputPattern("ERR(OR)?").value(),
                                  compileOutputPattern("line").value()};
  auto m = firstMatch(p, "first line\nan ERROR here\nlast\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->pattern, &p[1]);  // the first in the list that matches, not the first match in the output
  EXPECT_EQ(m->line, "an ERROR here");
  auto at_start = firstMatch({compileOutputPattern("^").value()}, "x\n");
  ASSERT_TRUE(at_start);
  EXPECT_EQ(at_start->line, "x");
  std::string long_line(300, 'x');
  auto cut = firstMatch({compileOutputPattern("x").value()}, long_line + "\xC3\n");
  ASSERT_TRUE(cut);
  EXPECT_EQ(cut->line, std::string(200, 'x') + "...");
  auto bad = firstMatch({compileOutputPattern("b").value()}, "a\xff" "b\n");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->line, "a\\xffb");  // a reason goes to the terminal and into reports: printable() only
}

TEST(OutputRulesTest, ReadsTheCapturedOutputButNotThroughASymlinkNorTooMuch) {
  test::TempDir dir;
  dir.write("t.log", "hello\n");
  UniqueFd fd(open(dir.path().c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC));
  auto text = readOutputForRules(fd.get(), "t.log");
  ASSERT_TRUE(text.ok()) << text.error().message();
  EXPECT_EQ(text.value(), "hello\n");
  ASSERT_EQ(symlink((dir.path() + "/t.log").c_str(), (dir.path() + "/link.log").c_str()), 0);
  EXPECT_FALSE(readOutputForRules(fd.get(), "link.log").ok());
  EXPECT_FALSE(readOutputForRules(fd.get(), "missing.log").ok());
  // A sparse file past the limit costs nothing to make.
  std::string big = dir.write("big.log", "");
  ASSERT_EQ(truncate(big.c_str(), off_t(kMaxRuleOutputBytes) + 1), 0);
  auto too_big = readOutputForRules(fd.get(), "big.log");
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.error().message().find("more than the 256 MiB the output rules read"), std::string::npos);
}

}  // namespace
}  // namespace mpexec
