#include "executor/json_location.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace mpexec {
namespace {

TEST(JsonLocationTest, LinesAndColumnsAreOneBased) {
  std::string_view text = "ab\ncd\n\nef";
  EXPECT_EQ(locationOf(text, 0).line, 1u);
  EXPECT_EQ(locationOf(text, 0).column, 1u);
  EXPECT_EQ(locationOf(text, 1).column, 2u);
  EXPECT_EQ(locationOf(text, 3).line, 2u);
  EXPECT_EQ(locationOf(text, 3).column, 1u);
  EXPECT_EQ(locationOf(text, 7).line, 4u);
  EXPECT_EQ(locationOf(text, 8).column, 2u);
  EXPECT_EQ(locationOf(text, 999).line, 4u);  // clamped to the end
  EXPECT_EQ(locationOf(text, 999).column, 3u);
}

TEST(JsonLocationTest, ColumnsCountCodePoints) {
  std::string_view text = "\"\xc3\xa9\xe2\x82\xac\" x";  // "é€" x
  EXPECT_EQ(locationOf(text, 7).column, 5u);              // at ' ': quote, é, €, quote came before
}

TEST(JsonLocationTest, ParsesAndLocatesErrors) {
  auto ok = parseJsonText(" {\"a\": [1, 2]} \n", "f.json");
  ASSERT_TRUE(ok.ok()) << ok.error().message();
  EXPECT_EQ(ok->at("a").as_array().size(), 2u);

  auto bad = parseJsonText("{\"a\":\n  [1 2]}", "f.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "f.json:2:6: syntax error: unexpected '2]}'");

  auto comment = parseJsonText("// no comments\n{}", "f.json");
  ASSERT_FALSE(comment.ok());
  EXPECT_EQ(comment.error().message(), "f.json:1:1: syntax error: unexpected '// no comments'");

  auto empty = parseJsonText("\n", "f.json");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().message(), "f.json: empty file");
}

TEST(JsonLocationTest, PointerTokensAreEscaped) {
  EXPECT_EQ(jsonPointerToken("plain"), "plain");
  EXPECT_EQ(jsonPointerToken("a/b~c"), "a~1b~0c");
}

TEST(JsonLocationTest, KindsAndSnippets) {
  EXPECT_STREQ(jsonKindName(boost::json::value(nullptr)), "null");
  EXPECT_STREQ(jsonKindName(boost::json::value(3)), "an integer");
  EXPECT_STREQ(jsonKindName(boost::json::value(2.5)), "a number");
  EXPECT_STREQ(jsonKindName(boost::json::array{}), "an array");
  EXPECT_EQ(jsonSnippet(boost::json::array{1, 2}), "[1,2]");
  std::string long_text(100, 'x');
  std::string snip = jsonSnippet(boost::json::value(long_text), 10);
  EXPECT_EQ(snip, "\"xxxxxxxxx...");
  // Never cuts inside a code point.
  EXPECT_EQ(jsonSnippet(boost::json::value("\xc3\xa9\xc3\xa9"), 4), "\"\xc3\xa9...");
}

}  // namespace
}  // namespace mpexec
