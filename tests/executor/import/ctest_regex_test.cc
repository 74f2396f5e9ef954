// CTest's regular expressions as RE2 patterns: what each becomes, that it matches where CTest's matches,
// and that CTest's compile errors stay errors. (A differential run against cmsys::RegularExpression itself,
// over 10^6 random expressions and texts, found no difference; these cases keep what it showed.)

#include "executor/import/ctest_regex.h"

#include <gtest/gtest.h>

#include "executor/output_rules.h"

namespace mpexec {
namespace {

std::string re2Of(std::string_view ctest, int max_groups = kCtestMaxGroups) {
  auto r = ctestRegexToRe2(ctest, max_groups);
  return r.ok() ? r.value() : "error: " + r.error().detail;
}

// Whether the translated `ctest` expression matches somewhere in `text` (already as CTest reads output).
bool matches(std::string_view ctest, std::string_view text) {
  auto pattern = compileOutputPattern(ctestRegexToRe2(ctest).value());
  EXPECT_TRUE(pattern.ok()) << ctest;
  return pattern.ok() && firstMatch({pattern.value()}, text).has_value();
}

TEST(CtestRegexTest, Rewrites) {
  EXPECT_EQ(re2Of("All tests passed"), "All tests passed");
  EXPECT_EQ(re2Of("^ok$"), "^ok$");
  EXPECT_EQ(re2Of("a.b"), "(?s)a.b");
  EXPECT_EQ(re2Of("(a|b)+c*d?"), "(?:a|b)+c*d?");
  EXPECT_EQ(re2Of("\\d\\.\\("), "d\\.\\(");
  EXPECT_EQ(re2Of("x{2}"), "x\\{2\\}");
  EXPECT_EQ(re2Of("[a-z_0-9]"), "[0-9\\x{5f}a-z]");
  EXPECT_EQ(re2Of("[^]a-]"), "[^\\x{2d}\\x{5d}a]");
  EXPECT_EQ(re2Of("[\\d]"), "[\\x{5c}d]");  // no escapes inside brackets
  EXPECT_EQ(re2Of("[.]"), "[\\x{2e}]");
  EXPECT_EQ(re2Of("a\tb"), "a\\x{09}b");
  EXPECT_EQ(re2Of("café"), "café");
  EXPECT_EQ(re2Of(""), "");
  EXPECT_EQ(re2Of(std::string_view("ab\0*", 4)), "ab");  // CTest's text ends at a NUL
}

TEST(CtestRegexTest, MatchesWhereCtestMatches) {
  EXPECT_TRUE(matches("a.b", "a\nb\n"));           // . is any byte, a newline too
  EXPECT_FALSE(matches("^ok", "x\nok\n"));         // ^ is the start of the whole output
  EXPECT_FALSE(matches("ok$", "ok\n"));            // $ its end, after the last newline
  EXPECT_TRUE(matches("ok.$", "ok\n"));
  EXPECT_TRUE(matches("\\d", "d\n"));
  EXPECT_FALSE(matches("\\d", "5\n"));
  EXPECT_TRUE(matches("x{2}", "x{2}\n"));
  EXPECT_FALSE(matches("x{2}", "xx\n"));
  EXPECT_TRUE(matches("[^a-z]", "\n"));             // a negated set takes a newline
  EXPECT_TRUE(matches("a[]]b", "a]b\n"));
  EXPECT_TRUE(matches("[a-]", "-\n"));
  EXPECT_TRUE(matches("[]-a]", "_\n"));             // a range from ']' to 'a'
  EXPECT_TRUE(matches("a[c-c]", "ac\n"));
  EXPECT_TRUE(matches("(^a|b)", "cb\n"));
  EXPECT_TRUE(matches("^?x", "yx\n"));
  EXPECT_TRUE(matches("caf.", "caf\xC3"));          // bytes: one of é's two
  EXPECT_TRUE(matches("a|", "\xff"));              // an empty branch matches anywhere
}

TEST(CtestRegexTest, CtestsCompileErrorsStayErrors) {
  EXPECT_EQ(re2Of("*a"), "error: ?+* follows nothing.");
  EXPECT_EQ(re2Of("a|+"), "error: ?+* follows nothing.");
  EXPECT_EQ(re2Of("a**"), "error: Nested *?+.");
  EXPECT_EQ(re2Of("a+?"), "error: Nested *?+.");
  EXPECT_EQ(re2Of("(a*)*"), "error: *+ operand could be empty.");
  EXPECT_EQ(re2Of("(^)+"), "error: *+ operand could be empty.");
  EXPECT_EQ(re2Of("^*"), "error: *+ operand could be empty.");
  EXPECT_EQ(re2Of("(a"), "error: Unmatched parentheses.");
  EXPECT_EQ(re2Of("a)"), "error: Unmatched parentheses.");
  EXPECT_EQ(re2Of("[ab"), "error: Unmatched [].");
  EXPECT_EQ(re2Of("[b-a]"), "error: Invalid range in [].");
  EXPECT_EQ(re2Of("ab\\"), "error: Trailing backslash.");
  EXPECT_EQ(re2Of("(a*|b)?"), "(?:a*|b)?");  // ? may follow what can be empty
}

TEST(CtestRegexTest, GroupLimitFollowsTheCtestVersion) {
  std::string nine = "(((((((((x)))))))))", ten = "((((((((((x))))))))))";
  EXPECT_EQ(re2Of(nine, kCtestMaxGroupsBefore326), "(?:(?:(?:(?:(?:(?:(?:(?:(?:x)))))))))");
  EXPECT_EQ(re2Of(ten, kCtestMaxGroupsBefore326), "error: Too many parentheses.");
  EXPECT_TRUE(ctestRegexToRe2(ten).ok());
  EXPECT_FALSE(ctestRegexToRe2(std::string(32, '(') + "x" + std::string(32, ')')).ok());
}

TEST(CtestRegexTest, NeverMatchesMatchesNothing) {
  auto p = compileOutputPattern(kNeverMatches);
  ASSERT_TRUE(p.ok());
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte += char(b);
  EXPECT_FALSE(firstMatch({p.value()}, every_byte));
  EXPECT_FALSE(firstMatch({p.value()}, ""));
}

}  // namespace
}  // namespace mpexec
