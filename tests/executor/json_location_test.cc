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

// The text quoted at a syntax error is valid UTF-8 without control characters, however it was cut.
TEST(JsonLocationTest, QuotedTextIsWholeCharactersAndVisible) {
  std::string e(25 * 2, ' ');
  for (int k = 0; k < 25; ++k) e.replace(2 * k, 2, "\xc3\xa9");  // é, 25 times
  auto cut = parseJsonText("[x" + e + "]", "f.json");
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.error().message(), "f.json:1:2: syntax error: unexpected 'x" + e.substr(0, 19 * 2) + "'");
  auto invalid = parseJsonText("[\"caf\xe9\"]", "f.json");
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().message(), "f.json:1:6: syntax error: unexpected '\\xe9\"]'");
  auto escape = parseJsonText("[1 \x1b[2J]", "f.json");
  ASSERT_FALSE(escape.ok());
  EXPECT_EQ(escape.error().message(), "f.json:1:4: syntax error: unexpected '\\x1b[2J]'");
}

TEST(JsonLocationTest, RepeatedKeyNamesBothPlaces) {
  auto top = parseJsonText("{\"version\": 1,\n \"version\": 1}", "m.json");
  ASSERT_FALSE(top.ok());
  EXPECT_EQ(top.error().message(), "m.json:2:2: duplicate key \"version\" in one object (first at line 1, column 2)");
  // Escapes are decoded before keys are compared; objects of their own may repeat a key.
  auto escaped = parseJsonText("{\"a\": {\"k\": 1}, \"b\": {\"k\": 2, \"\\u006b\": 3}}", "m.json");
  ASSERT_FALSE(escaped.ok());
  EXPECT_EQ(escaped.error().message(), "m.json:1:31: duplicate key \"k\" in one object (first at line 1, column 23)");
  auto pair = parseJsonText("{\"\\ud83d\\ude00\": 1, \"\xf0\x9f\x98\x80\": 2}", "m.json");
  ASSERT_FALSE(pair.ok());
  EXPECT_EQ(pair.error().message(), "m.json:1:21: duplicate key \"\xf0\x9f\x98\x80\" in one object (first at line 1, column 2)");
  // Values that look like keys, keys in arrays of objects, and many keys (past the linear search).
  EXPECT_TRUE(parseJsonText("{\"a\": \"a\", \"b\": [{\"a\": 1}, {\"a\": 2}], \"c\": \"{\\\"a\\\": 1}\"}", "m.json").ok());
  std::string many = "{";
  for (int i = 0; i < 100; ++i) many += "\"k" + std::to_string(i) + "\": 1, ";
  EXPECT_TRUE(parseJsonText(many + "\"end\": 0}", "m.json").ok());
  auto late = parseJsonText(many + "\"k7\": 0}", "m.json");
  ASSERT_FALSE(late.ok());
  EXPECT_NE(late.error().message().find("duplicate key \"k7\" in one object (first at line 1, column 65)"), std::string::npos)
      << late.error().message();
}

TEST(JsonLocationTest, ByteOrderMarkIsIgnored) {
  auto bom = parseJsonText("\xef\xbb\xbf{\"a\": 1}", "f.json");
  ASSERT_TRUE(bom.ok()) << bom.error().message();
  auto located = parseJsonText("\xef\xbb\xbf{\"a\" 1}", "f.json");
  ASSERT_FALSE(located.ok());
  EXPECT_EQ(located.error().message(), "f.json:1:6: syntax error: unexpected '1}'");
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
